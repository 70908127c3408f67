ninja -k 0
