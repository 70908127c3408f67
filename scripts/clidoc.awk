# Makes cairn's man page and its bash and zsh completions from the binary's own
# --help texts, so none of them can drift from what the commands print
# (docs/install.md). No input files; it runs the binary itself:
#
#   awk -v bin=build/rel/cairn -v out=man -f scripts/clidoc.awk > cairn.1
#   awk -v bin=build/rel/cairn -v out=bash -f scripts/clidoc.awk   (or zsh)
#   awk -v bin=build/rel/cairn -v out=all -v dir=DIR -f scripts/clidoc.awk
#
# The last writes all three, as DIR/cairn.1, DIR/cairn.bash and DIR/_cairn,
# asking the binary once (about 45 runs of it).
#
# What it reads, by the rules tests/integration/test_cli_docs.py uses too:
#   - the commands: the "commands:" list of `cairn --help`, with their usage;
#   - the subcommands of a command: in its usage, split at " | " outside
#     brackets, the first word of each part when it is lower-case words
#     ("add|rm|list"; "list" in "start|end ... | list ..."); one whose --help
#     differs from its command's has a help of its own (`cairn kb search
#     --help`) and its own options;
#   - the options of a help: every --long-name or -x it names (not inside a
#     word or a path, nor in a quoted 'cairn OTHER ...' example); one followed
#     by a single space and a METAVAR, or by lower-case alternatives
#     ("--format text|markdown|json"), takes a value, and the alternatives are
#     the values completed;
#   - an option's description: the rest of its line in an option table
#     ("  --json   print JSON").
# POSIX awk only (mawk is Debian's): no regex intervals, no gensub, and
# replacement strings without backslashes.

BEGIN {
	if (bin == "" || (out != "man" && out != "bash" && out != "zsh" && out != "all") ||
	    (out == "all") != (dir != ""))
		die("usage: awk -v bin=CAIRN -v out=man|bash|zsh|all [-v dir=DIR] -f scripts/clidoc.awk")
	if (index(bin, "'"))
		die("clidoc: the binary's path must not contain a quote: " bin)
	read_model()
	dest = "/dev/stdout"
	if (out == "man" || out == "all") {
		if (out == "all")
			dest = dir "/cairn.1"
		emit_man()
		close(dest)
	}
	if (out == "bash" || out == "all") {
		if (out == "all")
			dest = dir "/cairn.bash"
		emit_bash()
		close(dest)
	}
	if (out == "zsh" || out == "all") {
		if (out == "all")
			dest = dir "/_cairn"
		emit_zsh()
		close(dest)
	}
	exit 0
}

# One line of output, to dest.
function emit(s) {
	print s > dest
}

function die(msg) {
	print msg > "/dev/stderr"
	exit 1
}

# The standard output of `bin ARGS` (ARGS: words without shell specials).
function run(args,    cmd, line, text) {
	cmd = "'" bin "' " args
	text = ""
	while ((cmd | getline line) > 0)
		text = text line "\n"
	close(cmd)
	return text
}

# ---- the model -------------------------------------------------------------
#
# ncmd, cmd[1..ncmd], usage[NAME]   the commands, in `cairn --help` order
# help[KEY]                         the --help of KEY: "" (cairn), "kb", "kb add"
# subs[NAME]                        its subcommands, space-separated
# own[KEY]                          1 when KEY ("kb add") has a help of its own
# opts[KEY]                         its options, space-separated, in help order
# isarg[KEY, OPT]                   1 when OPT takes a value
# vals[KEY, OPT]                    the fixed values of OPT, space-separated
# odesc[KEY, OPT], sdesc[NAME, SUB] one-line descriptions (zsh)

