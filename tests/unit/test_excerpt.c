/* Unit tests for the failure excerpt: every fixture in tests/data/excerpt/
 * (a log and the lines its excerpt must and must not hold), the line
 * model's scores against its trainer's (tests/data/excerpt_model/), the CI
 * markers each service prints, and in-code cases for the budget, text
 * cleaning, empty and oversized input, a MiB without a newline and binary
 * junk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "services/excerpt.h"
#include "services/excerpt_int.h"
#include "sources/diag.h"
#include "testdata.h"

/* The fixture directory holds at least this many cases; fewer means it was
 * not found or was truncated, not that all is well. */
#define MIN_CASES 7

/* Whether s is valid UTF-8 (no overlong forms, no surrogates). */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t k;
		unsigned char lo = 0x80, hi = 0xbf;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			k = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			k = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			k = 4;
		else
			return false;
		if (*p == 0xe0)
			lo = 0xa0;
		else if (*p == 0xed)
			hi = 0x9f;
		else if (*p == 0xf0)
			lo = 0x90;
		else if (*p == 0xf4)
			hi = 0x8f;
		if (p[1] < lo || p[1] > hi)
			return false;
		for (size_t i = 2; i < k; i++)
			if (p[i] < 0x80 || p[i] > 0xbf)
				return false;
		p += k;
	}
	return true;
}

static void dump(const char *name, const struct excerpt *ex)
{
	fprintf(stderr, "%s: method %s, %zu of %zu lines:\n", name, ex->method, ex->n,
		ex->total_lines);
	for (size_t k = 0; k < ex->n; k++)
		fprintf(stderr, "  %5zu  %s\n", ex->v[k].line, ex->v[k].text);
}

/* What holds for every excerpt; returns the number of violations. */
static int check_invariants(const char *name, const struct excerpt *ex, size_t budget)
{
	int bad = 0;

	if (ex->n > budget) {
		fprintf(stderr, "%s: %zu lines, over the budget of %zu\n", name, ex->n, budget);
		bad++;
	}
	if (!ex->method || (strcmp(ex->method, "log") && strcmp(ex->method, "diagnostics"))) {
		fprintf(stderr, "%s: method '%s'\n", name, ex->method ? ex->method : "(null)");
		bad++;
	}
	for (size_t k = 0; k < ex->n; k++) {
		const char *t = ex->v[k].text;
		if (k > 0 && ex->v[k].line <= ex->v[k - 1].line) {
			fprintf(stderr, "%s: line %zu after line %zu\n", name, ex->v[k].line,
				ex->v[k - 1].line);
			bad++;
		}
		if (ex->v[k].line >= ex->total_lines) {
			fprintf(stderr, "%s: line %zu of %zu\n", name, ex->v[k].line,
				ex->total_lines);
			bad++;
		}
		if (!t || strlen(t) > EXCERPT_MAX_TEXT || !utf8_valid(t)) {
			fprintf(stderr, "%s: line %zu: text missing, too long or not UTF-8\n", name,
				ex->v[k].line);
			bad++;
			continue;
		}
		for (const char *p = t; *p; p++) {
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
				fprintf(stderr, "%s: line %zu holds control byte 0x%02x\n", name,
					ex->v[k].line, (unsigned char)*p);
				bad++;
				break;
			}
		}
	}
	return bad;
}

static const char *text_of(const struct excerpt *ex, size_t line)
{
	for (size_t k = 0; k < ex->n; k++)
		if (ex->v[k].line == line)
			return ex->v[k].text;
	return NULL;
}

static bool any_contains(const struct excerpt *ex, const char *s)
{
	for (size_t k = 0; k < ex->n; k++)
		if (strstr(ex->v[k].text, s))
			return true;
	return false;
}

/* Splits s in place on the first tab: the key, and the rest (or ""). */
static char *split_key(char *s)
{
	char *t = strchr(s, '\t');
	if (!t)
		return s + strlen(s);
	*t = '\0';
	return t + 1;
}

