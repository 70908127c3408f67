tar -cf out.tar nothere.txt app.py