function read_model(    top, lines, n, i, in_list, name, rest, p, h, parts, np, j, w, alts, na, k, sub_) {
	version = run("--version")
	sub(/\n+$/, "", version)
	top = run("--help")
	if (top !~ /^usage: cairn /)
		die("clidoc: '" bin " --help' printed no usage line")
	help[""] = top
	n = split(top, lines, "\n")
	ncmd = 0
	for (i = 1; i <= n; i++) {
		if (lines[i] == "commands:") {
			in_list = 1
			continue
		}
		if (!in_list)
			continue
		if (lines[i] !~ /^  [a-z]/)
			break
		rest = substr(lines[i], 3)
		p = index(rest, " ")
		name = p ? substr(rest, 1, p - 1) : rest
		rest = p ? substr(rest, p + 1) : ""
		sub(/^ +/, "", rest)
		cmd[++ncmd] = name
		usage[name] = rest
	}
	if (ncmd < 10)
		die("clidoc: found only " ncmd " commands in '" bin " --help'")
	add_opt("", "--help")
	add_opt("", "--version")

	for (i = 1; i <= ncmd; i++) {
		name = cmd[i]
		h = run(name " --help")
		if (index(h, "usage: cairn " name " ") != 1)
			die("clidoc: '" bin " " name " --help' does not start with its usage")
		help[name] = h
		scan_help(name, h)
		np = split_top(usage[name], parts)
		for (j = 1; j <= np; j++) {
			w = parts[j]
			sub(/ .*$/, "", w)
			if (w !~ /^[a-z][a-z-]*(\|[a-z][a-z-]*)*$/)
				continue
			na = split(w, alts, "|")
			for (k = 1; k <= na; k++) {
				sub_ = alts[k]
				if (index(" " subs[name] " ", " " sub_ " "))
					continue
				subs[name] = subs[name] (subs[name] == "" ? "" : " ") sub_
				h = run(name " " sub_ " --help")
				if (h == help[name])
					continue
				if (index(h, "usage: cairn " name " " sub_ " ") != 1)
					die("clidoc: '" bin " " name " " sub_ " --help' prints neither its own help nor that of " name)
				own[name " " sub_] = 1
				help[name " " sub_] = h
				scan_help(name " " sub_, h)
			}
		}
		describe_subs(name)
	}
}

# Splits a usage line at " | " outside brackets into parts[1..n]; returns n.
function split_top(u, parts,    n, depth, i, c, start) {
	n = 0
	depth = 0
	start = 1
	for (i = 1; i <= length(u); i++) {
		c = substr(u, i, 1)
		if (c == "[")
			depth++
		else if (c == "]")
			depth--
		else if (depth == 0 && substr(u, i, 3) == " | ") {
			parts[++n] = substr(u, start, i - start)
			start = i + 3
		}
	}
	parts[++n] = substr(u, start)
	return n
}

function add_opt(key, o) {
	if (index(" " opts[key] " ", " " o " "))
		return
	opts[key] = opts[key] (opts[key] == "" ? "" : " ") o
}

