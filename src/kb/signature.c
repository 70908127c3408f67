/* Error signatures: one pass that cleans the bytes of a diagnostic, one that
 * replaces its variable parts with placeholders, and one that derives the
 * general form by replacing quoted names. Every pass reads its input once,
 * left to right; a recogniser that looks ahead and fails copies what it read,
 * so that no byte is examined more than a bounded number of times. */
#include "kb/signature.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A placeholder is at most 3 times as long as the text it replaces ("7" ->
 * "<n>", "1s" -> "<time>", "/a" -> "<path>"), so the normalised text of
 * SIGNATURE_SCAN_MAX clean bytes fits here. */
#define WORK_MAX (3 * SIGNATURE_SCAN_MAX + 16)

/* How many more passes may be needed to reach a fixed point after a cut in
 * the middle of a word; see finish(). */
#define FIXPOINT_PASSES 4

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(unsigned char c)
{
	return is_digit(c) || is_alpha(c);
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Word characters: letters, digits, '_' and every byte of a multi-byte UTF-8
 * character (after cleaning, bytes >= 0x80 are only ever parts of valid
 * characters, which are letters often enough to be treated as such). */
static bool is_word(unsigned char c)
{
	return is_alnum(c) || c == '_' || c >= 0x80;
}

/* Characters that can appear inside a path or a file name as cairn sees
 * one. ':' is left out so that "a.c:12" splits into a name and a line; a
 * drive letter ("C:\") is handled on its own. */
static bool is_pathc(unsigned char c)
{
	return is_word(c) || (c != '\0' && strchr("./\\-~+@%$#", c) != NULL);
}

static bool is_blank(unsigned char c)
{
	return c == ' ';
}

/* ---- Pass 1: clean the bytes. ---- */

/* Returns the length (1 to 4) of the valid UTF-8 sequence at p[0..n) and
 * its code point in *cp, or 0 if p does not start one (overlong forms,
 * surrogates and values over U+10FFFF are invalid). */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t len;
	uint32_t v;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		unsigned char b = p[i];
		if (b < lo || b > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
		v = (v << 6) | (b & 0x3f);
	}
	*cp = v;
	return len;
}

/* Length of the ANSI escape sequence at p[0] == ESC: CSI (ESC [ params
 * final), OSC (ESC ] ... BEL or ESC \), or ESC and one more character. A
 * sequence cut short by the end of the input takes the rest of it. */
static size_t ansi_len(const unsigned char *p, size_t n)
{
	size_t i = 1;
	if (n < 2)
		return n;
	if (p[1] == '[') {
		for (i = 2; i < n; i++)
			if (p[i] >= 0x40 && p[i] <= 0x7e)
				return i + 1;
		return n;
	}
	if (p[1] == ']') {
		for (i = 2; i < n; i++) {
			if (p[i] == 0x07)
				return i + 1;
			if (p[i] == 0x1b && i + 1 < n && p[i + 1] == '\\')
				return i + 2;
		}
		return n;
	}
	return 2;
}

/* Cleans in[0..n) into out (at least n bytes): see step 1 in signature.h.
 * The output is never longer than the input. Returns its length. */
static size_t clean(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = in[i];
		uint32_t cp;
		size_t len;
		if (c == 0x1b) {
			i += ansi_len(in + i, n - i);
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = ' ';
			i++;
		} else if (c == '`') {
			out[o++] = '\'';
			i++;
		} else if (c < 0x80) {
			out[o++] = (char)c;
			i++;
		} else if ((len = utf8_decode(in + i, n - i, &cp)) == 0) {
			out[o++] = '?';
			i++;
		} else {
			if (cp == 0x2018 || cp == 0x2019 || cp == 0x201a || cp == 0x201b ||
			    cp == 0x2032)
				out[o++] = '\'';
			else if (cp == 0x201c || cp == 0x201d || cp == 0x201e || cp == 0x201f ||
				 cp == 0x2033)
				out[o++] = '"';
			else if (cp < 0xa0 || cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200b) ||
				 cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
				 cp == 0x3000 || cp == 0xfeff)
				out[o++] = ' '; /* C1 controls, Unicode spaces, BOM */
			else {
				memcpy(out + o, in + i, len);
				o += len;
			}
			i += len;
		}
	}
	return o;
}

/* ---- Pass 2: replace the variable parts. ---- */

