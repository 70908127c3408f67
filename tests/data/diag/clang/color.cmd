clang -fcolor-diagnostics -Wall -c multi.c -o multi.o
