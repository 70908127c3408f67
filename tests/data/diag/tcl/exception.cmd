tclsh tests/test_helper.tcl --single unit/other
