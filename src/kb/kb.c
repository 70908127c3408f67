/* The knowledge base's handle: opening (which registers the ranking function
 * and purges long-forgotten entries), closing and kb_purge(); the cached
 * statements with their SQL, errors and transactions that the other parts
 * use (kb_int.h); the names of kinds and states. The rest of the API is
 * implemented by kb_entry.c, kb_search.c, kb_jsonl.c and kb_fix.c. */
#include "kb/kb_int.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const kb__kinds[KB__N_KINDS] = {"decision", "mistake", "pattern", "fix", "note"};
static const char *const states[] = {"active", "candidate", "rejected"};
#define N_STATES (sizeof states / sizeof states[0])

const char *kb_kind_parse(const char *s)
{
	for (size_t i = 0; s && i < KB__N_KINDS; i++)
		if (strcmp(s, kb__kinds[i]) == 0)
			return kb__kinds[i];
	return NULL;
}

unsigned kb_kind_bit(const char *s)
{
	for (size_t i = 0; s && i < KB__N_KINDS; i++)
		if (strcmp(s, kb__kinds[i]) == 0)
			return 1u << i;
	return 0;
}

const char *kb_state_parse(const char *s)
{
	for (size_t i = 0; s && i < N_STATES; i++)
		if (strcmp(s, states[i]) == 0)
			return states[i];
	return NULL;
}

/* ---- statements ---- */

/* How kb_fixes_for() orders the entries of one tier (?4: now). */
#define FIX_ORDER                                                                                  \
	" ORDER BY (k.superseded_by IS NOT NULL), k.confidence - " IDLE_PENALTY_SQL(               \
		"?4") " DESC, k.uses DESC, k.updated_ms DESC, k.id DESC"

