/* Unit tests for secret redaction, driven by tests/data/redact/cases.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "kb/redact.h"
#include "testdata.h"

/* The case file holds at least this many cases of each sort; fewer means it
 * was truncated or not found where expected, not that all is well. */
#define MIN_POSITIVE 40
#define MIN_NEGATIVE 25

/* One case: input, expected output (equal to the input for a negative case)
 * and the number of redactions expected. */
struct rcase {
	int lineno;
	char *in, *out;
	size_t in_len, out_len;
	unsigned count;
	bool negative;
};

struct cases {
	struct rcase *v;
	size_t n, cap;
	size_t positive, negative;
	char *path;
};

static struct cases all;

static int load_cases(void **state)
{
	const char *dir = getenv("CAIRN_TEST_DATA");
	if (!dir || !*dir)
		dir = "tests/data";
	all.path = xasprintf("%s/redact/cases.txt", dir);
	FILE *f = fopen(all.path, "r");
	if (!f) {
		fprintf(stderr,
			"cannot open '%s': %s; set CAIRN_TEST_DATA to the tests/data directory\n",
			all.path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		char *tab = strchr(line, '\t');
		if (!tab) {
			fprintf(stderr, "%s:%d: no tab between input and expected output\n",
				all.path, lineno);
			free(line);
			fclose(f);
			return -1;
		}
		*tab = '\0';
		char *exp = tab + 1;
		char *tab2 = strchr(exp, '\t');
		unsigned count = 1;
		if (tab2) {
			*tab2 = '\0';
			char *end;
			unsigned long c = strtoul(tab2 + 1, &end, 10);
			if (end == tab2 + 1 || *end) {
				fprintf(stderr, "%s:%d: bad count '%s'\n", all.path, lineno,
					tab2 + 1);
				free(line);
				fclose(f);
				return -1;
			}
			count = (unsigned)c;
		}
		if (all.n == all.cap) {
			all.cap = all.cap ? 2 * all.cap : 64;
			all.v = xreallocarray(all.v, all.cap, sizeof *all.v);
		}
		struct rcase *c = &all.v[all.n++];
		c->lineno = lineno;
		c->in = xstrdup(line);
		c->in_len = testdata_unescape(c->in);
		c->negative = strcmp(exp, "=") == 0;
		if (c->negative) {
			c->out = xstrndup(c->in, c->in_len);
			c->out_len = c->in_len;
			c->count = 0;
			all.negative++;
		} else {
			c->out = xstrdup(exp);
			c->out_len = testdata_unescape(c->out);
			c->count = count;
			all.positive++;
		}
	}
	free(line);
	fclose(f);
	*state = &all;
	return 0;
}

static int free_cases(void **state)
{
	for (size_t i = 0; i < all.n; i++) {
		free(all.v[i].in);
		free(all.v[i].out);
	}
	free(all.v);
	free(all.path);
	memset(&all, 0, sizeof all);
	return 0;
}

static void test_case_counts(void **state)
{
	if (all.positive < MIN_POSITIVE || all.negative < MIN_NEGATIVE)
		fail_msg("%s has %zu positive and %zu negative cases; expected at least %d and %d",
			 all.path, all.positive, all.negative, MIN_POSITIVE, MIN_NEGATIVE);
}

/* Every case: the output, the count, and that the output is a fixed point. */
static void test_cases(void **state)
{
	int failures = 0;
	for (size_t i = 0; i < all.n; i++) {
		const struct rcase *c = &all.v[i];
		size_t len;
		unsigned k;
		char *got = redact(c->in, c->in_len, &len, &k);
		assert_non_null(got);
		if (len != c->out_len || memcmp(got, c->out, len) != 0 || k != c->count) {
			fprintf(stderr,
				"%s:%d: %s case\n  input:    %s\n  expected: %s (%u redactions)\n"
				"  got:      %s (%u redactions)\n",
				all.path, c->lineno, c->negative ? "negative" : "positive", c->in,
				c->out, c->count, got, k);
			failures++;
		} else {
			size_t len2;
			unsigned k2;
			char *again = redact(got, len, &len2, &k2);
			if (len2 != len || memcmp(again, got, len) != 0 || k2 != 0) {
				fprintf(stderr,
					"%s:%d: the output is not a fixed point\n  once:  %s\n  "
					"twice: "
					"%s (%u more)\n",
					all.path, c->lineno, got, again, k2);
				failures++;
			}
			free(again);
		}
		free(got);
	}
	if (failures)
		fail_msg("%d of %zu redaction cases failed (see above)", failures, all.n);
}

/* A rule without a positive case could be dead or wrong without anyone
 * noticing: each kind must appear in some expected output. */
static void test_every_kind_has_a_case(void **state)
{
	int missing = 0;
	const char *kind;
	for (size_t i = 0; (kind = redact_kind(i)) != NULL; i++) {
		char *marker = xasprintf(REDACT_MARKER_PREFIX "%s]", kind);
		bool found = false;
		for (size_t j = 0; j < all.n && !found; j++)
			found = !all.v[j].negative && memmem(all.v[j].out, all.v[j].out_len, marker,
							     strlen(marker)) != NULL;
		if (!found) {
			fprintf(stderr, "no positive case in %s produces %s\n", all.path, marker);
			missing++;
		}
		free(marker);
	}
	assert_int_equal(missing, 0);
}

static void test_empty_and_null_outputs(void **state)
{
	size_t len = 99;
	unsigned k = 99;
	char *out = redact(NULL, 0, &len, &k);
	assert_non_null(out);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	assert_int_equal(k, 0);
	free(out);

	out = redact("TOKEN=x", 7, NULL, NULL);
	assert_string_equal(out, "TOKEN=[REDACTED:env-secret]");
	free(out);
}

/* The text is bytes: NUL bytes and invalid UTF-8 pass through, and secrets
 * next to them are still found. */
static void test_bytes(void **state)
{
	static const char in[] = "a\0b export TOKEN=s3cr3t \xff\xfe password=\xc3\xa9t\xc3\xa9 \0";
	static const char want[] = "a\0b export TOKEN=[REDACTED:env-secret] \xff\xfe "
				   "password=[REDACTED:password] \0";
	size_t len;
	unsigned k;
	char *out = redact(in, sizeof in - 1, &len, &k);
	assert_int_equal(len, sizeof want - 1);
	assert_memory_equal(out, want, len);
	assert_int_equal(out[len], '\0');
	assert_int_equal(k, 2);
	free(out);
}

/* Input over the cap is refused, not cut: a cut could split a secret so that
 * no rule sees it. Input at the cap works, even in the worst shapes. */
static void test_cap(void **state)
{
	size_t n = REDACT_MAX_INPUT;
	char *big = xmalloc(n + 1);
	memset(big, 'a', n + 1);
	size_t len = 1;
	unsigned k = 1;
	errno = 0;
	assert_null(redact(big, n + 1, &len, &k));
	assert_int_equal(errno, E2BIG);
	assert_int_equal(len, 0);
	assert_int_equal(k, 0);

	char *out = redact(big, n, &len, &k);
	assert_non_null(out);
	assert_int_equal(len, n);
	assert_int_equal(k, 0);
	free(out);

	/* A secret at the very end of a text at the cap is found. */
	static const char tail[] = " password=abc";
	memcpy(big + n - (sizeof tail - 1), tail, sizeof tail - 1);
	out = redact(big, n, &len, &k);
	assert_int_equal(k, 1);
	assert_true(len > 20);
	assert_string_equal(out + len - 20, "=[REDACTED:password]");
	free(out);
	free(big);
}

/* Long runs of what the rules look for: every secret is found, and the
 * result is still a fixed point. */
static void test_repeated_secrets(void **state)
{
	static const struct {
		const char *unit;
		unsigned per_unit;
	} shapes[] = {
		{"export TOKEN=x ", 1},
		{"https://u:p@h/ ", 1},
		{"Authorization: Bearer abc ", 1},
		{"-----BEGIN PRIVATE KEY-----\nMIIabcdefghijklmnopqrstuvwxyz\n", 1},
		{"eyJ", 0},
		{"a.", 0},
		{"curl -u ", 0},
	};
	size_t n = 64 * 1024;
	char *buf = xmalloc(n);
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		size_t ul = strlen(shapes[s].unit);
		size_t units = n / ul;
		for (size_t i = 0; i < units * ul; i++)
			buf[i] = shapes[s].unit[i % ul];
		size_t len;
		unsigned k;
		char *out = redact(buf, units * ul, &len, &k);
		assert_int_equal(k, units * shapes[s].per_unit);
		size_t len2;
		unsigned k2;
		char *again = redact(out, len, &len2, &k2);
		assert_int_equal(k2, 0);
		assert_int_equal(len2, len);
		free(again);
		free(out);
	}
	free(buf);
}