/* Output of pass 2: blanks are collapsed as they are written. */
struct emit {
	char *buf;
	size_t n;
	bool space; /* a blank is pending: written before the next byte */
};

static void emit_bytes(struct emit *e, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (e->space && e->n > 0)
		e->buf[e->n++] = ' ';
	e->space = false;
	memcpy(e->buf + e->n, p, n);
	e->n += n;
}

static void emit_str(struct emit *e, const char *s)
{
	emit_bytes(e, s, strlen(s));
}

/* The input of pass 2: s[0..n). */
struct scan {
	const char *s;
	size_t n;
};

static unsigned char at(const struct scan *t, size_t i)
{
	return i < t->n ? (unsigned char)t->s[i] : '\0';
}

static size_t skip_digits(const struct scan *t, size_t i)
{
	while (i < t->n && is_digit(at(t, i)))
		i++;
	return i;
}

static size_t skip_word(const struct scan *t, size_t i)
{
	while (i < t->n && is_word(at(t, i)))
		i++;
	return i;
}

/* True if nothing word-like follows position i. */
static bool word_ends(const struct scan *t, size_t i)
{
	return i >= t->n || !is_word(at(t, i));
}

/* True if a match ending at i ends a run of path characters too, perhaps
 * before a sentence's dots. A match that crosses characters outside runs
 * (the ':' of a clock, the blank before "seconds") must end so: if it ended
 * inside the next run, the rest of that run would be read as a token of its
 * own the next time ("01:17:59,013~/x" -> "<time>~/x" -> "<time><path>"). */
static bool ends_run(const struct scan *t, size_t i)
{
	while (at(t, i) == '.')
		i++;
	return !is_pathc(at(t, i));
}

static bool has_prefix(const struct scan *t, size_t i, const char *p)
{
	size_t k = strlen(p);
	return i <= t->n && t->n - i >= k && memcmp(t->s + i, p, k) == 0;
}

/* H:MM:SS or HH:MM:SS with optional fractional seconds (. or , then up to
 * 9 digits). Returns the end, or 0. */
static size_t match_clock(const struct scan *t, size_t i)
{
	size_t h = skip_digits(t, i);
	if (h - i < 1 || h - i > 2 || at(t, h) != ':')
		return 0;
	size_t m = skip_digits(t, h + 1);
	if (m - h - 1 != 2 || at(t, m) != ':')
		return 0;
	size_t s = skip_digits(t, m + 1);
	if (s - m - 1 != 2)
		return 0;
	if ((at(t, s) == '.' || at(t, s) == ',') && is_digit(at(t, s + 1))) {
		size_t f = skip_digits(t, s + 1);
		if (f - s - 1 <= 9)
			s = f;
	}
	return s;
}

/* An optional time zone after a clock: Z, +HH, +HHMM, +HH:MM (or -). */
static size_t match_zone(const struct scan *t, size_t i)
{
	if (at(t, i) == 'Z')
		return i + 1;
	if (at(t, i) == '+' || at(t, i) == '-') {
		size_t h = skip_digits(t, i + 1);
		if (h - i - 1 == 4)
			return h;
		if (h - i - 1 == 2) {
			if (at(t, h) == ':' && skip_digits(t, h + 1) - h - 1 == 2)
				return h + 3;
			return h;
		}
	}
	return i;
}

/* A date (YYYY-MM-DD or YYYY/MM/DD), optionally followed by 'T' or a blank
 * and a clock and zone, or a clock and zone alone. Returns the end, or 0. */
static size_t match_datetime(const struct scan *t, size_t i)
{
	size_t e = 0;
	size_t y = skip_digits(t, i);
	unsigned char sep = at(t, y);
	if (y - i == 4 && (sep == '-' || sep == '/')) {
		size_t m = skip_digits(t, y + 1);
		if (m - y - 1 >= 1 && m - y - 1 <= 2 && at(t, m) == sep) {
			size_t d = skip_digits(t, m + 1);
			if (d - m - 1 >= 1 && d - m - 1 <= 2) {
				e = d;
				size_t c;
				if ((at(t, e) == 'T' || at(t, e) == ' ') &&
				    (c = match_clock(t, e + 1)) != 0)
					e = match_zone(t, c);
			}
		}
	}
	if (e == 0) {
		size_t c = match_clock(t, i);
		if (c == 0)
			return 0;
		e = match_zone(t, c);
	}
	bool crossed = false;
	for (size_t k = i; k < e && !crossed; k++)
		crossed = !is_pathc(at(t, k));
	return (crossed ? ends_run(t, e) : word_ends(t, e)) ? e : 0;
}

