make test ARGS='--single unit/expire'
