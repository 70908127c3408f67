/* The named queries over the events table (src/store/queries.h): a small log
 * written through the store's writer, then each query's rows checked on a
 * connection of the test's own, as the triage service and the CLI use them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "event/envelope.h"
#include "store/queries.h"
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/cairn-test-queries-XXXXXX";
static char path[256];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int notified;

static void notify(void *arg)
{
	pthread_mutex_lock(&mu);
	notified++;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mu);
}

/* The log every test reads. seq is the index + 1; time_ms is in the table.
 * Project /p: a pass of "all", file and git changes, a failure with its
 * report, a later pass. Outside projects: a test run in /tmp/x failing,
 * then passing. Project /q: a failure with no report, and a report
 * correlated to it that came before it (so it does not count). */
static const struct {
	int64_t ms;
	const char *json;
} LOG[] = {
	/* 1 */ {1000, "{\"source\":\"t\",\"id\":\"P1\",\"type\":\"build.passed\","
		       "\"project\":\"/p\",\"data\":{\"target\":\"all\"}}"},
	/* 2 */
	{2000, "{\"source\":\"t\",\"id\":\"C1\",\"type\":\"file.changed\","
	       "\"project\":\"/p\",\"data\":{\"path\":\"a.c\"}}"},
	/* 3 */
	{3000, "{\"source\":\"t\",\"id\":\"C2\",\"type\":\"file.changed\","
	       "\"project\":\"/p\",\"data\":{\"path\":\"a.c\"}}"},
	/* 4 */
	{3500, "{\"source\":\"t\",\"id\":\"C3\",\"type\":\"file.created\","
	       "\"project\":\"/p\",\"subject\":\"b.c\"}"},
	/* 5 */
	{4000, "{\"source\":\"t\",\"id\":\"G1\",\"type\":\"git.commit\",\"project\":\"/p\","
	       "\"data\":{\"subject\":\"fix\",\"files\":[{\"path\":\"c.c\"}]}}"},
	/* 6 */
	{5000, "{\"source\":\"t\",\"id\":\"F1\",\"type\":\"build.failed\","
	       "\"project\":\"/p\",\"data\":{\"target\":\"all\"}}"},
	/* 7 */
	{5100, "{\"source\":\"t\",\"id\":\"R1\",\"type\":\"triage.report\","
	       "\"project\":\"/p\",\"correlationid\":\"F1\"}"},
	/* 8 */
	{6000, "{\"source\":\"t\",\"id\":\"F2\",\"type\":\"test.failed\","
	       "\"data\":{\"target\":\"t\",\"cwd\":\"/tmp/x\"}}"},
	/* 9 */
	{7000, "{\"source\":\"t\",\"id\":\"P2\",\"type\":\"test.passed\","
	       "\"data\":{\"target\":\"t\",\"cwd\":\"/tmp/x\"}}"},
	/* 10 */
	{7500, "{\"source\":\"t\",\"id\":\"R0\",\"type\":\"triage.report\","
	       "\"project\":\"/q\",\"correlationid\":\"F3\"}"},
	/* 11 */
	{8000, "{\"source\":\"t\",\"id\":\"F3\",\"type\":\"ci.run.failed\","
	       "\"project\":\"/q\"}"},
	/* 12 */
	{8100, "{\"source\":\"t\",\"id\":\"C4\",\"type\":\"file.changed\","
	       "\"project\":\"/q\",\"data\":{\"path\":\"z\"}}"},
	/* 13 */
	{9000, "{\"source\":\"t\",\"id\":\"P3\",\"type\":\"build.passed\","
	       "\"project\":\"/p\",\"data\":{\"target\":\"all\"}}"},
	/* 14-19, project /r: configure's conftest.c created and deleted (no
	 * change); gone.h deleted (a change); new.c created, deleted and
	 * created again (a change). */
	{9100, "{\"source\":\"t\",\"id\":\"T1\",\"type\":\"file.created\","
	       "\"project\":\"/r\",\"data\":{\"path\":\"conftest.c\"}}"},
	{9200, "{\"source\":\"t\",\"id\":\"T2\",\"type\":\"file.deleted\","
	       "\"project\":\"/r\",\"data\":{\"path\":\"conftest.c\"}}"},
	{9300, "{\"source\":\"t\",\"id\":\"T3\",\"type\":\"file.deleted\","
	       "\"project\":\"/r\",\"data\":{\"path\":\"gone.h\"}}"},
	{9400, "{\"source\":\"t\",\"id\":\"T4\",\"type\":\"file.created\","
	       "\"project\":\"/r\",\"data\":{\"path\":\"new.c\"}}"},
	{9500, "{\"source\":\"t\",\"id\":\"T5\",\"type\":\"file.deleted\","
	       "\"project\":\"/r\",\"data\":{\"path\":\"new.c\"}}"},
	{9600, "{\"source\":\"t\",\"id\":\"T6\",\"type\":\"file.created\","
	       "\"project\":\"/r\",\"data\":{\"path\":\"new.c\"}}"},
};
#define NLOG ((int64_t)(sizeof LOG / sizeof LOG[0]))

