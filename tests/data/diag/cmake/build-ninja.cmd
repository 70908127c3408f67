cmake --build build-ninja
