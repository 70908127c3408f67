/* The hint under a failed `cairn run`: a learned fix's diff in words (one
 * table row per fix shape), the line fitted to a terminal width at a UTF-8
 * boundary, and a report turned into a line that never repeats the error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/runhint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The headers git writes for a change to one file. */
#define HDR(f)                                                                                     \
	"diff --git a/" f " b/" f "\nindex 1a2b3c4..5d6e7f8 100644\n--- a/" f "\n+++ b/" f "\n"

struct phrase_case {
	const char *name;
	const char *diff;
	const char *want; /* NULL: no phrase (false) */
};

static const struct phrase_case phrase_cases[] = {
	{"added semicolon",
	 HDR("a.c") "@@ -4,3 +4,3 @@ int alpha(int x)\n {\n-\tint y = twice(x)\n+\tint y = "
		    "twice(x);\n"
		    " \treturn y + 1;\n",
	 "added `;` in a.c"},
	{"= to ==",
	 HDR("src/main.c") "@@ -7,3 +7,3 @@\n \tint i = read();\n-\tif (i = 1)\n+\tif (i == 1)\n"
			   " \t\treturn 0;\n",
	 "`=` → `==` in src/main.c"},
	{"renamed identifier",
	 HDR("main.c") "@@ -3,3 +3,3 @@\n {\n-\tprinyf(\"YES\");\n+\tprintf(\"YES\");\n }\n",
	 "renamed `prinyf` to `printf` in main.c"},
	{"added include line",
	 HDR("main.c") "@@ -1,2 +1,3 @@\n #include <stdlib.h>\n+#include <stdio.h>\n \n",
	 "added line `#include <stdio.h>` to main.c"},
	{"multi-line change",
	 HDR("src/x.c") "@@ -10,4 +10,4 @@ void f(void)\n {\n-\ta = 1\n-\tb = 2\n+\ta = 1;\n+\tb = "
			"2;\n"
			" }\n",
	 "changed 2 lines in src/x.c"},
	{"removed token", HDR("a.c") "@@ -1,1 +1,1 @@\n-int a, b, int c;\n+int a, b, c;\n",
	 "removed `int` in a.c"},
	{"keyword replaced is not a rename",
	 HDR("a.c") "@@ -1 +1 @@\n-\tfor (long i = 0; i < n; i++)\n+\tfor (int i = 0; i < n; "
		    "i++)\n",
	 "`long` → `int` in a.c"},
	{"added an argument after a comma",
	 HDR("a.c") "@@ -2,3 +2,3 @@\n {\n-\treturn sum(xs);\n+\treturn sum(xs, n);\n }\n",
	 "added an argument `n` in a.c"},
	{"added an argument to an empty call",
	 HDR("t.py") "@@ -1 +1 @@\n-x = make()\n+x = make(size)\n",
	 "added an argument `size` in t.py"},
	{"removed an argument", HDR("a.c") "@@ -1 +1 @@\n-\tfree(p, n);\n+\tfree(p);\n",
	 "removed an argument `n` in a.c"},
	{"a short span inserted", HDR("a.c") "@@ -1 +1 @@\n-\tint n = len;\n+\tint n = len + 1;\n",
	 "added `+ 1` in a.c"},
	{"a short span replaced", HDR("a.py") "@@ -1 +1 @@\n-print \"hi\"\n+print(\"hi\")\n",
	 "`\"hi\"` → `(\"hi\")` in a.py"},
	{"removed a whole line", HDR("a.c") "@@ -1,3 +1,2 @@\n int a;\n-int a;\n int b;\n",
	 "removed line `int a;` from a.c"},
	{"added several lines", HDR("a.c") "@@ -1,1 +1,4 @@\n int a;\n+int b;\n+int c;\n+int d;\n",
	 "added 3 lines to a.c"},
	{"two separate edits in one file",
	 HDR("a.c") "@@ -1,3 +1,3 @@\n-int a\n+int a;\n int b;\n-int c\n+int c;\n",
	 "changed 2 lines in a.c"},
	{"two files",
	 HDR("a.c") "@@ -1 +1 @@\n-int a\n+int a;\n" HDR("b.c") "@@ -1 +1 @@\n-int b\n+int b;\n",
	 "changed a.c and 1 more file"},
	{"a new file",
	 "diff --git a/new.h b/new.h\nnew file mode 100644\n--- /dev/null\n+++ b/new.h\n"
	 "@@ -0,0 +1,2 @@\n+#pragma once\n+int f(void);\n",
	 "added 2 lines to new.h"},
	{"a deleted file is named by its old name",
	 "diff --git a/old.c b/old.c\ndeleted file mode 100644\n--- a/old.c\n+++ /dev/null\n"
	 "@@ -1 +0,0 @@\n-int x;\n",
	 "removed line `int x;` from old.c"},
	{"cut short: only the file is trusted", HDR("a.c") "@@ -1,3 +1,3 @@\n-int a\n",
	 "changed a.c"},
	{"a last line without its newline is whole (a kb body is stored trimmed)",
	 HDR("a.c") "@@ -1,2 +1,2 @@\n-int a\n+int a;\n int b;", "added `;` in a.c"},
	{"layout only", HDR("a.c") "@@ -1 +1 @@\n-int  a;\n+int a;\n", "changed layout in a.c"},
	{"a long replacement is counted",
	 HDR("a.c") "@@ -1 +1 @@\n-\tx = compute_the_first_thing(a, b, c);\n"
		    "+\ty = compute_another_thing_entirely(d, e);\n",
	 "changed 1 line in a.c"},
	{"a learned fix's body: the text before the diff is skipped",
	 "Error: expected ';' before 'return'\nChanged: a.c\nFixed in 3 s (target make).\n\n" HDR(
		 "a.c") "@@ -1 +1 @@\n-\tint y = 1\n+\tint y = 1;\n",
	 "added `;` in a.c"},
	{"no change", HDR("a.c"), NULL},
	{"empty", "", NULL},
};

