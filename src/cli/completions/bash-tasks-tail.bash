    "
    mapfile -t COMPREPLY < <(compgen -W "$tasks" -- "$cur")
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
        local typed=${cur%"${cur##*:}"} i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$typed"}
        done
    fi
}

# Only where rails or rake has no completion yet: none defined now and, with
# bash-completion, none it would load by name (it ships one for rake). As
# `tootguard install` links this file under both names, it may be the file
# bash-completion found, hiding the user's: then the user's is loaded here.
_tootguard_claim_tasks() {
    local cmd dir file
    local -a dirs=()
    if declare -F _comp_load >/dev/null || declare -F __load_completion >/dev/null; then
        dirs=("${BASH_COMPLETION_USER_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/bash-completion}/completions")
        local IFS=:
        for dir in ${XDG_DATA_DIRS:-/usr/local/share:/usr/share}; do
            dirs+=("$dir/bash-completion/completions")
        done
        IFS=$' \t\n'
    fi
    for cmd in rails rake; do
        complete -p "$cmd" &>/dev/null && continue
        for dir in "${dirs[@]}"; do
            for file in "$dir/$cmd" "$dir/$cmd.bash" "$dir/_$cmd"; do
                [[ -f $file && ! $file -ef ${BASH_SOURCE[0]} ]] || continue
                # shellcheck source=/dev/null
                . "$file" && complete -p "$cmd" &>/dev/null && continue 3
            done
        done
        complete -F _tootguard_tasks "$cmd"
    done
}
_tootguard_claim_tasks
unset -f _tootguard_claim_tasks
