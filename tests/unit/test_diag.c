/* Unit tests for diagnostics extraction: every fixture in tests/data/diag/
 * (real tool output with hand-written expectations), runner detection cases,
 * and in-code cases for escapes, caps, odd bytes and a large log. */
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
#include <time.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "sources/diag.h"
#include "testdata.h"

/* The fixture tree holds at least this many logs and checks; fewer means it
 * was not found or was truncated, not that all is well. */
#define MIN_LOGS 45
#define MIN_DIAG_CHECKS 120
#define MIN_RUNNER_CASES 30

/* Splits s in place on tabs into at most max fields; returns the count. */
static int split_tabs(char *s, char **f, int max)
{
	int n = 0;
	s[strcspn(s, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = s;
		char *t = strchr(s, '\t');
		if (!t)
			break;
		*t = '\0';
		s = t + 1;
	}
	return n;
}

/* FILE matches when it equals the diagnostic's file or ends it after '/'. */
static bool file_matches(const char *want, const char *got)
{
	if (!strcmp(want, "-"))
		return got == NULL;
	if (!got)
		return false;
	size_t w = strlen(want), g = strlen(got);
	if (w > g)
		return false;
	return strcmp(got + g - w, want) == 0 && (w == g || got[g - w - 1] == '/');
}

static bool num_matches(const char *want, int got)
{
	return !strcmp(want, "*") || atoi(want) == got;
}

static bool diag_matches(const struct diag *d, char **f, int nf)
{
	if (strcmp(d->tool, f[1]) || !file_matches(f[2], d->file) || !num_matches(f[3], d->line) ||
	    !num_matches(f[4], d->col) || strcmp(event_severity_name(d->severity), f[5]) ||
	    !strstr(d->message, f[6]))
		return false;
	if (nf < 8)
		return true;
	for (size_t k = 0; k < d->n_notes; k++)
		if (strstr(d->notes[k], f[7]))
			return true;
	return false;
}

static void dump_list(const char *name, const struct diag_list *l)
{
	fprintf(stderr, "%s: %zu diagnostics:\n", name, l->n);
	for (size_t k = 0; k < l->n; k++) {
		const struct diag *d = &l->v[k];
		fprintf(stderr, "  [%zu] %s\t%s\t%d\t%d\t%s\t%s (log line %zu+%zu)\n", k, d->tool,
			d->file ? d->file : "-", d->line, d->col, event_severity_name(d->severity),
			d->message, d->log_line, d->log_lines);
		for (size_t j = 0; j < d->n_notes; j++)
			fprintf(stderr, "        note: %s\n", d->notes[j]);
	}
}

/* Checks one fixture; returns how many diag lines it checked. */
static int check_case(const char *dir, const char *tool, const char *name, int *failures)
{
	char *path, *log, *cmd, *exp;
	size_t loglen, cmdlen, explen;
	struct diag_list l;
	int checked = 0, bad = 0;
	bool none_expected = false;

	path = xasprintf("%s/%s/%s.log", dir, tool, name);
	log = testdata_slurp(path, &loglen);
	free(path);
	path = xasprintf("%s/%s/%s.cmd", dir, tool, name);
	cmd = testdata_slurp(path, &cmdlen);
	free(path);
	if (cmd)
		cmd[strcspn(cmd, "\n")] = '\0';
	path = xasprintf("%s/%s/%s.expect", dir, tool, name);
	exp = testdata_slurp(path, &explen);
	if (!log || !exp)
		fail_msg("fixture %s/%s: cannot read its .log or .expect ('%s')", tool, name, path);
	free(path);

	assert_int_equal(diag_extract(log, loglen, cmd, &l), 0);

	/* Every list must also turn into JSON that encodes. */
	json_t *j = diag_list_to_json(&l, SIZE_MAX);
	char *enc = json_dumps(j, JSON_COMPACT);
	assert_non_null(enc);
	assert_int_equal(json_array_size(j), l.n);
	free(enc);
	json_decref(j);

	char *save = NULL;
	for (char *line = strtok_r(exp, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[8];
		int nf;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		nf = split_tabs(line, f, 8);
		if (!strcmp(f[0], "runner") && nf == 2) {
			const char *r = diag_detect_runner(cmd, log, loglen);
			const char *want = strcmp(f[1], "-") ? f[1] : NULL;
			if (!(r == want || (r && want && !strcmp(r, want)))) {
				fprintf(stderr, "%s/%s: runner is %s, expected %s\n", tool, name,
					r ? r : "none", f[1]);
				bad++;
			}
		} else if (!strcmp(f[0], "count") && nf == 2) {
			none_expected = !strcmp(f[1], "0");
			if (l.n != (size_t)atoi(f[1])) {
				fprintf(stderr, "%s/%s: %zu diagnostics, expected %s\n", tool, name,
					l.n, f[1]);
				bad++;
			}
		} else if (!strcmp(f[0], "none") && nf == 2) {
			for (size_t k = 0; k < l.n; k++) {
				if (strstr(l.v[k].message, f[1])) {
					fprintf(stderr, "%s/%s: [%zu] should not say '%s'\n", tool,
						name, k, f[1]);
					bad++;
				}
			}
		} else if (!strcmp(f[0], "diag") && (nf == 7 || nf == 8)) {
			bool found = false;
			for (size_t k = 0; k < l.n && !found; k++)
				found = diag_matches(&l.v[k], f, nf);
			checked++;
			if (!found) {
				fprintf(stderr, "%s/%s: nothing matches: %s %s %s %s %s '%s'%s%s\n",
					tool, name, f[1], f[2], f[3], f[4], f[5], f[6],
					nf == 8 ? " note " : "", nf == 8 ? f[7] : "");
				bad++;
			}
		} else {
			fail_msg("%s/%s.expect: malformed line starting '%s'", tool, name, f[0]);
		}
	}
	/* Only a passing run's log, which must give nothing, has no diag line. */
	if (checked == 0 && !none_expected) {
		fprintf(stderr, "%s/%s.expect: no diag lines (nor \"count 0\")\n", tool, name);
		bad++;
	}
	if (bad)
		dump_list(name, &l);
	*failures += bad;
	diag_list_release(&l);
	free(log);
	free(cmd);
	free(exp);
	return checked;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in dir, sorted, so failures read the same on every run. */
static size_t list_dir(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		fail_msg("cannot open '%s': %s; set CAIRN_TEST_DATA to the tests/data directory",
			 dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof *v, cmp_str);
	*out = v;
	return n;
}

static void test_fixtures(void **state)
{
	char *dir = xasprintf("%s/diag", testdata_dir()), **tools;
	size_t nt = list_dir(dir, &tools);
	int logs = 0, checks = 0, failures = 0;

	for (size_t t = 0; t < nt; t++) {
		char *sub = xasprintf("%s/%s", dir, tools[t]), **files;
		DIR *probe = opendir(sub);
		if (!probe) {
			free(sub);
			free(tools[t]);
			continue;
		}
		closedir(probe);
		size_t nf = list_dir(sub, &files);
		for (size_t k = 0; k < nf; k++) {
			size_t n = strlen(files[k]);
			if (n > 4 && !strcmp(files[k] + n - 4, ".log")) {
				files[k][n - 4] = '\0';
				checks += check_case(dir, tools[t], files[k], &failures);
				logs++;
			}
			free(files[k]);
		}
		free(files);
		free(sub);
		free(tools[t]);
	}
	free(tools);
	free(dir);
	fprintf(stderr, "diag fixtures: %d logs, %d diagnostics checked, %d failures\n", logs,
		checks, failures);
	assert_true(logs >= MIN_LOGS);
	assert_true(checks >= MIN_DIAG_CHECKS);
	assert_int_equal(failures, 0);
}

static void test_runners(void **state)
{
	char *dir = xasprintf("%s/diag", testdata_dir());
	char *path = xasprintf("%s/runners.txt", dir);
	size_t len;
	char *text = testdata_slurp(path, &len), *save = NULL;
	int cases = 0, failures = 0;

	if (!text)
		fail_msg("cannot read '%s'", path);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[3], *log = NULL;
		size_t loglen = 0;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (split_tabs(line, f, 3) != 3)
			fail_msg("runners.txt: malformed line '%s'", line);
		if (strcmp(f[1], "-")) {
			char *lp = xasprintf("%s/%s", dir, f[1]);
			log = testdata_slurp(lp, &loglen);
			if (!log)
				fail_msg("runners.txt: cannot read '%s'", lp);
			free(lp);
		}
		const char *cmd = strcmp(f[0], "-") ? f[0] : NULL;
		const char *want = strcmp(f[2], "-") ? f[2] : NULL;
		const char *got = diag_detect_runner(cmd, log, loglen);
		if (!(got == want || (got && want && !strcmp(got, want)))) {
			fprintf(stderr, "runner of '%s' with log %s: %s, expected %s\n", f[0], f[1],
				got ? got : "none", f[2]);
			failures++;
		}
		cases++;
		free(log);
	}
	free(text);
	free(path);
	free(dir);
	assert_true(cases >= MIN_RUNNER_CASES);
	assert_int_equal(failures, 0);
}

static void test_wrappers(void **state)
{
	char *path = xasprintf("%s/diag/wrappers.txt", testdata_dir());
	size_t len;
	char *text = testdata_slurp(path, &len), *save = NULL;
	int cases = 0, yes = 0, failures = 0;

	if (!text)
		fail_msg("cannot read '%s'", path);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[2];
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (split_tabs(line, f, 2) != 2 || (strcmp(f[1], "yes") && strcmp(f[1], "no")))
			fail_msg("wrappers.txt: malformed line '%s'", line);
		bool want = !strcmp(f[1], "yes");
		bool got = diag_is_test_wrapper(strcmp(f[0], "-") ? f[0] : NULL);
		if (got != want) {
			fprintf(stderr, "test wrapper '%s': %s, expected %s\n", f[0],
				got ? "yes" : "no", f[1]);
			failures++;
		}
		cases++;
		yes += want;
	}
	free(text);
	free(path);
	assert_true(cases >= 30 && yes >= 15 && cases - yes >= 10);
	assert_int_equal(failures, 0);
}

static int extract(const char *log, const char *cmd, struct diag_list *l)
{
	return diag_extract(log, strlen(log), cmd, l);
}

/* Colours, an OSC 8 hyperlink, CRLF line ends and a progress line rewritten
 * with CR must not reach the fields. */
static void test_ansi_stripped(void **state)
{
	const char *log =
		"\x1b[32m[ 10%]\x1b[0m building\r[ 50%] building\r\n"
		"\x1b[01m\x1b[Ka.c:3:7:\x1b[m\x1b[K \x1b[01;35m\x1b[Kwarning: \x1b[m\x1b[Kunused "
		"variable \xe2\x80\x98\x1b[01m\x1b[Kx\x1b[m\x1b[K\xe2\x80\x99 "
		"[\x1b[01;35m\x1b[K\x1b]8;;https://gcc.gnu.org/onlinedocs/gcc/"
		"Warning-Options.html#index-Wunused-variable\x1b\\-Wunused-variable\x1b]8;;\x1b\\"
		"\x1b[m\x1b[K]\r\n"
		"    3 |   int \x1b[01;35m\x1b[Kx\x1b[m\x1b[K;\r\n"
		"      |       \x1b[01;35m\x1b[K^\x1b[m\x1b[K\r\n";
	struct diag_list l;

	assert_int_equal(extract(log, "make", &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].tool, "gcc");
	assert_string_equal(l.v[0].file, "a.c");
	assert_int_equal(l.v[0].line, 3);
	assert_int_equal(l.v[0].col, 7);
	assert_int_equal(l.v[0].severity, SEV_WARNING);
	assert_string_equal(l.v[0].message,
			    "unused variable \xe2\x80\x98x\xe2\x80\x99 [-Wunused-variable]");
	assert_int_equal(l.v[0].log_line, 1);
	assert_int_equal(l.v[0].log_lines, 3);
	assert_int_equal(l.v[0].n_notes, 2);
	assert_string_equal(l.v[0].notes[0], "    3 |   int x;");
	assert_string_equal(l.v[0].notes[1], "      |       ^");
	for (size_t k = 0; k < l.n; k++)
		assert_null(strchr(l.v[k].message, '\x1b'));
	diag_list_release(&l);
	diag_list_release(&l); /* twice is safe */
}

/* A generated log of build noise: no diagnostics, and it must simply finish
 * (the time is printed, not asserted: benchmarks are not tests). */
static void test_large_noise(void **state)
{
	const size_t size = 20u << 20;
	static const char *const lines[] = {
		"[ 42%%] Building C object src/CMakeFiles/app.dir/module_%05u.c.o\n",
		"   Compiling crate_%u v0.1.0\n",
		"test tests::case_%u ... ok\n",
		"ok  \texample.com/pkg%u\t0.012s\n",
		"PASS src/file%u.test.js\n",
		"-- Looking for header_%u.h - found\n",
		"Downloading https://example.invalid/pkg-%u.tar.gz 100%% |#######|\n",
	};
	char *log = xmalloc(size + 128);
	size_t n = 0;
	unsigned k = 0;
	struct diag_list l;
	struct timespec t0, t1;

	while (n < size) {
		int w = snprintf(log + n, 128, lines[k % 7], k);
		n += (size_t)w;
		k++;
	}
	/* A long line without a newline at the end, too. */
	memset(log + size - 100000, 'x', 100000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(diag_extract(log, size, "make -j8", &l), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "diag: 20 MiB of noise took %.0f ms, %zu diagnostics\n",
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		l.n);
	assert_int_equal(l.n, 0);
	diag_list_release(&l);

	/* The same size of nothing but error lines: capped, and still linear. */
	n = 0;
	for (k = 0; n < size; k++)
		n += (size_t)snprintf(log + n, 128, "src/f%u.c:%u:1: error: broken %u\n", k % 97, k,
				      k);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(diag_extract(log, size, NULL, &l), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "diag: 20 MiB of errors took %.0f ms\n",
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_int_equal(l.n, DIAG_MAX);
	assert_string_equal(l.v[0].message, "broken 0");
	diag_list_release(&l);
	free(log);
}

static void test_caps(void **state)
{
	char *log = xmalloc(200000), *p = log;
	struct diag_list l;

	/* A message and a note far over DIAG_MAX_TEXT, cut inside UTF-8. */
	p += sprintf(p, "x.c:1:1: error: ");
	for (int k = 0; k < 3000; k++)
		p += sprintf(p, "\xc3\xa9");
	p += sprintf(p, "\n    1 | ");
	for (int k = 0; k < 3000; k++)
		*p++ = 'n';
	*p++ = '\n';
	/* Then more notes than DIAG_MAX_NOTES. */
	p += sprintf(p, "y.c:2:1: warning: many notes\n");
	for (int k = 0; k < 100; k++)
		p += sprintf(p, "y.c:2:1: note: note %d\n", k);
	*p = '\0';
	assert_int_equal(extract(log, NULL, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(strlen(l.v[0].message) <= DIAG_MAX_TEXT);
	assert_true(strlen(l.v[0].message) >= DIAG_MAX_TEXT - 1);
	assert_int_equal(strlen(l.v[0].message) % 2, 0); /* whole characters only */
	assert_int_equal(l.v[0].n_notes, 1);
	assert_true(strlen(l.v[0].notes[0]) <= DIAG_MAX_TEXT);
	assert_int_equal(l.v[1].n_notes, DIAG_MAX_NOTES);
	assert_string_equal(l.v[1].notes[0], "y.c:2:1: note: note 0");
	assert_int_equal(l.v[1].log_lines, 101);

	json_t *j = diag_list_to_json(&l, 1);
	assert_int_equal(json_array_size(j), 1);
	json_t *o = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(o, "tool")), "gcc");
	assert_string_equal(json_string_value(json_object_get(o, "severity")), "error");
	assert_int_equal(json_integer_value(json_object_get(o, "line")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "log_line")), 0);
	assert_true(json_is_array(json_object_get(o, "notes")));
	json_decref(j);
	j = diag_list_to_json(&l, 0);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	diag_list_release(&l);
	free(log);
}

/* NUL bytes, invalid UTF-8 and lone CRs are input like any other. */
static void test_odd_bytes(void **state)
{
	static const char log[] = "m.c:4:2: error: bad \xff\xfe byte \0 here\n"
				  "\xed\xa0\x80 surrogate: error: \xc0\xaf\n";
	struct diag_list l;

	assert_int_equal(diag_extract(log, sizeof log - 1, NULL, &l), 0);
	assert_true(l.n >= 1);
	assert_string_equal(l.v[0].message, "bad ?? byte  here");
	json_t *j = diag_list_to_json(&l, SIZE_MAX);
	char *enc = json_dumps(j, 0);
	assert_non_null(enc);
	free(enc);
	json_decref(j);
	diag_list_release(&l);
}

static void test_edges(void **state)
{
	struct diag_list l = {0};

	assert_int_equal(diag_extract(NULL, 0, NULL, &l), 0);
	assert_int_equal(l.n, 0);
	diag_list_release(&l);
	assert_int_equal(diag_extract("", 0, "", &l), 0);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	diag_list_release(&l);
	assert_int_equal(diag_extract(NULL, 5, NULL, &l), CAIRN_E_INVALID);
	assert_int_equal(diag_extract("x", 1, NULL, NULL), CAIRN_E_INVALID);
	assert_int_equal(diag_extract("x", DIAG_MAX_LOG + 1, NULL, &l), CAIRN_E_TOOBIG);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	/* A log of plain output has nothing to say. */
	assert_int_equal(extract("hello\nall good\n0 errors, 0 failures\n", NULL, &l), 0);
	assert_int_equal(l.n, 0);
	diag_list_release(&l);
	/* The same message twice is kept once. */
	assert_int_equal(extract("a.c:1:2: error: x\na.c:1:2: error: x\n", NULL, &l), 0);
	assert_int_equal(l.n, 1);
	diag_list_release(&l);
	/* The command hint names clang; the output alone says gcc. */
	assert_int_equal(extract("a.c:1:2: error: x\n", "clang -c a.c", &l), 0);
	assert_string_equal(l.v[0].tool, "clang");
	diag_list_release(&l);
	/* A path with blanks in it. */
	assert_int_equal(
		extract("/home/u/My Project/a.c:3:5: warning: unused [-Wunused]\n", NULL, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].file, "/home/u/My Project/a.c");
	assert_int_equal(l.v[0].line, 3);
	assert_int_equal(l.v[0].col, 5);
	diag_list_release(&l);
	/* A lone note is a notice of its own. */
	assert_int_equal(extract("b.h:3:4: note: declared here\n", NULL, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].severity, SEV_NOTICE);
	diag_list_release(&l);
	/* go test: t.Log output of a test that then passed is not a failure. */
	assert_int_equal(extract("=== RUN   TestA\n    a_test.go:5: just logging\n"
				 "--- PASS: TestA (0.00s)\n=== RUN   TestB\n"
				 "    b_test.go:9: wrong\n--- FAIL: TestB (0.00s)\nFAIL\n",
				 "go test -v ./...", &l),
			 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].message, "TestB: wrong");
	diag_list_release(&l);
	/* A failing go test that printed nothing is still reported. */
	assert_int_equal(extract("--- FAIL: TestQuiet (0.00s)\nFAIL\n", "go test", &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].message, "TestQuiet failed");
	assert_string_equal(l.v[0].tool, "go test");
	diag_list_release(&l);
	/* Old-style Rust panic. */
	assert_int_equal(
		extract("thread 'main' panicked at 'boom', src/main.rs:4:5\n", "cargo run", &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].tool, "rust");
	assert_string_equal(l.v[0].file, "src/main.rs");
	assert_int_equal(l.v[0].line, 4);
	diag_list_release(&l);
	/* lld. */
	assert_int_equal(extract("ld.lld: error: undefined symbol: foo\n"
				 ">>> referenced by main.c:6\n>>>               main.o:(main)\n",
				 NULL, &l),
			 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].tool, "ld");
	assert_string_equal(l.v[0].file, "main.c");
	assert_int_equal(l.v[0].line, 6);
	assert_int_equal(l.v[0].n_notes, 2);
	diag_list_release(&l);
	/* The generic fallback finds a place and ignores "0 errors". */
	assert_int_equal(extract("building\nERROR: config.yaml:12: bad key\n0 errors\n", NULL, &l),
			 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].tool, "generic");
	assert_string_equal(l.v[0].file, "config.yaml");
	assert_int_equal(l.v[0].line, 12);
	diag_list_release(&l);
}

