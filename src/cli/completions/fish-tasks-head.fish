
# rails and rake: the tasks tootguard knows, only where rails or rake has no
# completion yet: none defined now, and no $cmd.fish that fish would load for
# it by name. `tootguard install` also installs this file as rails.fish: if
# that hides another rails.fish, the other one is loaded here instead.
function __fish_tootguard_claim_tasks --argument-names loaded
    set -l self (realpath -- $loaded 2>/dev/null)
    for cmd in rails rake
        set -l defined (complete -c $cmd)
        set -q defined[1]; and continue
        set -l theirs
        for file in $fish_complete_path/$cmd.fish
            test -f $file; or continue
            set -l real (realpath -- $file 2>/dev/null)
            test "$real" = "$self"; and continue
            set -a theirs $file
        end
        if set -q theirs[1]
            if test (string replace -r '.*/' '' -- $loaded) = $cmd.fish
                source $theirs[1]
            end
            continue
        end
