gcc -c main.c -o main.o
