functions[_tootguard_cli]=$functions[_tootguard]
functions[_tootguard]=$ours
_tootguard_cli "$@"
}
