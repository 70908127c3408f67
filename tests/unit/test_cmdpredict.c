/* The next-command model (src/services/cmdpredict.h) on small streams with
 * known answers, read from tests/data/cmdpredict/cases.txt (its top says
 * how to write a case): each case learns into a fresh database through the
 * learner, as the service does, and asks through a read-only connection, as
 * `cairn predict command` does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "services/cmdpredict.h"
#include "store/store.h"
#include "testdata.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STREAM 4096

static char dir[] = "/tmp/cairn-test-cmdpredict-XXXXXX";

struct run {
	char path[300];
	int n_case;
	char name[200];
	char *lines[MAX_STREAM]; /* every command learned, by seq - 1 */
	int64_t seq;             /* the last seq given */
	int checks;
};

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	size_t k = strspn(s, " ");
	memmove(s, s + k, strlen(s + k) + 1);
}

/* Splits s on ';' into v (the pieces point into s, untrimmed). */
static size_t split(char *s, char **v, size_t max)
{
	size_t n = 0;
	for (char *p = s;; p++) {
		char *semi = strchr(p, ';');
		assert_true(n < max);
		v[n++] = p;
		if (!semi)
			break;
		*semi = '\0';
		p = semi;
	}
	return n;
}

/* Learns lines[from..to) with seqs from + 1 ... through a learner opened
 * anew. */
static void learn_range(struct run *r, int64_t from, int64_t to)
{
	struct cmdpredict_learner *l;
	struct cairn_err err;
	int rc = cmdpredict_learner_new(r->path, &l, &err);
	if (rc)
		fail_msg("case '%s': cannot open the learner: %s", r->name, err.msg);
	for (int64_t i = from; i < to; i++) {
		rc = cmdpredict_learn(l, i + 1, r->lines[i], 1700000000000 + 20000 * i, &err);
		if (rc < 0)
			fail_msg("case '%s': learning '%s': %s", r->name, r->lines[i], err.msg);
	}
	cmdpredict_learner_free(l);
}

/* The predictions after the commands in spec ("A ; B", or blank: after
 * the last learned). */
static void query(struct run *r, char *spec, struct cmdpredict_item **v, size_t *n)
{
	char *after[CMDPREDICT_AFTER_MAX + 1];
	size_t n_after = 0;
	trim(spec);
	if (*spec) {
		n_after = split(spec, after, CMDPREDICT_AFTER_MAX);
		for (size_t i = 0; i < n_after; i++)
			trim(after[i]);
	}
	sqlite3 *db;
	struct cairn_err err;
	assert_int_equal(store_db_open(r->path, true, &db, &err), 0);
	if (cmdpredict_query(db, (const char *const *)after, n_after, 10, v, n, &err))
		fail_msg("case '%s': query: %s", r->name, err.msg);
	sqlite3_close(db);
}

static void new_case(struct run *r, const char *name)
{
	for (int64_t i = 0; i < r->seq; i++)
		free(r->lines[i]);
	r->seq = 0;
	snprintf(r->name, sizeof r->name, "%s", name);
	snprintf(r->path, sizeof r->path, "%s/case%d.db", dir, ++r->n_case);
	/* The writer's own open applies the migrations. */
	sqlite3 *db;
	struct cairn_err err;
	assert_int_equal(store_db_open(r->path, false, &db, &err), 0);
	sqlite3_close(db);
}

