# A unit whose test raises a Tcl error that is not an assertion: the test
# client gives up and the server reports an [exception] (or, with --durable,
# an [err] with the error's stack).
start_server {tags {"other"}} {
    test {DEBUG RELOAD keeps the data} {
        set before [lsort {b a}]
        set after [reload_dataset $before]
        assert_equal $before $after
    }

    test {Never reached after an exception} {
        assert_equal 1 1
    }
}
