/* Unit tests for fix shapes, driven by tests/data/fixshape/cases.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "kb/fixshape.h"
#include "testdata.h"

/* The case file holds at least this many cases; fewer means it was
 * truncated or not found where expected. */
#define MIN_CASES 25

struct fcase {
	int lineno;
	char *before, *after, *key;
	size_t blen, alen;
};

struct cases {
	struct fcase *v;
	size_t n, cap;
	char *path;
};

static struct cases all;

static int load_cases(void **state)
{
	const char *dir = getenv("CAIRN_TEST_DATA");
	if (!dir || !*dir)
		dir = "tests/data";
	all.path = xasprintf("%s/fixshape/cases.txt", dir);
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
	int r = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || strcmp(line, "#") == 0 || strncmp(line, "# ", 2) == 0)
			continue;
		char *t1 = strchr(line, '\t');
		char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2 || strchr(t2 + 1, '\t')) {
			fprintf(stderr, "%s:%d: expected BEFORE <TAB> AFTER <TAB> KEY\n", all.path,
				lineno);
			r = -1;
			break;
		}
		*t1 = *t2 = '\0';
		if (all.n == all.cap) {
			all.cap = all.cap ? 2 * all.cap : 64;
			all.v = xreallocarray(all.v, all.cap, sizeof *all.v);
		}
		struct fcase *c = &all.v[all.n++];
		c->lineno = lineno;
		c->before = xstrdup(line);
		c->blen = testdata_unescape(c->before);
		c->after = xstrdup(t1 + 1);
		c->alen = testdata_unescape(c->after);
		c->key = xstrdup(strcmp(t2 + 1, "\"\"") == 0 ? "" : t2 + 1);
	}
	free(line);
	fclose(f);
	*state = &all;
	return r;
}

static int free_cases(void **state)
{
	for (size_t i = 0; i < all.n; i++) {
		free(all.v[i].before);
		free(all.v[i].after);
		free(all.v[i].key);
	}
	free(all.v);
	free(all.path);
	memset(&all, 0, sizeof all);
	return 0;
}

static void test_case_count(void **state)
{
	if (all.n < MIN_CASES)
		fail_msg("%s has %zu cases; expected at least %d", all.path, all.n, MIN_CASES);
}

static void test_cases(void **state)
{
	int failures = 0;
	for (size_t i = 0; i < all.n; i++) {
		const struct fcase *c = &all.v[i];
		char key[FIXSHAPE_MAX];
		int r = fixshape_compute(c->before, c->blen, c->after, c->alen, key, sizeof key);
		if (r != 0 || strcmp(key, c->key) != 0) {
			fprintf(stderr,
				"%s:%d: wrong key\n  before:   %s\n  after:    %s\n"
				"  expected: \"%s\"\n  got:      \"%s\" (returned %d)\n",
				all.path, c->lineno, c->before, c->after, c->key, key, r);
			failures++;
		}
	}
	if (failures)
		fail_msg("%d of %zu fix shape cases failed (see above)", failures, all.n);
}

/* The key is cut at a token boundary: a smaller buffer gets the most whole
 * items ("- T" or "+ T") of the full key that fit. */
static void test_cut(void **state)
{
	static const char before[] = "a = b; c = d; e = f;";
	static const char after[] = "a == b, c == d, e == f,";
	char full[FIXSHAPE_MAX];
	assert_int_equal(
		fixshape_compute(before, strlen(before), after, strlen(after), full, sizeof full),
		0);
	assert_string_equal(full, "- = - ; - = - ; - = - ; + == + , + == + , + == + ,");
	/* ends[k]: the length of the first k items. */
	size_t ends[32] = {0}, items = 0, spaces = 0;
	for (size_t i = 0; i <= strlen(full); i++)
		if (full[i] == '\0' || (full[i] == ' ' && ++spaces % 2 == 0))
			ends[++items] = i;
	assert_int_equal(items, 12);
	for (size_t outlen = 0; outlen <= strlen(full) + 1; outlen++) {
		char buf[FIXSHAPE_MAX];
		memset(buf, 'x', sizeof buf);
		assert_int_equal(
			fixshape_compute(before, strlen(before), after, strlen(after), buf, outlen),
			0);
		if (outlen == 0) {
			assert_int_equal(buf[0], 'x');
			continue;
		}
		size_t k = 0;
		while (k < items && ends[k + 1] <= outlen - 1)
			k++;
		assert_int_equal(strlen(buf), ends[k]);
		assert_memory_equal(buf, full, ends[k]);
	}
}

/* Over FIXSHAPE_MAX_TOKENS tokens on either side: CAIRN_E_TOOBIG and "". At
 * the cap, completely different sides still work (the quadratic worst case). */
static void test_too_big(void **state)
{
	size_t n = 2 * (FIXSHAPE_MAX_TOKENS + 1);
	char *big = xmalloc(n);
	for (size_t i = 0; i < n; i += 2) {
		big[i] = 'x';
		big[i + 1] = ' ';
	}
	char key[FIXSHAPE_MAX] = "junk";
	assert_int_equal(fixshape_compute(big, n, "x", 1, key, sizeof key), CAIRN_E_TOOBIG);
	assert_string_equal(key, "");
	strcpy(key, "junk");
	assert_int_equal(fixshape_compute("x", 1, big, n, key, sizeof key), CAIRN_E_TOOBIG);
	assert_string_equal(key, "");

	/* Exactly at the cap: x x x ... against ; ; ; ... */
	char *other = xmalloc(n);
	for (size_t i = 0; i < n; i += 2) {
		other[i] = ';';
		other[i + 1] = ' ';
	}
	assert_int_equal(fixshape_compute(big, n - 2, other, n - 2, key, sizeof key), 0);
	assert_true(strncmp(key, "- ID - ID", 9) == 0);
	assert_true(strlen(key) <= sizeof key - 1);
	free(other);
	free(big);
}

