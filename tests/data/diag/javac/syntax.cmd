javac -Xlint:all Multi.java
