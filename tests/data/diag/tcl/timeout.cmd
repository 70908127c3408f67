./runtest --single unit/slow --timeout 1
