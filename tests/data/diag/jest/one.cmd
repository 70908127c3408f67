npx jest --ci one