/* Units of a duration written right after its number (12ms, 1m30s) and,
 * longer ones only, after a blank (2 seconds). */
static const char *const glued_units[] = {
	"ns", "us", "\xc2\xb5s", "ms", "s", "sec", "secs", "m", "min", "mins", "h", "hr", "hrs",
};
static const char *const spaced_units[] = {
	"ns",      "us",  "\xc2\xb5s", "ms",     "s",       "sec",  "secs",  "second",
	"seconds", "min", "mins",      "minute", "minutes", "hour", "hours",
};

static bool in_list(const char *p, size_t n, const char *const *list, size_t count)
{
	for (size_t k = 0; k < count; k++)
		if (strlen(list[k]) == n && memcmp(list[k], p, n) == 0)
			return true;
	return false;
}

/* End of the run of unit letters (ASCII letters and the micro sign). */
static size_t skip_unit(const struct scan *t, size_t i)
{
	for (;;) {
		if (is_alpha(at(t, i)))
			i++;
		else if (at(t, i) == 0xc2 && at(t, i + 1) == 0xb5)
			i += 2;
		else
			return i;
	}
}

/* A number: digits, any number of .digits groups (versions, addresses),
 * and an exponent. Returns the end (i if there is no digit at i). */
static size_t scan_number(const struct scan *t, size_t i)
{
	size_t e = skip_digits(t, i);
	if (e == i)
		return i;
	while (at(t, e) == '.' && is_digit(at(t, e + 1)))
		e = skip_digits(t, e + 1);
	if ((at(t, e) == 'e' || at(t, e) == 'E')) {
		size_t x = e + 1;
		if (at(t, x) == '+' || at(t, x) == '-')
			x++;
		if (is_digit(at(t, x)))
			e = skip_digits(t, x);
	}
	return e;
}

enum numkind { NUM_NONE, NUM_PLAIN, NUM_TIME };

/* A number or a duration at i (a word start). Sets *end to its end and
 * returns its kind. On NUM_NONE, *end is where copying must resume: past
 * everything the scan read, so that no part of it is scanned again. */
static enum numkind match_number(const struct scan *t, size_t i, size_t *end)
{
	size_t e = scan_number(t, i);
	bool unit = false;
	if (e == i) {
		*end = i;
		return NUM_NONE;
	}
	for (;;) {
		size_t u = skip_unit(t, e);
		if (u == e)
			break;
		if (!in_list(t->s + e, u - e, glued_units,
			     sizeof glued_units / sizeof glued_units[0])) {
			*end = skip_word(t, u);
			return NUM_NONE;
		}
		unit = true;
		e = u;
		if (!is_digit(at(t, e)))
			break;
		size_t f = scan_number(t, e);
		if (skip_unit(t, f) == f) {
			*end = skip_word(t, f);
			return NUM_NONE;
		}
		e = f;
	}
	if (!word_ends(t, e)) {
		*end = skip_word(t, e);
		return NUM_NONE;
	}
	if (!unit && at(t, e) == ' ') {
		size_t w = e;
		while (is_blank(at(t, w)))
			w++;
		size_t u = skip_unit(t, w);
		if (u > w && ends_run(t, u) &&
		    in_list(t->s + w, u - w, spaced_units,
			    sizeof spaced_units / sizeof spaced_units[0])) {
			*end = u;
			return NUM_TIME;
		}
	}
	*end = e;
	return unit ? NUM_TIME : NUM_PLAIN;
}

/* 8-4-4-4-12 hex digits. Returns the end, or 0. */
static size_t match_uuid(const struct scan *t, size_t i)
{
	static const unsigned char groups[] = {8, 4, 4, 4, 12};
	size_t e = i;
	for (size_t g = 0; g < sizeof groups; g++) {
		if (g > 0) {
			if (at(t, e) != '-')
				return 0;
			e++;
		}
		for (size_t k = 0; k < groups[g]; k++, e++)
			if (!is_hex(at(t, e)))
				return 0;
	}
	return word_ends(t, e) ? e : 0;
}

