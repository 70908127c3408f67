/* SQLite event log: migrations, one writer thread with group commit, pooled readers. */
#include "store/store.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "event/pattern.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define READ_POOL_MAX 8

/* Migrations: index i brings the schema from user_version i to i + 1. Never
 * edit one that has shipped; append a new one. */
/* A knowledge row's files (newline-separated paths) as a JSON array, or '[]'
 * when that is not valid JSON; ROW is "new" or a table alias. */
#define KF_JSON(row)                                                                               \
	"(SELECT CASE WHEN json_valid(a) THEN a ELSE '[]' END FROM (SELECT '[\"' ||"               \
	" replace(replace(replace(" row ".files, '\\', '\\\\'), '\"', '\\\"'), char(10),"          \
	" '\",\"') || '\"]' AS a))"

static const char *const migrations[] = {
	/* 1: the event log. */
	"CREATE TABLE events("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" project TEXT,"
	" session TEXT,"
	" correlationid TEXT,"
	" severity INTEGER NOT NULL DEFAULT 0,"
	" subject TEXT,"
	" envelope TEXT NOT NULL);"
	"CREATE UNIQUE INDEX events_source_id ON events(source, id);"
	"CREATE INDEX events_type ON events(type, seq);"
	"CREATE INDEX events_time ON events(time_ms);"
	"CREATE INDEX events_project ON events(project, seq) WHERE project IS NOT NULL;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;",

	/* 2: the knowledge base, error signatures, and the triage service's
	 * memory of failures (see src/kb/kb.h and src/services/triage.h). */
	"CREATE TABLE knowledge("
	" id INTEGER PRIMARY KEY,"
	" uid TEXT NOT NULL UNIQUE,"
	" kind TEXT NOT NULL CHECK(kind IN ('decision','mistake','pattern','fix','note')),"
	" title TEXT NOT NULL,"
	" body TEXT NOT NULL DEFAULT '',"
	" tags TEXT NOT NULL DEFAULT '',"
	" files TEXT NOT NULL DEFAULT '',"
	" project TEXT,"
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL,"
	" superseded_by INTEGER REFERENCES knowledge(id),"
	" uses INTEGER NOT NULL DEFAULT 0,"
	" last_used_ms INTEGER,"
	" confidence REAL NOT NULL DEFAULT 0.5,"
	" state TEXT NOT NULL DEFAULT 'active' CHECK(state IN ('active','candidate','rejected')),"
	" forgotten_ms INTEGER,"
	" signature TEXT,"
	" sig_general TEXT,"
	" fix_key TEXT,"
	" sources TEXT NOT NULL DEFAULT '[]',"
	" hash TEXT NOT NULL);"
	"CREATE UNIQUE INDEX knowledge_hash ON knowledge(hash);"
	"CREATE INDEX knowledge_sig ON knowledge(signature) WHERE signature IS NOT NULL;"
	"CREATE INDEX knowledge_sig_general ON knowledge(sig_general) WHERE sig_general IS NOT "
	"NULL;"
	"CREATE INDEX knowledge_updated ON knowledge(updated_ms);"
	"CREATE INDEX knowledge_forgotten ON knowledge(forgotten_ms) WHERE forgotten_ms IS NOT "
	"NULL;"
	"CREATE VIRTUAL TABLE knowledge_fts USING fts5(title, tags, body, files,"
	" content='knowledge', content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
	"CREATE TRIGGER knowledge_ai AFTER INSERT ON knowledge BEGIN"
	" INSERT INTO knowledge_fts(rowid,title,tags,body,files)"
	" VALUES(new.id,new.title,new.tags,new.body,new.files); END;"
	"CREATE TRIGGER knowledge_ad AFTER DELETE ON knowledge BEGIN"
	" INSERT INTO knowledge_fts(knowledge_fts,rowid,title,tags,body,files)"
	" VALUES('delete',old.id,old.title,old.tags,old.body,old.files); END;"
	"CREATE TRIGGER knowledge_au AFTER UPDATE OF title,tags,body,files ON knowledge BEGIN"
	" INSERT INTO knowledge_fts(knowledge_fts,rowid,title,tags,body,files)"
	" VALUES('delete',old.id,old.title,old.tags,old.body,old.files);"
	" INSERT INTO knowledge_fts(rowid,title,tags,body,files)"
	" VALUES(new.id,new.title,new.tags,new.body,new.files); END;"
	"CREATE TABLE signatures("
	" sig TEXT PRIMARY KEY,"
	" general TEXT NOT NULL,"
	" example TEXT NOT NULL,"
	" first_ms INTEGER NOT NULL,"
	" last_ms INTEGER NOT NULL,"
	" count INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID;"
	"CREATE INDEX signatures_general ON signatures(general);"
	"CREATE TABLE failures("
	" event_id TEXT PRIMARY KEY,"
	" seq INTEGER NOT NULL,"
	" project TEXT,"
	" target TEXT NOT NULL,"
	" signature TEXT,"
	" sig_general TEXT,"
	" message TEXT,"
	" time_ms INTEGER NOT NULL,"
	" report_id TEXT,"
	" resolved_seq INTEGER,"
	" fixed_by INTEGER REFERENCES knowledge(id) ON DELETE SET NULL) WITHOUT ROWID;"
	"CREATE INDEX failures_target ON failures(target, project, seq);"
	"CREATE TABLE snapshots("
	" failure_id TEXT NOT NULL,"
	" path TEXT NOT NULL,"
	" content BLOB,"
	" PRIMARY KEY(failure_id, path)) WITHOUT ROWID;",
	/* 3: where each service of the daemon is in the log
	 * (src/services/host.c). */
	"CREATE TABLE service_checkpoints("
	" name TEXT PRIMARY KEY,"
	" seq INTEGER NOT NULL,"
	" time_ms INTEGER NOT NULL) WITHOUT ROWID;",
	/* 4: the fix learned when a pass resolved a failure, as published, so
	 * that learning again for the same pass (after a crash) publishes the
	 * same event (src/services/learn.c). */
	"ALTER TABLE failures ADD COLUMN learned TEXT;",
	/* 5: the file prediction model (src/services/predict.c). */
	"CREATE TABLE file_changes("
	" project TEXT NOT NULL, path TEXT NOT NULL,"
	" n INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
	" PRIMARY KEY(project, path)) WITHOUT ROWID;"
	"CREATE TABLE cochange("
	" project TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,"
	" n INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
	" PRIMARY KEY(project, a, b)) WITHOUT ROWID;"
	"CREATE TABLE predict_learned(id INTEGER PRIMARY KEY CHECK (id = 1),"
	" seq INTEGER NOT NULL);",
	/* 6: sessions (src/services/session.c). */
	"CREATE TABLE sessions("
	" id INTEGER PRIMARY KEY,"
	" project TEXT NOT NULL,"
	" agent TEXT, agent_session TEXT,"
	" note TEXT, end_note TEXT, ended_by TEXT,"
	" start_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, end_ms INTEGER,"
	" start_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
	" events INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX sessions_project ON sessions(project, id);"
	"CREATE INDEX sessions_open ON sessions(id) WHERE end_ms IS NULL;"
	"CREATE TABLE session_items("
	" session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	" kind TEXT NOT NULL, key TEXT NOT NULL,"
	" n INTEGER NOT NULL, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
	" state TEXT, text TEXT,"
	" PRIMARY KEY(session, kind, key)) WITHOUT ROWID;"
	"CREATE TABLE session_learned(id INTEGER PRIMARY KEY CHECK (id = 1),"
	" seq INTEGER NOT NULL);"
	"CREATE TABLE session_outbox(seq INTEGER PRIMARY KEY, out TEXT NOT NULL);",
	/* 7: the command prediction model (src/services/cmdpredict.h). */
	"CREATE TABLE cmd_ctx("
	" ctx TEXT PRIMARY KEY, n INTEGER NOT NULL, d INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE cmd_next("
	" ctx TEXT NOT NULL, next TEXT NOT NULL,"
	" w REAL NOT NULL, at INTEGER NOT NULL, n INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
	" PRIMARY KEY(ctx, next)) WITHOUT ROWID;"
	"CREATE TABLE cmd_learned(id INTEGER PRIMARY KEY CHECK (id = 1),"
	" seq INTEGER NOT NULL, w1 TEXT, w2 TEXT, line TEXT, time_ms INTEGER NOT NULL);",
	/* 8: a project's open failures at once (the brief, src/brief/brief.c),
	 * not a scan of every failure. */
	"CREATE INDEX failures_open ON failures(project, seq) WHERE resolved_seq IS NULL;",
	/* 9: the file prediction model, second version (src/services/predict.h):
	 * edit bursts (e), activity (w), commit numbers (no), size-weighted
	 * support (ws), the last common commit (a_at), each project's clock
	 * and its open edit burst. A model learned before keeps its counts;
	 * its new columns start as if every change had been a commit of two
	 * files at the latest time seen, and nothing counts as recent until
	 * the next commit. */
	"ALTER TABLE file_changes ADD COLUMN e INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE file_changes ADD COLUMN w REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE file_changes ADD COLUMN no INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cochange ADD COLUMN e INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cochange ADD COLUMN ws REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE cochange ADD COLUMN a_at INTEGER NOT NULL DEFAULT 0;"
	"UPDATE file_changes SET w = n;"
	"UPDATE cochange SET ws = n, a_at = coalesce((SELECT f.n FROM file_changes f"
	" WHERE f.project = cochange.project AND f.path = cochange.a), 0);"
	"CREATE INDEX file_changes_no ON file_changes(project, no);"
	"CREATE TABLE predict_projects(project TEXT PRIMARY KEY,"
	" commits INTEGER NOT NULL, t0_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL) WITHOUT "
	"ROWID;"
	"INSERT INTO predict_projects(project, commits, t0_ms, last_ms)"
	" SELECT project, 0, max(last_ms), max(last_ms) FROM file_changes GROUP BY project;"
	"CREATE TABLE predict_bursts(project TEXT PRIMARY KEY,"
	" first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, files TEXT NOT NULL,"
	" skip INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
	/* 10: which knowledge entries name a file, exactly (the brief's
	 * "known ... about FILE", src/brief/brief.c), instead of a phrase query
	 * of the full-text index whose tokens ("src", "c") are in most
	 * entries. Kept by triggers, like knowledge_fts. A path holds no
	 * control character (src/kb/kb_prep.c), so the newline-separated list
	 * becomes a JSON array by escaping '\' and '"'; a value that still
	 * is not valid JSON (a damaged row being salvaged) indexes nothing
	 * rather than failing the write. */
	"CREATE TABLE knowledge_files(path TEXT NOT NULL, id INTEGER NOT NULL,"
	" PRIMARY KEY(path, id)) WITHOUT ROWID;"
	"CREATE INDEX knowledge_files_id ON knowledge_files(id);"
	"CREATE TRIGGER knowledge_files_ai AFTER INSERT ON knowledge BEGIN"
	" INSERT OR IGNORE INTO knowledge_files(path, id)"
	" SELECT value, new.id FROM json_each(" KF_JSON(
		"new") ") WHERE value != ''; END;"
		       "CREATE TRIGGER knowledge_files_ad AFTER DELETE ON knowledge BEGIN"
		       " DELETE FROM knowledge_files WHERE id = old.id; END;"
		       "CREATE TRIGGER knowledge_files_au AFTER UPDATE OF files ON knowledge BEGIN"
		       " DELETE FROM knowledge_files WHERE id = old.id;"
		       " INSERT OR IGNORE INTO knowledge_files(path, id)"
		       " SELECT value, new.id FROM json_each(" KF_JSON(
			       "new") ") WHERE value != ''; END;"
				      "INSERT OR IGNORE INTO knowledge_files(path, id)"
				      " SELECT j.value, k.id FROM knowledge k, json_each(" KF_JSON(
					      "k") ") j"
						   " WHERE k.files != '' AND j.value != '';",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* Guarded by mu: in/in_tail/n_in, out/out_tail, stopping, retention_wanted,
 * readers/n_readers. The writer thread alone touches db and the statements;
 * last_seq is written by the writer under mu and read under mu. */
struct store {
	struct store_config cfg;
	char *path;
	sqlite3 *db;
	sqlite3_stmt *st_insert, *st_meta;
	/* The writer's own transaction control, prepared once: parsing them
	 * for each commit showed in the profile (docs/benchmarks.md). */
	sqlite3_stmt *st_begin, *st_commit, *st_rollback;
	pthread_t writer;
	bool writer_running;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct store_pub *in, *in_tail;
	size_t n_in;
	size_t n_in_durable;      /* of n_in, the durable ones */
	struct timespec in_since; /* when in last went from empty to not (CLOCK_MONOTONIC) */
	enum { W_BUSY, W_IDLE, W_GATHER } wstate; /* what the writer is waiting for */
	bool flush_wanted;                        /* commit what is queued now (store_flush()) */
	struct store_out *out, *out_tail;
	bool stopping;
	bool stop_soon; /* a stop is coming: do not retry a full disk for long */
	bool retention_wanted;
	bool sync_full;       /* the write connection's current synchronous mode */
	int health_err;       /* 0, or why the writer cannot write now (CAIRN_E_FULL...) */
	char health_msg[300]; /* what to tell publishers and `status` */
	/* The writer thread's own: */
	bool broken;          /* a damaged file: nothing more is appended */
	bool reserve_present; /* the reserve file exists */
	bool reserve_spent;   /* given back to a full disk, not made again yet */
	bool gave_up;         /* stopping on a full disk: fail what is left at once */
	char *reserve_path;
	sqlite3 *lookup_db; /* the sequencer's read connection (its thread only) */
	sqlite3_stmt *lookup;
	int64_t last_seq;
	sqlite3 *readers[READ_POOL_MAX];
	int n_readers;
	void (*notify)(void *);
	void *notify_arg;
};

static int exec_sql(sqlite3 *db, const char *sql, char *errbuf, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		if (errbuf)
			snprintf(errbuf, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return CAIRN_E_STORE;
	}
	return 0;
}

static int migrate(sqlite3 *db, char *errbuf, size_t errlen)
{
	sqlite3_stmt *st;
	int version = 0, r;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto out_sqlerr;
	if ((r = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		goto out_sqlerr;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > N_MIGRATIONS) {
		snprintf(errbuf, errlen,
			 "database schema version %d is newer than this cairn knows (%d); "
			 "upgrade cairn",
			 version, N_MIGRATIONS);
		return CAIRN_E_VERSION;
	}
	for (; version < N_MIGRATIONS; version++) {
		char setv[64];
		snprintf(setv, sizeof setv, "PRAGMA user_version=%d", version + 1);
		if ((r = exec_sql(db, "BEGIN IMMEDIATE", errbuf, errlen)))
			return r;
		if ((r = exec_sql(db, migrations[version], errbuf, errlen)) ||
		    (r = exec_sql(db, setv, errbuf, errlen))) {
			exec_sql(db, "ROLLBACK", NULL, 0);
			return r;
		}
		if ((r = exec_sql(db, "COMMIT", errbuf, errlen)))
			return r;
		log_info("store: applied migration %d", version + 1);
	}
	return 0;
out_sqlerr:
	snprintf(errbuf, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
	return CAIRN_E_STORE;
}

/* Reads one integer from sql's first row into *out (dflt when the row is
 * missing or NULL). Returns 0 or CAIRN_E_STORE with the reason in errbuf:
 * a read that fails is never mistaken for "nothing there". */
static int query_int_checked(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out, char *errbuf,
			     size_t errlen)
{
	sqlite3_stmt *st;
	*out = dflt;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out_err;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(st, 0);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		goto out_err;
	}
	sqlite3_finalize(st);
	return 0;
out_err:
	if (errbuf)
		snprintf(errbuf, errlen, "%s: %s", sql, sqlite3_errmsg(db));
	return CAIRN_E_STORE;
}

static int64_t query_int(sqlite3 *db, const char *sql, int64_t dflt)
{
	int64_t v;
	query_int_checked(db, sql, dflt, &v, NULL, 0);
	return v;
}

static int open_conn(const char *path, bool readonly, sqlite3 **out, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	flags |= SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot open database '%s': %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return CAIRN_E_STORE;
	}
	sqlite3_busy_timeout(db, 5000);
	*out = db;
	return 0;
}

static int db_open(const char *path, bool readonly, sqlite3 **out, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	int r;
	*out = NULL;
	if ((r = open_conn(path, readonly, &db, errbuf, errlen)))
		return r;
	if (!readonly && ((r = exec_sql(db,
					"PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
					" PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
					errbuf, errlen)) ||
			  (r = migrate(db, errbuf, errlen)))) {
		sqlite3_close(db);
		return r;
	}
	*out = db;
	return 0;
}

int store_db_open(const char *path, bool readonly, sqlite3 **out, struct cairn_err *err)
{
	struct cairn_err tmp;
	struct cairn_err *e = err ? err : &tmp;
	cairn_err_clear(e);
	e->code = db_open(path, readonly, out, e->msg, sizeof e->msg);
	return e->code;
}

/* What a damaged database is told to do. */
#define DAMAGED_HINT                                                                               \
	"; the daemon will not write to it, so no acknowledged event is lost: run "                \
	"'cairn doctor' to see what is readable and 'cairn doctor --recover' to rebuild "          \
	"the log from it (docs/doctor.md)"

/* Writes "the database 'PATH' STATE (WHY)" and the way out into errbuf; WHY
 * is cut first so that the way out always fits. */
static void damaged_msg(char *errbuf, size_t errlen, const char *path, const char *state,
			const char *why)
{
	size_t fixed = strlen(path) + strlen(state) + sizeof DAMAGED_HINT + 24;
	int keep = errlen > fixed ? (int)(errlen - fixed) : 0;
	snprintf(errbuf, errlen, "the database '%s' %s (%.*s)" DAMAGED_HINT, path, state, keep,
		 why);
}

/* The structural check a database must pass before anything writes to it,
 * migrations included (a damaged free list could hand a migration a page
 * that still holds events). Skipped for a new file. */
static int check_structure(struct store *st, char *errbuf, size_t errlen)
{
	char why[512] = "";
	sqlite3_stmt *q = NULL;
	int64_t version;
	if (query_int_checked(st->db, "PRAGMA user_version", 0, &version, why, sizeof why))
		goto out_damaged;
	if (version == 0 || !st->cfg.check_at_open)
		return 0;
	int rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check(5)", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(q, 0);
		if (!res || strcmp(res, "ok") != 0) {
			snprintf(why, sizeof why, "quick_check: %s", res ? res : "?");
			rc = SQLITE_CORRUPT;
		} else {
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK && !*why)
		snprintf(why, sizeof why, "quick_check: %s", sqlite3_errmsg(st->db));
	sqlite3_finalize(q);
	if (rc == SQLITE_OK)
		return 0;
out_damaged:
	damaged_msg(errbuf, errlen, st->path, "is damaged", why);
	return CAIRN_E_CORRUPT;
}

/* Reads the last seq from the log and from the high-water mark. A read that
 * fails here would otherwise restart seq from a wrong number and acknowledge
 * events that are never stored. */
static int read_last_seq(struct store *st, char *errbuf, size_t errlen)
{
	char why[512] = "";
	int64_t a, b;
	if (query_int_checked(st->db, "SELECT max(seq) FROM events", 0, &a, why, sizeof why) ||
	    query_int_checked(st->db, "SELECT value FROM meta WHERE key='last_seq'", 0, &b, why,
			      sizeof why)) {
		damaged_msg(errbuf, errlen, st->path, "is damaged", why);
		return CAIRN_E_CORRUPT;
	}
	st->last_seq = a > b ? a : b;
	return 0;
}

/* Wraps the SQLite reason already in errbuf into the message for a database
 * that cannot be opened, with the way out. Returns CAIRN_E_CORRUPT. */
static int cannot_open(struct store *st, char *errbuf, size_t errlen)
{
	char why[sizeof((struct cairn_err *)0)->msg]; /* errbuf's size */
	snprintf(why, sizeof why, "%s", errbuf);
	damaged_msg(errbuf, errlen, st->path, "cannot be opened", why);
	return CAIRN_E_CORRUPT;
}

static int open_store(const struct store_config *cfg, struct store **out, char *errbuf,
		      size_t errlen)
{
	int r;
	struct store *st = xcalloc(1, sizeof *st);
	st->cfg = *cfg;
	st->path = xstrdup(cfg->path);
	st->cfg.path = st->path;
	st->reserve_path = xasprintf("%s.reserve", st->path);
	if (st->cfg.batch_max == 0)
		st->cfg.batch_max = 1024;
	pthread_mutex_init(&st->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* a clock step must not stall a commit */
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);

	if ((r = open_conn(st->path, false, &st->db, errbuf, errlen)))
		goto out_free;
	st->sync_full = true;
	/* auto_vacuum must be chosen before the file is first written (and so
	 * before WAL mode), or SQLite ignores it; it lets retention shrink the
	 * file. WAL with synchronous=FULL: a COMMIT returns only after the WAL is
	 * fsynced. */
	if ((r = exec_sql(st->db,
			  "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; PRAGMA "
			  "synchronous=FULL;"
			  " PRAGMA foreign_keys=ON;",
			  errbuf, errlen))) {
		r = cannot_open(st, errbuf, errlen);
		goto out_free;
	}
	if ((r = check_structure(st, errbuf, errlen)))
		goto out_free;
	if ((r = migrate(st->db, errbuf, errlen))) {
		if (r == CAIRN_E_STORE)
			r = cannot_open(st, errbuf, errlen);
		goto out_free;
	}
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO events(seq,id,source,type,time_ms,project,session,"
			       "correlationid,severity,subject,envelope)"
			       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
			       -1, &st->st_insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db,
			       "INSERT INTO meta(key,value) VALUES('last_seq',?1)"
			       " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
			       -1, &st->st_meta, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "BEGIN IMMEDIATE", -1, &st->st_begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "COMMIT", -1, &st->st_commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "ROLLBACK", -1, &st->st_rollback, NULL) != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot prepare statements: %s", sqlite3_errmsg(st->db));
		r = CAIRN_E_STORE;
		goto out_free;
	}
	if ((r = read_last_seq(st, errbuf, errlen)))
		goto out_free;
	*out = st;
	return 0;
out_free:
	store_close(st);
	return r;
}

