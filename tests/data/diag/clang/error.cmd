clang -c main.c -o main.o
