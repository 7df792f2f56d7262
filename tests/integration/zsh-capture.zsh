# Sourced last in a zpty zsh by the completion tests and the package test:
# Tab completes, a compadd wrapper prints each candidate, and the first
# completion prints an end marker and ends the shell.
bindkey '^I' complete-word
compadd() {
    # -O, -A and -D collect matches rather than add them: not candidates.
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return
    fi
    local -a hits
    builtin compadd -A hits "$@"
    local ret=$? hit
    for hit in $hits; do print -r -- "<HIT>$hit"; done
    return $ret
}
_test_done() { print -r -- "<END>"; exit }
comppostfuncs=(_test_done)
print -r -- "<READY>"
