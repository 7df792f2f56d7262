
# One entry point for the four commands, by the name being completed.
_tootguard() {
    case $service in
    (tootctl) _tootctl "$@" ;;
    (rails|rake)
        # A completion function of the user's own wins (zsh ships _rake).
        local -a theirs=( ${^fpath}/_$service(N) )
        if (( $#theirs )); then
            (( $+functions[_$service] )) || autoload -Uz _$service
            _$service "$@"
        else
            _tootguard_tasks "$@"
        fi
        ;;
    (*)
        # `tootguard [explain] tootctl ARGS`: complete ARGS as tootctl's.
        integer i
        for (( i = 2; i < CURRENT; i++ )); do
            case $words[i] in
            (-*|explain) ;;
            (tootctl|rails|rake)
                shift $(( i - 1 )) words
                (( CURRENT -= i - 1 ))
                local service=$words[1]
                _tootguard "$@"
                return
                ;;
            (*) break ;;
            esac
        done
        _tootguard_cli "$@"
        ;;
    esac
}

if [[ $funcstack[1] == _tootguard ]]; then
    # Autoloaded from fpath: compinit has bound the commands already.
    _tootguard "$@"
elif (( $+functions[compdef] )); then
    # Sourced or eval'd after compinit: rails and rake only if unclaimed.
    compdef _tootguard tootguard tootctl
    (( $+_comps[rails] )) || compdef _tootguard rails
    (( $+_comps[rake] )) || compdef _tootguard rake
else
    print -u2 "tootguard: load these completions after compinit"
fi
