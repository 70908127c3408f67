# Expire tests of the Tcl fixture project: all of them pass, and their names
# say "error" and "failed" the way real test names do.
start_server {tags {"expire"}} {
    test {EXPIRE - set timeouts multiple times} {
        set ttl [expr {100 - 1}]
        assert_equal 99 $ttl
    }

    test {EXPIRE with a wrong number of arguments replies with an error} {
        assert_error {*wrong # args*} {string length}
    }

    test {errorstats: failed call within MULTI/EXEC} {
        dict size [dict create a 1]
    } {1}

    test "Check for memory leaks (pid [pid])" {
        set leaks 0
        assert_equal 0 $leaks
    }
}