/* NULL sides of length 0, NUL bytes and invalid UTF-8 are just input. */
static void test_odd_input(void **state)
{
	char key[FIXSHAPE_MAX];
	assert_int_equal(fixshape_compute(NULL, 0, NULL, 0, key, sizeof key), 0);
	assert_string_equal(key, "");
	assert_int_equal(fixshape_compute(NULL, 0, "x;", 2, key, sizeof key), 0);
	assert_string_equal(key, "+ ID + ;");
	static const char nul[] = "a\0b";
	assert_int_equal(fixshape_compute(nul, 3, "a b", 3, key, sizeof key), 0);
	assert_string_equal(key, "");
	assert_int_equal(fixshape_compute("\xff\xfe", 2, "\xff\xfe;", 3, key, sizeof key), 0);
	assert_string_equal(key, "+ ;");
	/* Unterminated comments and strings run to the end. */
	assert_int_equal(fixshape_compute("x /* a", 6, "x /* b", 6, key, sizeof key), 0);
	assert_string_equal(key, "");
	assert_int_equal(fixshape_compute("s = \"\"\"a", 8, "s = \"\"\"b", 8, key, sizeof key), 0);
	assert_string_equal(key, "- STR + STR");
}

/* Declarations and typed keys, driven by tests/data/fixshape/typed.txt. */
static void test_typed(void **state)
{
	const char *dir = getenv("CAIRN_TEST_DATA");
	if (!dir || !*dir)
		dir = "tests/data";
	char *path = xasprintf("%s/fixshape/typed.txt", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open '%s': %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, failures = 0, decls = 0, keys = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		char *field[5] = {line, NULL, NULL, NULL, NULL};
		int nf = 1;
		for (char *p = line; *p; p++)
			if (*p == '\t') {
				*p = '\0';
				if (nf == 5) {
					nf = 6;
					break;
				}
				field[nf++] = p + 1;
			}
		bool is_decl = strcmp(field[0], "decl") == 0, is_key = strcmp(field[0], "key") == 0;
		if (!(is_decl && nf == 4) && !(is_key && nf == 5))
			fail_msg(
				"%s:%d: expected decl FILE NAME KIND or key BEFORE AFTER FILE KEY, "
				"separated by tabs",
				path, lineno);
		size_t l1 = testdata_unescape(field[1]), l2 = testdata_unescape(field[2]);
		if (is_decl) {
			decls++;
			struct fixshape_decls *d = fixshape_decls_scan(field[1], l1);
			const char *got = fixshape_decls_type(d, field[2], l2);
			const char *want = strcmp(field[3], "-") == 0 ? NULL : field[3];
			if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
				fprintf(stderr, "%s:%d: %s is %s, expected %s\n", path, lineno,
					field[2], got ? got : "-", field[3]);
				failures++;
			}
			if (want && !fixshape_decls_has_type(d, want, strlen(want))) {
				fprintf(stderr, "%s:%d: has_type(%s) is false\n", path, lineno,
					want);
				failures++;
			}
			fixshape_decls_free(d);
		} else {
			keys++;
			size_t l3 = testdata_unescape(field[3]);
			struct fixshape_decls *d = fixshape_decls_scan(field[3], l3);
			char key[FIXSHAPE_MAX];
			int r = fixshape_compute_typed(field[1], l1, field[2], l2, d, key,
						       sizeof key);
			if (r != 0 || strcmp(key, field[4]) != 0) {
				fprintf(stderr, "%s:%d: key \"%s\", expected \"%s\"\n", path,
					lineno, key, field[4]);
				failures++;
			}
			fixshape_decls_free(d);
		}
	}
	free(line);
	fclose(f);
	if (decls < 20 || keys < 4)
		fail_msg("%s: %d decl and %d key cases; expected at least 20 and 4", path, decls,
			 keys);
	if (failures)
		fail_msg("%d typed cases failed in %s (see above)", failures, path);
	free(path);
}

/* The scan bounds what it keeps and reads any bytes. */
static void test_decls_bounds(void **state)
{
	/* More names than are kept: the first 8,192. */
	size_t n = 10000;
	char *big = xmalloc(n * 16 + 1);
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(big + len, "int v%zu;\n", i);
	struct fixshape_decls *d = fixshape_decls_scan(big, len);
	assert_int_equal(fixshape_decls_count(d), 8192);
	assert_string_equal(fixshape_decls_type(d, "v0", 2), "int");
	assert_null(fixshape_decls_type(d, "v9999", 5));
	fixshape_decls_free(d);
	free(big);
	/* Empty, NUL bytes, and NULL decls everywhere. */
	d = fixshape_decls_scan("", 0);
	assert_int_equal(fixshape_decls_count(d), 0);
	fixshape_decls_free(d);
	d = fixshape_decls_scan("int\0a;", 6);
	fixshape_decls_free(d);
	fixshape_decls_free(NULL);
	assert_null(fixshape_decls_type(NULL, "a", 1));
	assert_false(fixshape_decls_has_type(NULL, "int", 3));
	char key[FIXSHAPE_MAX];
	assert_int_equal(fixshape_compute_typed("a", 1, "b", 1, NULL, key, sizeof key), 0);
	assert_string_equal(key, "- ID + ID");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_case_count),   cmocka_unit_test(test_cases),
		cmocka_unit_test(test_cut),          cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_odd_input),    cmocka_unit_test(test_typed),
		cmocka_unit_test(test_decls_bounds),
	};
	return cmocka_run_group_tests_name("fixshape", tests, load_cases, free_cases);
}