/* A hash: a whole word of hex digits, 7 or more with both a digit and a
 * letter, or exactly 40 or 64 (SHA-1, SHA-256) with a digit. A word of
 * letters alone is never a hash (a SHA without a digit is as rare as 1 in
 * 10^17), so that no placeholder falls inside prose such as "and/or". */
static size_t match_hash(const struct scan *t, size_t i)
{
	size_t e = i;
	bool digit = false, letter = false;
	while (is_hex(at(t, e))) {
		if (is_digit(at(t, e)))
			digit = true;
		else
			letter = true;
		e++;
	}
	if (!word_ends(t, e))
		return 0;
	size_t n = e - i;
	if ((n >= 7 && digit && letter) || (digit && (n == 40 || n == 64)))
		return e;
	return 0;
}

/* 0x followed by hex digits, the whole word. */
static size_t match_addr(const struct scan *t, size_t i)
{
	if (at(t, i) != '0' || (at(t, i + 1) != 'x' && at(t, i + 1) != 'X') ||
	    !is_hex(at(t, i + 2)))
		return 0;
	size_t e = i + 2;
	while (is_hex(at(t, e)))
		e++;
	return word_ends(t, e) ? e : 0;
}

/* scheme://rest, where rest is not empty; the end drops trailing
 * punctuation that more likely closes the sentence than the URL. */
static size_t match_url(const struct scan *t, size_t i)
{
	if (!is_alpha(at(t, i)))
		return 0;
	size_t e = i + 1;
	while (is_alnum(at(t, e)) || at(t, e) == '+' || at(t, e) == '.' || at(t, e) == '-')
		e++;
	if (!has_prefix(t, e, "://"))
		return 0;
	e += 3;
	size_t body = e;
	while (e < t->n) {
		unsigned char c = at(t, e);
		if (c == ' ' || c == '\'' || c == '"' || c == '<' || c == '>')
			break;
		e++;
	}
	while (e > body && strchr(".,;:!?)]}", t->s[e - 1]) != NULL)
		e--;
	return e > body ? e : 0;
}

/* File name extensions that make a bare word a file name. Only extensions
 * that are rarely also the name of a member or method ("obj.log", "x.a")
 * are listed. */
static const char *const extensions[] = {
	"c",   "h",     "C",    "H",     "cc",     "cpp",   "cxx",    "hpp",  "hh",   "hxx",
	"ipp", "inl",   "tcc",  "cu",    "cuh",    "m4",    "py",     "pyi",  "pyx",  "pxd",
	"pyc", "ipynb", "java", "kt",    "kts",    "scala", "groovy", "go",   "rs",   "rlib",
	"js",  "mjs",   "cjs",  "ts",    "tsx",    "jsx",   "vue",    "rb",   "php",  "cs",
	"fs",  "swift", "dart", "lua",   "pl",     "hs",    "ex",     "exs",  "erl",  "clj",
	"zig", "nim",   "o",    "obj",   "so",     "dylib", "dll",    "lib",  "exe",  "class",
	"jar", "war",   "wasm", "json",  "yaml",   "yml",   "toml",   "xml",  "html", "htm",
	"css", "scss",  "md",   "rst",   "txt",    "csv",   "sh",     "bash", "zsh",  "fish",
	"ps1", "bat",   "mk",   "cmake", "gradle", "ini",   "cfg",    "conf", "sql",  "proto",
	"ld",  "lds",   "asm",  "patch", "diff",
};

/* Build files that have no extension but are named in messages like files
 * ("Makefile:12: *** missing separator"). */
static const char *const bare_file_names[] = {
	"Makefile",    "makefile",    "GNUmakefile", "Dockerfile", "Containerfile",
	"Jenkinsfile", "Vagrantfile", "Gemfile",     "Rakefile",   "Kbuild",
};

/* True if s[0..n) is a file name with a known extension, or a build file
 * that has none. */
static bool is_file_name(const char *s, size_t n)
{
	if (in_list(s, n, bare_file_names, sizeof bare_file_names / sizeof bare_file_names[0]))
		return true;
	const char *dot = NULL;
	for (size_t k = n; k > 0; k--)
		if (s[k - 1] == '.') {
			dot = s + k - 1;
			break;
		}
	if (!dot || dot == s)
		return false;
	bool alnum = false;
	for (const char *p = s; p < dot; p++)
		alnum |= is_alnum((unsigned char)*p);
	return alnum && in_list(dot + 1, (size_t)(s + n - dot - 1), extensions,
				sizeof extensions / sizeof extensions[0]);
}

