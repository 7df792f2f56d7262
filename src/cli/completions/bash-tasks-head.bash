
# rails and rake: the tasks tootguard knows.
_tootguard_tasks() {
    # COMP_WORDBREAKS splits db:migrate at its colons, so the word is taken
    # from the line, and only what follows its last colon is handed back.
    local line=${COMP_LINE:0:COMP_POINT}
    local cur=${line##*[[:space:]]} tasks="
