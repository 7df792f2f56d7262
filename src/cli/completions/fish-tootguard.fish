
# `tootguard tootctl ARGS` and `tootguard explain tootctl ARGS` take tootctl's
# own arguments (rails and rake likewise): complete those as the tool's.
function __fish_tootguard_tool_words --description 'The words from the tool on, if tootguard runs one'
    set -l words (commandline -opc)
    for i in (seq 2 (count $words))
        switch $words[$i]
            case '-*' explain
            case tootctl rails rake
                printf '%s\n' $words[$i..-1]
                return 0
            case '*'
                return 1
        end
    end
    return 1
end
complete -c tootguard -n '__fish_tootguard_tool_words >/dev/null' -f -a '(complete -C (string join -- " " (__fish_tootguard_tool_words | string escape) (commandline -ct | string escape)))'
