/* Cleaning and scoring one line of a log for the failure excerpt (see
 * excerpt.h for what a cleaned line holds and docs/excerpt.md for the
 * scoring). The tables of words and phrases are indexed once, under
 * pthread_once; everything else is pure. */
#include "services/excerpt_int.h"

#include <pthread.h>
#include <stdint.h>
#include <strings.h>

/* A test runner's verdict weighs this much more: "--- FAIL:", "*** FAILED
 * ***". In the units of the word table below. */
#define W_VERDICT 6

/* Skips the escape sequence at p[i] (an ESC); returns the index after it. */
static size_t skip_escape(const char *p, size_t n, size_t i)
{
	size_t j = i + 1;
	unsigned char b;

	if (j >= n)
		return n;
	b = (unsigned char)p[j];
	if (b == '[') {
		j++;
		while (j < n && (unsigned char)p[j] >= 0x30 && (unsigned char)p[j] <= 0x3f)
			j++;
		while (j < n && (unsigned char)p[j] >= 0x20 && (unsigned char)p[j] <= 0x2f)
			j++;
		return j < n && (unsigned char)p[j] >= 0x40 && (unsigned char)p[j] <= 0x7e ? j + 1
											   : j;
	}
	if (b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_') {
		/* OSC (hyperlinks, titles) and other strings end at BEL or ST. */
		for (j++; j < n; j++) {
			if (p[j] == '\a')
				return j + 1;
			if (p[j] == 0x1b && j + 1 < n && p[j + 1] == '\\')
				return j + 2;
		}
		return n;
	}
	if (b != 0 && strchr("()*+-./#%", b))
		return j + 1 < n ? j + 2 : n; /* character set designation */
	return j + 1;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char b = p[0], lo = 0x80, hi = 0xbf;
	size_t k;

	if (b >= 0xc2 && b <= 0xdf)
		k = 2;
	else if (b >= 0xe0 && b <= 0xef)
		k = 3;
	else if (b >= 0xf0 && b <= 0xf4)
		k = 4;
	else
		return 0;
	if (b == 0xe0)
		lo = 0xa0;
	else if (b == 0xed)
		hi = 0x9f;
	else if (b == 0xf0)
		lo = 0x90;
	else if (b == 0xf4)
		hi = 0x8f;
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return k;
}

/* ASCII lower case, by byte. */
static const char lower[256] = {
#define L4(c) (char)(c), (char)((c) + 1), (char)((c) + 2), (char)((c) + 3)
#define L16(c) L4(c), L4((c) + 4), L4((c) + 8), L4((c) + 12)
	L16(0x00), L16(0x10), L16(0x20), L16(0x30), '@',       'a',       'b',       'c',
	'd',       'e',       'f',       'g',       'h',       'i',       'j',       'k',
	'l',       'm',       'n',       'o',       'p',       'q',       'r',       's',
	't',       'u',       'v',       'w',       'x',       'y',       'z',       '[',
	'\\',      ']',       '^',       '_',       L16(0x60), L16(0x70), L16(0x80), L16(0x90),
	L16(0xa0), L16(0xb0), L16(0xc0), L16(0xd0), L16(0xe0), L16(0xf0),
#undef L16
#undef L4
};

/* Whether the n bytes at p start with the string s. */
static bool starts(const char *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	return n >= k && !memcmp(p, s, k);
}

/* Skips the CI markers at the start of the n bytes at *p (see
 * excerpt__clean()), adding what they say to *ci. */
static void skip_ci_markers(const char **p, size_t *n, unsigned *ci)
{
	while (starts(*p, *n, "travis_fold:") || starts(*p, *n, "travis_time:")) {
		const char *e = memmem(*p, *n, "\x1b[0K", 4);
		size_t k = e ? (size_t)(e + 4 - *p) : *n;

		if (starts(*p, *n, "travis_fold:start:"))
			*ci |= F_FOLD_START;
		else if (starts(*p, *n, "travis_fold:end:"))
			*ci |= F_FOLD_END;
		*p += k;
		*n -= k;
	}
}

