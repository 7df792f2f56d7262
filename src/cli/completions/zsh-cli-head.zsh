# Its script is a file of its own, to be autoloaded as _tootguard: here it is
# the body of _tootguard_cli, run on first use from our _tootguard. Not run
# as _tootguard, it binds _tootguard to tootguard with compdef (which is so
# already) instead of completing; then _tootguard_cli becomes its _tootguard,
# _tootguard is ours again, and _tootguard_cli completes.
_tootguard_cli() {
local ours=$functions[_tootguard]
