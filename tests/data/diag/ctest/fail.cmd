ctest
