/* Store: seq assignment, dedup, batches handed back in order, queries, reopen
 * and retention, on a real SQLite file in a temporary directory. */
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

static char dir[] = "/tmp/cairn-test-store-XXXXXX";
static char path[256];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int notified;

static void notify(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	notified++;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mu);
}

static struct store_pub *make_pub(const char *source, const char *id, const char *type,
				  int64_t time_ms, int64_t seq)
{
	char buf[512];
	snprintf(buf, sizeof buf, "{\"source\":\"%s\",\"id\":\"%s\",\"type\":\"%s\"}", source, id,
		 type);
	struct store_pub *p = xcalloc(1, sizeof *p);
	struct cairn_err ve;
	assert_int_equal(event_parse(buf, strlen(buf), 1 << 20, EVENT_PUBLISH, &p->ev, &ve), 0);
	event_fill_defaults(p->ev, time_ms);
	/* A mix, so batches commit both with and without fsync. */
	p->durable = id[strlen(id) - 1] % 3 == 0;
	p->seq = p->ev->seq = seq;
	p->json = event_encode(p->ev, &p->json_len);
	return p;
}

static struct store *open_store(int64_t age_ms, int64_t bytes)
{
	struct store_config cfg = {.path = path,
				   .batch_max = 64,
				   .event_max_bytes = 4096,
				   .retention_age_ms = age_ms,
				   .retention_bytes = bytes};
	struct store *st = NULL;
	struct cairn_err err;
	int r = store_open(&cfg, &st, &err);
	if (r)
		fail_msg("store_open: %s", err.msg);
	assert_int_equal(store_start(st, notify, NULL), 0);
	return st;
}

/* Collects what the writer hands back until want_pubs came back. */
struct collected {
	int64_t seqs[4096];
	int errs[4096];
	size_t n;
	int64_t committed;
};

static void collect(struct store *st, struct collected *c, size_t want_pubs)
{
	while (c->n < want_pubs) {
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
			assert_int_equal(o->kind, STORE_OUT_COMMITTED);
			assert_int_equal(o->err, 0);
			for (struct store_pub *p = o->pubs, *pn; p; p = pn) {
				pn = p->next;
				c->seqs[c->n] = p->seq;
				c->errs[c->n++] = p->err;
				event_free(p->ev);
				free(p->json);
				free(p);
			}
			c->committed = o->seq;
			free(o);
			o = next;
		}
	}
}

static int count_row(void *ctx, int64_t seq, const char *type, const char *json, size_t len)
{
	int64_t *n = ctx;
	(*n)++;
	assert_non_null(strstr(json, "\"seq\":"));
	return 0;
}

static void test_commit_lookup_and_query(void **state)
{
	unlink(path);
	struct store *st = open_store(0, 0);
	char id[32];
	for (int i = 0; i < 250; i++) {
		snprintf(id, sizeof id, "id-%d", i);
		store_submit(st, make_pub("t", id, i % 2 ? "build.failed" : "test.passed",
					  1700000000000 + i, i + 1));
	}
	struct collected *c = xcalloc(1, sizeof *c);
	collect(st, c, 250);
	for (int i = 0; i < 250; i++) {
		assert_int_equal(c->seqs[i], i + 1); /* handed back in order */
		assert_int_equal(c->errs[i], 0);
	}
	assert_int_equal(c->committed, 250);
	assert_int_equal(store_last_seq(st), 250);

	/* The sequencer's dedup check sees committed events. */
	int64_t seq = 0;
	assert_int_equal(store_lookup(st, "t", "id-41", &seq), 1);
	assert_int_equal(seq, 42);
	assert_int_equal(store_lookup(st, "t", "id-999", &seq), 0);
	assert_int_equal(store_lookup(st, "other", "id-41", &seq), 0);

	struct store_query q;
	store_query_init(&q);
	q.pattern = "build.>";
	q.limit = 1000;
	int64_t n = 0;
	bool more = true;
	assert_int_equal(store_query(st, &q, count_row, &n, &more), 0);
	assert_int_equal(n, 125);
	assert_false(more);

	store_query_init(&q);
	q.pattern = "*.passed";
	q.since_seq = 11;
	q.until_seq = 20;
	n = 0;
	assert_int_equal(store_query(st, &q, count_row, &n, &more), 0);
	assert_int_equal(n, 5);

	store_query_init(&q);
	q.limit = 10;
	n = 0;
	assert_int_equal(store_query(st, &q, count_row, &n, &more), 0);
	assert_int_equal(n, 10);
	assert_true(more);

	assert_int_equal(store_seq_at_time(st, 1700000000000 + 100, &seq), 0);
	assert_int_equal(seq, 101);
	store_close(st);

	/* Reopen: the last seq is where it was. */
	st = open_store(0, 0);
	assert_int_equal(store_last_seq(st), 250);
	store_submit(st, make_pub("t", "new", "x.y", 1700000001000, 251));
	memset(c, 0, sizeof *c);
	collect(st, c, 1);
	assert_int_equal(c->seqs[0], 251);
	assert_int_equal(store_last_seq(st), 251);
	store_close(st);
	free(c);
}

