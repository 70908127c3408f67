TERM=xterm ./runtest --single unit/type/set
