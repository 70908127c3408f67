/* Unit tests for event types and patterns, driven by the case files in tests/data/patterns/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "event/pattern.h"

/* The case files hold at least this many cases; fewer means a file was
 * truncated or not found where expected, not that all is well. */
#define MIN_MATCH_CASES 40
#define MIN_INVALID_CASES 15
#define MAX_FIELDS 4

/* One parsed line of a case file. */
struct case_line {
	int lineno;
	int nfields;
	char *fields[MAX_FIELDS];
};

struct case_file {
	char *path;
	FILE *f;
	char *buf;
	size_t cap;
	int lineno;
};

static void case_file_open(struct case_file *cf, const char *name)
{
	const char *dir = getenv("CAIRN_TEST_DATA");
	if (!dir || !*dir)
		dir = "tests/data";
	memset(cf, 0, sizeof(*cf));
	cf->path = xasprintf("%s/patterns/%s", dir, name);
	cf->f = fopen(cf->path, "r");
	if (!cf->f)
		fail_msg("cannot open '%s': %s; set CAIRN_TEST_DATA to the tests/data directory",
			 cf->path, strerror(errno));
}

static void case_file_close(struct case_file *cf)
{
	if (cf->f)
		fclose(cf->f);
	free(cf->buf);
	free(cf->path);
}

/* Reads the next case, skipping blank lines and '#' comments. Fields are
 * split on blanks and point into the file's line buffer. */
static bool case_file_next(struct case_file *cf, struct case_line *cl)
{
	ssize_t n;
	while ((n = getline(&cf->buf, &cf->cap, cf->f)) >= 0) {
		cf->lineno++;
		char *hash = strchr(cf->buf, '#');
		if (hash)
			*hash = '\0';
		char *save = NULL;
		cl->lineno = cf->lineno;
		cl->nfields = 0;
		for (char *tok = strtok_r(cf->buf, " \t\r\n", &save); tok;
		     tok = strtok_r(NULL, " \t\r\n", &save)) {
			if (cl->nfields == MAX_FIELDS)
				break;
			cl->fields[cl->nfields++] = tok;
		}
		if (cl->nfields > 0)
			return true;
	}
	return false;
}

/* A why sentence must exist, be lower-case and not end in a full stop. */
static bool why_ok(const char *why)
{
	return why && *why && !(why[0] >= 'A' && why[0] <= 'Z') && why[strlen(why) - 1] != '.';
}

static void test_match_file(void **state)
{
	struct case_file cf;
	struct case_line cl;
	int cases = 0, failures = 0;

	case_file_open(&cf, "match.txt");
	while (case_file_next(&cf, &cl)) {
		const char *why = NULL;
		if (cl.nfields != 3 ||
		    (strcmp(cl.fields[2], "yes") != 0 && strcmp(cl.fields[2], "no") != 0)) {
			print_error("%s:%d: expected 'PATTERN TYPE yes|no'\n", cf.path, cl.lineno);
			failures++;
			continue;
		}
		const char *pat = cl.fields[0], *type = cl.fields[1];
		bool want = strcmp(cl.fields[2], "yes") == 0;
		cases++;
		if (!pattern_valid(pat, &why)) {
			print_error("%s:%d: pattern '%s' rejected: %s\n", cf.path, cl.lineno, pat,
				    why);
			failures++;
			continue;
		}
		if (!type_valid(type, &why)) {
			print_error("%s:%d: type '%s' rejected: %s\n", cf.path, cl.lineno, type,
				    why);
			failures++;
			continue;
		}
		if (pattern_match(pat, type) != want) {
			print_error("%s:%d: '%s' vs '%s': got %s, want %s\n", cf.path, cl.lineno,
				    pat, type, want ? "no" : "yes", want ? "yes" : "no");
			failures++;
		}
		/* Every type is also a pattern that matches exactly itself. */
		if (!pattern_valid(type, NULL) || !pattern_match(type, type)) {
			print_error("%s:%d: type '%s' does not match itself as a pattern\n",
				    cf.path, cl.lineno, type);
			failures++;
		}
	}
	case_file_close(&cf);
	assert_int_equal(failures, 0);
	assert_true(cases >= MIN_MATCH_CASES);
}

