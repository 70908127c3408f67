node --test --test-reporter=tap suite.test.js
