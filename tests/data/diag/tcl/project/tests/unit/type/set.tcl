# Set tests of the Tcl fixture project (see ../../test_helper.tcl): some pass,
# some fail the ways redis's tests fail.
start_server {tags {"set"}} {
    test {SADD, SCARD, SISMEMBER basics} {
        set s [lsort -unique {a b c a}]
        assert_equal 3 [llength $s]
    }

    test {SMEMBERS returns the members in order} {
        set s [lsort -unique {d c b a}]
        assert_equal {a b c} $s
    }

    test {SINTER against three sets} {
        set common {}
        foreach x {a b c} {
            if {$x in {b c d} && $x in {c d e}} {
                lappend common $x
            }
        }
        assert_match {*b*} $common
    }

    test {ERRORS are counted when SADD fails on a wrong type} {
        set errors 0
        assert_equal 0 $errors
    }

    test {SRANDMEMBER with a negative count} {
        llength [lrepeat 4 x]
    } {5}

    test {SMOVE non existing key} {
        fail "SMOVE should have returned 0 for a missing source"
    }

    test {SPOP with count on a big set} {
        set n [llength [lrepeat 1000 x]]
        assert {$n < 100}
    }

    test {SINTERCARD needs the debug command} {
        assert_equal 1 1
    } {} {needs:debug}
}