static void test_invalid_file(void **state)
{
	struct case_file cf;
	struct case_line cl;
	int cases = 0, failures = 0;

	case_file_open(&cf, "invalid.txt");
	while (case_file_next(&cf, &cl)) {
		const char *why = NULL;
		bool is_pat = cl.nfields == 2 && strcmp(cl.fields[0], "pattern") == 0;
		bool is_type = cl.nfields == 2 && strcmp(cl.fields[0], "type") == 0;
		if (!is_pat && !is_type) {
			print_error("%s:%d: expected 'pattern|type STRING'\n", cf.path, cl.lineno);
			failures++;
			continue;
		}
		const char *s = cl.fields[1];
		cases++;
		bool ok = is_pat ? pattern_valid(s, &why) : type_valid(s, &why);
		if (ok) {
			print_error("%s:%d: %s '%s' was accepted\n", cf.path, cl.lineno,
				    cl.fields[0], s);
			failures++;
			continue;
		}
		if (!why_ok(why)) {
			print_error("%s:%d: '%s': bad why sentence '%s'\n", cf.path, cl.lineno, s,
				    why ? why : "(null)");
			failures++;
		}
		/* Types are a subset of patterns: a bad pattern is a bad type too. */
		if (is_pat && type_valid(s, NULL)) {
			print_error("%s:%d: '%s' is a bad pattern but a valid type\n", cf.path,
				    cl.lineno, s);
			failures++;
		}
	}
	case_file_close(&cf);
	assert_int_equal(failures, 0);
	assert_true(cases >= MIN_INVALID_CASES);
}

static void test_empty_and_null(void **state)
{
	const char *why = NULL;

	assert_false(type_valid("", &why));
	assert_string_equal(why, "type is empty");
	assert_false(pattern_valid("", &why));
	assert_string_equal(why, "pattern is empty");
	assert_false(type_valid(NULL, &why));
	assert_true(why_ok(why));
	assert_false(pattern_valid(NULL, &why));
	assert_true(why_ok(why));
	assert_false(pattern_match(NULL, "a"));
	assert_false(pattern_match("a", NULL));
}

/* Fills buf with a name of exactly len bytes made of tokens "ab", ending
 * with tail (which replaces the last bytes), and returns buf. */
static char *make_name(char *buf, size_t len, const char *tail)
{
	size_t tl = strlen(tail);
	for (size_t i = 0; i < len; i++)
		buf[i] = i % 3 == 2 ? '.' : (i % 3 == 0 ? 'a' : 'b');
	buf[len] = '\0';
	/* Keep the byte before the tail a token byte, never a dot, and the
	 * tail itself preceded by a dot so wildcards stay whole tokens. */
	memcpy(buf + len - tl, tail, tl);
	buf[len - tl - 1] = '.';
	buf[len - tl - 2] = 'a';
	return buf;
}

static void test_length_limit(void **state)
{
	char buf[PATTERN_MAX + 2];
	const char *why = NULL;
	static const char *const tails[] = {"z", "zz", "x-y"};

	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		make_name(buf, PATTERN_MAX, tails[i]);
		assert_int_equal(strlen(buf), 255);
		assert_true(type_valid(buf, &why));
		assert_null(why);
		assert_true(pattern_valid(buf, NULL));
		assert_true(pattern_match(">", buf));
		assert_true(pattern_match(buf, buf));

		make_name(buf, PATTERN_MAX + 1, tails[i]);
		assert_int_equal(strlen(buf), 256);
		assert_false(type_valid(buf, &why));
		assert_string_equal(why, "type is longer than 255 bytes");
		assert_false(pattern_valid(buf, &why));
		assert_string_equal(why, "pattern is longer than 255 bytes");
	}

	make_name(buf, PATTERN_MAX, "*.>");
	assert_true(pattern_valid(buf, &why));
	make_name(buf, PATTERN_MAX + 1, "*.>");
	assert_false(pattern_valid(buf, &why));
}

/* The why sentence names the rule that was broken. */
static void test_why_names_rule(void **state)
{
	const char *why = "unchanged";

	assert_true(pattern_valid("a.*.>", &why));
	assert_null(why);
	assert_true(type_valid("a.b", NULL));
	assert_false(type_valid("a..b", NULL));

	assert_false(pattern_valid("a.>.b", &why));
	assert_string_equal(why, "'>' may only be the last token");
	assert_false(pattern_valid(">.>", &why));
	assert_string_equal(why, "'>' may only be the last token");

	assert_false(type_valid("a..b", &why));
	assert_non_null(strstr(why, "empty"));
	assert_false(type_valid(".a", &why));
	assert_non_null(strstr(why, "first token is empty"));
	assert_false(pattern_valid("a.", &why));
	assert_non_null(strstr(why, "last token is empty"));

	assert_false(pattern_valid("a>", &why));
	assert_non_null(strstr(why, "'>' must be a whole token"));
	assert_false(pattern_valid("a.b*", &why));
	assert_non_null(strstr(why, "'*' must be a whole token"));
	assert_false(type_valid("a.*", &why));
	assert_non_null(strstr(why, "only allowed in patterns"));
	assert_false(type_valid("Build", &why));
	assert_non_null(strstr(why, "lower case"));
	assert_false(type_valid("a b", &why));
	assert_non_null(strstr(why, "a-z, 0-9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_file),     cmocka_unit_test(test_invalid_file),
		cmocka_unit_test(test_empty_and_null), cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_why_names_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
