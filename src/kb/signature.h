/* Error signatures: turns one diagnostic line from a compiler, interpreter,
 * test runner or build tool into a normalised key, so that the same error
 * reported about another file, line, temporary name, address, timestamp or
 * hash gives the same key, while different errors give different keys:
 *
 *   a.c:4:9: error: 'cnt' undeclared (first use in this function)
 *   src/x.c:12:3: error: ‘cnt’ undeclared (first use in this function)
 *     exact:   'cnt' undeclared (first use in this function)
 *     general: '<id>' undeclared (first use in this function)
 *
 *   /usr/bin/ld: /tmp/ccJEKgjE.o: in function `main':
 *     exact:   <path>: <tmp>: in function 'main':
 *
 * The key comes in two forms. `exact` keeps the names the message quotes;
 * `general` also replaces each quoted name with '<id>', so it matches the
 * same error about other names ('foo' undeclared, 'bar' undeclared) while
 * quoted punctuation stays ("expected ';' before '}' token" and "expected ')'
 * before ';' token" remain different).
 *
 * How `exact` is made, in order (docs/signatures.md has the reasons and
 * examples; tests/data/signature/cases.txt pins each rule down):
 *  1. Only the first SIGNATURE_SCAN_MAX bytes of the message are read.
 *     ANSI escape sequences are removed; control characters and Unicode
 *     spaces become blanks; typographic quotes ‘’ “” and the backquote of
 *     `x' become ' and "; each byte that is not part of valid UTF-8 becomes
 *     '?'. A leading pytest "E   " marker is dropped.
 *  2. Variable parts are replaced by placeholders:
 *       <url>   scheme://... (http, https, file, git+ssh, ...)
 *       <tmp>   paths in a temporary directory (/tmp/..., /var/folders/...,
 *               .../Temp/..., pytest-of-USER/...) and temporary file names
 *               (gcc's ccAbc123.o, Python's tmpk3x_9q2z)
 *       <path>  any other token with a letter and a '/' (src/a.c, ./x,
 *               /usr/bin/ld), except two plain words around one slash (I/O,
 *               and/or), which are prose; or with a letter, backslashes and
 *               a drive letter or a file name at the end (C:\src,
 *               lib\util.c; a backslash alone is more often an escape)
 *       <file>  a bare file name with a known extension (foo.c, Bar.java,
 *               test_x.py, main.rs, stdio.h)
 *       <time>  dates, times and ISO 8601 timestamps; durations (12ms,
 *               0.03s, 1m30s, 2 seconds)
 *       <addr>  hexadecimal numbers written 0x...
 *       <hash>  UUIDs; words of 7 or more hex digits with a digit and a
 *               letter among them; words of 40 or 64 decimal digits (SHAs
 *               that happen to have no letter)
 *       <n>     any other number standing alone: 42, 3.14, 1.2.3, 1e-9
 *               (so a.c:12:5 becomes <file>:<n>:<n>); digits that are part
 *               of a word (x86_64, E0425, utf8, 3rd) stay
 *  3. Runs of blanks become one space; leading and trailing blanks go.
 *  4. A leading location ("<file>:<n>:<n>:", "<path>:<n>:", "<file>(<n>):")
 *     and a leading severity ("error:", "fatal error:", "fatal:", in any
 *     case) are dropped, as often as they occur: the same error is the same
 *     whoever reports it where. Other severities ("warning:") stay. A
 *     trailing hint that suggests one quoted name ("; did you mean 'idx'?",
 *     ". Did you mean: 'total'?") is dropped too: it depends on the names
 *     in scope, not on the error.
 *  5. The result is cut to at most SIGNATURE_MAX - 1 bytes, at the last
 *     space that fits (or, for a message with no space early enough, at the
 *     last punctuation character, or else on a UTF-8 character boundary).
 *
 * Guarantees: both forms are valid UTF-8 without control characters, at
 * most SIGNATURE_MAX - 1 bytes and NUL-terminated. `exact` is a fixed point:
 * passing it back in gives the same `exact` (fuzz/fuzz_signature.c checks
 * this). Time is linear in the bytes looked at and no memory is allocated
 * (about 20 KiB of stack). */
#ifndef CAIRN_SIGNATURE_H
#define CAIRN_SIGNATURE_H

#include <stddef.h>

/* Size in bytes, NUL included, of each form of a signature. */
#define SIGNATURE_MAX 512

/* How much of a message is looked at; the rest is ignored. */
#define SIGNATURE_SCAN_MAX 4096

struct signature {
	/* The message with the variable parts replaced. */
	char exact[SIGNATURE_MAX];
	/* exact, plus quoted names replaced: the same error about other names. */
	char general[SIGNATURE_MAX];
};

/* Computes the signature of msg (len bytes; need not be NUL-terminated and
 * may hold any bytes, including NUL and invalid UTF-8; only the first
 * SIGNATURE_SCAN_MAX bytes are read) into *out, overwriting both forms.
 * Never fails: when nothing is left of the message (it was empty, blank or
 * only a severity such as "error:"), both forms are "". msg may be NULL when
 * len is 0. Keeps no state and does not block: any thread may call it. */
void signature_from_message(const char *msg, size_t len, struct signature *out);

#endif
