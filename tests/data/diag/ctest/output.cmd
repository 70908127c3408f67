ctest --output-on-failure
