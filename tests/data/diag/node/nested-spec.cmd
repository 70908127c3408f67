node --test --test-reporter=spec suite.test.js
