node --test --test-reporter=spec math.test.js
