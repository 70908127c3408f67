javac Hello.java
