# A unit with a test that hangs: the test server gives up after --timeout
# seconds with a [TIMEOUT] report.
start_server {tags {"slow"}} {
    test {BLPOP with a short timeout} {
        assert_equal 1 1
    }

    test {WAIT for replicas that never come} {
        after 4000
        assert_equal 1 1
    }
}
