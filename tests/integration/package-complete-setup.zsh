# Sourced in the zpty zsh of package-complete.zsh: compinit, then a compadd
# that prints each candidate, and an end marker after the first completion.
PS1='' RPS1=''
unsetopt zle_bracketed_paste 2>/dev/null
autoload -Uz compinit && compinit -u -D
source ${0:h}/zsh-capture.zsh