/* The SQL of enum stmt_id (kb_int.h), prepared on first use by kb__stmt(). */
static const char *const stmt_sql[N_STMTS] = {
	[S_GET_ID] = "SELECT " COLS " FROM knowledge k WHERE k.id=?1",
	[S_GET_UID] = "SELECT " COLS " FROM knowledge k WHERE k.uid=?1",
	[S_BY_HASH] = "SELECT id, forgotten_ms FROM knowledge WHERE hash=?1",
	[S_INSERT] = "INSERT INTO knowledge(" INSERT_COLS ")"
		     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
		     " ON CONFLICT DO NOTHING",
	[S_UPDATE_CONTENT] = "UPDATE knowledge SET kind=?2,title=?3,body=?4,tags=?5,files=?6,"
			     "project=?7,hash=?8,updated_ms=?9 WHERE id=?1",
	[S_REPLACE] = "UPDATE knowledge SET kind=?2,title=?3,body=?4,tags=?5,files=?6,project=?7,"
		      "created_ms=?8,updated_ms=?9,uses=?10,last_used_ms=?11,confidence=?12,"
		      "state=?13,forgotten_ms=?14,signature=?15,sig_general=?16,fix_key=?17,"
		      "sources=?18,hash=?19,superseded_by=NULL WHERE id=?1",
	[S_SUPER_OF] = "SELECT superseded_by FROM knowledge WHERE id=?1",
	[S_SET_SUPER] = "UPDATE knowledge SET superseded_by=?2, updated_ms=?3 WHERE id=?1",
	[S_SET_SUPER_QUIET] = "UPDATE knowledge SET superseded_by=?2 WHERE id=?1",
	[S_FORGET] = "UPDATE knowledge SET forgotten_ms=?2, updated_ms=?2 WHERE id=?1 AND "
		     "forgotten_ms IS NULL",
	[S_UNFORGET] = "UPDATE knowledge SET forgotten_ms=NULL, updated_ms=?2 WHERE id=?1 AND "
		       "forgotten_ms IS NOT NULL",
	[S_EXISTS] = "SELECT 1 FROM knowledge WHERE id=?1",
	[S_CONFIRM] =
		"UPDATE knowledge SET state='active', confidence=confidence+(1-confidence)*0.5,"
		" uses=uses+1, last_used_ms=?2, updated_ms=?2 WHERE id=?1",
	[S_REJECT] = "UPDATE knowledge SET state='rejected', updated_ms=?2 WHERE id=?1 AND "
		     "state!='rejected'",
	[S_USED] = "UPDATE knowledge SET uses=uses+1, last_used_ms=max(coalesce(last_used_ms,0),?2)"
		   " WHERE id=?1",
	[S_UID_LOOKUP] = "SELECT id, updated_ms FROM knowledge WHERE uid=?1",
	[S_PURGE_COUNT] = "SELECT count(*) FROM knowledge WHERE forgotten_ms IS NOT NULL AND "
			  "forgotten_ms < ?1",
	[S_PURGE_REWIRE] =
		"UPDATE knowledge SET superseded_by=(SELECT p.superseded_by FROM knowledge p WHERE "
		"p.id=knowledge.superseded_by) WHERE superseded_by IN (SELECT id FROM knowledge "
		"WHERE forgotten_ms IS NOT NULL AND forgotten_ms < ?1)",
	[S_PURGE_UNLINK] = "UPDATE knowledge SET superseded_by=NULL WHERE superseded_by=id OR "
			   "superseded_by IN (SELECT id FROM knowledge WHERE forgotten_ms IS NOT "
			   "NULL AND forgotten_ms < ?1)",
	[S_PURGE_DELETE] = "DELETE FROM knowledge WHERE forgotten_ms IS NOT NULL AND forgotten_ms "
			   "< ?1",
	[S_SIG_UPSERT] = "INSERT INTO signatures(sig,general,example,first_ms,last_ms,count)"
			 " VALUES(?1,?2,?3,?4,?4,1) ON CONFLICT(sig) DO UPDATE SET"
			 " count=count+1, last_ms=max(last_ms,excluded.last_ms)",
	[S_LEARN_SIG] = "SELECT id FROM knowledge WHERE signature=?1 AND fix_key=?2 AND project "
			"IS ?3 AND forgotten_ms IS NULL ORDER BY (superseded_by IS NOT NULL), "
			"updated_ms DESC, id DESC LIMIT 1",
	[S_LEARN_GEN] = "SELECT id FROM knowledge WHERE sig_general=?1 AND fix_key=?2 AND project "
			"IS ?3 AND forgotten_ms IS NULL ORDER BY (superseded_by IS NOT NULL), "
			"updated_ms DESC, id DESC LIMIT 1",
	[S_RECUR] =
		"UPDATE knowledge SET uses=uses+1, last_used_ms=max(coalesce(last_used_ms,0),?4),"
		" confidence=?2, sources=?3, updated_ms=?4, body=?5, hash=?6, title=?7, files=?8"
		" WHERE id=?1",
	[S_FIX_SIG] =
		"SELECT k.id FROM knowledge k WHERE k.signature=?1 AND " FIX_ELIGIBLE FIX_ORDER
		" LIMIT ?3",
	/* Learned in another project, for the same exact signature. */
	[S_FIX_SIG_ELSEWHERE] =
		"SELECT k.id FROM knowledge k WHERE k.signature=?1 AND k.kind IN "
		"('fix','mistake','pattern') AND k.state!='rejected' AND k.forgotten_ms IS NULL"
		" AND k.project IS NOT NULL AND (?2 IS NULL OR k.project!=?2)" FIX_ORDER
		" LIMIT ?3",
	[S_FIX_GEN] =
		"SELECT k.id FROM knowledge k WHERE k.sig_general=?1 AND " FIX_ELIGIBLE FIX_ORDER
		" LIMIT ?3",
	[S_FIX_ELIGIBLE] = "SELECT 1 FROM knowledge k WHERE k.id=?1 AND " FIX_ELIGIBLE,
	[S_DF] =
		"SELECT count(*) FROM (SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ?1"
		" LIMIT ?2)",
	[S_MAXID] = "SELECT max(id) FROM knowledge",
};

/* ---- errors, statements, transactions ---- */

const char *kb_errmsg(const struct kb *kb)
{
	return kb->err.msg;
}
const struct cairn_err *kb_error(const struct kb *kb)
{
	return &kb->err;
}
unsigned kb_redactions(const struct kb *kb)
{
	return kb->redactions;
}
int64_t kb_forget_window_ms(const struct kb *kb)
{
	return kb->forget_ms;
}