int store_open(const struct store_config *cfg, struct store **out, struct cairn_err *err)
{
	struct cairn_err tmp;
	struct cairn_err *e = err ? err : &tmp;
	cairn_err_clear(e);
	e->code = open_store(cfg, out, e->msg, sizeof e->msg);
	return e->code;
}

static void push_out(struct store *st, struct store_out *o)
{
	o->next = NULL;
	if (st->out_tail)
		st->out_tail->next = o;
	else
		st->out = o;
	st->out_tail = o;
}

/* Inserts one publish inside the open transaction. Returns 0 (pub filled in)
 * or a negative code for a failure that spoils the transaction. */
/* Inserts one event (seq and encoding made by the caller) inside the open
 * transaction. Returns 0 or CAIRN_E_STORE. */
static int write_one(struct store *st, struct store_pub *p)
{
	struct event *ev = p->ev;
	sqlite3_stmt *s = st->st_insert;
	sqlite3_bind_int64(s, 1, p->seq);
	sqlite3_bind_text(s, 2, ev->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, ev->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, ev->type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, ev->time_ms);
	sqlite3_bind_text(s, 6, ev->project, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, ev->session, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, ev->correlationid, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 9, (int)ev->severity);
	sqlite3_bind_text(s, 10, ev->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, p->json, (int)p->json_len, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == SQLITE_DONE)
		return 0;
	/* A constraint failure means the log and the sequencer disagree (a seq
	 * already used, or a duplicate the dedup probe missed): writing on
	 * would leave a hole or acknowledge an event that is not there. */
	log_error("store: cannot insert event (%s, %s) at seq %lld: %s", ev->source, ev->id,
		  (long long)p->seq, sqlite3_errmsg(st->db));
	return rc;
}