/* Inputs where a prefix and a suffix overlap, or a frame is just "at ":
 * lengths computed from them once wrapped around (found by fuzz_diag). */
static void test_overlaps(void **state)
{
	static const char *const logs[] = {
		"---- stdout ----\n",
		"running 1 test\ntest ... FAILED\n",
		"make: *** [a]  Stop.\n",
		"\xe2\x9c\x96 x (1ms)\n  Err: y\n  at \n",
		"  \xe2\x97\x8f t\n    msg\n    at \n",
		"not ok 1 - t\n  ---\n  stack: |-\n    at \n  ...\n",
	};
	struct diag_list l;

	for (size_t k = 0; k < sizeof logs / sizeof logs[0]; k++) {
		assert_int_equal(extract(logs[k], "cargo test", &l), 0);
		for (size_t j = 0; j < l.n; j++)
			assert_true(strlen(l.v[j].message) <= DIAG_MAX_TEXT);
		diag_list_release(&l);
	}
}

/* A pytest block whose error line is empty names the test with nothing
 * after "name:"; the summary line that names it again read past the end
 * of that message (found by fuzz_diag). */
static void test_pytest_empty_error(void **state)
{
	(void)state;
	static const char log[] =
		"============================= test session starts ==============================\n"
		"==================================== ERRORS ====================================\n"
		"______________________ ERROR at setup of test_uses_config ______________________\n"
		"\n"
		">       return {}[\"host\"]\n"
		"E   \n"
		"=========================== short test summary info ============================\n"
		"ERROR test_parse.py::test_uses_config - KeyError: 'host'\n";
	struct diag_list l;
	assert_int_equal(extract(log, "pytest -q", &l), 0);
	assert_true(l.n >= 1);
	for (size_t j = 0; j < l.n; j++)
		assert_true(strlen(l.v[j].message) <= DIAG_MAX_TEXT);
	diag_list_release(&l);
}

