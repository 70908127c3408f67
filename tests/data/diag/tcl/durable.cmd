./runtest --single unit/other --durable
