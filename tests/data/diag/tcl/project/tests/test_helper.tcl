# A small Tcl test harness for cairn's diagnostics fixtures. It prints what
# redis's test suite (tests/test_helper.tcl and tests/support/test.tcl)
# prints, and is built the same way, so the output is real output of that
# design rather than text written by hand: one test server process that
# prints every result, and a test client process that runs the units and
# reports to the server over a local socket. There is no redis server here:
# the units test plain Tcl, and start_server only nests its body. The code is
# cairn's own; only the output formats follow redis.
#
# Usage (from the project directory, through ./runtest):
#   tclsh tests/test_helper.tcl [--single UNIT]... [--skiptest NAME]...
#       [--tags -TAG] [--durable] [--timeout SECONDS] [--quiet]

set ::all_tests {unit/type/set unit/expire}
set ::single_tests {}
set ::skiptests {}
set ::denytags {}
set ::durable 0
set ::quiet 0
set ::timeout 600
set ::client 0
set ::curfile ""
set ::tags {}

# ---- what the units call (the formats of redis's tests/support/test.tcl) --

proc fail {msg} {
    error "assertion:$msg"
}

# Where the assertion was made, as [info frame] puts it.
proc where {level} {
    return "(context: [info frame $level])"
}

proc assert {cond} {
    if {![uplevel 1 [list expr $cond]]} {
        error "assertion:Expected [uplevel 1 [list subst -nocommands $cond]] [where -2]"
    }
}

proc assert_equal {value expected} {
    if {$value ne $expected} {
        error "assertion:Expected '$value' to be equal to '$expected' [where -2]"
    }
}

proc assert_match {pattern value} {
    if {![string match $pattern $value]} {
        error "assertion:Expected '$value' to match '$pattern' [where -2]"
    }
}

proc assert_error {pattern code} {
    if {[catch {uplevel 1 $code} err]} {
        assert_match $pattern $err
    } else {
        error "assertion:Expected an error matching '$pattern' but got '$err' [where -2]"
    }
}

# No server is started: the body runs one level down, with the tags added,
# which is all the nesting changes for the tests inside.
proc start_server {options code} {
    set saved $::tags
    if {[dict exists $options tags]} {
        lappend ::tags {*}[dict get $options tags]
    }
    set r [catch {uplevel 1 $code} err opts]
    set ::tags $saved
    return -options $opts $err
}

proc tags_denied {tags} {
    foreach t $tags {
        if {[lsearch -exact $::denytags $t] >= 0} {
            return "Tag: $t denied"
        }
    }
    return ""
}

proc test {name code {okpattern undefined} {tags {}}} {
    if {[lsearch -exact $::skiptests $name] >= 0} {
        send_packet skip $name
        return
    }
    set why [tags_denied [concat $::tags $tags]]
    if {$why ne ""} {
        send_packet ignore "$name: $why"
        return
    }
    set details [list "$name in $::curfile"]
    send_packet testing $name
    set start [clock milliseconds]
    if {[catch {set retval [uplevel 1 $code]} error]} {
        set assertion [string match "assertion:*" $error]
        if {!$assertion && !$::durable} {
            # Not an assertion: the client gives up (an [exception]).
            error $error $::errorInfo
        }
        lappend details [string range $error 10 end]
        if {!$assertion} {
            lappend details $::errorInfo
        }
        send_packet err [join $details "\n"]
        return
    }
    if {$okpattern eq "undefined" || $okpattern eq $retval ||
        [string match $okpattern $retval]} {
        send_packet ok $name [expr {[clock milliseconds] - $start}]
    } else {
        lappend details "Expected '$okpattern' to equal or match '$retval'"
        send_packet err [join $details "\n"]
    }
}

# ---- the wire between client and server -----------------------------------

# A packet is a line with the length of a Tcl list {status data elapsed},
# then the list itself.
proc write_packet {fd status data {elapsed 0}} {
    set payload [list $status $data $elapsed]
    puts $fd [string length $payload]
    puts -nonewline $fd $payload
    flush $fd
}

proc send_packet {status data {elapsed 0}} {
    write_packet $::server_fd $status $data $elapsed
}

# ---- the test client --------------------------------------------------------

proc execute_test_file {unit} {
    set path "tests/$unit.tcl"
    set ::curfile $path
    source $path
    send_packet done $unit
}

proc client_main {port} {
    set ::server_fd [socket 127.0.0.1 $port]
    fconfigure $::server_fd -translation lf -encoding utf-8
    send_packet ready [pid]
    while 1 {
        set n [gets $::server_fd]
        if {$n eq ""} {
            exit 0
        }
        set payload [read $::server_fd $n]
        lassign $payload cmd data
        if {$cmd eq "run"} {
            execute_test_file $data
        } else {
            error "Unknown test client command: $cmd"
        }
    }
}

# ---- the test server (the formats of redis's tests/test_helper.tcl) ---------

# Colours only on a terminal that looks like an xterm, as redis decides.
proc colorstr {color str} {
    if {![info exists ::env(TERM)] || ![string match *xterm* $::env(TERM)]} {
        return $str
    }
    set bold 0
    if {[string match bold-* $color]} {
        set bold 1
        set color [string range $color 5 end]
    }
    set code [dict get {red 31 green 32 yellow 33 blue 34 magenta 35 cyan 36 white 37} $color]
    return "\033\[$bold;$code;49m$str\033\[0m"
}

