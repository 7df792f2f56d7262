
# `tootguard tootctl ARGS` and `tootguard explain tootctl ARGS` take tootctl's
# own arguments (rails and rake likewise): complete those as the tool's.
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