void kb__field_from_msg(struct cairn_err *e)
{
	size_t n = strspn(e->msg, "abcdefghijklmnopqrstuvwxyz_");
	if (n > 0 && n < sizeof e->field && e->msg[n] == ':')
		snprintf(e->field, sizeof e->field, "%.*s", (int)n, e->msg);
	else
		e->field[0] = '\0';
}

int kb__seterr(struct kb *kb, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(kb->err.msg, sizeof kb->err.msg, fmt, ap);
	va_end(ap);
	kb->err.code = code;
	if (code == CAIRN_E_INVALID)
		kb__field_from_msg(&kb->err);
	else
		kb->err.field[0] = '\0';
	return code;
}

int kb__sqlerr(struct kb *kb, const char *what)
{
	int code = sqlite3_errcode(kb->db);
	return kb__seterr(kb, CAIRN_E_STORE, "%s: %s%s", what, sqlite3_errmsg(kb->db),
			  code == SQLITE_BUSY ? " (another process holds the database; try again)"
					      : "");
}

sqlite3_stmt *kb__stmt(struct kb *kb, enum stmt_id i)
{
	if (!kb->st[i]) {
		if (sqlite3_prepare_v3(kb->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &kb->st[i], NULL) != SQLITE_OK) {
			kb__sqlerr(kb, "cannot prepare a knowledge base query");
			return NULL;
		}
	}
	sqlite3_reset(kb->st[i]);
	sqlite3_clear_bindings(kb->st[i]);
	return kb->st[i];
}

void kb__bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

void kb__bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
	if (ms)
		sqlite3_bind_int64(st, i, ms);
	else
		sqlite3_bind_null(st, i);
}

int kb__run(struct kb *kb, sqlite3_stmt *st, const char *what)
{
	if (!st)
		return CAIRN_E_STORE;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : kb__sqlerr(kb, what);
}

int kb__one_int(struct kb *kb, sqlite3_stmt *st, int64_t *v, const char *what)
{
	if (!st)
		return CAIRN_E_STORE;
	int rc = sqlite3_step(st), r = 0;
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		r = 1;
	} else if (rc != SQLITE_DONE) {
		r = kb__sqlerr(kb, what);
	}
	sqlite3_reset(st);
	return r;
}

int kb__exec(struct kb *kb, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(kb->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kb__seterr(kb, CAIRN_E_STORE, "%s: %s", sql, msg ? msg : sqlite3_errmsg(kb->db));
		sqlite3_free(msg);
		return CAIRN_E_STORE;
	}
	return 0;
}

int kb__tx_begin(struct kb *kb)
{
	kb->tx_outer = sqlite3_get_autocommit(kb->db) != 0;
	return kb__exec(kb, kb->tx_outer ? "BEGIN IMMEDIATE" : "SAVEPOINT kb_tx");
}

int kb__tx_commit(struct kb *kb)
{
	int r = kb__exec(kb, kb->tx_outer ? "COMMIT" : "RELEASE kb_tx");
	if (r) {
		struct cairn_err keep = kb->err;
		kb__exec(kb, kb->tx_outer ? "ROLLBACK" : "ROLLBACK TO kb_tx; RELEASE kb_tx");
		kb->err = keep;
	}
	return r;
}

void kb__tx_rollback(struct kb *kb)
{
	struct cairn_err keep = kb->err;
	if (kb->tx_outer) {
		if (!sqlite3_get_autocommit(kb->db))
			kb__exec(kb, "ROLLBACK");
	} else {
		kb__exec(kb, "ROLLBACK TO kb_tx; RELEASE kb_tx");
	}
	kb->err = keep;
}

/* ---- opening and purging ---- */

