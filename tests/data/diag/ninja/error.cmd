ninja main.o
