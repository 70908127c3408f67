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
#include <time.h>
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

static struct store *open_store_delay(int64_t age_ms, int64_t bytes, int64_t delay_ms)
{
	struct store_config cfg = {.path = path,
				   .batch_max = 64,
				   .event_max_bytes = 4096,
				   .retention_age_ms = age_ms,
				   .retention_bytes = bytes,
				   .commit_delay_ms = delay_ms};
	struct store *st = NULL;
	struct cairn_err err;
	int r = store_open(&cfg, &st, &err);
	if (r)
		fail_msg("store_open: %s", err.msg);
	assert_int_equal(store_start(st, notify, NULL), 0);
	return st;
}

static struct store *open_store(int64_t age_ms, int64_t bytes)
{
	return open_store_delay(age_ms, bytes, 0);
}

/* Collects what the writer hands back until want_pubs came back. */
struct collected {
	int64_t seqs[4096];
	int errs[4096];
	size_t n;
	int64_t committed;
	size_t batches; /* store_outs taken */
};

static void collect(struct store *st, struct collected *c, size_t want_pubs)
{
	while (c->n < want_pubs) {
		struct store_out *o = store_take_output(st);
		if (!o) {
			/* Nothing here waits longer than 20 s: a commit that
			 * does is a bug (the group-commit tests set delays of a
			 * minute that must not be waited out). */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 20;
			pthread_mutex_lock(&mu);
			int r = 0;
			while (!notified && r == 0)
				r = pthread_cond_timedwait(&cond, &mu, &ts);
			notified = 0;
			pthread_mutex_unlock(&mu);
			if (r)
				fail_msg("no commit within 20 s (%zu of %zu back)", c->n,
					 want_pubs);
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
			c->batches++;
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

static struct store_pub *pub_n(int i, bool durable)
{
	char id[32];
	snprintf(id, sizeof id, "g-%d", i);
	struct store_pub *p = make_pub("t", id, "x.y", 1700000000000 + i, i);
	p->durable = durable;
	return p;
}

/* Events nobody waits on are gathered for commit_delay_ms into one
 * transaction: one event, a pause in which a writer without the delay
 * would have committed it alone, then more, come back as one batch. */
static void test_group_commit_gathers(void **state)
{
	unlink(path);
	struct store *st = open_store_delay(0, 0, 1500);
	store_submit(st, pub_n(1, false));
	usleep(100 * 1000);
	for (int i = 2; i <= 20; i++)
		store_submit(st, pub_n(i, false));
	struct collected *c = xcalloc(1, sizeof *c);
	collect(st, c, 20);
	assert_int_equal(c->batches, 1);
	assert_int_equal(c->committed, 20);
	store_close(st);
	free(c);
}

/* A durable publish cannot wait: it ends the gathering at once, and what
 * was gathered before it commits with it. So does store_flush(). With a
 * delay of a minute, collect() fails after 20 s if either waited it out. */
static void test_group_commit_durable_and_flush(void **state)
{
	unlink(path);
	struct store *st = open_store_delay(0, 0, 60 * 1000);
	for (int i = 1; i <= 5; i++)
		store_submit(st, pub_n(i, false));
	usleep(50 * 1000);
	store_submit(st, pub_n(6, true));
	struct collected *c = xcalloc(1, sizeof *c);
	collect(st, c, 6);
	assert_int_equal(c->committed, 6);

	store_submit(st, pub_n(7, false));
	store_submit(st, pub_n(8, false));
	usleep(50 * 1000);
	store_flush(st);
	collect(st, c, 8);
	assert_int_equal(c->committed, 8);

	/* A stop commits what is gathering, too. */
	store_submit(st, pub_n(9, false));
	store_close(st);
	st = open_store(0, 0);
	assert_int_equal(store_last_seq(st), 9);
	store_close(st);
	free(c);
}

/* ---- a VFS that counts syncs ----
 * Wraps the default VFS so that a test can see which commits fsync: the
 * guarantee behind ack "durable" (nothing acknowledged before fsync) and
 * the reason the others are cheap. Installed as the default before the
 * store opens, removed after. */
struct cfile {
	sqlite3_file base;
	sqlite3_file *real; /* right after this struct, in the same allocation */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs count_vfs;
static sqlite3_io_methods count_methods;
static int wal_syncs; /* xSync calls on a -wal file */

#define REAL(f) (((struct cfile *)(f))->real)

static int c_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
	return rc;
}
static int c_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int c_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 n)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int c_sync_wal(sqlite3_file *f, int flags)
{
	__atomic_add_fetch(&wal_syncs, 1, __ATOMIC_SEQ_CST);
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *n)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int c_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int c_check(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int c_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int c_caps(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
static int c_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void c_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* Two method tables: the -wal file's counts its syncs. */
static sqlite3_io_methods count_methods_wal;

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct cfile *cf = (struct cfile *)f;
	cf->real = (sqlite3_file *)(cf + 1);
	int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out);
	if (rc != SQLITE_OK || !cf->real->pMethods) {
		f->pMethods = NULL;
		return rc;
	}
	f->pMethods = (flags & SQLITE_OPEN_WAL) ? &count_methods_wal : &count_methods;
	return rc;
}

static void count_vfs_install(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	count_vfs = *real_vfs;
	count_vfs.iVersion = real_vfs->iVersion;
	count_vfs.zName = "cairn-test-count";
	count_vfs.szOsFile = (int)sizeof(struct cfile) + real_vfs->szOsFile;
	count_vfs.xOpen = c_open;
	count_methods = (sqlite3_io_methods){
		.iVersion = 2,
		.xClose = c_close,
		.xRead = c_read,
		.xWrite = c_write,
		.xTruncate = c_truncate,
		.xSync = c_sync,
		.xFileSize = c_size,
		.xLock = c_lock,
		.xUnlock = c_unlock,
		.xCheckReservedLock = c_check,
		.xFileControl = c_fcntl,
		.xSectorSize = c_sector,
		.xDeviceCharacteristics = c_caps,
		.xShmMap = c_shm_map,
		.xShmLock = c_shm_lock,
		.xShmBarrier = c_shm_barrier,
		.xShmUnmap = c_shm_unmap,
	};
	count_methods_wal = count_methods;
	count_methods_wal.xSync = c_sync_wal;
	assert_int_equal(sqlite3_vfs_register(&count_vfs, 1), SQLITE_OK);
}

static void count_vfs_remove(void)
{
	sqlite3_vfs_unregister(&count_vfs);
	sqlite3_vfs_register(real_vfs, 1);
}

/* A batch that holds a durable publish is fsynced before it is handed
 * back; batches without one are not, and switching between the two works
 * both ways, again and again (a PRAGMA prepared once does not switch: SQLite
 * applies it when compiling, which once left every durable commit
 * unsynced). */
static void test_durable_commits_fsync(void **state)
{
	unlink(path);
	count_vfs_install();
	struct store *st = open_store(0, 0);
	struct collected *c = xcalloc(1, sizeof *c);
	int seq = 0;
	for (int round = 0; round < 3; round++) {
		int before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
		for (int i = 0; i < 5; i++) {
			store_submit(st, pub_n(++seq, false));
			collect(st, c, (size_t)seq);
		}
		int mid = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
		assert_int_equal(mid, before); /* five commits, none synced */
		for (int i = 0; i < 3; i++) {
			int b = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
			store_submit(st, pub_n(++seq, true));
			collect(st, c, (size_t)seq);
			/* synced before it came back */
			assert_true(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST) > b);
		}
	}
	store_close(st);
	count_vfs_remove();
	free(c);
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
		cmocka_unit_test(test_group_commit_gathers),
		cmocka_unit_test(test_group_commit_durable_and_flush),
		cmocka_unit_test(test_durable_commits_fsync),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
