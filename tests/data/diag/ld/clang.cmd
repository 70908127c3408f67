clang -o prog main.o