/* Checks one fixture; returns how many expectations it checked. */
static int check_case(const char *dir, const char *name, int *failures)
{
	char *path, *log, *exp, *save = NULL;
	size_t loglen, explen, budget = EXCERPT_DEFAULT_LINES;
	bool use_diags = true;
	struct diag_list diags = {0};
	struct excerpt ex;
	int checked = 0, bad = 0;

	path = xasprintf("%s/%s.log", dir, name);
	log = testdata_slurp(path, &loglen);
	free(path);
	path = xasprintf("%s/%s.expect", dir, name);
	exp = testdata_slurp(path, &explen);
	if (!log || !exp)
		fail_msg("fixture %s: cannot read its .log or .expect ('%s')", name, path);
	free(path);

	/* Settings first, then the run, then the checks. */
	char *copy = xstrdup(exp);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *arg = split_key(line);
		if (!strcmp(line, "diags"))
			use_diags = strcmp(arg, "no") != 0;
		else if (!strcmp(line, "max"))
			budget = strtoul(arg, NULL, 10);
	}
	free(copy);
	if (use_diags)
		assert_int_equal(diag_extract(log, loglen, NULL, &diags), 0);
	assert_int_equal(excerpt_select(log, loglen, use_diags ? &diags : NULL, budget, &ex), 0);
	bad += check_invariants(name, &ex, budget);

	save = NULL;
	for (char *line = strtok_r(exp, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *arg;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		arg = split_key(line);
		if (!strcmp(line, "diags") || !strcmp(line, "max"))
			continue;
		checked++;
		if (!strcmp(line, "method")) {
			if (strcmp(ex.method, arg)) {
				fprintf(stderr, "%s: method %s, expected %s\n", name, ex.method,
					arg);
				bad++;
			}
		} else if (!strcmp(line, "count")) {
			if (ex.n != strtoul(arg, NULL, 10)) {
				fprintf(stderr, "%s: %zu lines, expected %s\n", name, ex.n, arg);
				bad++;
			}
		} else if (!strcmp(line, "line")) {
			char *want = split_key(arg);
			const char *got = text_of(&ex, strtoul(arg, NULL, 10));
			if (!got || strcmp(got, want)) {
				fprintf(stderr, "%s: line %s is '%s', expected '%s'\n", name, arg,
					got ? got : "(not in the excerpt)", want);
				bad++;
			}
		} else if (!strcmp(line, "has")) {
			if (!any_contains(&ex, arg)) {
				fprintf(stderr, "%s: no line contains '%s'\n", name, arg);
				bad++;
			}
		} else if (!strcmp(line, "lacks")) {
			if (any_contains(&ex, arg)) {
				fprintf(stderr, "%s: a line contains '%s'\n", name, arg);
				bad++;
			}
		} else {
			fail_msg("%s.expect: malformed line starting '%s'", name, line);
		}
	}
	if (checked == 0) {
		fprintf(stderr, "%s.expect: nothing to check\n", name);
		bad++;
	}
	if (bad)
		dump(name, &ex);
	*failures += bad;
	excerpt_release(&ex);
	diag_list_release(&diags);
	free(log);
	free(exp);
	return checked;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_fixtures(void **state)
{
	char *dir = xasprintf("%s/excerpt", testdata_dir()), **names = NULL;
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	int cases = 0, failures = 0;

	(void)state;
	if (!d)
		fail_msg("cannot open '%s': %s; set CAIRN_TEST_DATA to the tests/data directory",
			 dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > 4 && !strcmp(e->d_name + len - 4, ".log")) {
			names = xreallocarray(names, n + 1, sizeof *names);
			names[n++] = xstrndup(e->d_name, len - 4);
		}
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t k = 0; k < n; k++) {
		check_case(dir, names[k], &failures);
		cases++;
		free(names[k]);
	}
	free(names);
	free(dir);
	if (cases < MIN_CASES)
		fail_msg("only %d fixtures under tests/data/excerpt (expected at least %d)", cases,
			 MIN_CASES);
	if (failures)
		fail_msg("%d expectations failed (details above)", failures);
}

/* A log of n gcc-style errors, each with a source and a caret line. */
static char *many_errors(size_t n, size_t *len)
{
	size_t cap = n * 96 + 1, o = 0;
	char *s = xmalloc(cap);
	for (size_t k = 0; k < n; k++)
		o += (size_t)snprintf(s + o, cap - o,
				      "src/f%zu.c:%zu:5: error: expected ';' before 'return'\n"
				      "   %zu |     x = 1\n      |          ^\n",
				      k % 7, k + 1, k + 1);
	*len = o;
	return s;
}