static struct store_pub *make_pub(const char *json, int64_t time_ms, int64_t seq)
{
	struct store_pub *p = xcalloc(1, sizeof *p);
	struct cairn_err ve;
	assert_int_equal(event_parse(json, strlen(json), 1 << 20, EVENT_PUBLISH, &p->ev, &ve), 0);
	event_fill_defaults(p->ev, time_ms);
	p->seq = p->ev->seq = seq;
	p->json = event_encode(p->ev, &p->json_len);
	return p;
}

/* Writes LOG through the store's writer and waits until it is committed. */
static int write_log(void **state)
{
	unlink(path);
	struct store_config cfg = {.path = path, .batch_max = 64, .event_max_bytes = 4096};
	struct store *st = NULL;
	struct cairn_err err;
	if (store_open(&cfg, &st, &err))
		fail_msg("store_open: %s", err.msg);
	assert_int_equal(store_start(st, notify, NULL), 0);
	for (int64_t i = 0; i < NLOG; i++)
		store_submit(st, make_pub(LOG[i].json, LOG[i].ms, i + 1));
	int64_t back = 0;
	while (back < NLOG) {
		struct store_out *o = store_take_output(st);
		if (!o) {
			pthread_mutex_lock(&mu);
			while (!notified)
				pthread_cond_wait(&cond, &mu);
			notified = 0;
			pthread_mutex_unlock(&mu);
			continue;
		}
		while (o) {
			struct store_out *next = o->next;
			assert_int_equal(o->err, 0);
			for (struct store_pub *p = o->pubs, *pn; p; p = pn) {
				pn = p->next;
				assert_int_equal(p->err, 0);
				back++;
				event_free(p->ev);
				free(p->json);
				free(p);
			}
			free(o);
			o = next;
		}
	}
	store_close(st);
	return 0;
}

static sqlite3 *open_ro(void)
{
	sqlite3 *db;
	struct cairn_err err;
	if (store_db_open(path, true, &db, &err))
		fail_msg("store_db_open: %s", err.msg);
	return db;
}

/* ---- single events ---- */

static void test_event_by_seq(void **state)
{
	sqlite3 *db = open_ro();
	struct store_q_event ev;
	assert_int_equal(store_q_event_by_seq(db, 5, &ev), 1);
	assert_int_equal(ev.seq, 5);
	assert_int_equal(ev.time_ms, 4000);
	assert_string_equal(ev.id, "G1");
	assert_string_equal(ev.type, "git.commit");
	assert_int_equal(ev.envelope_len, strlen(ev.envelope));
	assert_non_null(strstr(ev.envelope, "\"seq\":5"));
	assert_non_null(strstr(ev.envelope, "\"subject\":\"fix\""));
	store_q_event_release(&ev);
	assert_null(ev.id);

	assert_int_equal(store_q_event_by_seq(db, 999, &ev), 0);
	assert_int_equal(ev.seq, 0);
	assert_null(ev.envelope);
	store_q_event_release(&ev); /* a zeroed row */
	sqlite3_close(db);
}