# Reads the options of one help into the model.
function scan_help(key, h,    t, lines, n, i, rest, p, tag) {
	t = h
	gsub(/'cairn [^']*'/, "", t)
	gsub(/`cairn [^`]*`/, "", t)
	n = split(t, lines, "\n")
	for (i = 1; i <= n; i++)
		each_opt(lines[i], key, "scan", i == 1, "")
	add_opt(key, "--help")
	n = split(h, lines, "\n")
	for (i = 2; i <= n; i++) {
		if (lines[i] !~ /^  +-/)
			continue
		rest = lines[i]
		sub(/^ +/, "", rest)
		p = index(rest, "  ")
		if (!p)
			continue
		tag = substr(rest, 1, p - 1)
		rest = substr(rest, p)
		sub(/^ +/, "", rest)
		each_opt(tag, key, "describe", 0, rest)
	}
	if (!((key, "--help") in odesc))
		odesc[key, "--help"] = "print this help"
}

# For each option s names (as test_cli_docs.py's OPTION_RE finds them): what
# "scan" records it as an option of key (is_usage: s is the usage line); what
# "describe" gives it the description desc, unless it has one.
function each_opt(s, key, what, is_usage, desc,    rest, prev, before, tok, after) {
	rest = s
	prev = " "
	while (match(rest, /--?[A-Za-z][A-Za-z0-9_-]*/)) {
		tok = substr(rest, RSTART, RLENGTH)
		before = RSTART > 1 ? substr(rest, RSTART - 1, 1) : prev
		after = substr(rest, RSTART + RLENGTH)
		prev = substr(tok, length(tok), 1)
		rest = after
		if (before ~ /[A-Za-z0-9_\/.-]/)
			continue
		if (tok !~ /^--[a-z][a-z0-9-]*$/ && tok !~ /^-[A-Za-z]$/)
			continue
		if (what == "scan")
			scan_found(key, tok, after, is_usage)
		else if (!((key, tok) in odesc))
			odesc[key, tok] = desc
	}
}

# Records option o of key, and whether the word after it is its value.
function scan_found(key, o, after, is_usage,    v, i, c, n, alts) {
	add_opt(key, o)
	if (substr(after, 1, 1) != " ")
		return
	v = ""
	for (i = 2; i <= length(after); i++) {
		c = substr(after, i, 1)
		if (c == " " || c == "]" || c == "[" || c == "," || c == ";" || c == ")")
			break
		v = v c
	}
	if (v ~ /^[A-Z]/) {
		isarg[key, o] = 1
	} else if (v ~ /^[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)+$/ ||
		   (is_usage && v ~ /^[a-z][a-z0-9-]*$/)) {
		isarg[key, o] = 1
		if (!((key, o) in vals)) {
			n = split(v, alts, "|")
			vals[key, o] = alts[1]
			for (i = 2; i <= n; i++)
				vals[key, o] = vals[key, o] " " alts[i]
		}
	}
}

# A subcommand's description: its own usage, else its line in its command's
# help ("  add [PATH]   watch PATH ..."), else nothing.
function describe_subs(name,    n, s, i, lines, nl, j, rest, p) {
	n = split(subs[name], s, " ")
	nl = split(help[name], lines, "\n")
	for (i = 1; i <= n; i++) {
		if (own[name " " s[i]]) {
			rest = help[name " " s[i]]
			sub(/\n.*/, "", rest)
			sdesc[name, s[i]] = substr(rest, length("usage: cairn " name " " s[i] " ") + 1)
			continue
		}
		for (j = 2; j <= nl; j++) {
			rest = lines[j]
			if (rest !~ /^  +[a-z]/)
				continue
			sub(/^ +/, "", rest)
			if (index(rest, s[i] " ") != 1)
				continue
			p = index(rest, "  ")
			if (!p)
				continue
			rest = substr(rest, p)
			sub(/^ +/, "", rest)
			sdesc[name, s[i]] = rest
			break
		}
	}
}

# The command keys (a command, then its subcommands with a help of their own)
# in order, into keys[1..n]; returns n.
function all_keys(keys,    n, i, s, ns, j) {
	n = 0
	for (i = 1; i <= ncmd; i++) {
		keys[++n] = cmd[i]
		ns = split(subs[cmd[i]], s, " ")
		for (j = 1; j <= ns; j++)
			if (own[cmd[i] " " s[j]])
				keys[++n] = cmd[i] " " s[j]
	}
	return n
}

# The options of key that take a value, space-separated.
function arg_opts(key,    o, n, i, r) {
	n = split(opts[key], o, " ")
	r = ""
	for (i = 1; i <= n; i++)
		if ((key, o[i]) in isarg)
			r = r (r == "" ? "" : " ") o[i]
	return r
}

# ---- the man page ----------------------------------------------------------

# s for troff: a backslash, a minus (so options copy and search as typed) and
# quotes as the characters they are; a line may break after a "|" (the
# alternatives of a usage are one long word otherwise).
function esc(s,    r, i, c) {
	r = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\\")
			r = r "\\e"
		else if (c == "-")
			r = r "\\-"
		else if (c == "'")
			r = r "\\(aq"
		else if (c == "`")
			r = r "\\(ga"
		else if (c == "|")
			r = r "|\\:"
		else
			r = r c
	}
	return r
}

