gcc -fdiagnostics-color=always -Wall -c multi.c -o multi.o
