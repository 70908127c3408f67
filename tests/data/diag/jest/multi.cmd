npx jest --ci multi