static size_t count_alnum(const char *s, size_t n, bool digits)
{
	size_t k = 0;
	while (k < n && (is_alnum((unsigned char)s[k]) || (!digits && s[k] == '_')))
		k++;
	return k;
}

/* True if s[0..n) ends with an optional short extension at k (".o",
 * ".py"): k == n, or '.' and 1 to 5 letters or digits. */
static bool ends_with_ext(const char *s, size_t n, size_t k)
{
	if (k == n)
		return true;
	if (s[k] != '.')
		return false;
	size_t x = count_alnum(s + k + 1, n - k - 1, true);
	return x >= 1 && x <= 5 && k + 1 + x == n;
}

/* True if s[0..n) is the name of a temporary file or directory made by a
 * tool: gcc's ccXXXXXX (6 random letters and digits, with the extension of
 * the stage: ccAbc123.o), Python's tmpXXXXXXXX (random letters, digits and
 * '_'; at least one digit is required so that words such as "tmp_path" are
 * not taken), mktemp's tmp.XXXXXXXXXX, pytest's pytest-of-USER and
 * pytest-N. need_ext asks for gcc's extension, which a bare word needs to be
 * told from other words of 8 letters that start with "cc". */
static bool is_tmp_name(const char *s, size_t n, bool need_ext)
{
	if (n >= 8 && memcmp(s, "cc", 2) == 0 && count_alnum(s + 2, n - 2, true) >= 6 &&
	    ends_with_ext(s, n, 8) && (!need_ext || n > 8))
		return true;
	if (n >= 9 && memcmp(s, "tmp", 3) == 0) {
		size_t k = 3;
		if (s[k] == '.' || s[k] == '_' || s[k] == '-')
			k++;
		size_t r = count_alnum(s + k, n - k, false);
		bool digit = false;
		for (size_t j = k; j < k + r; j++)
			digit |= is_digit((unsigned char)s[j]);
		if (r >= 6 && digit && ends_with_ext(s, n, k + r))
			return true;
	}
	if (n > 10 && memcmp(s, "pytest-of-", 10) == 0)
		return true;
	if (n > 7 && memcmp(s, "pytest-", 7) == 0) {
		size_t k = 7;
		while (k < n && is_digit((unsigned char)s[k]))
			k++;
		return k == n;
	}
	return false;
}

static bool eq_nocase(const char *s, size_t n, const char *w)
{
	if (strlen(w) != n)
		return false;
	for (size_t k = 0; k < n; k++) {
		char c = s[k];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != w[k])
			return false;
	}
	return true;
}

static bool starts_with(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);
	return n >= k && memcmp(s, p, k) == 0;
}

/* True if the path s[0..n) is in a temporary directory or names a
 * temporary file. */
static bool is_tmp_path(const char *s, size_t n)
{
	static const char *const roots[] = {
		"/tmp/",         "/var/tmp/", "/dev/shm/", "/var/folders/", "/private/var/folders/",
		"/private/tmp/",
	};
	for (size_t k = 0; k < sizeof roots / sizeof roots[0]; k++)
		if (starts_with(s, n, roots[k]))
			return true;
	size_t start = 0;
	for (size_t k = 0; k <= n; k++) {
		if (k < n && s[k] != '/' && s[k] != '\\')
			continue;
		const char *c = s + start;
		size_t len = k - start;
		if (eq_nocase(c, len, "tmp") || eq_nocase(c, len, "temp") ||
		    is_tmp_name(c, len, false))
			return true;
		start = k + 1;
	}
	return false;
}

enum pathkind { PATH_NONE, PATH_PATH, PATH_TMP };

/* Decides whether the run s[0..n) of path characters is a path: it has a
 * letter and either a '/' (unless it is two plain words around one slash,
 * prose such as I/O and and/or), or backslashes and a drive letter or a file
 * name at the end (a backslash is also an escape: 'a\n' is no path).
 *
 * The rules are chosen so that a run that is not a path has no piece that
 * is one: when a placeholder replaces a number inside such a run
 * ("x-2026-11-02\foo" -> "x-<time>\foo"), a second reading sees the pieces
 * on either side of the placeholder as runs of their own, and must not take
 * one for a path. A piece after a placeholder starts with punctuation (so
 * not with a drive letter) and keeps the run's end; a piece before one ends
 * with punctuation (so not with a file name) and lacks the run's digits (so
 * is not prose when the run is not). */
