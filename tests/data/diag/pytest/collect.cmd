pytest -p no:cacheprovider
