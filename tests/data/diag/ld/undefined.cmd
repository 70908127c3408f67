gcc -o prog main.o