static enum pathkind classify_path(const char *s, size_t n)
{
	size_t slashes = 0, backslashes = 0, slash_at = 0;
	bool letter = false;
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[k];
		if (c == '/') {
			slashes++;
			slash_at = k;
		} else if (c == '\\') {
			backslashes++;
		}
		letter |= is_alpha(c) || c >= 0x80;
	}
	if (!letter || (slashes == 0 && backslashes == 0))
		return PATH_NONE;
	if (slashes == 0) {
		bool drive = n >= 3 && is_alpha((unsigned char)s[0]) && s[1] == ':';
		size_t last = n;
		while (last > 0 && s[last - 1] != '\\')
			last--;
		if (!drive && !is_file_name(s + last, n - last))
			return PATH_NONE;
	} else if (slashes == 1 && backslashes == 0 && slash_at > 0 && slash_at + 1 < n) {
		bool words = true;
		for (size_t k = 0; k < n; k++)
			if (k != slash_at && !is_alpha((unsigned char)s[k]))
				words = false;
		if (words)
			return PATH_NONE;
	}
	return is_tmp_path(s, n) ? PATH_TMP : PATH_PATH;
}

/* Pass 2 over the clean text t; see step 2 in signature.h. Writes at most
 * 3 * t->n + 16 bytes to out and returns the length. */
static size_t normalise(const struct scan *t, char *out)
{
	struct emit e = {out, 0, false};
	size_t i = 0;
	while (i < t->n) {
		unsigned char c = at(t, i);
		unsigned char prev = i > 0 ? at(t, i - 1) : ' ';
		size_t end;
		if (is_blank(c)) {
			e.space = true;
			i++;
			continue;
		}
		if (!is_pathc(c) || is_pathc(prev)) {
			/* Not the start of a token. Inside one, word starts
			 * (after '.', '-', '/') are still looked at below. */
			if (!is_word(c) || is_word(prev)) {
				emit_bytes(&e, t->s + i, 1);
				i++;
				continue;
			}
		} else {
			/* A token starts here: a URL, a path, a temporary
			 * name or a file name. Paths come before dates, so
			 * that "2024-01-02/x" is one path. */
			if ((end = match_url(t, i)) != 0) {
				emit_str(&e, "<url>");
				i = end;
				continue;
			}
			end = i;
			if (is_alpha(c) && at(t, i + 1) == ':' &&
			    (at(t, i + 2) == '\\' || at(t, i + 2) == '/'))
				end = i + 2;
			while (end < t->n && is_pathc(at(t, end)))
				end++;
			/* Dots at the end close a sentence ("in /usr/lib."),
			 * except before a placeholder: there the run is the
			 * piece of a longer one that was read whole ("foo.c."
			 * of "foo.c.<n>" from "foo.c.1", which is no file). */
			if (at(t, end) != '<')
				while (end > i && at(t, end - 1) == '.')
					end--;
			enum pathkind pk = classify_path(t->s + i, end - i);
			if (pk != PATH_NONE) {
				emit_str(&e, pk == PATH_TMP ? "<tmp>" : "<path>");
				i = end;
				continue;
			}
			if (is_tmp_name(t->s + i, end - i, true)) {
				emit_str(&e, "<tmp>");
				i = end;
				continue;
			}
			if (is_file_name(t->s + i, end - i)) {
				emit_str(&e, "<file>");
				i = end;
				continue;
			}
			if (!is_word(c)) {
				emit_bytes(&e, t->s + i, 1);
				i++;
				continue;
			}
		}
		/* A word starts here. */
		if ((end = match_datetime(t, i)) != 0) {
			emit_str(&e, "<time>");
			i = end;
			continue;
		}
		if ((end = match_addr(t, i)) != 0) {
			emit_str(&e, "<addr>");
			i = end;
			continue;
		}
		if ((end = match_uuid(t, i)) != 0 || (end = match_hash(t, i)) != 0) {
			emit_str(&e, "<hash>");
			i = end;
			continue;
		}
		enum numkind nk = match_number(t, i, &end);
		if (nk != NUM_NONE) {
			emit_str(&e, nk == NUM_TIME ? "<time>" : "<n>");
			i = end;
			continue;
		}
		if (end <= i)
			end = skip_word(t, i);
		emit_bytes(&e, t->s + i, end - i);
		i = end;
	}
	return e.n;
}

