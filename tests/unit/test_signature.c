/* Unit tests for error signatures, driven by tests/data/signature/cases.txt
 * (its header describes the format). */
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
#include "kb/signature.h"

/* The case file holds at least this many pairs that must match (same exact
 * or same general) and that must not; fewer means it was truncated or not
 * found, not that all is well. */
#define MIN_MATCH 40
#define MIN_DIFFER 30

enum kind { SAME_EXACT, SAME_GENERAL, DIFFER, EXPECT_EXACT, EXPECT_GENERAL };

static const struct {
	const char *header;
	enum kind kind;
} headers[] = {
	{"same exact:", SAME_EXACT}, {"same general:", SAME_GENERAL}, {"differ:", DIFFER},
	{"exact:", EXPECT_EXACT},    {"general:", EXPECT_GENERAL},
};

struct scase {
	int lineno; /* of the header */
	enum kind kind;
	char *why;
	char *a, *b;
	size_t a_len, b_len;
};

struct cases {
	struct scase *v;
	size_t n, cap;
	size_t match, differ, expect;
	char *path;
};

static struct cases all;

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes \e, \t, \xHH and \\ in place; any other backslash stays. Returns
 * the decoded length (the text may now hold NUL bytes). */
static size_t unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] == 'e') {
			*w++ = '\x1b';
			r++;
		} else if (r[0] == '\\' && r[1] == 't') {
			*w++ = '\t';
			r++;
		} else if (r[0] == '\\' && r[1] == '\\') {
			*w++ = '\\';
			r++;
		} else if (r[0] == '\\' && r[1] == 'x' && hexval(r[2]) >= 0 && hexval(r[3]) >= 0) {
			*w++ = (char)(hexval(r[2]) * 16 + hexval(r[3]));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* Reads one line into *line without its newline; returns false at the end
 * of the file. */
static bool read_line(FILE *f, char **line, size_t *cap, int *lineno)
{
	ssize_t n = getline(line, cap, f);
	if (n < 0)
		return false;
	(*lineno)++;
	if (n > 0 && (*line)[n - 1] == '\n')
		(*line)[--n] = '\0';
	return true;
}

static int load_cases(void **state)
{
	const char *dir = getenv("CAIRN_TEST_DATA");
	if (!dir || !*dir)
		dir = "tests/data";
	all.path = xasprintf("%s/signature/cases.txt", dir);
	FILE *f = fopen(all.path, "r");
	if (!f) {
		fprintf(stderr,
			"cannot open '%s': %s; set CAIRN_TEST_DATA to the tests/data directory\n",
			all.path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;
	int r = 0;
	while (read_line(f, &line, &cap, &lineno)) {
		if (line[0] == '\0' || line[0] == '#')
			continue;
		size_t h;
		for (h = 0; h < sizeof headers / sizeof headers[0]; h++)
			if (strncmp(line, headers[h].header, strlen(headers[h].header)) == 0)
				break;
		if (h == sizeof headers / sizeof headers[0]) {
			fprintf(stderr,
				"%s:%d: expected a case header (same exact:, differ:, ...)\n",
				all.path, lineno);
			r = -1;
			goto out_close;
		}
		if (all.n == all.cap) {
			all.cap = all.cap ? 2 * all.cap : 64;
			all.v = xreallocarray(all.v, all.cap, sizeof *all.v);
		}
		struct scase *c = &all.v[all.n];
		memset(c, 0, sizeof *c);
		c->lineno = lineno;
		c->kind = headers[h].kind;
		c->why = xstrdup(line);
		all.n++;
		for (int k = 0; k < 2; k++) {
			if (!read_line(f, &line, &cap, &lineno)) {
				fprintf(stderr, "%s:%d: the case has fewer than two lines\n",
					all.path, c->lineno);
				r = -1;
				goto out_close;
			}
			char *s = xstrdup(line);
			size_t len = unescape(s);
			if (k == 0) {
				c->a = s;
				c->a_len = len;
			} else {
				c->b = s;
				c->b_len = len;
			}
		}
		if (c->kind == SAME_EXACT || c->kind == SAME_GENERAL)
			all.match++;
		else if (c->kind == DIFFER)
			all.differ++;
		else
			all.expect++;
	}
	*state = &all;
out_close:
	free(line);
	fclose(f);
	return r;
}

static int free_cases(void **state)
{
	for (size_t i = 0; i < all.n; i++) {
		free(all.v[i].why);
		free(all.v[i].a);
		free(all.v[i].b);
	}
	free(all.v);
	free(all.path);
	memset(&all, 0, sizeof all);
	return 0;
}

static void test_case_counts(void **state)
{
	if (all.match < MIN_MATCH || all.differ < MIN_DIFFER)
		fail_msg("%s has %zu matching and %zu differing pairs; expected at least %d and %d",
			 all.path, all.match, all.differ, MIN_MATCH, MIN_DIFFER);
}

/* Prints the two messages of a failed case and their signatures. */
static void report(const struct scase *c, const struct signature *sa, const struct signature *sb,
		   const char *what)
{
	fprintf(stderr, "%s:%d: %s: %s\n  message:  %s\n  exact:    %s\n  general:  %s\n", all.path,
		c->lineno, c->why, what, c->a, sa->exact, sa->general);
	if (sb)
		fprintf(stderr, "  message:  %s\n  exact:    %s\n  general:  %s\n", c->b, sb->exact,
			sb->general);
	else
		fprintf(stderr, "  expected: %s\n", c->b);
}

/* True if s.exact is a fixed point; reports the case if not. */
static bool fixed_point(const struct scase *c, const struct signature *s)
{
	struct signature again;
	signature_from_message(s->exact, strlen(s->exact), &again);
	if (strcmp(again.exact, s->exact) == 0)
		return true;
	fprintf(stderr, "%s:%d: the exact form is not a fixed point\n  once:  %s\n  twice: %s\n",
		all.path, c->lineno, s->exact, again.exact);
	return false;
}

static void test_cases(void **state)
{
	int failures = 0;
	for (size_t i = 0; i < all.n; i++) {
		const struct scase *c = &all.v[i];
		struct signature sa, sb;
		signature_from_message(c->a, c->a_len, &sa);
		signature_from_message(c->b, c->b_len, &sb);
		bool ok = true;
		switch (c->kind) {
		case SAME_EXACT:
			if (strcmp(sa.exact, sb.exact) != 0 || sa.exact[0] == '\0') {
				report(c, &sa, &sb,
				       "the exact forms should be equal and not empty");
				ok = false;
			} else if (strcmp(sa.general, sb.general) != 0) {
				report(c, &sa, &sb,
				       "equal exact forms but different general forms");
				ok = false;
			}
			break;
		case SAME_GENERAL:
			if (strcmp(sa.exact, sb.exact) == 0) {
				report(c, &sa, &sb, "the exact forms should differ");
				ok = false;
			} else if (strcmp(sa.general, sb.general) != 0) {
				report(c, &sa, &sb, "the general forms should be equal");
				ok = false;
			}
			break;
		case DIFFER:
			if (strcmp(sa.general, sb.general) == 0 ||
			    strcmp(sa.exact, sb.exact) == 0) {
				report(c, &sa, &sb, "the signatures should differ");
				ok = false;
			}
			break;
		case EXPECT_EXACT:
			if (strcmp(sa.exact, c->b) != 0) {
				report(c, &sa, NULL, "unexpected exact form");
				ok = false;
			}
			break;
		case EXPECT_GENERAL:
			if (strcmp(sa.general, c->b) != 0) {
				report(c, &sa, NULL, "unexpected general form");
				ok = false;
			}
			break;
		}
		if (ok && !fixed_point(c, &sa))
			ok = false;
		if (ok && c->kind != EXPECT_EXACT && c->kind != EXPECT_GENERAL &&
		    !fixed_point(c, &sb))
			ok = false;
		failures += !ok;
	}
	if (failures)
		fail_msg("%d of %zu signature cases failed (see above)", failures, all.n);
}

/* Nothing left: empty, blank, NULL with length 0, only a severity. */
static void test_empty(void **state)
{
	static const char *const inputs[] = {
		"", "   \t\n", "error:", "  fatal error:  ", "\x1b[31m\x1b[0m", "a.c:3:1: error:"};
	struct signature s;
	memset(&s, 'x', sizeof s);
	signature_from_message(NULL, 0, &s);
	assert_string_equal(s.exact, "");
	assert_string_equal(s.general, "");
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		memset(&s, 'x', sizeof s);
		signature_from_message(inputs[i], strlen(inputs[i]), &s);
		assert_string_equal(s.exact, "");
		assert_string_equal(s.general, "");
	}
}

/* The length is what counts: a NUL byte is a blank, and bytes past len are
 * never read. */
static void test_length_not_nul(void **state)
{
	static const char in[] = "expected\0';'";
	struct signature s;
	signature_from_message(in, sizeof in - 1, &s);
	assert_string_equal(s.exact, "expected ';'");
	signature_from_message("expected ';' before '}' token", 8, &s);
	assert_string_equal(s.exact, "expected");
}

/* Each byte of invalid UTF-8 becomes '?'; valid multi-byte characters stay;
 * both forms are valid UTF-8. */
static void test_invalid_utf8(void **state)
{
	static const struct {
		const char *in, *exact;
	} cases[] = {
		{"bad \xff byte", "bad ? byte"},
		{"cut \xe2\x80", "cut ??"},
		{"overlong \xc0\xaf slash", "overlong ?? slash"},
		{"surrogate \xed\xa0\x80 here", "surrogate ??? here"},
		{"caf\xc3\xa9 ok \xe2\x9c\x93", "caf\xc3\xa9 ok \xe2\x9c\x93"},
		{"\xe2\x80\x98x\xe2\x80\x99 and \xe2\x80\x9cy\xe2\x80\x9d", "'x' and \"y\""},
		{"nbsp\xc2\xa0here", "nbsp here"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct signature s;
		signature_from_message(cases[i].in, strlen(cases[i].in), &s);
		assert_string_equal(s.exact, cases[i].exact);
	}
}

/* Returns true if s is valid UTF-8 (checked the simple way: every lead byte
 * is followed by the right number of continuation bytes). */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = *p < 0x80 ? 0 : *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc0 ? 1 : 9;
		if (n == 9)
			return false;
		p++;
		for (size_t k = 0; k < n; k++, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* Long messages are cut below SIGNATURE_MAX at a blank, or on a character
 * boundary when there is none; the input past SIGNATURE_SCAN_MAX is never
 * looked at; the cut output is still a fixed point. */
static void test_caps(void **state)
{
	size_t n = 64 * 1024;
	char *big = xmalloc(n);
	struct signature s, again;

	/* Words and blanks: cut at a blank. */
	for (size_t i = 0; i < n; i++)
		big[i] = i % 6 == 5 ? ' ' : "word"[i % 6 % 4];
	signature_from_message(big, n, &s);
	size_t len = strlen(s.exact);
	assert_true(len <= SIGNATURE_MAX - 1);
	assert_true(len > SIGNATURE_MAX - 8);
	assert_true(s.exact[len - 1] != ' ');
	assert_true(strlen(s.general) <= SIGNATURE_MAX - 1);

	/* Two-byte characters and no blank: cut on a character boundary. */
	for (size_t i = 0; i + 1 < n; i += 2) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
	}
	signature_from_message(big, n, &s);
	len = strlen(s.exact);
	assert_int_equal(len, SIGNATURE_MAX - 2);
	assert_true(valid_utf8(s.exact));
	signature_from_message(s.exact, len, &again);
	assert_string_equal(again.exact, s.exact);

	/* Numbers without blanks: placeholders longer than their text. */
	for (size_t i = 0; i < n; i++)
		big[i] = i % 2 ? ',' : '7';
	signature_from_message(big, n, &s);
	assert_true(strlen(s.exact) <= SIGNATURE_MAX - 1);
	assert_true(strncmp(s.exact, "<n>,<n>,", 8) == 0);
	signature_from_message(s.exact, strlen(s.exact), &again);
	assert_string_equal(again.exact, s.exact);

	/* Only the first SIGNATURE_SCAN_MAX bytes count. */
	memset(big, ' ', n);
	memcpy(big + SIGNATURE_SCAN_MAX, "late", 4);
	signature_from_message(big, n, &s);
	assert_string_equal(s.exact, "");

	/* Many quotes that never close: the general form keeps them. */
	for (size_t i = 0; i < n; i++)
		big[i] = i % 3 == 0 ? ' ' : i % 3 == 1 ? '\'' : 'a';
	signature_from_message(big, n, &s);
	assert_true(strncmp(s.general, "'a 'a 'a", 8) == 0);
	free(big);
}

/* A cut inside a long word must not leave text that reads differently
 * alone ("1.5x" cut to "1.5" would become a number on a second pass). */
static void test_cut_fixed_point(void **state)
{
	char buf[SIGNATURE_MAX + 64];
	static const char *const tails[] = {"1.5x", "dead1beefg", "foo.cx", "ab/cd", "0x1g"};
	for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
		for (size_t pad = SIGNATURE_MAX - 8; pad < SIGNATURE_MAX + 2; pad++) {
			memset(buf, 'q', pad);
			size_t tl = strlen(tails[t]);
			memcpy(buf + pad, tails[t], tl);
			struct signature s, again;
			signature_from_message(buf, pad + tl, &s);
			assert_true(strlen(s.exact) <= SIGNATURE_MAX - 1);
			signature_from_message(s.exact, strlen(s.exact), &again);
			assert_string_equal(again.exact, s.exact);
		}
	}
}

static void *signature_thread(void *arg)
{
	const struct scase *c = arg;
	struct signature first, s;
	signature_from_message(c->a, c->a_len, &first);
	for (int i = 0; i < 200; i++) {
		signature_from_message(c->a, c->a_len, &s);
		if (strcmp(s.exact, first.exact) != 0 || strcmp(s.general, first.general) != 0)
			return (void *)1;
	}
	return NULL;
}

/* Any thread may call signature_from_message(): it keeps no state. */
static void test_threads(void **state)
{
	pthread_t t[8];
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, signature_thread, &all.v[i % all.n]),
				 0);
	for (size_t i = 0; i < 8; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_case_counts),     cmocka_unit_test(test_cases),
		cmocka_unit_test(test_empty),           cmocka_unit_test(test_length_not_nul),
		cmocka_unit_test(test_invalid_utf8),    cmocka_unit_test(test_caps),
		cmocka_unit_test(test_cut_fixed_point), cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests_name("signature", tests, load_cases, free_cases);
}
