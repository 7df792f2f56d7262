
# `tootguard tootctl ARGS` and `tootguard explain tootctl ARGS` take tootctl's
# own arguments (rails and rake likewise): complete those as the tool's, and
# the rest with clap_complete's function, above.
_tootguard() {
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -* | explain) ;;
        tootctl | rails | rake)
            local COMP_WORDS=("${COMP_WORDS[@]:i}") COMP_CWORD=$((COMP_CWORD - i))
            if [[ ${COMP_WORDS[0]} == tootctl ]]; then
                _tootctl
            else
                _tootguard_tasks
            fi
            return
            ;;
        *) break ;;
        esac
    done
    _tootguard_cli "$@"
}

# clap_complete registered its function for the name it was generated for,
# tootguard_cli, which is no command. tootguard gets ours, with the options
# clap_complete gives its own (nosort is in bash 4.4 and later).
complete -r tootguard_cli
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _tootguard -o nosort -o bashdefault -o default tootguard
else
    complete -F _tootguard -o bashdefault -o default tootguard
fi