/* ---- Pass 3: prefixes, trimming and the cut. ---- */

/* If s[0..n) starts with one of the words in list followed by the end or a
 * blank, returns how many bytes to drop (the word and one blank), else 0.
 * Locations are matched as written, severities in any case. */
static size_t drop_prefix(const char *s, size_t n)
{
	static const char *const places[] = {"<file>", "<path>", "<tmp>"};
	static const char *const lines[] = {":<n>:<n>:", ":<n>:", "(<n>):", "(<n>,<n>):"};
	static const char *const severities[] = {"fatal error:", "error:", "fatal:"};
	for (size_t p = 0; p < sizeof places / sizeof places[0]; p++) {
		if (!starts_with(s, n, places[p]))
			continue;
		size_t k = strlen(places[p]);
		for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
			if (starts_with(s + k, n - k, lines[l])) {
				k += strlen(lines[l]);
				return k < n && s[k] == ' ' ? k + 1 : k;
			}
		}
	}
	for (size_t v = 0; v < sizeof severities / sizeof severities[0]; v++) {
		size_t k = strlen(severities[v]);
		if (n >= k && eq_nocase(s, k, severities[v]) && (k == n || s[k] == ' '))
			return k < n ? k + 1 : k;
	}
	return 0;
}

/* True if cutting just after the byte c cannot change how the text before
 * it is read: c ends every token (it is no path or word character) and no
 * recogniser looks across it (':' is part of clocks and drive letters). */
static bool safe_to_cut_after(unsigned char c)
{
	return c < 0x80 && !is_pathc(c) && c != ':' && c != ' ';
}

/* Where to cut s[0..n) to fit max bytes: at the last blank that fits, else
 * after the last safe punctuation, else on a UTF-8 character boundary. Sets
 * *clean_cut when the cut cannot change how the kept text is read. */
static size_t cut_point(const char *s, size_t n, size_t max, bool *clean_cut)
{
	*clean_cut = true;
	if (n <= max)
		return n;
	for (size_t k = max; k > 0; k--)
		if (s[k] == ' ')
			return k;
	for (size_t k = max; k > 0; k--)
		if (safe_to_cut_after((unsigned char)s[k - 1]))
			return k;
	*clean_cut = false;
	size_t k = max;
	while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	return k;
}

/* Returns the length of s[0..n) without a trailing hint that suggests one
 * quoted name ("; did you mean 'index_of'?", ". Did you mean: 'total'?"),
 * and without trailing blanks. The suggestion depends on the names that
 * happen to be in scope, not on the error; a hint that is not a single name
 * ("did you mean to use '->'?") is part of the error and stays. */
static size_t drop_hint(const char *s, size_t n)
{
	static const char *const leads[] = {
		"; did you mean ",  "; did you mean: ", ". Did you mean ",
		". Did you mean: ", ", did you mean ",  "? Did you mean "};
	for (;;) {
		while (n > 0 && s[n - 1] == ' ')
			n--;
		if (n < 4 || s[n - 1] != '?' || (s[n - 2] != '\'' && s[n - 2] != '"'))
			return n;
		char q = s[n - 2];
		size_t k = n - 2;
		while (k > 0 && s[k - 1] != q)
			k--;
		if (k == 0)
			return n;
		k--; /* the opening quote */
		size_t m = n;
		for (size_t l = 0; l < sizeof leads / sizeof leads[0] && m == n; l++) {
			size_t len = strlen(leads[l]);
			if (k >= len && memcmp(s + k - len, leads[l], len) == 0)
				m = k - len + (leads[l][0] == '?');
		}
		if (m == n)
			return n;
		n = m;
	}
}

/* Steps 3 to 5 on the normalised text w[0..n): drops leading locations and
 * severities and a trailing hint, trims, cuts and writes the result
 * (NUL-terminated) to out. The hint is looked for again after the cut, which
 * may have made one the end. Returns false if the cut was not clean. */