static void apply_retention(struct store *st, int64_t last)
{
	char sql[256];
	/* Keep the high-water mark before deleting: if every event goes, seq
	 * must still continue from here. */
	sqlite3_bind_int64(st->st_meta, 1, last);
	if (sqlite3_step(st->st_meta) != SQLITE_DONE)
		log_warn("store: cannot save the last seq: %s", sqlite3_errmsg(st->db));
	sqlite3_reset(st->st_meta);
	if (st->cfg.retention_age_ms > 0) {
		int64_t cutoff = 0;
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(st->db, "SELECT CAST(strftime('%s','now') AS INTEGER)*1000",
				       -1, &s, NULL) == SQLITE_OK) {
			if (sqlite3_step(s) == SQLITE_ROW)
				cutoff = sqlite3_column_int64(s, 0) - st->cfg.retention_age_ms;
			sqlite3_finalize(s);
		}
		/* Delete by seq below the first young event, so the log stays a
		 * contiguous suffix (no holes in the middle). */
		snprintf(sql, sizeof sql,
			 "DELETE FROM events WHERE seq < coalesce("
			 "(SELECT min(seq) FROM events WHERE time_ms >= %lld),"
			 " (SELECT max(seq)+1 FROM events))",
			 (long long)cutoff);
		if (exec_sql(st->db, sql, NULL, 0) == 0 && sqlite3_changes(st->db) > 0)
			log_info("store: retention removed %d events older than the age limit",
				 sqlite3_changes(st->db));
	}
	if (st->cfg.retention_bytes > 0) {
		for (int round = 0; round < 64; round++) {
			int64_t pages = query_int(st->db, "PRAGMA page_count", 0);
			int64_t freep = query_int(st->db, "PRAGMA freelist_count", 0);
			int64_t psize = query_int(st->db, "PRAGMA page_size", 4096);
			int64_t used = (pages - freep) * psize;
			if (used <= st->cfg.retention_bytes)
				break;
			int64_t n = query_int(st->db, "SELECT count(*) FROM events", 0);
			if (n == 0)
				break;
			/* Remove the oldest share proportional to the excess, at least 1%. */
			int64_t drop = n * (used - st->cfg.retention_bytes) / used + n / 100 + 1;
			snprintf(sql, sizeof sql,
				 "DELETE FROM events WHERE seq < (SELECT min(seq) FROM events) + "
				 "%lld",
				 (long long)drop);
			if (exec_sql(st->db, sql, NULL, 0))
				break;
			log_info("store: retention removed %lld events over the size limit",
				 (long long)drop);
		}
	}
	exec_sql(st->db, "PRAGMA incremental_vacuum", NULL, 0);
}