static void test_retention_by_age_keeps_seq(void **state)
{
	unlink(path);
	struct store *st = open_store(0, 0);
	for (int i = 0; i < 20; i++) {
		char id[16];
		snprintf(id, sizeof id, "%d", i);
		/* The first 10 are ancient, the rest are from now on. */
		store_submit(st, make_pub("t", id, "x", i < 10 ? 1000 : 4102444800000LL, i + 1));
	}
	struct collected *c = xcalloc(1, sizeof *c);
	collect(st, c, 20);
	store_close(st);

	st = open_store(24 * 3600 * 1000LL, 0);
	store_request_retention(st);
	store_close(st); /* the writer runs the request before it stops */

	st = open_store(0, 0);
	struct store_stats s;
	assert_int_equal(store_stats(st, &s), 0);
	assert_int_equal(s.events, 10);
	assert_int_equal(s.first_seq, 11);
	assert_int_equal(s.last_seq, 20);
	store_close(st);
	free(c);
}

static void test_newer_schema_refused(void **state)
{
	unlink(path);
	struct store *st = open_store(0, 0);
	store_close(st);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct store_config cfg = {.path = path};
	struct cairn_err err;
	assert_int_equal(store_open(&cfg, &st, &err), CAIRN_E_VERSION);
	assert_non_null(strstr(err.msg, "upgrade cairn"));
}

/* The services' checkpoints (migration 3) are salvaged with the log, and
 * a file from before migration 3 (no such table) recovers without a word
 * about them. */
static void test_recover_keeps_checkpoints(void **state)
{
	unlink(path);
	struct store *st = open_store(0, 0);
	store_close(st);
	sqlite3 *db;
	struct cairn_err err;
	assert_int_equal(store_db_open(path, false, &db, &err), 0);
	assert_int_equal(store_checkpoint_set(db, "triage", 42, 1000), 0);
	assert_int_equal(store_checkpoint_set(db, "counter", 7, 1000), 0);
	assert_int_equal(store_checkpoint_set(db, "triage", 43, 2000), 0);
	sqlite3_close(db);

	char out[300];
	snprintf(out, sizeof out, "%s/recovered.db", dir);
	unlink(out);
	struct store_recover_report rep;
	assert_int_equal(store_recover(path, out, &rep, &err), 0);
	bool listed = false;
	for (size_t i = 0; i < rep.n_tables; i++)
		if (strcmp(rep.tables[i].table, "service_checkpoints") == 0) {
			listed = true;
			assert_int_equal(rep.tables[i].rows, 2);
			assert_false(rep.tables[i].partial);
		}
	assert_true(listed);
	assert_int_equal(store_db_open(out, true, &db, &err), 0);
	int64_t seq = 0;
	assert_int_equal(store_checkpoint_get(db, "triage", &seq), 0);
	assert_int_equal(seq, 43);
	assert_int_equal(store_checkpoint_get(db, "counter", &seq), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(store_checkpoint_get(db, "nobody", &seq), CAIRN_E_NOTFOUND);
	sqlite3_close(db);

	/* An older file: no checkpoints table, and none is reported. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE service_checkpoints", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	unlink(out);
	assert_int_equal(store_recover(path, out, &rep, &err), 0);
	for (size_t i = 0; i < rep.n_tables; i++)
		assert_string_not_equal(rep.tables[i].table, "service_checkpoints");
	unlink(out);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/cairn.db", dir);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_lookup_and_query),
		cmocka_unit_test(test_retention_by_age_keeps_seq),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_recover_keeps_checkpoints),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