static void test_outcome_by_id(void **state)
{
	sqlite3 *db = open_ro();
	struct store_q_event ev;
	assert_int_equal(store_q_outcome_by_id(db, "F2", &ev), 1);
	assert_int_equal(ev.seq, 8);
	assert_string_equal(ev.type, "test.failed");
	store_q_event_release(&ev);
	assert_int_equal(store_q_outcome_by_id(db, "R1", &ev), 1);
	assert_int_equal(ev.seq, 7);
	assert_string_equal(ev.type, "triage.report");
	store_q_event_release(&ev);
	/* Neither a failure nor a report. */
	assert_int_equal(store_q_outcome_by_id(db, "P1", &ev), 0);
	assert_int_equal(store_q_outcome_by_id(db, "C1", &ev), 0);
	assert_int_equal(store_q_outcome_by_id(db, "nope", &ev), 0);
	sqlite3_close(db);
}

static void test_last_failure(void **state)
{
	sqlite3 *db = open_ro();
	struct store_q_event ev;
	assert_int_equal(store_q_last_failure(db, "/p", &ev), 1);
	assert_int_equal(ev.seq, 6);
	assert_string_equal(ev.id, "F1");
	store_q_event_release(&ev);
	assert_int_equal(store_q_last_failure(db, "/q", &ev), 1);
	assert_string_equal(ev.type, "ci.run.failed");
	store_q_event_release(&ev);
	/* Any project, runs outside projects included. */
	assert_int_equal(store_q_last_failure(db, NULL, &ev), 1);
	assert_int_equal(ev.seq, 11);
	store_q_event_release(&ev);
	assert_int_equal(store_q_last_failure(db, "/none", &ev), 0);
	sqlite3_close(db);
}

static void test_report_for(void **state)
{
	sqlite3 *db = open_ro();
	struct store_q_event ev;
	assert_int_equal(store_q_report_for(db, "F1", &ev), 1);
	assert_int_equal(ev.seq, 7);
	assert_string_equal(ev.id, "R1");
	assert_non_null(strstr(ev.envelope, "\"correlationid\":\"F1\""));
	store_q_event_release(&ev);
	assert_int_equal(store_q_report_for(db, "F2", &ev), 0);
	sqlite3_close(db);
}

/* ---- triage and learning ---- */

static void test_last_pass(void **state)
{
	sqlite3 *db = open_ro();
	struct store_q_event ev;
	/* Before the failure at seq 6: the pass at seq 1. */
	assert_int_equal(store_q_last_pass(db, "/p", NULL, "all", 6, &ev), 1);
	assert_int_equal(ev.seq, 1);
	assert_int_equal(ev.time_ms, 1000);
	assert_string_equal(ev.id, "P1");
	store_q_event_release(&ev);
	/* No bound: the latest. */
	assert_int_equal(store_q_last_pass(db, "/p", NULL, "all", 0, &ev), 1);
	assert_int_equal(ev.seq, 13);
	store_q_event_release(&ev);
	assert_int_equal(store_q_last_pass(db, "/p", NULL, "all", 1, &ev), 0);
	assert_int_equal(ev.seq, 0);
	assert_int_equal(store_q_last_pass(db, "/p", NULL, "other", 0, &ev), 0);
	assert_int_equal(store_q_last_pass(db, "/q", NULL, "all", 0, &ev), 0);
	assert_int_equal(store_q_last_pass(db, "/p", NULL, NULL, 0, &ev), 0);
	/* Outside projects: by the run's cwd; the cwd is ignored in a project. */
	assert_int_equal(store_q_last_pass(db, NULL, "/tmp/x", "t", 0, &ev), 1);
	assert_int_equal(ev.seq, 9);
	store_q_event_release(&ev);
	assert_int_equal(store_q_last_pass(db, NULL, "/tmp/x", "t", 9, &ev), 0);
	assert_int_equal(store_q_last_pass(db, NULL, "/tmp/y", "t", 0, &ev), 0);
	assert_int_equal(store_q_last_pass(db, NULL, "/p", "all", 0, &ev), 0);
	sqlite3_close(db);
}

struct paths {
	char path[8][16];
	int64_t ms[8], seq[8];
	int events[8];
	int n, stop_after;
};

