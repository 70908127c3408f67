gcc -Wall -Wextra -c multi.c -o multi.o