static void run_line(struct run *r, char *line)
{
	char *arrow = strstr(line, "=>");
	if (strncmp(line, "case ", 5) == 0) {
		trim(line + 5);
		new_case(r, line + 5);
	} else if (strncmp(line, "learn", 5) == 0) {
		char *rest = line + 5;
		long times = 1;
		if (*rest == '*')
			times = strtol(rest + 1, &rest, 10);
		assert_true(*rest == ' ');
		rest++;
		char *v[64];
		size_t n = split(rest, v, 64);
		int64_t from = r->seq;
		for (long t = 0; t < times; t++)
			for (size_t i = 0; i < n; i++) {
				assert_true(r->seq < MAX_STREAM);
				r->lines[r->seq++] = xstrdup(v[i]);
			}
		learn_range(r, from, r->seq);
	} else if (strncmp(line, "replay ", 7) == 0) {
		long k = strtol(line + 7, NULL, 10);
		assert_true(k > 0 && k <= r->seq);
		learn_range(r, r->seq - k, r->seq);
	} else if (strncmp(line, "top", 3) == 0 && arrow) {
		*arrow = '\0';
		struct cmdpredict_item *v;
		size_t n;
		query(r, line + 3, &v, &n);
		char *want[16];
		char *rest = arrow + 2;
		trim(rest);
		size_t n_want = *rest ? split(rest, want, 16) : 0;
		if (n_want == 0 && n != 0)
			fail_msg("case '%s': top %s: wanted no prediction, got '%s'", r->name,
				 line + 3, v[0].command);
		for (size_t i = 0; i < n_want; i++) {
			trim(want[i]);
			if (i >= n || strcmp(v[i].command, want[i]) != 0)
				fail_msg("case '%s': top %s: prediction %zu is '%s', wanted '%s'",
					 r->name, line + 3, i + 1, i < n ? v[i].command : "(none)",
					 want[i]);
		}
		cmdpredict_items_free(v, n);
		r->checks++;
	} else if (strncmp(line, "reason", 6) == 0 && arrow) {
		*arrow = '\0';
		struct cmdpredict_item *v;
		size_t n;
		query(r, line + 6, &v, &n);
		char *want = arrow + 2;
		trim(want);
		if (n == 0 || strcmp(v[0].reason, want) != 0)
			fail_msg("case '%s': reason %s: got '%s', wanted '%s'", r->name, line + 6,
				 n ? v[0].reason : "(no prediction)", want);
		cmdpredict_items_free(v, n);
		r->checks++;
	} else {
		fail_msg("cases.txt: cannot read '%s'", line);
	}
}

static void test_cases(void **state)
{
	char path[512];
	snprintf(path, sizeof path, "%s/cmdpredict/cases.txt", testdata_dir());
	size_t len;
	char *text = testdata_slurp(path, &len);
	if (!text)
		fail_msg("cannot read %s", path);
	struct run *r = xcalloc(1, sizeof *r);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[strspn(line, " \r")] == '\0')
			continue;
		run_line(r, line);
	}
	assert_true(r->n_case >= 5);
	assert_true(r->checks >= 10);
	new_case(r, "end");
	free(r);
	free(text);
}

static void test_first_word(void **state)
{
	char w[CMDPREDICT_WORD_MAX + 1];
	assert_true(cmdpredict_first_word("  git\tcommit -m x", w));
	assert_string_equal(w, "git");
	assert_false(cmdpredict_first_word(" \t ", w));
	char long_word[CMDPREDICT_WORD_MAX + 10];
	memset(long_word, 'x', sizeof long_word - 1);
	long_word[sizeof long_word - 1] = '\0';
	assert_false(cmdpredict_first_word(long_word, w));
}

/* A line past CMDPREDICT_LINE_MAX is learned by its word alone. */
static void test_long_line(void **state)
{
	char path[300];
	snprintf(path, sizeof path, "%s/long.db", dir);
	struct cmdpredict_learner *l;
	struct cairn_err err;
	assert_int_equal(cmdpredict_learner_new(path, &l, &err), 0);
	char *line = xmalloc(CMDPREDICT_LINE_MAX * 2);
	memset(line, 'a', CMDPREDICT_LINE_MAX * 2 - 1);
	line[CMDPREDICT_LINE_MAX * 2 - 1] = '\0';
	memcpy(line, "echo ", 5);
	for (int64_t s = 1; s <= 4; s++)
		assert_int_equal(cmdpredict_learn(l, s, s % 2 ? line : "ls", 1000 * s, &err), 1);
	assert_int_equal(cmdpredict_learn(l, 4, "ls", 5000, &err), 0); /* seen */
	cmdpredict_learner_free(l);
	sqlite3 *db;
	assert_int_equal(store_db_open(path, true, &db, &err), 0);
	const char *after[] = {"ls"};
	struct cmdpredict_item *v;
	size_t n;
	assert_int_equal(cmdpredict_query(db, after, 1, 1, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].command, "echo");
	cmdpredict_items_free(v, n);
	sqlite3_close(db);
	free(line);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	log_set_level(LOG_WARN); /* not a line per migration of each case's database */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_first_word),
		cmocka_unit_test(test_long_line),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
