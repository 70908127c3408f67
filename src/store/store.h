/* The event log in SQLite: schema and migrations, the single writer thread
 * with group commit, and read-only queries.
 *
 * Threads. The caller (the daemon's loop) is the sequencer: it assigns each
 * new event its seq, checks for duplicates with store_lookup(), encodes the
 * envelope and submits it; live delivery never waits for the disk. One
 * writer thread owns the write connection: it takes every publish waiting in
 * the queue as one batch, inserts it in one transaction, commits (with an
 * fsync when the batch holds a durable publish) and hands the batch back
 * with a COMMITTED marker. A batch that cannot be written is retried, never
 * dropped, so the log has no holes. Readers (store_query() and friends)
 * block, use their own read-only connections from a small pool, and are
 * meant for a worker thread or a CLI process.
 *
 * Schema (migration 1):
 *
 *   events  seq INTEGER PRIMARY KEY   gap-free log position
 *           id, source TEXT           UNIQUE (source, id): the dedup key
 *           type TEXT, time_ms INT    indexed (type, seq) and (time_ms)
 *           project TEXT              indexed (project, seq)
 *           session, correlationid, subject TEXT, severity INT
 *           envelope TEXT             the full encoded envelope, seq included
 *   meta    key TEXT PRIMARY KEY, value   "last_seq": high-water mark, so seq
 *                                          never goes back even after retention
 *
 * Migration 2 adds knowledge (+ knowledge_fts, kept in step by triggers),
 * signatures, failures and snapshots: their layout is drawn in
 * src/kb/kb.h and src/services/triage.h. Migration 3 adds
 * service_checkpoints (src/store/queries.h), migration 4 failures.learned
 * (src/services/triage.h), 5 the file prediction model
 * (src/services/predict.h), 6 sessions (src/services/session.h), 7 the
 * command prediction model (src/services/cmdpredict.h), 8 an index of open
 * failures per project (src/brief/brief.c), 9 the file prediction model's
 * second version (src/services/predict.h).
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "common/err.h"
#include "event/envelope.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct sqlite3;

struct store_config {
	const char *path;         /* database file */
	size_t batch_max;         /* most publishes per transaction */
	size_t event_max_bytes;   /* cap on an encoded envelope */
	int64_t retention_age_ms; /* 0: keep forever */
	int64_t retention_bytes;  /* 0: no size cap */
	int64_t reserve_bytes;    /* disk kept in reserve for a full disk; 0: none */
	bool check_at_open;       /* run PRAGMA quick_check before writing */
	int64_t commit_delay_ms;  /* group commit: how long a batch with no durable
				   * publish waits for more (0: commit at once) */
};

/* One publish travelling loop -> writer -> loop. Submit in seq order. */
struct store_pub {
	struct store_pub *next;
	struct event *ev; /* owned */
	char *json;       /* owned: the encoded envelope, seq included */
	size_t json_len;
	int64_t seq;  /* assigned by the submitter */
	int err;      /* set by the writer: 0, or CAIRN_E_STORE (lost) */
	bool durable; /* someone waits for this one to be fsynced */
	void *ctx;    /* the submitter's */
};

enum store_out_kind {
	STORE_OUT_COMMITTED, /* pubs are committed (and fsynced if durable), or err */
};

/* What the writer hands back, in seq order. */
struct store_out {
	struct store_out *next;
	enum store_out_kind kind;
	struct store_pub *pubs; /* the batch, in seq order */
	int64_t seq;            /* the batch's last seq */
	int err;                /* 0, or CAIRN_E_STORE: the batch could not be written */
};

/* Opens (creating if needed) the database at cfg->path, applies migrations,
 * checks it (cfg->check_at_open) and reads the last seq. Any read that fails
 * refuses the open with CAIRN_E_CORRUPT and a reason that names the way out
 * ('cairn doctor'): seq must never restart from a wrong number. Does not
 * start the writer. On failure returns a negative code and fills err (may be
 * NULL) with it and a readable reason. */
int store_open(const struct store_config *cfg, struct store **out, struct cairn_err *err);

/* Opens one connection of its own to the database at path, for a process or
 * thread that is not the daemon's store (the CLI's knowledge base commands,
 * the triage service). Read-write opens create the file if needed, turn on
 * WAL and apply any pending migration, so the schema is the daemon's own;
 * read-only opens fail if the file does not exist. A 5 s busy timeout waits
 * out the other writers. On failure returns CAIRN_E_STORE or
 * CAIRN_E_VERSION and fills err (may be NULL) with it and a readable reason;
 * on success the caller owns *out (sqlite3_close()). Blocking; any thread. */
int store_db_open(const char *path, bool readonly, struct sqlite3 **out, struct cairn_err *err);

/* Starts the writer thread. notify(arg) is called from the writer thread
 * whenever output is ready to collect with store_take_output(). */
int store_start(struct store *st, void (*notify)(void *arg), void *arg);

/* Queues a publish for the writer; ownership of pub passes to the store
 * until it comes back from store_take_output(). Any thread. */
void store_submit(struct store *st, struct store_pub *pub);
/* Has the writer commit what is queued now rather than at the end of the
 * commit delay (someone waits to read it). Any thread. */
void store_flush(struct store *st);
/* Publishes queued and not yet sequenced. Any thread. */
size_t store_queued(struct store *st);

/* Takes everything the writer has produced, oldest first (NULL if none).
 * The caller owns the list: free each node with free() after taking its pubs. */
struct store_out *store_take_output(struct store *st);

