
# tootctl: tootguard reads the commands of the install the command would run
# in (`tootguard __complete`), so what is offered is what that tootctl takes.
_tootctl() {
    local tootguard
    tootguard=$(type -P tootguard) || return 0
    local -a reply
    mapfile -t reply < <("$tootguard" __complete bash -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    ((${#reply[@]} >= 2)) || return 0
    if [[ ${reply[0]} == files ]]; then
        compopt -o default 2>/dev/null # the command's arguments: paths, URLs, names
        COMPREPLY=()
        return 0
    fi
    COMPREPLY=("${reply[@]:2}")
}
complete -F _tootctl tootctl