static int kb_wrap(sqlite3 *db, bool owned, int64_t forget_ms, struct kb **out,
		   struct cairn_err *err)
{
	sqlite3_stmt *st;
	bool ok = false;
	if (sqlite3_prepare_v2(
		    db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='knowledge'", -1,
		    &st, NULL) == SQLITE_OK) {
		ok = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	if (!ok) {
		return cairn_err_set(err, CAIRN_E_VERSION, "",
				     "the database has no knowledge base (schema older than "
				     "migration 2); open it once read-write with this cairn");
	}
	if (kb__register_rank(db)) {
		return cairn_err_set(err, CAIRN_E_STORE, "",
				     "cannot register the ranking function: this SQLite has no "
				     "FTS5");
	}
	struct kb *kb = xcalloc(1, sizeof *kb);
	kb->db = db;
	kb->owned = owned;
	/* A connection of our own may use memory for speed: search touches the
	 * same index pages again and again, and every insert into knowledge
	 * inside a transaction keeps a statement journal (its triggers write
	 * other tables), which SQLite otherwise moves to a temporary file once
	 * it passes 64 KiB: an import then wrote more to such files than to the
	 * database. (Someone else's connection we leave alone.) */
	if (owned)
		sqlite3_exec(db,
			     "PRAGMA cache_size=-32768; PRAGMA mmap_size=268435456;"
			     " PRAGMA temp_store=MEMORY;",
			     NULL, NULL, NULL);
	kb->forget_ms = forget_ms > 0 ? forget_ms : KB_FORGET_DEFAULT_MS;
	if (!sqlite3_db_readonly(db, "main")) {
		/* Best effort: a busy database only delays the purge. */
		if (kb_purge(kb, clock_wall_ms() - kb->forget_ms, NULL))
			log_debug("kb: purge skipped: %s", kb->err.msg);
		cairn_err_clear(&kb->err);
	}
	*out = kb;
	return 0;
}

int kb_open(const char *db_path, bool readonly, int64_t forget_ms, struct kb **out,
	    struct cairn_err *err)
{
	sqlite3 *db = NULL;
	*out = NULL;
	cairn_err_clear(err);
	int r = store_db_open(db_path, readonly, &db, err);
	if (r)
		return r;
	if ((r = kb_wrap(db, true, forget_ms, out, err)))
		sqlite3_close(db);
	return r;
}

int kb_open_db(sqlite3 *db, int64_t forget_ms, struct kb **out, struct cairn_err *err)
{
	*out = NULL;
	cairn_err_clear(err);
	return kb_wrap(db, false, forget_ms, out, err);
}

void kb_close(struct kb *kb)
{
	if (!kb)
		return;
	for (int i = 0; i < N_STMTS; i++)
		sqlite3_finalize(kb->st[i]);
	for (int i = 0; i <= KB_MANY_LOG2; i++)
		sqlite3_finalize(kb->many[i]);
	if (kb->owned)
		sqlite3_close(kb->db);
	free(kb);
}

int kb_purge(struct kb *kb, int64_t older_than_ms, size_t *purged)
{
	int r;
	int64_t n = 0;
	if (purged)
		*purged = 0;
	/* Count first, so that a purge with nothing to do takes no write lock. */
	sqlite3_stmt *st = kb__stmt(kb, S_PURGE_COUNT);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, older_than_ms);
	if ((r = kb__one_int(kb, st, &n, "cannot count forgotten entries")) < 0)
		return r;
	if (n == 0)
		return 0;
	if ((r = kb__tx_begin(kb)))
		return r;
	/* Whatever a purged entry superseded is re-pointed to what replaced the
	 * purged one (following chains of purged entries a few steps). */
	for (int i = 0; i < 8; i++) {
		if (!(st = kb__stmt(kb, S_PURGE_REWIRE))) {
			r = CAIRN_E_STORE;
			goto out_rollback;
		}
		sqlite3_bind_int64(st, 1, older_than_ms);
		if ((r = kb__run(kb, st, "cannot purge forgotten entries")))
			goto out_rollback;
		if (sqlite3_changes(kb->db) == 0)
			break;
	}
	if (!(st = kb__stmt(kb, S_PURGE_UNLINK))) {
		r = CAIRN_E_STORE;
		goto out_rollback;
	}
	sqlite3_bind_int64(st, 1, older_than_ms);
	if ((r = kb__run(kb, st, "cannot purge forgotten entries")))
		goto out_rollback;
	if (!(st = kb__stmt(kb, S_PURGE_DELETE))) {
		r = CAIRN_E_STORE;
		goto out_rollback;
	}
	sqlite3_bind_int64(st, 1, older_than_ms);
	if ((r = kb__run(kb, st, "cannot purge forgotten entries")))
		goto out_rollback;
	n = sqlite3_changes(kb->db);
	if ((r = kb__tx_commit(kb)))
		return r;
	if (purged)
		*purged = (size_t)n;
	return 0;
out_rollback:
	kb__tx_rollback(kb);
	return r;
}