# One input line of text: never taken for a request.
function troff(s) {
	if (substr(s, 1, 1) == ".")
		s = "\\&" s
	emit(s)
}

# A usage or an option tag: options bold, METAVARS italic.
function syn(s,    r, i, c, m, before) {
	r = ""
	i = 1
	while (i <= length(s)) {
		c = substr(s, i, 1)
		before = i > 1 ? substr(s, i - 1, 1) : " "
		m = substr(s, i)
		if (c == "-" && before !~ /[A-Za-z0-9_\/.-]/ && match(m, /^--?[A-Za-z][A-Za-z0-9-]*/)) {
			r = r "\\fB" esc(substr(m, 1, RLENGTH)) "\\fR"
			i += RLENGTH
		} else if (c ~ /[A-Z]/ && before !~ /[A-Za-z0-9_]/ && match(m, /^[A-Z][A-Z0-9_]*/) &&
			   substr(m, RLENGTH + 1, 1) !~ /[a-z0-9_]/) {
			r = r "\\fI" esc(substr(m, 1, RLENGTH)) "\\fR"
			i += RLENGTH
		} else {
			r = r esc(c)
			i++
		}
	}
	return r
}

function indent_of(s) {
	match(s, /^ */)
	return RLENGTH
}

# True when lines a..b are an option table: entries "  TAG  DESCRIPTION" at
# the indentation of the first, continuation lines deeper.
function is_table(L, a, b,    base, i, ind) {
	base = indent_of(L[a])
	for (i = a; i <= b; i++) {
		ind = indent_of(L[i])
		if (ind < base)
			return 0
		if (ind == base && !index(substr(L[i], base + 1), "  "))
			return 0
	}
	return 1
}

function emit_table(L, a, b,    base, i, rest, p, tag, d, width) {
	base = indent_of(L[a])
	for (i = a; i <= b; i++) {
		rest = substr(L[i], base + 1)
		if (indent_of(L[i]) > base) {
			sub(/^ +/, "", rest)
			troff(esc(rest))
			continue
		}
		p = index(rest, "  ")
		tag = substr(rest, 1, p - 1)
		d = substr(rest, p)
		width = length(d)
		sub(/^ +/, "", d)
		width = p - 1 + width - length(d)
		if (width > 24)
			width = 24
		emit(".TP " width "n")
		troff(syn(tag))
		troff(esc(d))
	}
}

function emit_literal(L, a, b,    base, i) {
	base = indent_of(L[a])
	emit(".RS 2n")
	emit(".nf")
	for (i = a; i <= b; i++)
		troff(esc(substr(L[i], base + 1)))
	emit(".fi")
	emit(".RE")
}

# The body of a help (after its usage line): prose filled, option tables as
# tagged paragraphs, other indented lines as they are.
function emit_body(h, skip_commands,    L, n, i, j, mode, need_pp) {
	n = split(h, L, "\n")
	while (n > 0 && L[n] == "")
		n--
	mode = "start"
	need_pp = 1
	for (i = 2; i <= n; ) {
		if (L[i] == "") {
			need_pp = 1
			i++
			continue
		}
		if (skip_commands && L[i] == "commands:") {
			for (i++; i <= n && L[i] != ""; i++)
				;
			continue
		}
		if (L[i] !~ /^ /) {
			if (need_pp || mode != "prose")
				emit(".PP")
			troff(esc(L[i]))
			mode = "prose"
			need_pp = 0
			i++
			continue
		}
		for (j = i; j <= n && L[j] ~ /^ /; j++)
			;
		if (need_pp || mode == "list")
			emit(".PP")
		if (is_table(L, i, j - 1))
			emit_table(L, i, j - 1)
		else
			emit_literal(L, i, j - 1)
		mode = "list"
		need_pp = 0
		i = j
	}
}

