# Run by package.sh as the test user, in an interactive login bash with
# nothing in HOME: bash-completion (from /etc/profile.d) loads what the
# system directories hold for tootctl and rake, as a Tab would.
echo "bash: bash-completion ${BASH_COMPLETION_VERSINFO[*]:-is not loaded}"
load() { if declare -F _comp_load >/dev/null; then _comp_load "$1"; else __load_completion "$1"; fi; }
load tootctl
load rake
spec=$(complete -p tootctl)
fn=${spec##*-F }
fn=${fn%% *}
COMP_WORDS=(tootctl acc) COMP_CWORD=1 COMP_LINE='tootctl acc' COMP_POINT=11 COMPREPLY=()
"$fn" tootctl acc tootctl
echo "bash: tootctl acc -> ${COMPREPLY[*]}"
echo "bash: rake -> $(complete -p rake)"