size_t excerpt__clean(const char *log, const struct cur *c, char *out, char *low, unsigned *ci)
{
	const char *p = log + c->a, *cr;
	size_t n = c->b - c->a, o = 0, i = 0;

	while (n > 0 && p[n - 1] == '\r')
		n--;
	if (ci && starts(p, n, "section_start:"))
		*ci |= F_CMD;
	if (ci)
		skip_ci_markers(&p, &n, ci);
	/* A terminal shows only what was written after the last '\r'. */
	if ((cr = memrchr(p, '\r', n)) != NULL) {
		n -= (size_t)(cr + 1 - p);
		p = cr + 1;
	}
	while (i < n) {
		unsigned char b = (unsigned char)p[i];
		size_t k;

		/* The common case first: a run of printable ASCII. */
		if (b >= 0x20 && b < 0x7f) {
			size_t room = EXCERPT_MAX_TEXT - o, j = i;
			while (j < n && j - i < room && (unsigned char)p[j] >= 0x20 &&
			       (unsigned char)p[j] < 0x7f)
				j++;
			memcpy(out + o, p + i, j - i);
			if (low)
				for (size_t q = i; q < j; q++, o++)
					low[o] = lower[(unsigned char)p[q]];
			else
				o += j - i;
			i = j;
			if (o == EXCERPT_MAX_TEXT)
				break;
			continue;
		}
		if (b == 0x1b) {
			i = skip_escape(p, n, i);
			continue;
		}
		if (b < 0x80) {
			i++;
			if ((b < 0x20 && b != '\t') || b == 0x7f)
				continue;
			if (o + 1 > EXCERPT_MAX_TEXT)
				break;
			if (low)
				low[o] = (char)b;
			out[o++] = (char)b;
			continue;
		}
		k = utf8_len((const unsigned char *)p + i, n - i);
		if (k == 0) {
			if (o + 1 > EXCERPT_MAX_TEXT)
				break;
			if (low)
				low[o] = '?';
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + k > EXCERPT_MAX_TEXT)
			break;
		memcpy(out + o, p + i, k);
		if (low)
			memcpy(low + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	if (low)
		low[o] = '\0';
	return o;
}

/* ---- scoring a line ------------------------------------------------------ */

/* Letters and digits, by byte: is_alnum() is the hottest test of all. */
static const bool alnum[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
	['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
	['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
	['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool is_alnum(char ch)
{
	return alnum[(unsigned char)ch];
}

static bool is_upper(char ch)
{
	return ch >= 'A' && ch <= 'Z';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Words of trouble (and of success), lower case, sorted, with their
 * weight. */
static const struct word {
	const char *w;
	signed char score;
	bool outcome; /* names a test or build outcome, as in a tally */
} words[] = {
	{"abort", 4, 0},     {"aborted", 5, 0},    {"aborting", 5, 0},     {"actual", 2, 0},
	{"assert", 4, 0},    {"assertion", 5, 0},  {"assertions", 0, 1},   {"broken", 2, 1},
	{"canceled", 0, 1},  {"cancelled", 0, 1},  {"cannot", 4, 0},       {"crash", 4, 0},
	{"crashed", 5, 0},   {"denied", 4, 0},     {"error", 6, 1},        {"errored", 5, 0},
	{"errors", 4, 1},    {"examples", 0, 1},   {"exception", 5, 0},    {"exceptions", 3, 0},
	{"expected", 3, 0},  {"fail", 5, 1},       {"failed", 6, 1},       {"failing", 4, 1},
	{"fails", 4, 0},     {"failure", 5, 1},    {"failures", 4, 1},     {"fatal", 7, 0},
	{"ignored", 0, 1},   {"illegal", 4, 0},    {"incomplete", 0, 1},   {"inconclusive", 0, 1},
	{"invalid", 3, 0},   {"killed", 4, 0},     {"mismatch", 3, 0},     {"missing", 2, 0},
	{"ok", -1, 1},       {"panic", 6, 0},      {"panicked", 7, 0},     {"pass", -1, 1},
	{"passed", -2, 1},   {"passing", -2, 1},   {"pending", 0, 1},      {"refused", 3, 0},
	{"run", 0, 1},       {"segfault", 7, 0},   {"segmentation", 6, 0}, {"skipped", -1, 1},
	{"succeeded", 0, 1}, {"success", -3, 0},   {"successful", -3, 0},  {"successfully", -3, 0},
	{"test", 0, 1},      {"tests", 0, 1},      {"timeout", 3, 0},      {"todo", 0, 1},
	{"total", 0, 1},     {"unable", 4, 0},     {"undefined", 3, 0},    {"unexpected", 3, 0},
	{"unknown", 2, 0},   {"unresolved", 4, 0}, {"unsatisfied", 3, 0},  {"violation", 3, 0},
	{"warning", 1, 0},   {"warnings", 0, 1},
};

#define NWORDS (sizeof words / sizeof words[0])

/* Phrases, matched in the lower-cased line where a word (or a '[') starts.
 * P_TROUBLE phrases weigh like words of trouble; P_BOILER marks help text
 * that tools print after an error, which explains nothing; P_WRAPPER marks
 * the lines that wrap a failure reported elsewhere (the build tool, the test
 * runner or the shell saying that a step failed: true, but they explain
 * nothing, and they come last, so they would win on position alone);
 * P_EXIT is followed by an exit status. */
enum { P_TROUBLE, P_BOILER, P_WRAPPER, P_EXIT, P_END };

static const struct pattern {
	const char *p;
	unsigned char kind;
	signed char score;
} patterns[] = {
	{"not found", P_TROUBLE, 4},
	{"no such file", P_TROUBLE, 5},
	{"could not", P_TROUBLE, 4},
	{"couldn't", P_TROUBLE, 4},
	{"can't", P_TROUBLE, 4},
	{"does not exist", P_TROUBLE, 4},
	{"is not defined", P_TROUBLE, 4},
	{"non-zero", P_TROUBLE, 3},
	{"nonzero", P_TROUBLE, 3},
	{"but was", P_TROUBLE, 3},
	{"but got", P_TROUBLE, 3},
	{"to equal", P_TROUBLE, 3},
	{"timed out", P_TROUBLE, 3},
	{"out of memory", P_TROUBLE, 5},
	{"core dumped", P_TROUBLE, 6},
	{"npm err!", P_TROUBLE, 5},
	{"stack trace", P_TROUBLE, 2},

	{"for more information", P_BOILER, 0},
	{"re-run", P_BOILER, 0},
	{"rerun ", P_BOILER, 0},
	{"to see the full", P_BOILER, 0},
	{"run with --", P_BOILER, 0},
	{"for documentation", P_BOILER, 0},
	{"complete log of this run", P_BOILER, 0},
	{"additional logging", P_BOILER, 0},
	{"[help", P_BOILER, 0},
	{"probably not a problem with", P_BOILER, 0},
	{"get more help", P_BOILER, 0},
	{"please report", P_BOILER, 0},
	{"report this error", P_BOILER, 0},

	{"failed to execute goal", P_WRAPPER, 0},
	{"there are test failures", P_WRAPPER, 0},
	{"there were failing tests", P_WRAPPER, 0},
	{"build failed", P_WRAPPER, 0},
	{"build failure", P_WRAPPER, 0},
	{"execution failed for task", P_WRAPPER, 0},
	{"tests failed", P_WRAPPER, 0},
	{"test failed", P_WRAPPER, 0},
	{"command failed", P_WRAPPER, 0},
	{"non-zero exit", P_WRAPPER, 0},
	{"returned non-zero", P_WRAPPER, 0},
	{"elifecycle", P_WRAPPER, 0},
	{"npm err! errno", P_WRAPPER, 0},
	{"npm err! failed at", P_WRAPPER, 0},
	{"see above", P_WRAPPER, 0},
	{"see the report", P_WRAPPER, 0},
	{"for details", P_WRAPPER, 0},
	{"tests completed", P_WRAPPER, 0},
	{"test result", P_WRAPPER, 0},
	{"tests run:", P_WRAPPER, 0},
	{"errored after", P_WRAPPER, 0},
	{"job failed", P_WRAPPER, 0},
	{"make: ***", P_WRAPPER, 0},
	{"make[", P_WRAPPER, 0},
	{"recipe for target", P_WRAPPER, 0},
	{"build stopped", P_WRAPPER, 0},
	{"compilation terminated", P_WRAPPER, 0},
	{"exception is:", P_WRAPPER, 0},
	{"what went wrong", P_WRAPPER, 0},
	{"failed with an exception", P_WRAPPER, 0},
	{"subprocess-exited-with-error", P_WRAPPER, 0},
	{"failed with exit", P_WRAPPER, 0},
	{"tests unsuccessful", P_WRAPPER, 0},
	{"failed tests:", P_WRAPPER, 0},
	{"tests in error:", P_WRAPPER, 0},

	{"process completed with exit code", P_END, 0},
	{"job failed: exit code", P_END, 0}, /* GitLab CI */

	{"exited with", P_EXIT, 0},
	{"exit code", P_EXIT, 0},
	{"exit status", P_EXIT, 0},
	{"returned", P_EXIT, 0},
};

#define NPATTERNS (sizeof patterns / sizeof patterns[0])

/* The patterns in order of their first byte: those starting with byte c
 * are by_first[pat_start[c]] .. by_first[pat_start[c + 1] - 1], with their
 * lengths and second bytes alongside. Built once. */
static unsigned char by_first[NPATTERNS], sorted_len[NPATTERNS], sorted_second[NPATTERNS];
/* The words starting with letter c are words[word_start[c - 'a']] up to
 * words[word_start[c - 'a' + 1] - 1]; word_len[] holds their lengths. */
static unsigned char word_start[27], word_len[NWORDS];
static unsigned short pat_start[257];
/* Which (first letter, length) pairs the table of words holds: a cheap
 * test that rejects most words before the binary search. */
static uint16_t word_shapes[26];
/* Bit b of pat_pairs[a] is set when a pattern starts with letters a, b. */
static uint32_t pat_pairs[26];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_index(void)
{
	size_t n = 0;
	for (unsigned c = 0; c < 256; c++) {
		pat_start[c] = (unsigned short)n;
		for (size_t k = 0; k < NPATTERNS; k++)
			if ((unsigned char)patterns[k].p[0] == c)
				by_first[n++] = (unsigned char)k;
	}
	pat_start[256] = (unsigned short)n;
	for (size_t k = 0; k < NPATTERNS; k++) {
		const char *p = patterns[by_first[k]].p;
		sorted_len[k] = (unsigned char)strlen(p);
		sorted_second[k] = (unsigned char)p[1];
		if (p[0] >= 'a' && p[0] <= 'z' && p[1] >= 'a' && p[1] <= 'z')
			pat_pairs[p[0] - 'a'] |= 1u << (p[1] - 'a');
		else if (p[0] >= 'a' && p[0] <= 'z')
			pat_pairs[p[0] - 'a'] = UINT32_MAX; /* no quick test */
	}
	n = 0;
	for (unsigned c = 0; c < 26; c++) {
		word_start[c] = (unsigned char)n;
		while (n < NWORDS && words[n].w[0] == (char)('a' + c))
			n++;
	}
	word_start[26] = (unsigned char)n;
	for (size_t k = 0; k < NWORDS; k++) {
		word_len[k] = (unsigned char)strlen(words[k].w);
		word_shapes[words[k].w[0] - 'a'] |= (uint16_t)(1u << word_len[k]);
	}
}

/* The entry for the lower-case word w (n bytes), or NULL. */
static const struct word *word_find(const char *w, size_t n)
{
	unsigned c = (unsigned)(w[0] - 'a');
	for (unsigned k = word_start[c]; k < word_start[c + 1]; k++)
		if (word_len[k] == n && words[k].w[1] == w[1] && !memcmp(words[k].w, w, n))
			return &words[k];
	return NULL;
}

/* The exit status at p (after blanks, ':' or '='): 1 when non-zero, 0 when
 * zero, -1 when there is no number. */
static int status_at(const char *p)
{
	while (*p == ' ' || *p == ':' || *p == '=')
		p++;
	if (*p == '-' && is_digit(p[1]))
		return 1;
	if (!is_digit(*p))
		return -1;
	while (*p == '0')
		p++;
	return is_digit(*p) ? 1 : 0;
}

/* The exit status after "exited with" or "exit code" in s: 1 when non-zero,
 * 0 when zero, -1 when there is none. */
static int exit_status_after(const char *s)
{
	static const char *const keys[] = {"exited with", "exit code"};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		const char *p = strstr(s, keys[k]);
		if (p)
			return status_at(p + strlen(keys[k]));
	}
	return -1;
}

/* Whether a word sits in a path, file name or option rather than in prose:
 * "-Werror", "--fail-fast", "src/errors/x.c", "errors.go". */
static bool word_in_name(const char *t, size_t n, size_t i, size_t j)
{
	char prev = i > 0 ? t[i - 1] : ' ', next = j < n ? t[j] : ' ';
	if (prev == '-' || prev == '/' || prev == '\\' || prev == '.' || prev == '_' ||
	    prev == '$' || prev == '@' || prev == '#' || prev == '=')
		return true;
	if ((next == '.' || next == '/' || next == '\\' || next == '_') && j + 1 < n &&
	    is_alnum(t[j + 1]))
		return true;
	return next == '-' && j + 1 < n && is_alnum(t[j + 1]);
}

/* Whether the word is negated by a zero or "no" before it, or by ": 0"
 * after it ("0 errors", "no failures", "Failures: 0", "errors=0"). */
static bool word_negated(const char *t, size_t n, size_t i, size_t j)
{
	size_t k = i;
	while (k > 0 && t[k - 1] == ' ')
		k--;
	if (k > 0 && t[k - 1] == '0' && (k < 2 || !is_alnum(t[k - 2])))
		return true;
	if (k >= 2 && (t[k - 2] == 'n' || t[k - 2] == 'N') &&
	    (t[k - 1] == 'o' || t[k - 1] == 'O') && (k < 3 || !is_alnum(t[k - 3])))
		return true;
	while (j < n && (t[j] == ' ' || t[j] == ':' || t[j] == '='))
		j++;
	return j < n && t[j] == '0' && (j + 1 >= n || !is_digit(t[j + 1]));
}

/* Whether a CamelCase word names an exception or error type. */
static bool exception_name(const char *w, size_t n)
{
	static const struct {
		const char *w;
		size_t n;
	} ends[] = {{"Error", 5}, {"Exception", 9}, {"Failure", 7}, {"Fault", 5}};
	char z = w[n - 1];
	if (!is_upper(w[0]) || n < 7 || (z != 'r' && z != 'n' && z != 'e' && z != 't'))
		return false;
	for (size_t k = 0; k < sizeof ends / sizeof ends[0]; k++)
		if (n > ends[k].n + 1 && !memcmp(w + n - ends[k].n, ends[k].w, ends[k].n))
			return true;
	return false;
}

static bool is_frame(const char *t)
{
	switch (t[0]) {
	case 'a': return t[1] == 't' && t[2] == ' ' && strpbrk(t + 3, "(:.") != NULL;
	case 'F': return has_prefix(t, "File \"") && strstr(t, "\", line ");
	case '#': return is_digit(t[1]);
	case 'f': return has_prefix(t, "from ") && strchr(t, ':');
	case '.': return has_prefix(t, "... ") && is_digit(t[4]) && strstr(t, " more");
	case 'C': return has_prefix(t, "Caused by:");
	case '-': return has_prefix(t, "--- End of");
	}
	/* Ruby: "app/x.rb:12:in `method'". */
	return strchr(t, '`') && strstr(t, ":in `");
}

/* Skips a log level tag or a time stamp at the start of t and one blank
 * after it: "[INFO] ", "[error] ", "[16:40:38] ", "2019-07-29T16:51:05Z ".
 * Returns t when there is none. */
static const char *after_tag(const char *t)
{
	static const char *const levels[] = {
		"info", "error", "err", "warn", "warning", "debug", "trace", "fatal", "notice",
	};
	const char *p = t;

	if (*p == '[') {
		size_t n = strcspn(p + 1, "] ");
		if (p[1 + n] != ']')
			return t;
		for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++)
			if (strlen(levels[k]) == n && !strncasecmp(p + 1, levels[k], n))
				p += n + 2;
		if (p == t && n >= 5 && n <= 12 && is_digit(p[1]) &&
		    strspn(p + 1, "0123456789:.") == n)
			p += n + 2;
	} else if (strspn(p, "0123456789") == 4 && p[4] == '-' && is_digit(p[5])) {
		p += strcspn(p, " ");
	}
	if (p != t && *p == ' ')
		p++;
	return p;
}

/* Whether the lower-cased line is a tally of outcomes ("tests run: 9,
 * failures: 1", "3 failed, 10 passed", "[ ok: 797 | failed: 1 ]"), which
 * sums up failures shown elsewhere: counts next to outcome words, two of
 * them, or one in a line of at most four words. */
static bool is_tally(const char *low, size_t n)
{
	size_t i = 0, counts = 0, ntok = 0, prev_end = 0;
	bool prev_num = false, prev_outcome = false;

	while (i < n) {
		size_t j = i;
		bool num = true, near = ntok > 0, outcome = false;
		if (!is_alnum(low[i])) {
			i++;
			continue;
		}
		while (j < n && (is_alnum(low[j]) || low[j] == '_'))
			j++;
		for (size_t k = i; k < j && num; k++)
			num = is_digit(low[k]);
		if (!num && j - i < 16 && low[i] >= 'a' && low[i] <= 'z' &&
		    (word_shapes[low[i] - 'a'] & (1u << (j - i)))) {
			const struct word *w = word_find(low + i, j - i);
			outcome = w && w->outcome;
		}
		for (size_t k = prev_end; k < i && near; k++)
			near = low[k] == ' ' || low[k] == ':' || low[k] == '=' || low[k] == '|';
		if (near && ((num && prev_outcome) || (outcome && prev_num)))
			counts++;
		prev_num = num;
		prev_outcome = outcome;
		prev_end = j;
		ntok++;
		i = j;
	}
	return counts >= 2 || (counts == 1 && ntok <= 4);
}

/* Whether t starts with a place: "path/x.c:12", "README.md:40:". */
static bool starts_with_place(const char *t)
{
	const char *p = t;
	bool dot = false, slash = false, alpha = false;

	while (is_alnum(*p) || *p == '_' || *p == '.' || *p == '/' || *p == '\\' || *p == '-' ||
	       *p == '+' || *p == '@') {
		dot |= *p == '.';
		slash |= *p == '/' || *p == '\\';
		alpha |= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
		p++;
	}
	return p > t && alpha && (dot || slash) && p[0] == ':' && is_digit(p[1]);
}

/* Matches the patterns that start at low[q] (low holds n bytes), adding
 * their weight to *best and *rest and their flags to in->flags. Returns
 * true when the line turns out to be a CI end marker (in->flags says which
 * and the line needs no more looking at). */
static bool phrases_at(const char *low, size_t n, size_t q, struct info *in, int *best, int *rest)
{
	unsigned char ch = (unsigned char)low[q], c2 = (unsigned char)low[q + 1];
	int st;

	if (ch >= 'a' && ch <= 'z' &&
	    !(c2 >= 'a' && c2 <= 'z' ? pat_pairs[ch - 'a'] & (1u << (c2 - 'a'))
				     : pat_pairs[ch - 'a'] == UINT32_MAX))
		return false;
	for (unsigned k = pat_start[ch]; k < pat_start[ch + 1]; k++) {
		const struct pattern *pt;
		size_t pn = sorted_len[k];
		if (c2 != sorted_second[k] || pn > n - q)
			continue;
		pt = &patterns[by_first[k]];
		if (memcmp(low + q, pt->p, pn))
			continue;
		switch (pt->kind) {
		case P_TROUBLE:
			if (pt->score > *best) {
				*rest += *best;
				*best = pt->score;
			} else {
				*rest += pt->score;
			}
			break;
		case P_BOILER: in->flags |= F_BOILER; break;
		case P_WRAPPER: in->flags |= F_WRAPPER; break;
		case P_EXIT:
			st = status_at(low + q + pn);
			if (st == 1)
				in->flags |= F_WRAPPER;
			else if (st == 0)
				*rest -= 4;
			break;
		case P_END:
			/* GitHub Actions: "Error: Process completed with exit
			 * code 1." ends the failing step. */
			in->flags = status_at(low + q + pn) == 0 ? F_END_OK : F_END_FAIL;
			return true;
		}
	}
	return false;
}

/* Scores the cleaned text s (n bytes, ls the same in lower case) of one
 * line. */
void excerpt__analyse(const char *s, const char *ls, size_t n, struct info *in)
{
	const char *t = s, *b, *low;
	size_t tn, i = 0;
	int best = 0, rest = 0, st;
	bool first = true, saw_at = false, place = false;

	pthread_once(&tables_once, tables_index);
	in->score = 0;
	in->flags = 0;
	while (*t == ' ' || *t == '\t')
		t++;
	tn = n - (size_t)(t - s);
	if (tn == 0) {
		in->flags = F_BLANK;
		return;
	}
	/* Indentation and the shape of the line are read after a level tag
	 * or a time stamp ("[info]   at x.Y(Y.scala:3)"); the words of the
	 * tag still count. */
	b = after_tag(t);
	if (b != t) {
		if (*b == ' ' || *b == '\t')
			in->flags |= F_INDENT;
		while (*b == ' ' || *b == '\t')
			b++;
		if (*b == '\0') {
			in->flags = F_BLANK;
			return;
		}
	} else if (t != s) {
		in->flags |= F_INDENT;
	}

	/* Markers a CI service prints around the commands it runs. */
	if (t[0] == '$' && t == s && t[1] == ' ') {
		in->flags |= F_CMD;
		return;
	}
	if (t[0] == 'T' && has_prefix(t, "The command \"") &&
	    (strstr(t, "\" exited with ") || strstr(t, "\" failed"))) {
		st = exit_status_after(t);
		in->flags |= st == 0 ? F_END_OK : F_END_FAIL;
		return;
	}
	if (t[0] == 'D' && has_prefix(t, "Done. Your build exited with")) {
		in->flags |= F_DONE;
		return;
	}
	/* GitHub Actions, after its time stamp: "##[group]Run make test"
	 * starts a step, "##[endgroup]" ends the step's header and shows
	 * nothing; "##[error]x" (and the workflow command "::error ...::x")
	 * is an error the CI service itself points at. */
	if (b[0] == '#' && b[1] == '#' && b[2] == '[') {
		if (has_prefix(b + 3, "group]")) {
			in->flags |= F_CMD;
			return;
		}
		if (has_prefix(b + 3, "endgroup]")) {
			in->flags = F_BLANK;
			return;
		}
		if (has_prefix(b + 3, "error]"))
			in->flags |= F_ANNOT;
	} else if (b[0] == ':' && has_prefix(b, "::error")) {
		in->flags |= F_ANNOT;
	}
	if (is_frame(b))
		in->flags |= F_FRAME;
	low = ls + (t - s);

	/* Words. */
	while (i < tn) {
		size_t j = i, wn;
		char w[16];
		const struct word *hit = NULL;
		int sc = 0;

		if (!is_alnum(t[i])) {
			i++;
			continue;
		}
		while (j < tn && (is_alnum(t[j]) || t[j] == '_'))
			j++;
		wn = j - i;
		if ((i > 0 && t[i - 1] == '[' && phrases_at(low, tn, i - 1, in, &best, &rest)) ||
		    phrases_at(low, tn, i, in, &best, &rest)) {
			in->score = 0;
			return;
		}
		if (wn == 2 && low[i] == 'a' && low[i + 1] == 't') {
			saw_at = true;
		} else if (saw_at && wn == 4 && !memcmp(low + i, "line", 4) && j + 1 < tn &&
			   t[j] == ' ' && is_digit(t[j + 1])) {
			place = true; /* "at /x/y.pl line 12", "at line 69" */
		}
		if (exception_name(t + i, wn)) {
			sc = 7 + (j >= tn || t[j] == ':' ? 2 : 0);
		} else if (wn >= 2 && wn < sizeof w && low[i] >= 'a' && low[i] <= 'z' &&
			   (word_shapes[low[i] - 'a'] & (1u << wn)) && !word_in_name(t, tn, i, j)) {
			memcpy(w, low + i, wn);
			w[wn] = '\0';
			hit = word_find(w, wn);
			if (hit && hit->score > 0 && word_negated(t, tn, i, j))
				hit = NULL;
			if (hit && hit->score == -1 && !first)
				hit = NULL;
		}
		if (hit) {
			bool caps = true;
			sc = hit->score;
			for (size_t k = i; k < j && caps; k++)
				caps = is_upper(t[k]);
			if (sc >= 5 && caps && wn >= 4) {
				/* Tools shout when it matters, and a test runner's
				 * verdict comes first or last: "--- FAIL: x",
				 * "x *** FAILED ***", "x <<< FAILURE!". */
				size_t e = j;
				while (e < tn && (t[e] == ' ' || t[e] == '*' || t[e] == '!' ||
						  t[e] == '.' || t[e] == ':' || t[e] == ']'))
					e++;
				bool fails = !memcmp(w, "fail", 4);
				sc += 3 + (fails && (first || e == tn) ? W_VERDICT : 0);
			}
			if (sc >= 5 && j < tn && t[j] == ':')
				sc += 2;
			if (sc >= 5 && first)
				sc += 2;
		}
		if (sc > best) {
			rest += best > 0 ? best : 0;
			best = sc;
		} else if (sc != 0) {
			rest += sc;
		}
		first = false;
		i = j;
	}

	/* The shape of the line. */
	if (has_prefix(low + (b - t), "not ok ") && best < 7)
		best = 7; /* TAP */
	if ((unsigned char)b[0] == 0xe2) {
		if (has_prefix(b, "\xe2\x9c\x97") || has_prefix(b, "\xe2\x9c\x96") ||
		    has_prefix(b, "\xe2\x9c\x98") || has_prefix(b, "\xe2\x9d\x8c"))
			best = best < 6 ? 6 : best; /* ✗ ✖ ✘ ❌ */
		if (has_prefix(b, "\xe2\x9c\x93") || has_prefix(b, "\xe2\x9c\x94"))
			rest -= 3; /* ✓ ✔ */
	}
	if (b[0] == '[' && b[1] && b[2] == ']' && b[3] == ' ') {
		/* Test runners that mark results "[+] name" and "[-] name". */
		if (b[1] == '+')
			rest -= 3;
		else if (b[1] == '-' && best < 6)
			best = 6;
	}
	if ((in->flags & F_ANNOT) && best < 8)
		best = 8;
	if (place || starts_with_place(b)) {
		/* A message about a place in the code: a compiler, a linter,
		 * an assertion. */
		if (best < 4)
			rest += best, best = 4;
		else
			rest += 4;
	}
	in->score = best + (rest > 8 ? 4 : rest / 2);
	if (in->score > 0 && is_tally(low, tn))
		in->flags |= F_WRAPPER;
	if ((in->flags & F_WRAPPER) && in->score > 3)
		in->score = 3;
	if ((in->flags & F_BOILER) && in->score > 1)
		in->score = 1;
	if (in->score < 0)
		in->score = 0;
}

size_t excerpt__analyse_at(const char *log, const struct cur *c, struct info *in, int32_t *wsum)
{
	char text[EXCERPT_MAX_TEXT + 1], low[EXCERPT_MAX_TEXT + 1];
	unsigned ci = 0;
	size_t n = excerpt__clean(log, c, text, low, &ci);
	excerpt__analyse(text, low, n, in);
	in->flags |= ci;
	if (wsum)
		excerpt__model_words(text, n, wsum);
	return n;
}
