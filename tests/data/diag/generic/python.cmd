python3 app.py
