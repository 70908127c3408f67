pytest -p no:cacheprovider --color=yes
