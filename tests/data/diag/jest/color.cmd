npx jest --ci --colors one
