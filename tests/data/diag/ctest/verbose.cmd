ctest -V -R 'crashes|parse_check|skipped_one'
