
# tootctl: tootguard reads the commands of the install the command would run
# in (`tootguard __complete`), so what is offered is what that tootctl takes.
function __fish_tootctl_complete --description 'What tootguard offers after the words typed'
    set -l tootguard (command -s tootguard); or return
    set -l words (commandline -opc)
    set -e words[1]
    set -l current (commandline -ct)
    set -l reply ($tootguard __complete fish -- $words $current 2>/dev/null)
    set -q reply[2]; or return
    if test "$reply[1]" = files
        __fish_complete_path $current
        return
    end
    set -l prefix (string sub -s 2 -- $reply[2])
    for line in $reply[3..-1]
        printf '%s%s\n' $prefix $line
    end
end
complete -c tootctl -f -a '(__fish_tootctl_complete)'