function emit_man(    nk, keys, k, key, u, first, L, n, i, name) {
	emit(".\\\" cairn(1), made by scripts/clidoc.awk from the --help of " version ".")
	emit(".\\\" Do not edit: change the help texts in src/cli/ and rebuild.")
	emit(".TH CAIRN 1 \"\" \"" version "\" \"User Commands\"")
	# Paths and option names read better whole than hyphenated or spread out.
	emit(".nh")
	emit(".ad l")
	emit(".SH NAME")
	n = split(help[""], L, "\n")
	first = ""
	for (i = 2; i <= n; i++)
		if (L[i] != "" && L[i] !~ /^ /) {
			first = L[i]
			break
		}
	sub(/^cairn /, "", first)
	sub(/\.$/, "", first)
	troff("cairn \\- " esc(first))
	emit(".SH SYNOPSIS")
	u = help[""]
	sub(/\n.*/, "", u)
	sub(/^usage: cairn /, "", u)
	troff("\\fBcairn\\fR " syn(u))
	emit(".br")
	troff("\\fBcairn\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR")
	emit(".SH DESCRIPTION")
	emit_body(help[""], 1)
	emit(".SH COMMANDS")
	nk = all_keys(keys)
	for (k = 1; k <= nk; k++) {
		key = keys[k]
		emit(".SS \"cairn " key "\"")
		u = help[key]
		sub(/\n.*/, "", u)
		sub(/^usage: cairn /, "", u)
		name = substr(u, 1, length(key))
		troff("\\fBcairn " esc(name) "\\fR" syn(substr(u, length(key) + 1)))
		emit_body(help[key], 0)
	}
	emit(".SH \"SEE ALSO\"")
	emit(".BR systemctl (1),")
	emit(".BR systemd.service (5).")
	emit("The user unit")
	emit(".I cairn.service")
	emit("runs the daemon under")
	emit(".BR systemd ;")
	emit("the documents in the source tree's")
	emit(".I docs/")
	emit("say more about every part.")
}

# ---- completions -----------------------------------------------------------

function sq(s) {
	gsub(/'/, "'\"'\"'", s)
	return "'" s "'"
}