static int collect_path(void *ctx, const char *name, int64_t last_ms, int events, int64_t last_seq)
{
	struct paths *p = ctx;
	assert_true(p->n < 8);
	snprintf(p->path[p->n], sizeof p->path[0], "%s", name);
	p->ms[p->n] = last_ms;
	p->seq[p->n] = last_seq;
	p->events[p->n] = events;
	p->n++;
	return p->stop_after && p->n >= p->stop_after;
}

static void test_file_changes(void **state)
{
	sqlite3 *db = open_ro();
	struct store_q_window w = {.project = "/p", .after_seq = 1, .until_seq = 6};
	struct paths p = {0};
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	/* One row per path, newest first; the subject names a path without
	 * data.path. */
	assert_int_equal(p.n, 2);
	assert_string_equal(p.path[0], "b.c");
	assert_int_equal(p.ms[0], 3500);
	assert_int_equal(p.seq[0], 4);
	assert_int_equal(p.events[0], 1);
	assert_string_equal(p.path[1], "a.c");
	assert_int_equal(p.ms[1], 3000);
	assert_int_equal(p.seq[1], 3);
	assert_int_equal(p.events[1], 2);

	/* The time window: [since_ms, until_ms). */
	memset(&p, 0, sizeof p);
	w.until_ms = 3000;
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.path[0], "a.c");
	assert_int_equal(p.events[0], 1);
	assert_int_equal(p.seq[0], 2);
	memset(&p, 0, sizeof p);
	w.until_ms = 0;
	w.since_ms = 3500;
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.path[0], "b.c");

	/* The seq window: (after_seq, until_seq]. */
	memset(&p, 0, sizeof p);
	w = (struct store_q_window){.project = "/p", .after_seq = 3, .until_seq = 3};
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 0);
	w.until_seq = 4;
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.path[0], "b.c");

	/* The limit, and a callback that stops. */
	w = (struct store_q_window){.project = "/p"};
	memset(&p, 0, sizeof p);
	assert_int_equal(store_q_file_changes(db, &w, 1, collect_path, &p), 0);
	assert_int_equal(p.n, 1);
	memset(&p, 0, sizeof p);
	p.stop_after = 1;
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 1);

	/* A path there neither before the window nor after it is no
	 * change; one deleted, or created again, is. */
	memset(&p, 0, sizeof p);
	w = (struct store_q_window){.project = "/r"};
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.path[0], "new.c");
	assert_int_equal(p.events[0], 3);
	assert_string_equal(p.path[1], "gone.h");

	/* Other projects' files are not this one's. */
	memset(&p, 0, sizeof p);
	w.project = "/q";
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.path[0], "z");
	memset(&p, 0, sizeof p);
	w.project = NULL;
	assert_int_equal(store_q_file_changes(db, &w, 100, collect_path, &p), 0);
	assert_int_equal(p.n, 0);
	sqlite3_close(db);
}

struct rows {
	int64_t seq[16], ms[16];
	char type[16][32];
	int n, stop_after;
	bool envelopes_ok;
};

static int collect_row(void *ctx, const struct store_q_event *ev)
{
	struct rows *r = ctx;
	assert_true(r->n < 16);
	r->seq[r->n] = ev->seq;
	r->ms[r->n] = ev->time_ms;
	snprintf(r->type[r->n], sizeof r->type[0], "%s", ev->type);
	char want[32];
	snprintf(want, sizeof want, "\"seq\":%lld", (long long)ev->seq);
	r->envelopes_ok = (r->n == 0 || r->envelopes_ok) && ev->id &&
			  ev->envelope_len == strlen(ev->envelope) && strstr(ev->envelope, want);
	r->n++;
	return r->stop_after && r->n >= r->stop_after;
}