/* Classifies a failed write. A full disk and I/O trouble may pass; a damaged
 * file or a log that disagrees with the sequencer will not, and nothing may
 * be appended after it. */
static int write_err_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL: return CAIRN_E_FULL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH: return CAIRN_E_CORRUPT;
	default: return CAIRN_E_STORE;
	}
}

/* Runs one of the writer's prepared statements that return no rows.
 * Returns SQLITE_OK or the failure's code. */
static int run_stmt(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Writes pubs (a NULL-terminated list) in one transaction. Returns
 * SQLITE_OK or the SQLite code of the failure (rolled back). */
static int write_txn(struct store *st, struct store_pub *pubs)
{
	int rc = run_stmt(st->st_begin);
	if (rc != SQLITE_OK)
		return rc;
	for (struct store_pub *p = pubs; p && rc == SQLITE_OK; p = p->next)
		rc = write_one(st, p);
	if (rc == SQLITE_OK)
		rc = run_stmt(st->st_commit);
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(st->db))
		run_stmt(st->st_rollback);
	return rc;
}

/* The reserve: a file of cfg.reserve_bytes next to the database, given back
 * to the file system when the disk fills up, so that what is already
 * accepted can still be committed. Writer thread only. */
static void reserve_make(struct store *st)
{
	if (st->cfg.reserve_bytes <= 0 || st->reserve_present)
		return;
	int fd = open(st->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_warn("store: cannot create the disk reserve '%s': %s", st->reserve_path,
			 strerror(errno));
		return;
	}
	int e = posix_fallocate(fd, 0, (off_t)st->cfg.reserve_bytes);
	close(fd);
	if (e) {
		unlink(st->reserve_path);
		log_warn("store: cannot reserve %lld bytes of disk in '%s': %s; a full disk may "
			 "then lose accepted events at shutdown",
			 (long long)st->cfg.reserve_bytes, st->reserve_path, strerror(e));
		return;
	}
	st->reserve_present = true;
}