/* Appends s to a buffer of n bytes (capacity cap). */
static void put(char **buf, size_t *n, size_t *cap, const char *s, size_t len)
{
	if (*n + len > *cap) {
		*cap = 2 * (*n + len);
		*buf = xreallocarray(*buf, *cap, 1);
	}
	memcpy(*buf + *n, s, len);
	*n += len;
}

/* redact_text() on a log of several MiB (beyond what redact() takes at
 * once): every case's input, on a line of its own and at every offset
 * around the piece boundaries, comes out as redact() makes it alone, and
 * so do private key blocks that straddle a boundary. */
static void test_text_in_pieces(void **state)
{
	char *in = NULL, *want = NULL;
	size_t in_n = 0, in_cap = 0, want_n = 0, want_cap = 0;
	unsigned want_k = 0;
	static const char key[] =
		"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAtestkeymaterial\n"
		"abcdefghijklmnop\n-----END RSA PRIVATE KEY-----\n";
	static const char key_red[] = "[REDACTED:private-key]\n";
	size_t filler = 0;
	while (in_n < 3 * REDACT_MAX_INPUT) {
		/* Ordinary lines of varying length, so that the secrets fall at
		 * every offset relative to the pieces. */
		char line[200];
		int ll = snprintf(line, sizeof line, "gcc -c -O2 -o build/f%zu.o src/f%zu.c %.*s\n",
				  filler, filler, (int)(filler % 97),
				  "-Wall -Wextra -Werror -Wshadow "
				  "-Wstrict-prototypes -Wno-unused-parameter -Wformat=2 -Wundef "
				  "-Wpointer-arith");
		put(&in, &in_n, &in_cap, line, (size_t)ll);
		put(&want, &want_n, &want_cap, line, (size_t)ll);
		filler++;
		if (filler % 7 == 0) {
			const struct rcase *c = &all.v[filler / 7 % all.n];
			if (memchr(c->in, '\n', c->in_len) || memchr(c->out, '\n', c->out_len))
				continue; /* multi-line cases: the key blocks below */
			put(&in, &in_n, &in_cap, c->in, c->in_len);
			put(&in, &in_n, &in_cap, "\n", 1);
			put(&want, &want_n, &want_cap, c->out, c->out_len);
			put(&want, &want_n, &want_cap, "\n", 1);
			want_k += c->count;
		}
		if (filler % 501 == 0) {
			put(&in, &in_n, &in_cap, key, sizeof key - 1);
			put(&want, &want_n, &want_cap, key_red, sizeof key_red - 1);
			want_k++;
		}
	}
	size_t len;
	unsigned k;
	char *out = redact_text(in, in_n, &len, &k);
	assert_non_null(out);
	assert_int_equal(out[len], '\0');
	if (len != want_n || memcmp(out, want, len) != 0) {
		size_t i = 0;
		while (i < len && i < want_n && out[i] == want[i])
			i++;
		size_t from = i > 80 ? i - 80 : 0;
		fail_msg("redact_text differs from redact() line by line at byte %zu:\n"
			 "  expected: %.160s\n  got:      %.160s",
			 i, want + from, out + from);
	}
	assert_int_equal(k, want_k);
	free(out);

	/* Empty, and a key block that starts a piece and runs past its end. */
	out = redact_text(NULL, 0, &len, &k);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	assert_int_equal(k, 0);
	free(out);
	in_n = 0;
	want_n = 0;
	static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
	put(&in, &in_n, &in_cap, begin, sizeof begin - 1);
	while (in_n < REDACT_PIECE + 4096)
		put(&in, &in_n, &in_cap,
		    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMw\n", 59);
	static const char end[] = "-----END OPENSSH PRIVATE KEY-----\nmake: *** Error 1\n";
	put(&in, &in_n, &in_cap, end, sizeof end - 1);
	out = redact_text(in, in_n, &len, &k);
	assert_string_equal(out, "[REDACTED:private-key]\nmake: *** Error 1\n");
	assert_int_equal(k, 1);
	free(out);

	/* A line longer than redact() takes: cut at a blank, secrets on both
	 * sides found. */
	in_n = 0;
	put(&in, &in_n, &in_cap, "export TOKEN=first ", 19);
	while (in_n < REDACT_MAX_INPUT + 1000)
		put(&in, &in_n, &in_cap, "word ", 5);
	put(&in, &in_n, &in_cap, "password=last", 13);
	out = redact_text(in, in_n, &len, &k);
	assert_int_equal(k, 2);
	assert_true(len > 40);
	assert_memory_equal(out, "export TOKEN=[REDACTED:env-secret] word", 39);
	assert_string_equal(out + len - 20, "=[REDACTED:password]");
	free(out);
	free(in);
	free(want);
}

static void *redact_thread(void *arg)
{
	const struct rcase *c = arg;
	for (int i = 0; i < 50; i++) {
		size_t len;
		char *out = redact(c->in, c->in_len, &len, NULL);
		if (len != c->out_len || memcmp(out, c->out, len) != 0) {
			free(out);
			return (void *)1;
		}
		free(out);
	}
	return NULL;
}

/* Any thread may call redact(), including the first calls at once. */
static void test_threads(void **state)
{
	pthread_t t[8];
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, redact_thread, &all.v[i % all.n]), 0);
	for (size_t i = 0; i < 8; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
}

int main(void)
{
	/* test_threads runs first so that the rules compile under contention. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_case_counts),
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_every_kind_has_a_case),
		cmocka_unit_test(test_empty_and_null_outputs),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_repeated_secrets),
		cmocka_unit_test(test_text_in_pieces),
	};
	return cmocka_run_group_tests_name("redact", tests, load_cases, free_cases);
}