static bool finish(char *w, size_t n, char out[SIGNATURE_MAX])
{
	size_t start = 0, d;
	while ((d = drop_prefix(w + start, n - start)) != 0)
		start += d;
	n = start + drop_hint(w + start, n - start);
	bool clean_cut;
	size_t k = cut_point(w + start, n - start, SIGNATURE_MAX - 1, &clean_cut);
	k = drop_hint(w + start, k);
	memcpy(out, w + start, k);
	out[k] = '\0';
	return clean_cut;
}

/* Working memory of one signature. */
struct work {
	char clean[SIGNATURE_SCAN_MAX];
	char norm[WORK_MAX];
};

/* Computes the exact form of in[0..n) into out. */
static bool exact_form(struct work *wk, const char *in, size_t n, char out[SIGNATURE_MAX])
{
	if (n > SIGNATURE_SCAN_MAX)
		n = SIGNATURE_SCAN_MAX;
	size_t c = n ? clean((const unsigned char *)in, n, wk->clean) : 0;
	/* pytest marks the lines of an assertion report with "E" and blanks. */
	size_t s = 0;
	while (s < c && wk->clean[s] == ' ')
		s++;
	if (c - s >= 3 && wk->clean[s] == 'E' && wk->clean[s + 1] == ' ' && wk->clean[s + 2] == ' ')
		s += 3;
	struct scan t = {wk->clean + s, c - s};
	return finish(wk->norm, normalise(&t, wk->norm), out);
}

/* ---- The general form. ---- */

/* Writes the general form of the exact form ex (NUL-terminated, shorter
 * than SIGNATURE_MAX) to out. A quote opens a span where no word character
 * comes before it and closes it where none comes after it, so that the
 * apostrophe of "can't" does neither. */
static void general_form(const char *ex, char out[SIGNATURE_MAX])
{
	size_t n = strlen(ex);
	/* close[q][k]: the first closing quote q at or after k, or n. */
	uint16_t close[2][SIGNATURE_MAX];
	static const char quotes[2] = {'\'', '"'};
	for (int q = 0; q < 2; q++) {
		close[q][n] = (uint16_t)n;
		for (size_t k = n; k > 0; k--) {
			size_t j = k - 1;
			bool closes = ex[j] == quotes[q] &&
				      (j + 1 == n || !is_word((unsigned char)ex[j + 1]));
			close[q][j] = closes ? (uint16_t)j : close[q][j + 1];
		}
	}
	char buf[2 * SIGNATURE_MAX + 16];
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		char c = ex[i];
		int q = c == '\'' ? 0 : c == '"' ? 1 : -1;
		if (q >= 0 && (i == 0 || !is_word((unsigned char)ex[i - 1])) && i + 1 < n &&
		    close[q][i + 1] < n) {
			size_t k = close[q][i + 1];
			bool name = false;
			for (size_t j = i + 1; j < k; j++)
				name |= is_word((unsigned char)ex[j]);
			if (name) {
				memcpy(buf + o, "'<id>'", 6);
				o += 6;
			} else {
				memcpy(buf + o, ex + i, k + 1 - i);
				o += k + 1 - i;
			}
			i = k + 1;
		} else {
			buf[o++] = c;
			i++;
		}
	}
	bool clean_cut;
	size_t k = cut_point(buf, o, SIGNATURE_MAX - 1, &clean_cut);
	while (k > 0 && buf[k - 1] == ' ')
		k--;
	memcpy(out, buf, k);
	out[k] = '\0';
}

void signature_from_message(const char *msg, size_t len, struct signature *out)
{
	struct work wk;
	if (!exact_form(&wk, msg, len, out->exact)) {
		/* The message had no blank or punctuation to cut at, so the
		 * cut fell inside a word and may have made a word that reads
		 * differently alone ("1.5x" cut to "1.5"). Read the result
		 * again until it is a fixed point; give up on the (never seen)
		 * text that does not settle. */
		char prev[SIGNATURE_MAX];
		int k;
		for (k = 0; k < FIXPOINT_PASSES; k++) {
			memcpy(prev, out->exact, sizeof prev);
			exact_form(&wk, prev, strlen(prev), out->exact);
			if (strcmp(prev, out->exact) == 0)
				break;
		}
		if (k == FIXPOINT_PASSES)
			out->exact[0] = '\0';
	}
	general_form(out->exact, out->general);
}
