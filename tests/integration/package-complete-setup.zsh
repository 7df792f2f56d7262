# Sourced in the zpty zsh of package-complete.zsh: compinit, then a compadd
# that prints each candidate, and an end marker after the first completion.
PS1='' RPS1=''
unsetopt zle_bracketed_paste 2>/dev/null
autoload -Uz compinit && compinit -u -D
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
