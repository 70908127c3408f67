/* The run's saved log (cli/runlog.h): redacted in parts on several threads,
 * with its head redacted early, it holds what redact_text() of the whole
 * capture holds, and no cut splits a private key block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/runlog.h"
#include "kb/redact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "export GITHUB_TOKEN=ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d\n"
#define KEY_BEGIN "-----BEGIN RSA PRIVATE KEY-----\n"
#define KEY_BODY "MIIEpAIBAAKCAQEAtestkeymaterialabcdefghijklmnop0123\n"
#define KEY_END "-----END RSA PRIVATE KEY-----\n"

/* A build log of about n bytes: ordinary lines, a token every so often. */
static char *make_log(size_t n, size_t *len)
{
	char *s = malloc(n + 256);
	size_t o = 0;
	for (unsigned i = 0; o < n; i++) {
		if (i % 997 == 0)
			o += (size_t)sprintf(s + o, "%s", TOKEN);
		else
			o += (size_t)sprintf(
				s + o, "cc -c src/mod%u.c -o build/mod%u.o -O2 -Wall\n", i, i);
	}
	*len = o;
	return s;
}

static size_t count(const char *s, size_t n, const char *needle)
{
	size_t k = 0, nl = strlen(needle);
	for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), needle, nl)); p += nl)
		k++;
	return k;
}

static void test_cut(void **state)
{
	(void)state;
	const char *t = "one\ntwo\nthr";
	assert_int_equal(runlog_cut(t, strlen(t)), 8);
	assert_int_equal(runlog_cut("no newline", 10), 0);
	assert_int_equal(runlog_cut("", 0), 0);
	/* A key block open at the end: the cut goes before its BEGIN line. */
	const char *open = "line\n" KEY_BEGIN KEY_BODY KEY_BODY;
	assert_int_equal(runlog_cut(open, strlen(open)), 5);
	/* Closed: the cut may follow it. */
	const char *closed = "line\n" KEY_BEGIN KEY_BODY KEY_END "after\n";
	assert_int_equal(runlog_cut(closed, strlen(closed)), strlen(closed));
	/* A block open from the very start leaves no cut. */
	const char *start = KEY_BEGIN KEY_BODY;
	assert_int_equal(runlog_cut(start, strlen(start)), 0);
}

/* runlog_redact() of log, with or without an early start of early bytes,
 * equals redact_text() of it (these logs have no rule whose context a cut
 * could separate from its secret). */
static void check_same(const char *log, size_t len, size_t early)
{
	size_t want_len, got_len;
	char *want = redact_text(log, len, &want_len, NULL);
	struct runlog rl;
	runlog_init(&rl);
	if (early)
		runlog_start(&rl, log, early);
	char *got = runlog_redact(&rl, log, len, &got_len);
	runlog_release(&rl);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	assert_int_equal(got[got_len], '\0');
	free(want);
	free(got);
}

static void test_same_as_redact_text(void **state)
{
	(void)state;
	size_t len;
	char *log = make_log((size_t)3 << 20, &len);
	check_same(log, len, 0);
	check_same(log, len, (size_t)1 << 20);
	check_same(log, len, len);
	check_same(log, 100, 0);
	check_same("", 0, 0);
	/* The early part cut mid-line: it ends at the line before. */
	check_same(log, len, ((size_t)1 << 20) + 7);
	size_t out_len;
	struct runlog rl;
	runlog_init(&rl);
	runlog_start(&rl, log, (size_t)1 << 20);
	char *out = runlog_redact(&rl, log, len, &out_len);
	runlog_release(&rl);
	assert_int_equal(count(out, out_len, "ghp_"), 0);
	assert_int_equal(count(out, out_len, "[REDACTED:github-token]"), count(log, len, "ghp_"));
	free(out);
	free(log);
}

/* A start handed over that the log does not begin with is not used. */
static void test_early_start_mismatch(void **state)
{
	(void)state;
	size_t len;
	char *log = make_log((size_t)1 << 20, &len);
	char *other = strdup(log);
	memcpy(other, "xx", 2);
	size_t want_len, got_len;
	char *want = redact_text(log, len, &want_len, NULL);
	struct runlog rl;
	runlog_init(&rl);
	runlog_start(&rl, other, len / 2);
	char *got = runlog_redact(&rl, log, len, &got_len);
	runlog_release(&rl);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(want);
	free(got);
	free(other);
	free(log);
}

