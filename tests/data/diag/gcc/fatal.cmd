gcc -c fatal.c -o fatal.o