static void test_git_events(void **state)
{
	sqlite3 *db = open_ro();
	struct store_q_window w = {.project = "/p", .after_seq = 1, .until_seq = 6};
	struct rows r = {0};
	assert_int_equal(store_q_git_events(db, &w, 10, collect_row, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.seq[0], 5);
	assert_int_equal(r.ms[0], 4000);
	assert_string_equal(r.type[0], "git.commit");
	assert_true(r.envelopes_ok);

	memset(&r, 0, sizeof r);
	w.until_seq = 4;
	assert_int_equal(store_q_git_events(db, &w, 10, collect_row, &r), 0);
	assert_int_equal(r.n, 0);
	w = (struct store_q_window){.project = "/p", .until_ms = 4000};
	assert_int_equal(store_q_git_events(db, &w, 10, collect_row, &r), 0);
	assert_int_equal(r.n, 0);
	w.project = "/q";
	w.until_ms = 0;
	assert_int_equal(store_q_git_events(db, &w, 10, collect_row, &r), 0);
	assert_int_equal(r.n, 0);
	sqlite3_close(db);
}

/* ---- checking ---- */

struct gaps {
	int64_t first[8], last[8];
	int n;
};

static int collect_gap(void *ctx, int64_t first, int64_t last)
{
	struct gaps *g = ctx;
	assert_true(g->n < 8);
	g->first[g->n] = first;
	g->last[g->n] = last;
	g->n++;
	return 0;
}

static void test_seq_gaps(void **state)
{
	sqlite3 *db = open_ro();
	struct gaps g = {0};
	assert_int_equal(store_q_seq_gaps(db, collect_gap, &g), 0);
	assert_int_equal(g.n, 0);
	sqlite3_close(db);

	/* Holes punched as damage would: 3..4 and 7; the end (19) is not a
	 * hole. Runs last, as it changes the log. */
	struct cairn_err err;
	assert_int_equal(store_db_open(path, false, &db, &err), 0);
	assert_int_equal(
		sqlite3_exec(db, "DELETE FROM events WHERE seq IN (3, 4, 7, 19)", NULL, NULL, NULL),
		SQLITE_OK);
	assert_int_equal(store_q_seq_gaps(db, collect_gap, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.first[0], 3);
	assert_int_equal(g.last[0], 4);
	assert_int_equal(g.first[1], 7);
	assert_int_equal(g.last[1], 7);
	sqlite3_close(db);
}

/* ---- errors ---- */

static int never(void *ctx, const struct store_q_event *ev)
{
	fail_msg("a row from a database without events");
	return 1;
}

static int never_path(void *ctx, const char *p, int64_t ms, int n, int64_t seq)
{
	fail_msg("a path from a database without events");
	return 1;
}

static int never_gap(void *ctx, int64_t a, int64_t b)
{
	fail_msg("a gap from a database without events");
	return 1;
}

static void test_no_events_table(void **state)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	struct store_q_event ev;
	struct store_q_window w = {.project = "/p"};
	assert_int_equal(store_q_event_by_seq(db, 1, &ev), CAIRN_E_STORE);
	assert_null(ev.id);
	assert_int_equal(store_q_outcome_by_id(db, "x", &ev), CAIRN_E_STORE);
	assert_int_equal(store_q_last_failure(db, NULL, &ev), CAIRN_E_STORE);
	assert_int_equal(store_q_report_for(db, "x", &ev), CAIRN_E_STORE);
	assert_int_equal(store_q_last_pass(db, "/p", NULL, "all", 0, &ev), CAIRN_E_STORE);
	assert_int_equal(store_q_file_changes(db, &w, 10, never_path, NULL), CAIRN_E_STORE);
	assert_int_equal(store_q_git_events(db, &w, 10, never, NULL), CAIRN_E_STORE);
	assert_int_equal(store_q_seq_gaps(db, never_gap, NULL), CAIRN_E_STORE);
	assert_non_null(strstr(sqlite3_errmsg(db), "events"));
	sqlite3_close(db);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/cairn.db", dir);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_by_seq),    cmocka_unit_test(test_outcome_by_id),
		cmocka_unit_test(test_last_failure),    cmocka_unit_test(test_report_for),
		cmocka_unit_test(test_last_pass),       cmocka_unit_test(test_file_changes),
		cmocka_unit_test(test_git_events),      cmocka_unit_test(test_seq_gaps),
		cmocka_unit_test(test_no_events_table),
	};
	int r = cmocka_run_group_tests(tests, write_log, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