static void test_fix_phrases(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof phrase_cases / sizeof phrase_cases[0]; i++) {
		const struct phrase_case *c = &phrase_cases[i];
		char out[256];
		bool ok = runhint_fix_phrase(c->diff, strlen(c->diff), out, sizeof out);
		const char *want = c->want ? c->want : "";
		if (ok != (c->want != NULL) || strcmp(out, want) != 0) {
			fprintf(stderr, "case '%s': got %s \"%s\", want \"%s\"\n", c->name,
				ok ? "true" : "false", out, want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_fix_phrase_small_buffer(void **state)
{
	(void)state;
	const char *d = phrase_cases[0].diff;
	char out[8];
	assert_true(runhint_fix_phrase(d, strlen(d), out, sizeof out));
	assert_string_equal(out, "added `");
	assert_true(runhint_fix_phrase(d, strlen(d), out, 0));
	assert_false(runhint_fix_phrase(NULL, 0, out, sizeof out));
	assert_string_equal(out, "");
}

/* Columns of a UTF-8 string: its characters. */
static size_t columns(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static void test_fit(void **state)
{
	(void)state;
	char *s = runhint_fit("cairn: short", 80);
	assert_string_equal(s, "cairn: short");
	free(s);
	s = runhint_fit("0123456789", 10); /* exactly the width: kept whole */
	assert_string_equal(s, "0123456789");
	free(s);
	s = runhint_fit("0123456789A", 10);
	assert_string_equal(s, "012345678…");
	free(s);
	/* ‘ and ’ are three bytes each: a cut never splits them. */
	const char *q = "expected ‘;’ before ‘}’ token";
	for (size_t cols = 1; cols <= columns(q) + 1; cols++) {
		s = runhint_fit(q, cols);
		size_t want = cols < columns(q) ? cols : columns(q);
		assert_int_equal(columns(s), want);
		if (cols < columns(q)) {
			size_t n = strlen(s);
			assert_true(n >= 3 && strcmp(s + n - 3, "…") == 0);
			/* What is left before "…" is a prefix of q that ends at a
			 * character boundary. */
			assert_memory_equal(s, q, n - 3);
			assert_true(((unsigned char)q[n - 3] & 0xC0) != 0x80);
		} else {
			assert_string_equal(s, q);
		}
		free(s);
	}
	s = runhint_fit("a\x1b[31mred\tb", 80);
	assert_string_equal(s, "a?[31mred?b");
	free(s);
	s = runhint_fit("abc", 0);
	assert_string_equal(s, "…");
	free(s);
}

/* A report as the daemon sends it after a fix was learned (docs/events.md). */
static const char *REPORT_FIX =
	"{\"summary\":\"make failed with 4 errors; the first at b.c:5: expected ‘,’ or ‘;’ "
	"before ‘for’. First time this error is seen. Known fix (same error, other names): "
	"expected ‘,’ or ‘;’ before ‘return’: changed a.c (+ ;). Most likely change: b.c "
	"(named in the error).\","
	"\"signature\":{\"exact\":\"expected ',' or ';' before 'for'\",\"message\":\"expected "
	"‘,’ or ‘;’ before ‘for’\",\"seen\":0},"
	"\"fixes\":[{\"id\":7,\"kind\":\"fix\",\"title\":\"expected ‘,’ or ‘;’ before ‘return’: "
	"changed a.c (+ ;)\",\"reason\":\"same error, other names\",\"files\":[\"a.c\"],"
	"\"body\":\"Error: expected ‘,’ or ‘;’ before ‘return’\\nChanged: a.c\\nFixed in under a "
	"second (target make).\\n\\ndiff --git a/a.c b/a.c\\nindex a96462a..0290d5d 100644\\n--- "
	"a/a.c\\n+++ b/a.c\\n@@ -2,3 +2,3 @@ int alpha(int x)\\n {\\n-\\tint y = x * 2\\n+\\tint y "
	"= x * 2;\\n \\treturn y + 1;\\n\",\"fix_key\":\"+ ;\",\"learned\":true}],"
	"\"suspects\":[{\"path\":\"b.c\",\"relation\":\"named in the error\"}]}";

static json_t *load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);
	if (!j)
		fprintf(stderr, "bad test JSON: %s\n", err.text);
	assert_non_null(j);
	return j;
}

static void test_format_with_a_learned_fix(void **state)
{
	(void)state;
	json_t *r = load(REPORT_FIX);
	char *line, *pointer;
	runhint_format(r, 200, &line, &pointer);
	assert_string_equal(line, "cairn: known fix: added `;` in a.c (same error, other names); "
				  "likely change: b.c (named in the error)");
	assert_string_equal(pointer, "cairn: details: cairn why; the fix's diff: cairn kb show 7");
	assert_null(strstr(line, "expected"));
	assert_null(strchr(line, '\n'));
	free(line);
	free(pointer);
	/* At 80 columns the same line is cut, and still says the fix. */
	runhint_format(r, 80, &line, &pointer);
	assert_int_equal(columns(line), 80);
	assert_non_null(strstr(line, "cairn: known fix: added `;` in a.c"));
	assert_string_equal(line + strlen(line) - 3, "…");
	free(line);
	free(pointer);
	json_decref(r);
}

/* A body at the report's 2 KiB may end inside a line: that line is not
 * read, and the hunk it belonged to is then short. */
static void test_format_body_at_the_report_cap(void **state)
{
	(void)state;
	json_t *r = load(REPORT_FIX);
	json_t *fix = json_array_get(json_object_get(r, "fixes"), 0);
	char body[2049];
	const char *tail = "\n\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n"
			   "-\tint y = x * 2\n+\tint y = x";
	size_t pad = sizeof body - 1 - strlen(tail);
	memset(body, 'e', pad);
	memcpy(body + pad, tail, strlen(tail) + 1);
	assert_int_equal(strlen(body), 2048);
	json_object_set_new(fix, "body", json_string(body));
	char *line, *pointer;
	runhint_format(r, 200, &line, &pointer);
	assert_non_null(strstr(line, "cairn: known fix: changed a.c (same error"));
	free(line);
	free(pointer);
	/* One byte shorter, the same text is whole: its last line is read. */
	json_object_set_new(fix, "body", json_string(body + 1));
	runhint_format(r, 200, &line, &pointer);
	assert_non_null(strstr(line, "cairn: known fix: removed `* 2` in a.c"));
	free(line);
	free(pointer);
	json_decref(r);
}

static void test_format_without_a_fix(void **state)
{
	(void)state;
	json_t *r = load(REPORT_FIX);
	json_object_set_new(r, "fixes", json_array());
	char *line, *pointer;
	runhint_format(r, 80, &line, &pointer);
	assert_string_equal(line, "cairn: first time this error is seen; likely change: b.c (named "
				  "in the error)");
	assert_string_equal(pointer, "cairn: details: cairn why");
	free(line);
	free(pointer);
	json_object_set_new(json_object_get(r, "signature"), "seen", json_integer(2));
	json_object_set_new(r, "suspects", json_array());
	runhint_format(r, 80, &line, &pointer);
	assert_string_equal(line, "cairn: seen 2 times before, no fix known yet");
	free(line);
	free(pointer);
	json_decref(r);
}

static void test_format_hand_written_fix_and_not_code(void **state)
{
	(void)state;
	json_t *r = load("{\"signature\":null,\"fixes\":[{\"id\":3,\"title\":\"run make clean "
			 "first\",\"reason\":\"similar text\",\"learned\":false}],"
			 "\"suspects\":[]}");
	char *line, *pointer;
	runhint_format(r, 80, &line, &pointer);
	assert_string_equal(line, "cairn: known fix: run make clean first (similar text)");
	assert_string_equal(pointer, "cairn: details: cairn why; the fix's diff: cairn kb show 3");
	free(line);
	free(pointer);
	json_decref(r);
	r = load("{\"summary\":\"make was interrupted (Ctrl-C): not a failure of the code.\","
		 "\"not_code\":\"interrupted\",\"signature\":null,\"fixes\":[],\"suspects\":[]}");
	runhint_format(r, 80, &line, &pointer);
	assert_string_equal(line,
			    "cairn: make was interrupted (Ctrl-C): not a failure of the code.");
	free(line);
	free(pointer);
	json_decref(r);
	r = load("{\"signature\":null,\"fixes\":[],\"suspects\":[]}");
	runhint_format(r, 80, &line, &pointer);
	assert_string_equal(line, "cairn: nothing in the output that cairn recognises");
	free(line);
	free(pointer);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fix_phrases),
		cmocka_unit_test(test_fix_phrase_small_buffer),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_format_with_a_learned_fix),
		cmocka_unit_test(test_format_body_at_the_report_cap),
		cmocka_unit_test(test_format_without_a_fix),
		cmocka_unit_test(test_format_hand_written_fix_and_not_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
