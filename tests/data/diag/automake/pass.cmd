make check TESTS='passes.sh errors_counted.sh skipped.sh'
