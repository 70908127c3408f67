gcc -o prog a.o b.o