function emit_bash(    nk, keys, k, key, o, no, i, words) {
	emit("# bash completion for cairn: commands, subcommands, options and their fixed")
	emit("# values. Made by scripts/clidoc.awk from the --help of " version "; do not")
	emit("# edit: change the help texts in src/cli/ and rebuild.")
	emit("")
	emit("# Sets subs, opts and args (the options that take a value) for $1: a command,")
	emit("# or \"command subcommand\" when that has a help of its own; fails otherwise.")
	emit("_cairn_spec() {")
	emit("\tcase $1 in")
	nk = all_keys(keys)
	for (k = 1; k <= nk; k++) {
		key = keys[k]
		emit(sprintf("\t%s) subs=%s opts=%s args=%s ;;", sq(key), sq(index(key, " ") ? "" : subs[key]),
			  sq(opts[key]), sq(arg_opts(key))))
	}
	emit("\t*) return 1 ;;")
	emit("\tesac")
	emit("}")
	emit("")
	emit("# Sets values to the fixed values of option $2 of $1; fails when it has none.")
	emit("_cairn_values() {")
	emit("\tcase \"$1 $2\" in")
	for (k = 1; k <= nk; k++) {
		key = keys[k]
		no = split(opts[key], o, " ")
		for (i = 1; i <= no; i++)
			if ((key, o[i]) in vals)
				emit(sprintf("\t%s) values=%s ;;", sq(key " " o[i]), sq(vals[key, o[i]])))
	}
	emit("\t*) return 1 ;;")
	emit("\tesac")
	emit("}")
	emit("")
	words = ""
	for (i = 1; i <= ncmd; i++)
		words = words cmd[i] " "
	emit("_cairn() {")
	emit("\tlocal cur=${COMP_WORDS[COMP_CWORD]} key='' subs='' opts='' args='' values=''")
	emit("\tlocal w i want_value=0 npos=0")
	emit("\tCOMPREPLY=()")
	emit("\tfor ((i = 1; i < COMP_CWORD; i++)); do")
	emit("\t\tw=${COMP_WORDS[i]}")
	emit("\t\tif ((want_value)); then")
	emit("\t\t\twant_value=0")
	emit("\t\t\tcontinue")
	emit("\t\tfi")
	emit("\t\tif [[ -z $key ]]; then")
	emit("\t\t\t[[ $w == -* ]] && continue")
	emit("\t\t\tkey=$w")
	emit("\t\t\t_cairn_spec \"$key\" || return 0")
	emit("\t\telif [[ $w == -- ]]; then")
	emit("\t\t\t# A command line of its own follows (cairn run -- CMD ARGS).")
	emit("\t\t\t((i == COMP_CWORD - 1)) && COMPREPLY=($(compgen -c -- \"$cur\"))")
	emit("\t\t\treturn 0")
	emit("\t\telif [[ $w == -* ]]; then")
	emit("\t\t\t[[ $w != *=* && \" $args \" == *\" $w \"* ]] && want_value=1")
	emit("\t\telse")
	emit("\t\t\tif ((npos == 0)) && [[ \" $subs \" == *\" $w \"* ]]; then")
	emit("\t\t\t\t_cairn_spec \"$key $w\" && key=\"$key $w\"")
	emit("\t\t\t\tsubs=''")
	emit("\t\t\tfi")
	emit("\t\t\tnpos=$((npos + 1))")
	emit("\t\tfi")
	emit("\tdone")
	emit("\tif [[ -z $key ]]; then")
	emit("\t\tCOMPREPLY=($(compgen -W " sq(words opts[""]) " -- \"$cur\"))")
	emit("\telif ((want_value)); then")
	emit("\t\t_cairn_values \"$key\" \"${COMP_WORDS[COMP_CWORD - 1]}\" &&")
	emit("\t\t\tCOMPREPLY=($(compgen -W \"$values\" -- \"$cur\"))")
	emit("\telif [[ $cur == -* ]]; then")
	emit("\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))")
	emit("\telif ((npos == 0)) && [[ -n $subs ]]; then")
	emit("\t\tCOMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))")
	emit("\tfi")
	emit("\t# Nothing here: readline completes file names (complete -o default).")
	emit("\treturn 0")
	emit("}")
	emit("complete -o default -F _cairn cairn")
}

# "NAME:DESCRIPTION" for _describe, quoted for zsh.
function zitem(name, d) {
	return sq(name ":" d)
}

function zarray(key,    o, n, i, r) {
	n = split(opts[key], o, " ")
	r = ""
	for (i = 1; i <= n; i++)
		r = r " " zitem(o[i], odesc[key, o[i]])
	return r
}