/* Redis-style Tcl harness output the fixture harness does not print: an
 * assertion whose context names the file and line (older Tcl), a client
 * that died, and a log whose [err] lines were cut so only the final
 * summary names the failure. */
static void test_runtest_cases(void **state)
{
	(void)state;
	struct diag_list l;

	assert_int_equal(
		extract("[ok]: PING (1 ms)\n"
			"[err]: INFO errorstats in tests/unit/info.tcl\n"
			"Expected '1' to be equal to '2' (context: type source line 62 file "
			"/home/runner/work/redis/redis/tests/unit/info.tcl cmd {assert_equal 1 "
			"[r x]} proc ::test level 1)\n"
			"[ok]: errorstats: rejected call due to wrong arity (2 ms)\n",
			"./runtest --single unit/info", &l),
		0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].tool, "runtest");
	assert_string_equal(l.v[0].file, "tests/unit/info.tcl");
	assert_int_equal(l.v[0].line, 62);
	assert_string_equal(l.v[0].message, "INFO errorstats: Expected '1' to be equal to '2'");
	diag_list_release(&l);

	assert_int_equal(extract("[ok]: SET and GET (0 ms)\n"
				 "[exception]: Test client sock55d0 exited unexpectedly -- last "
				 "client state: (IN PROGRESS) BGSAVE in a busy server\n"
				 "Killing still running Redis server 4242\n",
				 "make test", &l),
			 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].message,
			    "BGSAVE in a busy server: test client exited unexpectedly");
	assert_null(l.v[0].file);
	diag_list_release(&l);

	assert_int_equal(extract("[ok]: Check for memory leaks (pid 1234) (3 ms)\n"
				 "[58/58 done]: unit/oom (2 seconds)\n\n"
				 "                   The End\n\n"
				 "!!! WARNING The following tests failed:\n\n"
				 "*** [err]: LPOS basic usage in tests/unit/type/list.tcl\n"
				 "Expected '1' to be equal to '0' (context: type eval line 3 cmd "
				 "{assert_equal 1 0} proc ::test)\n"
				 "Cleanup: may take some time... OK\n"
				 "make[1]: *** [Makefile:450: test] Error 1\n",
				 "make test", &l),
			 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].message, "LPOS basic usage: Expected '1' to be equal to '0'");
	assert_string_equal(l.v[1].tool, "make");
	diag_list_release(&l);

	/* A state that ends where the test's name should start, and a file
	 * frame without a line number. */
	assert_int_equal(extract("[exception]: Test client s exited unexpectedly -- last client "
				 "state: (IN PROGRESS) \n"
				 "[exception]: Executing test client: boom.\n"
				 "    (file \"tests/unit/x.tcl\" line )\n"
				 "\"test {t} {\n",
				 "./runtest", &l),
			 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].message, "Test client s exited unexpectedly -- last client "
					    "state: (IN PROGRESS)");
	assert_string_equal(l.v[1].message, "t: boom");
	assert_null(l.v[1].file);
	diag_list_release(&l);

	/* A passing run that only mentions errors has nothing to report, even
	 * to the generic fallback. */
	assert_int_equal(extract("[ok]: ERRORS should be counted in INFO (0 ms)\n"
				 "[ok]: Check for memory leaks (pid 1234) with 0 errors (1 ms)\n"
				 "[skip]: failed replica resync\n"
				 "\\o/ All tests passed without errors!\n",
				 NULL, &l),
			 0);
	assert_int_equal(l.n, 0);
	diag_list_release(&l);
}

