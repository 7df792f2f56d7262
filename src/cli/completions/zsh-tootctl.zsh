
# tootctl: tootguard reads the commands of the install the command would run
# in (`tootguard __complete`), so what is offered is what that tootctl takes.
_tootctl() {
    local tootguard=${commands[tootguard]}
    [[ -n $tootguard ]] || return 1
    local -a reply described
    reply=("${(@f)$("$tootguard" __complete zsh -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    (( $#reply >= 2 )) || return 1
    if [[ $reply[1] == files ]]; then
        _default
        return
    fi
    [[ $reply[2] == '>'?* ]] && compset -P '*='
    local line name description
    for line in "${(@)reply[3,-1]}"; do
        [[ -n $line ]] || continue
        name=${line%%$'\t'*} description=
        [[ $line == *$'\t'* ]] && description=${line#*$'\t'}
        described+=("${name//:/\\:}${description:+:$description}")
    done
    (( $#described )) || return 1
    _describe -t tootctl 'tootctl' described
}