function emit_zsh(    nk, keys, k, key, s, ns, i, r, o, no) {
	emit("#compdef cairn")
	emit("# zsh completion for cairn: commands, subcommands, options and their fixed")
	emit("# values, with what each is. Made by scripts/clidoc.awk from the --help of")
	emit("# " version "; do not edit: change the help texts in src/cli/ and rebuild.")
	emit("")
	emit("# Sets subs, opts (NAME:DESCRIPTION) and args (the options that take a value)")
	emit("# for $1: a command, or \"command subcommand\" when that has a help of its own;")
	emit("# fails otherwise.")
	emit("_cairn_spec() {")
	emit("\tcase $1 in")
	nk = all_keys(keys)
	for (k = 1; k <= nk; k++) {
		key = keys[k]
		r = ""
		if (!index(key, " ")) {
			ns = split(subs[key], s, " ")
			for (i = 1; i <= ns; i++)
				r = r " " zitem(s[i], sdesc[key, s[i]])
		}
		emit(sprintf("\t%s)\n\t\tsubs=(%s)\n\t\topts=(%s)\n\t\targs=(%s) ;;", sq(key), substr(r, 2),
			  substr(zarray(key), 2), arg_opts(key)))
	}
	emit("\t*) return 1 ;;")
	emit("\tesac")
	emit("}")
	emit("")
	emit("# Sets values to the fixed values of option $2 of $1; fails when it has none.")
	emit("_cairn_values() {")
	emit("\tcase \"$1 $2\" in")
	for (k = 1; k <= nk; k++) {
		key = keys[k]
		no = split(opts[key], o, " ")
		for (i = 1; i <= no; i++)
			if ((key, o[i]) in vals)
				emit(sprintf("\t%s) values=(%s) ;;", sq(key " " o[i]), vals[key, o[i]]))
	}
	emit("\t*) return 1 ;;")
	emit("\tesac")
	emit("}")
	emit("")
	r = ""
	for (i = 1; i <= ncmd; i++)
		r = r "\n\t\t" zitem(cmd[i], usage[cmd[i]])
	emit("_cairn() {")
	emit("\tlocal key='' w i want_value=0 npos=0")
	emit("\tlocal -a subs opts args values")
	emit("\tlocal -a cmds=(" r "\n\t)")
	emit("\tfor ((i = 2; i < CURRENT; i++)); do")
	emit("\t\tw=${words[i]}")
	emit("\t\tif ((want_value)); then")
	emit("\t\t\twant_value=0")
	emit("\t\t\tcontinue")
	emit("\t\tfi")
	emit("\t\tif [[ -z $key ]]; then")
	emit("\t\t\t[[ $w == -* ]] && continue")
	emit("\t\t\tkey=$w")
	emit("\t\t\t_cairn_spec \"$key\" || { _files; return }")
	emit("\t\telif [[ $w == -- ]]; then")
	emit("\t\t\t# A command line of its own follows (cairn run -- CMD ARGS).")
	emit("\t\t\tshift i words")
	emit("\t\t\t((CURRENT -= i))")
	emit("\t\t\t_normal")
	emit("\t\t\treturn")
	emit("\t\telif [[ $w == -* ]]; then")
	emit("\t\t\t[[ $w != *=* && ${args[(Ie)$w]} -gt 0 ]] && want_value=1")
	emit("\t\telse")
	emit("\t\t\tif ((npos == 0)) && [[ -n ${(M)subs:#${w}:*} ]]; then")
	emit("\t\t\t\t_cairn_spec \"$key $w\" && key=\"$key $w\"")
	emit("\t\t\t\tsubs=()")
	emit("\t\t\tfi")
	emit("\t\t\tnpos=$((npos + 1))")
	emit("\t\tfi")
	emit("\tdone")
	emit("\tif [[ -z $key ]]; then")
	emit("\t\tif [[ $PREFIX == -* ]]; then")
	emit("\t\t\tcompadd -- " opts[""])
	emit("\t\telse")
	emit("\t\t\t_describe -t commands 'cairn command' cmds")
	emit("\t\tfi")
	emit("\telif ((want_value)); then")
	emit("\t\tif _cairn_values \"$key\" \"${words[CURRENT - 1]}\"; then")
	emit("\t\t\tcompadd -a values")
	emit("\t\telse")
	emit("\t\t\t_files")
	emit("\t\tfi")
	emit("\telif [[ $PREFIX == -* ]]; then")
	emit("\t\t_describe -t options option opts")
	emit("\telif ((npos == 0 && ${#subs})); then")
	emit("\t\t_describe -t subcommands subcommand subs")
	emit("\telse")
	emit("\t\t_files")
	emit("\tfi")
	emit("}")
	emit("")
	emit("_cairn \"$@\"")
}