/* prove's summary, or a TAP plan with a failure, names "tap". */
static void test_tap_runner(void **state)
{
	(void)state;
	static const char prove[] =
		"t/basic.t .. \nDubious, test returned 1 (wstat 256, 0x100)\n"
		"Failed 1/3 subtests \n\nTest Summary Report\n-------------------\n"
		"t/basic.t (Wstat: 256 (exited 1) Tests: 3 Failed: 1)\n  Failed test:  2\n"
		"Files=1, Tests=3,  0 wallclock secs\nResult: FAIL\n";
	static const char tap[] = "t/basic.t .. \n1..3\nok 1 - loads\nnot ok 2 - adds\n";

	assert_string_equal(diag_detect_runner("make test", prove, sizeof prove - 1), "tap");
	assert_string_equal(diag_detect_runner("prove -v t/", tap, sizeof tap - 1), "tap");
	assert_null(diag_detect_runner("make", "ok 1\n", 5));
}

/* A green ctest run says nothing, whatever its tests are called. */
static void test_ctest_passed(void **state)
{
	(void)state;
	struct diag_list l;

	assert_int_equal(
		extract("Test project /src/build\n"
			"    Start 1: errors\n"
			"1/2 Test #1: errors ...........................   Passed    0.01 sec\n"
			"    Start 2: fatal_paths\n"
			"2/2 Test #2: fatal_paths ......................***Skipped   0.00 sec\n"
			"\n100% tests passed, 0 tests failed out of 1\n\n"
			"The following tests did not run:\n"
			"\t  2 - fatal_paths (Skipped)\n",
			"ctest", &l),
		0);
	assert_int_equal(l.n, 0);
	diag_list_release(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),      cmocka_unit_test(test_runners),
		cmocka_unit_test(test_wrappers),      cmocka_unit_test(test_ansi_stripped),
		cmocka_unit_test(test_large_noise),   cmocka_unit_test(test_caps),
		cmocka_unit_test(test_odd_bytes),     cmocka_unit_test(test_edges),
		cmocka_unit_test(test_overlaps),      cmocka_unit_test(test_pytest_empty_error),
		cmocka_unit_test(test_runtest_cases), cmocka_unit_test(test_ctest_passed),
		cmocka_unit_test(test_tap_runner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