static bool reserve_release(struct store *st)
{
	if (!st->reserve_present)
		return false;
	st->reserve_present = false;
	st->reserve_spent = true;
	if (unlink(st->reserve_path) < 0) {
		log_error("store: cannot remove the disk reserve '%s': %s", st->reserve_path,
			  strerror(errno));
		return false;
	}
	log_warn("store: the disk is full; released the %lld-byte reserve so accepted events "
		 "can be committed. New events are refused until space is freed.",
		 (long long)st->cfg.reserve_bytes);
	return true;
}

static int64_t free_bytes(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return -1;
	return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

/* Sets the writer's health (under mu) and wakes the loop when it changes. */
static void set_health(struct store *st, int err, const char *msg)
{
	pthread_mutex_lock(&st->mu);
	bool changed = st->health_err != err;
	if (changed) {
		st->health_err = err;
		snprintf(st->health_msg, sizeof st->health_msg, "%s", msg ? msg : "");
	}
	pthread_mutex_unlock(&st->mu);
	if (changed) {
		if (err)
			log_error("store: cannot write: %s", msg);
		else
			log_info("store: writing again");
		if (st->notify)
			st->notify(st->notify_arg);
	}
}

/* While the health is bad: healthy again, unless the reserve was spent
 * and cannot be made again yet (then the writer lives on borrowed space,
 * and new events stay refused until there is room for the reserve and as
 * much again). wrote says a write just succeeded; otherwise (the idle
 * probe) at least 1 MiB must be free. Writer thread only. */
static void maybe_recover(struct store *st, bool wrote)
{
	if (st->health_err == CAIRN_E_CORRUPT)
		return;
	if (st->reserve_spent) {
		if (free_bytes(st->path) <= 2 * st->cfg.reserve_bytes)
			return;
		reserve_make(st);
		if (!st->reserve_present)
			return;
		st->reserve_spent = false;
	} else if (!wrote && free_bytes(st->path) < (1 << 20)) {
		return;
	}
	set_health(st, 0, NULL);
}

/* Hands a written (or failed) run of pubs back to the loop. */
static void hand_back(struct store *st, struct store_pub *pubs, struct store_pub *tail, int err)
{
	if (err)
		for (struct store_pub *p = pubs; p; p = p->next)
			p->err = err;
	struct store_out *o = xcalloc(1, sizeof *o);
	o->kind = STORE_OUT_COMMITTED;
	o->pubs = pubs;
	o->seq = tail->seq;
	o->err = err;
	pthread_mutex_lock(&st->mu);
	if (err == 0 && tail->seq > st->last_seq)
		st->last_seq = tail->seq;
	push_out(st, o);
	pthread_mutex_unlock(&st->mu);
	if (st->notify)
		st->notify(st->notify_arg);
}

/* Adds ms to ts. */
static void ts_add_ms(struct timespec *ts, int64_t ms)
{
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits up to ms on the condition (mu held); returns early when asked to stop. */
static void timed_wait(struct store *st, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts_add_ms(&ts, ms);
	pthread_cond_timedwait(&st->cond, &st->mu, &ts);
}

/* Group commit for events nobody waits on (mu held, st->in not empty):
 * waits until commit_delay_ms after the first of them was queued, so that
 * one transaction takes them all, and stops waiting at once for a durable
 * publish, a full batch, store_flush() or a stop. Under a steady stream this
 * turns thousands of small commits a second (each writing its own WAL
 * frames for the row and its four index pages) into a few hundred larger
 * ones; what `accepted` promises does not change (docs/design.md). */
static void gather(struct store *st)
{
	if (st->cfg.commit_delay_ms <= 0 || st->health_err)
		return;
	struct timespec deadline = st->in_since;
	ts_add_ms(&deadline, st->cfg.commit_delay_ms);
	while (st->in && !st->n_in_durable && st->n_in < st->cfg.batch_max && !st->flush_wanted &&
	       !st->stopping && !st->stop_soon) {
		st->wstate = W_GATHER;
		if (pthread_cond_timedwait(&st->cond, &st->mu, &deadline) == ETIMEDOUT)
			break;
	}
	st->wstate = W_BUSY;
}

/* Writes one batch, splitting it when a transaction fails: on a full disk a
 * smaller transaction may fit where the whole batch does not, so the writer
 * halves the run down to one event, and grows it again after each success.
 * Seqs are already handed out and delivered, so a run that cannot be written
 * is retried in order, never skipped (a hole in the log); only a damaged
 * database, or a stop while the disk stays full, gives up. */
static void write_batch(struct store *st, struct store_pub *batch)
{
	size_t chunk = st->cfg.batch_max;
	int attempts = 0;
	while (batch) {
		struct store_pub *tail = batch;
		size_t k = 1;
		while (k < chunk && tail->next) {
			tail = tail->next;
			k++;
		}
		struct store_pub *rest = tail->next;
		tail->next = NULL;
		int err = st->broken ? CAIRN_E_CORRUPT : st->gave_up ? CAIRN_E_FULL : 0;
		if (!err) {
			/* Only a run that someone waits on as durable pays for an
			 * fsync (synchronous=FULL); the others commit to the WAL
			 * without one (NORMAL). WAL frames are checksummed and
			 * replayed in order, so a power cut loses at most a suffix
			 * of the unsynced commits: the log stays gap-free, and the
			 * next FULL commit makes everything before it durable too.
			 * The mode can change only outside a transaction. */
			bool durable = false;
			for (struct store_pub *p = batch; p; p = p->next)
				durable |= p->durable;
			if (durable != st->sync_full) {
				/* Not a prepared statement: SQLite applies
				 * this pragma when it compiles it, so a
				 * statement prepared once would not switch
				 * again (durable commits went unsynced). */
				exec_sql(st->db,
					 durable ? "PRAGMA synchronous=FULL"
						 : "PRAGMA synchronous=NORMAL",
					 NULL, 0);
				st->sync_full = durable;
			}
			int rc = write_txn(st, batch);
			if (rc == SQLITE_OK) {
				hand_back(st, batch, tail, 0);
				batch = rest;
				attempts = 0;
				if (chunk < st->cfg.batch_max)
					chunk *= 2;
				if (st->health_err)
					maybe_recover(st, true);
				continue;
			}
			err = write_err_code(rc);
			char msg[300];
			snprintf(msg, sizeof msg, "%s (seq %lld..%lld)",
				 err == CAIRN_E_FULL ? "the disk is full" : sqlite3_errstr(rc),
				 (long long)batch->seq, (long long)tail->seq);
			if (err == CAIRN_E_CORRUPT) {
				st->broken = true;
				snprintf(msg, sizeof msg,
					 "the database is damaged or disagrees with the sequencer "
					 "(%s); "
					 "no more events will be written: stop the daemon and run "
					 "'cairn doctor'",
					 sqlite3_errstr(rc));
			}
			set_health(st, err, msg);
			if (err == CAIRN_E_FULL && reserve_release(st)) {
				tail->next = rest;
				continue; /* the same run again, now with room */
			}
		}
		if (err == CAIRN_E_CORRUPT || st->gave_up) {
			tail->next = rest;
			size_t n = 1;
			for (tail = batch; tail->next; tail = tail->next)
				n++;
			if (st->gave_up)
				log_error("store: stopping with the disk still full: %zu more "
					  "events (seq "
					  "%lld..%lld) are lost",
					  n, (long long)batch->seq, (long long)tail->seq);
			hand_back(st, batch, tail, err);
			return;
		}
		tail->next = rest;
		if (k > 1) {
			chunk = k / 2; /* try a smaller transaction straight away */
			continue;
		}
		pthread_mutex_lock(&st->mu);
		bool stopping = st->stopping || st->stop_soon;
		if (!stopping || attempts < 3)
			timed_wait(st, 1000);
		pthread_mutex_unlock(&st->mu);
		if (stopping && ++attempts > 3) {
			/* Shutting down with a disk that stays full: what is left
			 * cannot be kept. Say exactly what. */
			size_t n = 0;
			for (tail = batch; tail->next; tail = tail->next)
				n++;
			log_error("store: stopping with the disk still full: %zu events (seq "
				  "%lld..%lld) could not be written and are lost",
				  n + 1, (long long)batch->seq, (long long)tail->seq);
			st->gave_up = true; /* the rest of the queue goes the same way */
			hand_back(st, batch, tail, err);
			return;
		}
	}
}

static void *writer_main(void *arg)
{
	struct store *st = arg;
	reserve_make(st);
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->in && !st->stopping && !st->retention_wanted) {
			if (st->health_err == CAIRN_E_FULL || st->health_err == CAIRN_E_STORE) {
				timed_wait(st, 1000);
				if (!st->in && !st->stopping) {
					/* Nothing queued: look once a second
					 * whether space came back. */
					pthread_mutex_unlock(&st->mu);
					maybe_recover(st, false);
					pthread_mutex_lock(&st->mu);
				}
			} else {
				st->wstate = W_IDLE;
				pthread_cond_wait(&st->cond, &st->mu);
				st->wstate = W_BUSY;
			}
		}
		if (!st->in && st->stopping && !st->retention_wanted)
			break;
		if (st->in)
			gather(st);
		bool retain = st->retention_wanted;
		st->retention_wanted = false;
		st->flush_wanted = false;
		/* Take up to batch_max publishes as one batch. */
		struct store_pub *batch = st->in, *tail = NULL;
		size_t n = 0, durable = 0;
		for (struct store_pub *p = batch; p && n < st->cfg.batch_max; p = p->next) {
			tail = p;
			n++;
			durable += p->durable;
		}
		if (tail) {
			st->in = tail->next;
			tail->next = NULL;
			if (!st->in)
				st->in_tail = NULL;
			st->n_in -= n;
			st->n_in_durable -= durable;
		}
		int64_t last = st->last_seq;
		pthread_mutex_unlock(&st->mu);

		if (retain)
			apply_retention(st, last);
		if (batch)
			write_batch(st, batch);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

int store_start(struct store *st, void (*notify)(void *arg), void *arg)
{
	st->notify = notify;
	st->notify_arg = arg;
	/* The writer checkpoints between its own transactions, so each
	 * checkpoint completes and the WAL restarts from its beginning (no file
	 * growth, no metadata in every fsync). 4,000 pages between checkpoints
	 * keeps the pause they cause under the 99th percentile of deliveries.
	 * (A separate checkpoint thread was tried: under steady writes it never
	 * caught up, the WAL grew without end and durable commits got slower.) */
	exec_sql(st->db, "PRAGMA wal_autocheckpoint=4000", NULL, 0);
	if (pthread_create(&st->writer, NULL, writer_main, st) != 0)
		return -EAGAIN;
	st->writer_running = true;
	return 0;
}

void store_submit(struct store *st, struct store_pub *pub)
{
	pub->next = NULL;
	pthread_mutex_lock(&st->mu);
	if (st->in_tail) {
		st->in_tail->next = pub;
	} else {
		st->in = pub;
		clock_gettime(CLOCK_MONOTONIC, &st->in_since);
	}
	st->in_tail = pub;
	st->n_in++;
	st->n_in_durable += pub->durable;
	/* Wake the writer only when it waits for this: a writer that is
	 * writing takes the queue when it is done, and one that gathers
	 * wakes at its deadline unless this cannot wait. */
	if (st->wstate == W_IDLE ||
	    (st->wstate == W_GATHER && (pub->durable || st->n_in >= st->cfg.batch_max)))
		pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

void store_flush(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	if (st->in) {
		st->flush_wanted = true;
		if (st->wstate == W_GATHER)
			pthread_cond_signal(&st->cond);
	}
	pthread_mutex_unlock(&st->mu);
}

size_t store_queued(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	size_t n = st->n_in;
	pthread_mutex_unlock(&st->mu);
	return n;
}

struct store_out *store_take_output(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	struct store_out *o = st->out;
	st->out = st->out_tail = NULL;
	pthread_mutex_unlock(&st->mu);
	return o;
}

void store_request_retention(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	st->retention_wanted = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

int store_health(struct store *st, char *msg, size_t msglen)
{
	pthread_mutex_lock(&st->mu);
	int err = st->health_err;
	if (msg && msglen)
		snprintf(msg, msglen, "%s", st->health_msg);
	pthread_mutex_unlock(&st->mu);
	return err;
}

int64_t store_last_seq(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	int64_t v = st->last_seq;
	pthread_mutex_unlock(&st->mu);
	return v;
}

static void free_pubs(struct store_pub *p)
{
	while (p) {
		struct store_pub *next = p->next;
		event_free(p->ev);
		free(p->json);
		free(p);
		p = next;
	}
}

void store_request_stop(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	st->stop_soon = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

void store_stop(struct store *st)
{
	if (!st->writer_running)
		return;
	pthread_mutex_lock(&st->mu);
	st->stopping = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mu);
	if (st->writer_running)
		pthread_join(st->writer, NULL);
	st->writer_running = false;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_stop(st);
	for (struct store_out *o = st->out, *next; o; o = next) {
		next = o->next;
		free_pubs(o->pubs);
		free(o);
	}
	free_pubs(st->in);
	sqlite3_finalize(st->lookup);
	if (st->lookup_db)
		sqlite3_close(st->lookup_db);
	sqlite3_finalize(st->st_insert);
	sqlite3_finalize(st->st_meta);
	sqlite3_finalize(st->st_begin);
	sqlite3_finalize(st->st_commit);
	sqlite3_finalize(st->st_rollback);
	for (int i = 0; i < st->n_readers; i++)
		sqlite3_close(st->readers[i]);
	if (st->db) {
		/* A clean close checkpoints the WAL into the main file. */
		if (sqlite3_close(st->db) != SQLITE_OK)
			log_warn("store: database did not close cleanly: %s",
				 sqlite3_errmsg(st->db));
	}
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cond);
	free(st->path);
	free(st->reserve_path);
	free(st);
}

/* ---- readers ---- */

static sqlite3 *reader_get(struct store *st)
{
	sqlite3 *db = NULL;
	pthread_mutex_lock(&st->mu);
	if (st->n_readers > 0)
		db = st->readers[--st->n_readers];
	pthread_mutex_unlock(&st->mu);
	if (!db) {
		char err[256];
		if (open_conn(st->path, true, &db, err, sizeof err)) {
			log_error("store: %s", err);
			return NULL;
		}
	}
	return db;
}

static void reader_put(struct store *st, sqlite3 *db)
{
	pthread_mutex_lock(&st->mu);
	if (st->n_readers < READ_POOL_MAX) {
		st->readers[st->n_readers++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	if (db)
		sqlite3_close(db);
}

void store_query_init(struct store_query *q)
{
	memset(q, 0, sizeof *q);
	q->since_ms = INT64_MIN;
	q->until_ms = INT64_MAX;
	q->limit = 100;
}

int store_query(struct store *st, const struct store_query *q, store_row_fn fn, void *ctx,
		bool *more)
{
	sqlite3 *db = reader_get(st);
	if (!db) {
		if (more)
			*more = false;
		return CAIRN_E_STORE;
	}
	int r = store_query_db(db, q, fn, ctx, more);
	reader_put(st, db);
	return r;
}

int store_query_db(struct sqlite3 *db, const struct store_query *q, store_row_fn fn, void *ctx,
		   bool *more)
{
	const char *pat = q->pattern ? q->pattern : ">";
	bool exact;
	size_t plen = pattern_literal_prefix(pat, &exact);
	/* A wildcard pattern is also given to SQL as a GLOB ("*.failed" ->
	 * "*.failed", "a.*.c" -> "a.*.c", "x.>" -> "x.*"): GLOB's * also spans
	 * dots, so it selects a superset that pattern_match() then narrows, but
	 * rows of other types never leave SQLite. Type tokens hold no GLOB
	 * metacharacters ([a-z0-9_-]). */
	char glob[PATTERN_MAX + 2] = "";
	if (!exact && strcmp(pat, ">") != 0) {
		size_t gl = 0;
		for (const char *p = pat; *p && gl + 2 < sizeof glob; p++)
			glob[gl++] = *p == '>' ? '*' : *p;
		glob[gl] = '\0';
	}
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT seq, type, envelope FROM events WHERE seq >= ?1 AND seq <= ?2"
		 " AND time_ms >= ?3 AND time_ms < ?4%s%s%s ORDER BY seq %s",
		 q->project ? " AND project = ?5" : "",
		 exact ? " AND type = ?6" : (plen ? " AND type >= ?6 AND type < ?7" : ""),
		 *glob ? " AND type GLOB ?8" : "", q->desc ? "DESC" : "ASC");
	if (more)
		*more = false;
	sqlite3_stmt *s = NULL;
	int r = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		log_error("store: query failed: %s", sqlite3_errmsg(db));
		return CAIRN_E_STORE;
	}
	sqlite3_bind_int64(s, 1, q->since_seq > 0 ? q->since_seq : 1);
	sqlite3_bind_int64(s, 2, q->until_seq > 0 ? q->until_seq : INT64_MAX);
	sqlite3_bind_int64(s, 3, q->since_ms);
	sqlite3_bind_int64(s, 4, q->until_ms);
	if (q->project)
		sqlite3_bind_text(s, 5, q->project, -1, SQLITE_STATIC);
	char hi[PATTERN_MAX + 2];
	if (exact) {
		sqlite3_bind_text(s, 6, pat, -1, SQLITE_STATIC);
	} else if (plen) {
		/* Types with the prefix "a.b." sort in ["a.b.", "a.b/"). */
		memcpy(hi, pat, plen);
		hi[plen - 1] = '.' + 1;
		hi[plen] = '\0';
		sqlite3_bind_text(s, 6, pat, (int)plen, SQLITE_STATIC);
		sqlite3_bind_text(s, 7, hi, -1, SQLITE_STATIC);
	}
	if (*glob)
		sqlite3_bind_text(s, 8, glob, -1, SQLITE_STATIC);
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(s, 1);
		if (!type || (!exact && !pattern_match(pat, type)))
			continue;
		if (n == q->limit) {
			if (more)
				*more = true;
			break;
		}
		n++;
		const char *json = (const char *)sqlite3_column_text(s, 2);
		size_t len = (size_t)sqlite3_column_bytes(s, 2);
		if (fn(ctx, sqlite3_column_int64(s, 0), type, json ? json : "", len))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_error("store: query failed: %s", sqlite3_errmsg(db));
		r = CAIRN_E_STORE;
	}
	sqlite3_finalize(s);
	return r;
}

int store_lookup(struct store *st, const char *source, const char *id, int64_t *seq)
{
	if (!st->lookup) {
		char err[256];
		if (open_conn(st->path, true, &st->lookup_db, err, sizeof err) ||
		    sqlite3_prepare_v2(st->lookup_db,
				       "SELECT seq FROM events WHERE source=?1 AND id=?2", -1,
				       &st->lookup, NULL) != SQLITE_OK) {
			log_error("store: cannot prepare the dedup lookup: %s", err);
			return CAIRN_E_STORE;
		}
	}
	sqlite3_stmt *s = st->lookup;
	sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	int r = 0;
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(s, 0);
		r = 1;
	} else if (rc != SQLITE_DONE) {
		r = CAIRN_E_STORE;
	}
	sqlite3_reset(s);
	return r;
}

int store_seq_at_time(struct store *st, int64_t ms, int64_t *seq)
{
	sqlite3 *db = reader_get(st);
	if (!db)
		return CAIRN_E_STORE;
	sqlite3_stmt *s;
	int r = 0;
	*seq = store_last_seq(st) + 1;
	if (sqlite3_prepare_v2(db, "SELECT min(seq) FROM events WHERE time_ms >= ?1", -1, &s,
			       NULL) != SQLITE_OK) {
		r = CAIRN_E_STORE;
		goto out_put;
	}
	sqlite3_bind_int64(s, 1, ms);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*seq = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
out_put:
	reader_put(st, db);
	return r;
}

int store_stats(struct store *st, struct store_stats *out)
{
	sqlite3 *db = reader_get(st);
	if (!db)
		return CAIRN_E_STORE;
	out->first_seq = query_int(db, "SELECT min(seq) FROM events", 0);
	out->events = query_int(db, "SELECT count(*) FROM events", 0);
	int64_t pages = query_int(db, "PRAGMA page_count", 0);
	int64_t psize = query_int(db, "PRAGMA page_size", 4096);
	out->bytes = pages * psize;
	out->last_seq = store_last_seq(st);
	reader_put(st, db);
	return 0;
}