static void test_budget(void **state)
{
	static const struct {
		size_t ask, want;
	} cases[] = {
		{0, EXCERPT_DEFAULT_LINES},
		{1, 1},
		{7, 7},
		{50, 50},
		{EXCERPT_MAX_LINES, EXCERPT_MAX_LINES},
		{EXCERPT_MAX_LINES + 1, EXCERPT_MAX_LINES},
		{SIZE_MAX, EXCERPT_MAX_LINES},
	};
	size_t len;
	char *log = many_errors(600, &len); /* 1800 lines */
	struct diag_list diags;
	struct excerpt ex;

	(void)state;
	assert_int_equal(diag_extract(log, len, NULL, &diags), 0);
	assert_true(diags.n > 0);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		for (int with = 0; with < 2; with++) {
			assert_int_equal(
				excerpt_select(log, len, with ? &diags : NULL, cases[k].ask, &ex),
				0);
			assert_int_equal(ex.total_lines, 1800);
			/* The budget is never exceeded and, the log being
			 * longer, always used. */
			if (ex.n != cases[k].want ||
			    check_invariants("budget", &ex, cases[k].want)) {
				dump("budget", &ex);
				fail_msg("asked for %zu lines, got %zu (expected %zu)",
					 cases[k].ask, ex.n, cases[k].want);
			}
			if (with)
				assert_string_equal(ex.method, "diagnostics");
			/* Errors are shown from the first: the root cause. */
			if (cases[k].want >= 3)
				assert_non_null(text_of(&ex, 0));
			excerpt_release(&ex);
		}
	}
	diag_list_release(&diags);
	free(log);
}

static void test_cleanup(void **state)
{
	static const char log[] = "\x1b[1;31merror\x1b[0m: red and bold\r\n"
				  "Downloading 10%\rDownloading 55%\r\x1b[KDownloading 100%\r\n"
				  "see \x1b]8;;https://example.org/x\x07the docs\x1b]8;;\x07 now\n"
				  "\x1b(Bcharset\tand a tab\n"
				  "bad \xff\xfe bytes \xc0\xaf overlong \xed\xa0\x80 surrogate\n"
				  "bell\a and nul\0 and del\x7f gone\n"
				  "\x1b[31munterminated colour\n";
	struct excerpt ex;
	const char *want[] = {
		"error: red and bold",
		"Downloading 100%",
		"see the docs now",
		"charset\tand a tab",
		"bad ?? bytes ?? overlong ??? surrogate",
		"bell and nul and del gone",
		"unterminated colour",
	};

	(void)state;
	assert_int_equal(excerpt_select(log, sizeof log - 1, NULL, 50, &ex), 0);
	assert_int_equal(ex.total_lines, 7);
	assert_int_equal(ex.n, 7);
	assert_int_equal(check_invariants("cleanup", &ex, 50), 0);
	for (size_t k = 0; k < ex.n; k++) {
		assert_int_equal(ex.v[k].line, k);
		assert_string_equal(ex.v[k].text, want[k]);
	}
	excerpt_release(&ex);
}

static void test_long_line_cut(void **state)
{
	/* 600 two-byte characters: cut at 512 bytes, between characters. */
	size_t len = 1200;
	char *log = xmalloc(len);
	struct excerpt ex;

	(void)state;
	for (size_t k = 0; k < len; k += 2) {
		log[k] = (char)0xc3;
		log[k + 1] = (char)0xa9; /* é */
	}
	assert_int_equal(excerpt_select(log, len, NULL, 50, &ex), 0);
	assert_int_equal(ex.n, 1);
	assert_int_equal(strlen(ex.v[0].text), EXCERPT_MAX_TEXT);
	assert_true(utf8_valid(ex.v[0].text));
	excerpt_release(&ex);

	/* A leading ASCII byte moves every character: 511 bytes fit. */
	log[0] = 'x';
	for (size_t k = 1; k + 1 < len; k += 2) {
		log[k] = (char)0xc3;
		log[k + 1] = (char)0xa9;
	}
	assert_int_equal(excerpt_select(log, len - 1, NULL, 50, &ex), 0);
	assert_int_equal(strlen(ex.v[0].text), EXCERPT_MAX_TEXT - 1);
	assert_true(utf8_valid(ex.v[0].text));
	excerpt_release(&ex);
	free(log);
}

static void test_empty(void **state)
{
	struct excerpt ex;

	(void)state;
	assert_int_equal(excerpt_select("", 0, NULL, 50, &ex), 0);
	assert_int_equal(ex.n, 0);
	assert_null(ex.v);
	assert_int_equal(ex.total_lines, 0);
	assert_string_equal(ex.method, "log");
	excerpt_release(&ex);
	assert_int_equal(excerpt_select(NULL, 0, NULL, 50, &ex), 0);
	assert_int_equal(ex.n, 0);
	excerpt_release(&ex);

	/* A lone newline is one empty line. */
	assert_int_equal(excerpt_select("\n", 1, NULL, 50, &ex), 0);
	assert_int_equal(ex.total_lines, 1);
	assert_int_equal(ex.n, 1);
	assert_string_equal(ex.v[0].text, "");
	excerpt_release(&ex);
	/* Releasing twice, and releasing NULL, are harmless. */
	excerpt_release(&ex);
	excerpt_release(NULL);
}

