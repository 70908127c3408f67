./runtest --skiptest 'SADD, SCARD, SISMEMBER basics' --tags -needs:debug