/* Asks the writer to apply the retention policy in its next cycle. */
void store_request_retention(struct store *st);

/* Tells the writer a stop is coming (the daemon got SIGTERM): a batch that
 * cannot be written because the disk is full is then retried three times,
 * not forever, and the rest of the queue fails with it, so that the stop
 * completes; the log names every seq lost. The writer keeps writing what
 * it can until store_stop(). Any thread. */
void store_request_stop(struct store *st);

/* Stops the writer after it has committed everything submitted so far and
 * waits for it; no notify() call happens after this returns. Output stays
 * to be taken. Idempotent. */
void store_stop(struct store *st);

/* Stops the writer (as store_stop()), then closes every connection and frees st. Output not yet
 * taken is freed (pubs included). NULL is a no-op. */
void store_close(struct store *st);

/* The writer's health: 0 when it writes, CAIRN_E_FULL while the disk is
 * full, CAIRN_E_STORE while writes fail for another reason that may pass,
 * CAIRN_E_CORRUPT once the database refused an append for good (nothing is
 * written after that). msg (may be NULL) gets the reason. The writer calls
 * notify() on every change. While it cannot write and has nothing queued it
 * looks once a second for free space, and reports health 0 when there is.
 *
 * A full disk: the writer splits a failing batch down to single events and
 * first gives back its reserve file (<db>.reserve, cfg->reserve_bytes), so
 * what is already queued still fits; the daemon refuses new durable
 * publishes and pauses accepted ones until health is 0 again. Any thread. */
int store_health(struct store *st, char *msg, size_t msglen);

/* The last seq in the log: as read at open, then the last one committed. */
int64_t store_last_seq(struct store *st);

/* Dedup check: looks up (source, id) among committed events. Returns 1 and
 * sets *seq when found, 0 when not, or CAIRN_E_STORE. Blocking (an index
 * probe); call from one thread only (the sequencer's). */
int store_lookup(struct store *st, const char *source, const char *id, int64_t *seq);

/* ---- reading (blocking; any thread; uses a pooled read connection) ---- */

struct store_query {
	const char *pattern; /* NULL means ">" */
	int64_t since_seq;   /* inclusive; 0 = unbounded */
	int64_t until_seq;   /* inclusive; 0 = unbounded */
	int64_t since_ms;    /* inclusive; INT64_MIN = unbounded */
	int64_t until_ms;    /* exclusive; INT64_MAX = unbounded */
	const char *project; /* NULL = any */
	size_t limit;        /* rows wanted */
	bool desc;
};

/* Initialises q to "everything, ascending, limit 100". */
void store_query_init(struct store_query *q);

/* Called per matching row; return non-zero to stop. json is valid only
 * during the call. */
typedef int (*store_row_fn)(void *ctx, int64_t seq, const char *type, const char *json, size_t len);

/* Runs q, calling fn for up to q->limit matching rows. *more (may be NULL)
 * says whether another row matched beyond the limit. Returns 0 or
 * CAIRN_E_STORE. */
int store_query(struct store *st, const struct store_query *q, store_row_fn fn, void *ctx,
		bool *more);

/* store_query() on a connection of the caller's own (store_db_open(),
 * read-only is fine): `cairn log` with the daemon down. */
int store_query_db(struct sqlite3 *db, const struct store_query *q, store_row_fn fn, void *ctx,
		   bool *more);

/* Seq of the first event whose time is >= ms; last_seq + 1 if none. */
int store_seq_at_time(struct store *st, int64_t ms, int64_t *seq);

struct store_stats {
	int64_t first_seq, last_seq, events, bytes;
};
int store_stats(struct store *st, struct store_stats *out);

/* ---- checking and salvage (src/store/recover.c; `cairn doctor`) ---- */

/* What store_check_file() found. Counts are -1 when they could not be read. */
struct store_check {
	bool opened;         /* the file opened as a database */
	bool ok;             /* integrity ok and every count read */
	bool gaps;           /* events has holes between first and last seq */
	char integrity[512]; /* "ok", or integrity_check's first findings */
	int64_t schema;      /* user_version */
	int64_t events, first_seq, last_seq, high_water, knowledge;
};

/* Checks the database at path read-only (full integrity_check, the counts,
 * the high-water mark); safe while a daemon runs. Returns 0 with *out
 * filled (out->ok says whether it is healthy), or CAIRN_E_STORE (in err,
 * which may be NULL, with the reason) when it does not even open. Blocking;
 * any thread. */
int store_check_file(const char *path, struct store_check *out, struct cairn_err *err);

struct store_recover_table {
	const char *table;
	int64_t rows;             /* salvaged */
	int64_t expected;         /* keys found by any path (rowid tables), else rows */
	int64_t min_key, max_key; /* of the rows salvaged */
	int64_t max_seen;         /* the largest key any path still showed */
	bool partial;             /* some rows could not be read */
};

struct store_recover_report {
	struct store_recover_table tables[24]; /* events first */
	size_t n_tables;
	int64_t high_water; /* the last seq the new file continues after */
};

/* Salvages every readable row of the damaged database into a new database
 * at out_path (created with the current schema; it must not exist), and
 * sets its high-water mark so seq never goes back. The damaged file is only
 * read. Rows on damaged pages are lost; the report says how many. The
 * caller must make sure no daemon writes either file. Returns 0 or a
 * negative code, filling err (may be NULL) with it and the reason. Blocking. */
int store_recover(const char *damaged, const char *out_path, struct store_recover_report *rep,
		  struct cairn_err *err);

#endif