static void test_invalid(void **state)
{
	struct excerpt ex = {.n = 3};
	static const char small[] = "error: x\n";

	(void)state;
	assert_int_equal(excerpt_select(small, 9, NULL, 50, NULL), CAIRN_E_INVALID);
	assert_int_equal(excerpt_select(NULL, 9, NULL, 50, &ex), CAIRN_E_INVALID);
	assert_int_equal(ex.n, 0);
	assert_null(ex.v);
	assert_string_equal(ex.method, "log");
	/* Refused on its length alone: nothing past the first bytes is read. */
	assert_int_equal(excerpt_select(small, DIAG_MAX_LOG + 1, NULL, 50, &ex), CAIRN_E_TOOBIG);
	assert_int_equal(ex.n, 0);
	assert_int_equal(excerpt_select(small, DIAG_MAX_LOG + 1, NULL, 50, &ex), CAIRN_E_TOOBIG);
}

static void test_mib_without_newline(void **state)
{
	size_t len = 1 << 20;
	char *log = xmalloc(len);
	struct excerpt ex;

	(void)state;
	for (size_t k = 0; k < len; k++)
		log[k] = "error failed abc "[k % 17];
	assert_int_equal(excerpt_select(log, len, NULL, 50, &ex), 0);
	assert_int_equal(ex.total_lines, 1);
	assert_int_equal(ex.n, 1);
	assert_int_equal(ex.v[0].line, 0);
	assert_int_equal(strlen(ex.v[0].text), EXCERPT_MAX_TEXT);
	assert_int_equal(check_invariants("mib", &ex, 50), 0);
	excerpt_release(&ex);

	/* The same with carriage returns: what follows the last one that
	 * does not end the line. */
	for (size_t k = 4095; k < len; k += 4096)
		log[k] = '\r';
	log[len - 10] = '\r';
	log[len - 5] = 'z';
	assert_int_equal(excerpt_select(log, len, NULL, 50, &ex), 0);
	assert_int_equal(ex.n, 1);
	assert_int_equal(strlen(ex.v[0].text), 8);
	assert_int_equal(ex.v[0].text[4], 'z');
	excerpt_release(&ex);
	free(log);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_binary_junk(void **state)
{
	size_t len = 1 << 20;
	char *log = xmalloc(len);
	struct diag_list diags;
	struct excerpt ex;

	(void)state;
	for (int round = 0; round < 3; round++) {
		for (size_t k = 0; k < len; k++) {
			uint64_t r = rng();
			/* Round 0: uniform bytes; 1: mostly ESC, CR, high bytes
			 * and newlines; 2: words of trouble among the junk. */
			if (round == 1)
				log[k] = "\x1b[\r\n\xe2\x80\xff]\a;0m"[r % 12];
			else if (round == 2 && r % 9 == 0)
				log[k] = "error FAILED\n"[(r >> 8) % 13];
			else
				log[k] = (char)(r >> 24);
		}
		assert_int_equal(diag_extract(log, len, NULL, &diags), 0);
		assert_int_equal(excerpt_select(log, len, &diags, 50, &ex), 0);
		assert_true(ex.n > 0 && ex.n <= 50);
		if (check_invariants("junk", &ex, 50)) {
			dump("junk", &ex);
			fail_msg("round %d broke an invariant", round);
		}
		excerpt_release(&ex);
		diag_list_release(&diags);
	}
	free(log);
}

static void test_diags_elsewhere(void **state)
{
	/* Diagnostics that point past the log (from another log, or a log
	 * that was cut) are ignored, not trusted. */
	static const char log[] = "one\ntwo\nthree\n";
	struct diag d = {.tool = "gcc",
			 .message = "x",
			 .severity = SEV_ERROR,
			 .log_line = 40,
			 .log_lines = 5};
	struct diag_list l = {.v = &d, .n = 1};
	struct excerpt ex;

	(void)state;
	assert_int_equal(excerpt_select(log, sizeof log - 1, &l, 50, &ex), 0);
	assert_int_equal(ex.n, 3);
	assert_string_equal(ex.method, "log");
	excerpt_release(&ex);
}

/* The line model scores every line of tests/data/excerpt_model/golden.log
 * as bench/triage/train_excerpt.py did when it wrote the weights
 * (golden.tsv): the features computed here are the trainer's, and the
 * weights compiled in are the ones it wrote. When this fails after a
 * change to the features, retrain (docs/excerpt.md). */
static void test_model_golden(void **state)
{
	char path[512], *log, *tsv, *line, *save = NULL;
	size_t len, tlen, n = 0, checked = 0;
	struct diag_list diags;
	int32_t *z;
	int bad = 0;

	(void)state;
	snprintf(path, sizeof path, "%s/excerpt_model/golden.log", testdata_dir());
	log = testdata_slurp(path, &len);
	assert_non_null(log);
	snprintf(path, sizeof path, "%s/excerpt_model/golden.tsv", testdata_dir());
	tsv = testdata_slurp(path, &tlen);
	assert_non_null(tsv);
	for (size_t k = 0; k < len; k++)
		n += log[k] == '\n';
	z = xreallocarray(NULL, n, sizeof *z);
	for (size_t k = 0; k < n; k++)
		z[k] = INT32_MIN;
	assert_int_equal(diag_extract(log, len, NULL, &diags), 0);
	excerpt__model_scores(log, len, &diags, z, n);
	for (line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end;
		size_t at;
		long want;
		if (line[0] == '#')
			continue;
		at = strtoul(line, &end, 10);
		want = strtol(end, NULL, 10);
		assert_true(at < n);
		if (z[at] != want) {
			fprintf(stderr, "golden.log line %zu: score %d, the trainer's %ld\n", at,
				(int)z[at], want);
			bad++;
		}
		checked++;
	}
	assert_int_equal(checked, n);
	assert_int_equal(bad, 0);
	free(z);
	diag_list_release(&diags);
	free(tsv);
	free(log);
}

struct flags_seen {
	unsigned flags[16];
	size_t n;
};

static void note_flags(void *ctx, const struct cur *c, const struct info *in)
{
	struct flags_seen *f = ctx;
	if (c->line < sizeof f->flags / sizeof f->flags[0])
		f->flags[c->line] = in->flags;
	f->n = c->line + 1;
}

/* What the markers of Travis CI, GitHub Actions and GitLab CI say, line by
 * line: where a command starts, where it failed, what is folded away. */
static void test_ci_markers(void **state)
{
	static const struct {
		const char *line;
		unsigned has, lacks;
	} cases[] = {
		/* Travis CI: the fold and time markers glued before a command
		 * are not text; what follows them is. */
		{"travis_fold:start:install\r\x1b[0Ktravis_time:start:0a1b\r\x1b[0K$ make deps",
		 F_FOLD_START | F_CMD, F_BLANK},
		{"travis_fold:end:install\r\x1b[0K", F_FOLD_END | F_BLANK, F_CMD},
		{"travis_time:end:0a1b:start=1,finish=2,duration=1\r\x1b[0K$ make test", F_CMD, 0},
		{"\x1b[31;1mThe command \"make test\" exited with 1.\x1b[0m", F_END_FAIL, 0},
		{"The command \"make lint\" exited with 0.", F_END_OK, F_END_FAIL},
		{"Done. Your build exited with 1.", F_DONE, 0},
		/* GitHub Actions, with its time stamps. */
		{"2021-03-04T10:11:12.1234567Z ##[group]Run npm test", F_CMD, 0},
		{"2021-03-04T10:11:13.1234567Z ##[endgroup]", F_BLANK, F_CMD},
		{"2021-03-04T10:11:14.1234567Z ##[error]Unexpected token in config.json", F_ANNOT,
		 F_END_FAIL},
		{"2021-03-04T10:11:15.1234567Z ##[error]Process completed with exit code 1.",
		 F_END_FAIL, 0},
		/* GitLab CI: a section's marker hides behind a '\r'. */
		{"section_start:1560896352:step_script\r\x1b[0KExecuting \"step_script\" stage",
		 F_CMD, 0},
		{"ERROR: Job failed: exit code 1", F_END_FAIL, 0},
	};
	struct flags_seen seen = {0};
	char log[2048];
	size_t o = 0;

	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		o += (size_t)snprintf(log + o, sizeof log - o, "%s\n", cases[k].line);
	assert_true(o < sizeof log);
	excerpt__each_line(log, o, NULL, note_flags, &seen);
	assert_int_equal(seen.n, sizeof cases / sizeof cases[0]);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		if ((seen.flags[k] & cases[k].has) != cases[k].has ||
		    (seen.flags[k] & cases[k].lacks))
			fail_msg("'%s': flags 0x%x, want 0x%x and not 0x%x", cases[k].line,
				 seen.flags[k], cases[k].has, cases[k].lacks);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_long_line_cut),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_mib_without_newline),
		cmocka_unit_test(test_binary_junk),
		cmocka_unit_test(test_diags_elsewhere),
		cmocka_unit_test(test_model_golden),
		cmocka_unit_test(test_ci_markers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