proc server_main {} {
    set ::failed_tests {}
    set ::unit_times {}
    set ::queue $::all_tests
    set ::done_units 0
    set ::last_progress [clock seconds]
    set ::listener [socket -server accept_client -myaddr 127.0.0.1 0]
    set port [lindex [fconfigure $::listener -sockname] 2]
    if {!$::quiet} {
        puts "Starting test server at port $port"
    }
    set ::client_pid [exec [info nameofexecutable] [info script] {*}$::argv \
        --client $port &]
    after 100 server_cron
    vwait forever
}

proc accept_client {fd addr port} {
    fconfigure $fd -translation lf -encoding utf-8
    set ::client_fd $fd
    set ::client_task($fd) "no state reported"
    fileevent $fd readable [list read_packet $fd]
}

proc server_cron {} {
    if {[clock seconds] - $::last_progress > $::timeout} {
        set err "\[[colorstr red TIMEOUT]\]: clients state report follows."
        puts $err
        lappend ::failed_tests $err
        foreach fd [array names ::client_task] {
            puts "$fd => $::client_task($fd)"
        }
        kill_client
        the_end
    }
    after 100 server_cron
}

proc kill_client {} {
    catch {exec kill $::client_pid}
}

proc read_packet {fd} {
    if {[gets $fd n] < 0 || ![string is integer -strict $n]} {
        fileevent $fd readable {}
        puts "\[[colorstr red exception]\]: Test client $fd exited unexpectedly -- last client state: $::client_task($fd)"
        exit 1
    }
    lassign [read $fd $n] status data elapsed
    set ::last_progress [clock seconds]
    switch -- $status {
        ready {
            if {!$::quiet} {
                puts "\[$status\]: $data"
            }
            next_unit $fd
        }
        testing {
            set ::client_task($fd) "(IN PROGRESS) $data"
        }
        ok {
            if {!$::quiet} {
                puts "\[[colorstr green $status]\]: $data ($elapsed ms)"
            }
            set ::client_task($fd) "(OK) $data"
        }
        skip {
            if {!$::quiet} {
                puts "\[[colorstr yellow $status]\]: $data"
            }
        }
        ignore {
            if {!$::quiet} {
                puts "\[[colorstr cyan $status]\]: $data"
            }
        }
        err {
            set err "\[[colorstr red $status]\]: $data"
            puts $err
            lappend ::failed_tests $err
            set ::client_task($fd) "(ERR) $data"
        }
        exception {
            puts "\[[colorstr red $status]\]: $data"
            kill_client
            exit 1
        }
        done {
            set took [expr {[clock seconds] - $::unit_start}]
            incr ::done_units
            puts "\[$::done_units/[llength $::all_tests] [colorstr yellow $status]\]: $data ($took seconds)"
            lappend ::unit_times $took $data
            next_unit $fd
        }
        default {
            if {!$::quiet} {
                puts "\[$status\]: $data"
            }
        }
    }
}

proc next_unit {fd} {
    if {[llength $::queue] == 0} {
        the_end
    }
    set unit [lindex $::queue 0]
    set ::queue [lrange $::queue 1 end]
    if {!$::quiet} {
        puts [colorstr bold-white "Testing $unit"]
    }
    set ::unit_start [clock seconds]
    set ::client_task($fd) "ASSIGNED: $fd ($unit)"
    write_packet $fd run $unit
}

proc the_end {} {
    puts "\n                   The End\n"
    puts "Execution time of different units:"
    foreach {took unit} $::unit_times {
        puts "  $took seconds - $unit"
    }
    if {[llength $::failed_tests]} {
        puts "\n[colorstr bold-red {!!! WARNING}] The following tests failed:\n"
        foreach failed $::failed_tests {
            puts "*** $failed"
        }
        cleanup
        exit 1
    }
    puts "\n[colorstr bold-white {\o/}] [colorstr bold-green {All tests passed without errors!}]\n"
    cleanup
    exit 0
}

proc cleanup {} {
    if {!$::quiet} {
        puts -nonewline "Cleanup: may take some time... "
        flush stdout
        puts "OK"
    }
}

# ---- arguments ----------------------------------------------------------------

for {set j 0} {$j < [llength $argv]} {incr j} {
    set opt [lindex $argv $j]
    set arg [lindex $argv [expr {$j + 1}]]
    switch -- $opt {
        --single {lappend ::single_tests $arg; incr j}
        --skiptest {lappend ::skiptests $arg; incr j}
        --tags {
            foreach t $arg {
                if {[string index $t 0] eq "-"} {
                    lappend ::denytags [string range $t 1 end]
                }
            }
            incr j
        }
        --durable {set ::durable 1}
        --quiet {set ::quiet 1}
        --timeout {set ::timeout $arg; incr j}
        --client {set ::client 1; set ::client_port $arg; incr j}
        default {
            puts "Wrong argument: $opt"
            exit 1
        }
    }
}
if {[llength $::single_tests]} {
    set ::all_tests $::single_tests
}

if {$::client} {
    if {[catch {client_main $::client_port} err]} {
        set estr "Executing test client: $err.\n$::errorInfo"
        if {[catch {send_packet exception $estr}]} {
            puts $estr
        }
        exit 1
    }
} else {
    server_main
}
