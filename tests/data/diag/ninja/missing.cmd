ninja -f missing.ninja
