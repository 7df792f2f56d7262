# Run by package.sh as the test user: zsh with its own fpath (nothing
# added, nothing in HOME; compinit -D writes no dump), then `tootctl acc`
# and Tab typed in an interactive zsh under zpty, every candidate printed.
autoload -Uz compinit && compinit -u -D
print -r -- "zsh: tootctl -> $_comps[tootctl], rake -> $_comps[rake]"
zmodload zsh/zpty || exit 99
zpty z zsh -f -i
zpty -w z "source ${0:h}/package-complete-setup.zsh"
zpty -r -m z out '*<READY>*'
zpty -w -n z 'tootctl acc'$'\t'
zpty -r -m z out '*<END>*'
zpty -d z
for line in ${(f)out}; do
    if [[ $line == *'<HIT>'* ]]; then
        print -r -- "zsh: tootctl acc -> ${${line##*<HIT>}%$'\r'}"
    fi
done