/* The whole of file fd, malloc'd, its size in *len. */
static char *slurp(int fd, size_t *len)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char *s = malloc((size_t)st.st_size + 1);
	assert_int_equal(pread(fd, s, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return s;
}

static int temp_file(void)
{
	char path[] = "/tmp/cairn-test-runlog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

/* How the early part is handed over to runlog_save(). */
enum early_how {
	EARLY_NONE,     /* no runlog_start() */
	EARLY_SAME_FD,  /* written to the file runlog_save() is given */
	EARLY_OTHER_FD, /* written to another file */
	EARLY_NO_FD,    /* redacted early, written by runlog_save() */
	EARLY_MISMATCH, /* of other bytes than the log starts with */
};

/* runlog_save() of log writes exactly what runlog_redact() returns, and
 * only that (a file that held more is cut to it). */
static void check_save(const char *log, size_t len, size_t early, enum early_how how)
{
	size_t want_len, got_len, out_len;
	struct runlog rl;
	runlog_init(&rl);
	char *want = runlog_redact(&rl, log, len, &want_len);
	runlog_release(&rl);

	int fd = temp_file(), other = temp_file();
	/* Stale bytes past the end must not survive. */
	char junk[4096];
	memset(junk, 'J', sizeof junk);
	for (size_t o = 0; o < want_len + sizeof junk; o += sizeof junk)
		assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)o), (ssize_t)sizeof junk);
	char *mismatch = NULL;
	runlog_init(&rl);
	if (how == EARLY_SAME_FD)
		runlog_write_to(&rl, fd);
	else if (how == EARLY_OTHER_FD || how == EARLY_MISMATCH)
		runlog_write_to(&rl, other);
	if (how == EARLY_MISMATCH) {
		mismatch = malloc(early);
		memcpy(mismatch, log, early);
		memcpy(mismatch, "zz", 2);
		runlog_start(&rl, mismatch, early);
	} else if (how != EARLY_NONE) {
		runlog_start(&rl, log, early);
	}
	assert_int_equal(runlog_save(&rl, log, len, fd, &out_len), 0);
	runlog_release(&rl);
	char *got = slurp(fd, &got_len);
	assert_int_equal(out_len, want_len);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(got);
	free(want);
	free(mismatch);
	close(fd);
	close(other);
}

static void test_save_same_as_redact(void **state)
{
	(void)state;
	size_t len;
	char *log = make_log((size_t)3 << 20, &len);
	size_t early = (size_t)1 << 20;
	check_save(log, len, early, EARLY_NONE);
	check_save(log, len, early, EARLY_SAME_FD);
	check_save(log, len, early, EARLY_OTHER_FD);
	check_save(log, len, early, EARLY_NO_FD);
	check_save(log, len, early, EARLY_MISMATCH);
	check_save(log, len, len, EARLY_SAME_FD); /* all of it early */
	check_save(log, 100, 100, EARLY_SAME_FD);
	check_save("", 0, 0, EARLY_NONE);
	free(log);
}

/* A file that cannot be written: runlog_save() says so, and the early
 * part's thread, which failed the same way, is still joined cleanly. */
static void test_save_write_error(void **state)
{
	(void)state;
	size_t len, out_len;
	char *log = make_log((size_t)1 << 20, &len);
	int fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	struct runlog rl;
	runlog_init(&rl);
	runlog_write_to(&rl, fd);
	runlog_start(&rl, log, len / 2);
	assert_int_equal(runlog_save(&rl, log, len, fd, &out_len), -EBADF);
	runlog_release(&rl);
	close(fd);
	free(log);
}

/* A key block where the early part would end, and keys where the parallel
 * parts are cut: every one is redacted whole. */
static void test_key_blocks_never_split(void **state)
{
	(void)state;
	size_t base_len;
	char *base = make_log((size_t)2 << 20, &base_len);
	size_t cap = base_len + 64 * 1024;
	char *log = malloc(cap);
	size_t o = 0;
	size_t quarter = base_len / 4;
	for (int q = 0; q < 4; q++) {
		/* Each quarter of the log ends in a key of a few lines. */
		size_t from = (size_t)q * quarter, to = q == 3 ? base_len : from + quarter;
		memcpy(log + o, base + from, to - from);
		o += to - from;
		if (log[o - 1] != '\n')
			log[o++] = '\n';
		o += (size_t)sprintf(log + o, "%s", KEY_BEGIN);
		for (int i = 0; i < 40; i++)
			o += (size_t)sprintf(log + o, "%s", KEY_BODY);
		o += (size_t)sprintf(log + o, "%s", KEY_END);
	}
	/* The early part asked to end in the middle of the first key. */
	size_t mid_key = quarter + 20 * strlen(KEY_BODY);
	size_t out_len;
	struct runlog rl;
	runlog_init(&rl);
	runlog_start(&rl, log, mid_key);
	char *out = runlog_redact(&rl, log, o, &out_len);
	runlog_release(&rl);
	assert_int_equal(count(out, out_len, "MIIEpAIBAAKCAQEA"), 0);
	assert_int_equal(count(out, out_len, "[REDACTED:private-key]"), 4);
	free(out);
	check_same(log, o, mid_key);
	free(log);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_same_as_redact_text),
		cmocka_unit_test(test_early_start_mismatch),
		cmocka_unit_test(test_save_same_as_redact),
		cmocka_unit_test(test_save_write_error),
		cmocka_unit_test(test_key_blocks_never_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
