node --test --test-reporter=tap math.test.js
