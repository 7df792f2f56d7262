    end
end
__fish_tootguard_claim_tasks (status current-filename)
functions -e __fish_tootguard_claim_tasks
