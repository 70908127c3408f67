/* Checking a database file and salvaging what is readable from a damaged
 * one into a fresh file (`cairn doctor`).
 *
 * Why not SQLite's own `.recover`: it lives in the sqlite3 shell, not in
 * the library Debian ships, and the shell's 3.40 `.recover` gave up on the
 * first malformed page of a damaged cairn log (it recovered nothing where a
 * plain scan still read 296 of 300 events). The salvage here needs no
 * tool: for a table with an integer key it collects keys from every path
 * that still reads (the table's b-tree forwards until it fails, backwards
 * from the end until it fails, and each full index), then fetches each row
 * by key. A damaged page costs the rows on it, not the rows behind it. */
#include "store/store.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_check_file(const char *path, struct store_check *out, struct cairn_err *err)
{
	memset(out, 0, sizeof *out);
	cairn_err_clear(err);
	snprintf(out->integrity, sizeof out->integrity, "not checked");
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		cairn_err_set(err, CAIRN_E_STORE, "", "cannot open '%s': %s", path,
			      db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return CAIRN_E_STORE;
	}
	sqlite3_busy_timeout(db, 5000);
	out->opened = true;
	sqlite3_stmt *s = NULL;
	/* integrity_check reads every page; its first lines say where. */
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(8)", -1, &s, NULL) == SQLITE_OK) {
		size_t len = 0;
		int rc;
		out->integrity[0] = '\0';
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			const char *t = (const char *)sqlite3_column_text(s, 0);
			len += (size_t)snprintf(
				out->integrity + len,
				len < sizeof out->integrity ? sizeof out->integrity - len : 0,
				"%s%s", len ? "; " : "", t ? t : "?");
			if (len >= sizeof out->integrity)
				break;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE && !out->integrity[0])
			snprintf(out->integrity, sizeof out->integrity, "%s", sqlite3_errmsg(db));
	} else {
		snprintf(out->integrity, sizeof out->integrity, "%s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(s);
	out->ok = strcmp(out->integrity, "ok") == 0;

	static const struct {
		const char *sql;
		size_t off;
	} reads[] = {
		{"PRAGMA user_version", offsetof(struct store_check, schema)},
		{"SELECT count(*) FROM events", offsetof(struct store_check, events)},
		{"SELECT min(seq) FROM events", offsetof(struct store_check, first_seq)},
		{"SELECT max(seq) FROM events", offsetof(struct store_check, last_seq)},
		{"SELECT value FROM meta WHERE key='last_seq'",
		 offsetof(struct store_check, high_water)},
		{"SELECT count(*) FROM knowledge", offsetof(struct store_check, knowledge)},
	};
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
		int64_t *slot = (int64_t *)((char *)out + reads[i].off);
		*slot = -1;
		/* The knowledge base came with schema 2: an older file that the
		 * daemon will migrate is not damaged for lacking it. */
		if (reads[i].off == offsetof(struct store_check, knowledge) && out->schema < 2)
			continue;
		if (sqlite3_prepare_v2(db, reads[i].sql, -1, &s, NULL) != SQLITE_OK) {
			out->ok = false;
			continue;
		}
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*slot = sqlite3_column_type(s, 0) == SQLITE_NULL
					? 0
					: sqlite3_column_int64(s, 0);
		else if (rc != SQLITE_DONE)
			out->ok = false;
		sqlite3_finalize(s);
	}
	if (out->ok && out->events > 0 && out->last_seq - out->first_seq + 1 != out->events)
		out->gaps = true;
	sqlite3_close(db);
	return 0;
}

/* ---- salvage ---- */

struct keys {
	int64_t *v;
	size_t n, cap;
};

static void keys_add(struct keys *k, int64_t key)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 1024;
		k->v = xreallocarray(k->v, k->cap, sizeof *k->v);
	}
	k->v[k->n++] = key;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Adds the keys sql yields (one integer column) until it ends or fails.
 * Returns the number of keys added. */
static size_t collect(sqlite3 *db, const char *sql, struct keys *k)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return 0;
	size_t n = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		keys_add(k, sqlite3_column_int64(s, 0));
		n++;
	}
	sqlite3_finalize(s);
	return n;
}

static bool has_column(sqlite3 *db, const char *table, const char *col)
{
	sqlite3_stmt *s;
	bool found = false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &s,
			       NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, col, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

/* The columns the damaged table and the new one share, comma-separated and
 * quoted, or NULL. */
static char *shared_columns(sqlite3 *src, sqlite3 *dst, const char *table)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(src, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", -1, &s,
			       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	char *cols = NULL;
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(s, 0);
		if (!n || strchr(n, '"') || !has_column(dst, table, n))
			continue;
		char *next = cols ? xasprintf("%s,\"%s\"", cols, n) : xasprintf("\"%s\"", n);
		free(cols);
		cols = next;
	}
	sqlite3_finalize(s);
	return cols;
}

/* Copies the row the prepared get statement yields into put's bindings and
 * inserts it. Returns true if a row was written. */
static bool copy_row(sqlite3_stmt *get, sqlite3_stmt *put, int ncols)
{
	for (int c = 0; c < ncols; c++)
		sqlite3_bind_value(put, c + 1, sqlite3_column_value(get, c));
	/* An ignored duplicate (a damaged file can hold one) is not a row. */
	bool ok = sqlite3_step(put) == SQLITE_DONE && sqlite3_changes(sqlite3_db_handle(put)) > 0;
	sqlite3_reset(put);
	sqlite3_clear_bindings(put);
	return ok;
}

static char *insert_sql(const char *table, const char *cols, int *ncols)
{
	int n = 1;
	for (const char *p = cols; *p; p++)
		n += *p == ',';
	char *marks = xmalloc((size_t)n * 2);
	for (int i = 0; i < n; i++) {
		marks[2 * i] = '?';
		marks[2 * i + 1] = i + 1 < n ? ',' : '\0';
	}
	char *sql = xasprintf("INSERT OR IGNORE INTO \"%s\"(%s) VALUES(%s)", table, cols, marks);
	free(marks);
	*ncols = n;
	return sql;
}

/* Prepares the pair that copies rows of table: a SELECT of cols (plus
 * where) on src and the matching INSERT on dst. Returns false if either
 * does not prepare (*get and *put are then for the caller to finalize). */
static bool prepare_copy(sqlite3 *src, sqlite3 *dst, const char *table, const char *cols,
			 const char *where, sqlite3_stmt **get, sqlite3_stmt **put, int *ncols)
{
	char *g = xasprintf("SELECT %s FROM \"%s\"%s", cols, table, where);
	char *p = insert_sql(table, cols, ncols);
	bool ok = sqlite3_prepare_v2(src, g, -1, get, NULL) == SQLITE_OK &&
		  sqlite3_prepare_v2(dst, p, -1, put, NULL) == SQLITE_OK;
	free(g);
	free(p);
	return ok;
}

/* Salvages a table with an integer key (rowid) from src into dst. */
static void salvage_keyed(sqlite3 *src, sqlite3 *dst, const char *table, const char *key,
			  struct store_recover_table *tr)
{
	struct keys k = {0};
	char sql[600];
	char *cols = shared_columns(src, dst, table);
	if (!cols) {
		tr->partial = true;
		return;
	}
	snprintf(sql, sizeof sql, "SELECT %s FROM \"%s\" ORDER BY %s", key, table, key);
	collect(src, sql, &k);
	snprintf(sql, sizeof sql, "SELECT %s FROM \"%s\" ORDER BY %s DESC", key, table, key);
	collect(src, sql, &k);
	/* Every index on the table is a second way to its keys. Partial
	 * indexes hold only some rows; any that fail just stop early. */
	sqlite3_stmt *ix;
	if (sqlite3_prepare_v2(src,
			       "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=?1"
			       " AND sql IS NOT NULL AND sql NOT LIKE '% WHERE %'",
			       -1, &ix, NULL) == SQLITE_OK) {
		sqlite3_bind_text(ix, 1, table, -1, SQLITE_STATIC);
		while (sqlite3_step(ix) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(ix, 0);
			if (!name || strchr(name, '"'))
				continue;
			char q[400];
			snprintf(q, sizeof q, "SELECT %s FROM \"%s\" INDEXED BY \"%s\"", key, table,
				 name);
			collect(src, q, &k);
		}
		sqlite3_finalize(ix);
	}
	if (k.n > 1)
		qsort(k.v, k.n, sizeof *k.v, cmp_i64);
	size_t u = 0;
	for (size_t i = 0; i < k.n; i++)
		if (u == 0 || k.v[u - 1] != k.v[i])
			k.v[u++] = k.v[i];
	k.n = u;

	int ncols;
	sqlite3_stmt *g = NULL, *p = NULL;
	char *where = xasprintf(" WHERE %s = ?1", key);
	bool ok = prepare_copy(src, dst, table, cols, where, &g, &p, &ncols);
	free(where);
	if (!ok) {
		tr->partial = true;
		goto out;
	}
	tr->expected = (int64_t)k.n;
	/* The largest key the paths agree on: walking up the sorted keys, a
	 * jump of more than 1,000 is taken for a garbage key from a damaged
	 * index, not for the end of the log. */
	for (size_t i = 0; i < k.n; i++)
		if (i == 0 || k.v[i] - k.v[i - 1] <= 1000)
			tr->max_seen = k.v[i];
		else
			break;
	for (size_t i = 0; i < k.n; i++) {
		sqlite3_bind_int64(g, 1, k.v[i]);
		if (sqlite3_step(g) == SQLITE_ROW && copy_row(g, p, ncols)) {
			if (tr->rows++ == 0 || k.v[i] < tr->min_key)
				tr->min_key = k.v[i];
			if (k.v[i] > tr->max_key)
				tr->max_key = k.v[i];
		}
		sqlite3_reset(g);
	}
	tr->partial = tr->rows < tr->expected;
out:
	sqlite3_finalize(g);
	sqlite3_finalize(p);
	free(cols);
	free(k.v);
}

/* Salvages a WITHOUT ROWID table: one scan, as far as it reads. */
static void salvage_scan(sqlite3 *src, sqlite3 *dst, const char *table,
			 struct store_recover_table *tr)
{
	char *cols = shared_columns(src, dst, table);
	if (!cols) {
		tr->partial = true;
		return;
	}
	int ncols, rc = SQLITE_DONE;
	sqlite3_stmt *g = NULL, *p = NULL;
	if (!prepare_copy(src, dst, table, cols, "", &g, &p, &ncols)) {
		tr->partial = true;
		goto out;
	}
	while ((rc = sqlite3_step(g)) == SQLITE_ROW)
		tr->rows += copy_row(g, p, ncols);
	tr->expected = tr->rows;
	tr->partial = rc != SQLITE_DONE;
out:
	sqlite3_finalize(g);
	sqlite3_finalize(p);
	free(cols);
}

/* Whether db's schema names the table; true when that cannot be read (the
 * salvage then tries, and says what it could not copy). */
static bool has_table(sqlite3 *db, const char *table)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return true;
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc != SQLITE_DONE;
}

int store_recover(const char *damaged, const char *out_path, struct store_recover_report *rep,
		  struct cairn_err *err)
{
	memset(rep, 0, sizeof *rep);
	cairn_err_clear(err);
	sqlite3 *dst = NULL, *src = NULL;
	sqlite3_stmt *s = NULL;
	int r;
	/* Two connections: an error reading the damaged file must not roll
	 * back the transaction that writes the new one. */
	if (sqlite3_open_v2(damaged, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		cairn_err_set(err, CAIRN_E_STORE, "", "cannot open '%s' for reading: %s", damaged,
			      src ? sqlite3_errmsg(src) : "out of memory");
		sqlite3_close(src);
		return CAIRN_E_STORE;
	}
	/* The file is not trusted: its schema's views and triggers run nothing
	 * of consequence, and a corrupt schema cannot be used to write. */
	sqlite3_db_config(src, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(src, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	if ((r = store_db_open(out_path, false, &dst, err)))
		goto out;
	sqlite3_exec(dst, "PRAGMA foreign_keys=OFF; BEGIN", NULL, NULL, NULL);
	static const struct {
		const char *table, *key; /* key NULL: WITHOUT ROWID */
		bool optional;           /* added by a later migration: absent from older files */
	} tables[] = {
		{"events", "seq", false},         {"knowledge", "id", false},
		{"signatures", NULL, false},      {"failures", NULL, false},
		{"snapshots", NULL, false},       {"service_checkpoints", NULL, true},
		{"file_changes", NULL, true},     {"cochange", NULL, true},
		{"predict_learned", "id", true},  {"sessions", "id", true},
		{"session_items", NULL, true},    {"session_learned", "id", true},
		{"session_outbox", "seq", true},  {"cmd_ctx", NULL, true},
		{"cmd_next", NULL, true},         {"cmd_learned", "id", true},
		{"predict_projects", NULL, true}, {"predict_bursts", NULL, true},
	};
	_Static_assert(sizeof tables / sizeof tables[0] <=
			       sizeof rep->tables / sizeof rep->tables[0],
		       "store_recover_report.tables must hold every table");
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		if (tables[i].optional && !has_table(src, tables[i].table))
			continue;
		struct store_recover_table *tr = &rep->tables[rep->n_tables++];
		tr->table = tables[i].table;
		if (tables[i].key)
			salvage_keyed(src, dst, tables[i].table, tables[i].key, tr);
		else
			salvage_scan(src, dst, tables[i].table, tr);
	}
	/* The high-water mark: seq must never go back below anything the old
	 * file still tells, nor below what was salvaged. */
	int64_t hw = rep->tables[0].max_seen; /* an index may know seqs whose rows are lost */
	if (sqlite3_prepare_v2(src, "SELECT value FROM meta WHERE key='last_seq'", -1, &s, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > hw)
		hw = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	rep->high_water = hw;
	if (sqlite3_prepare_v2(dst,
			       "INSERT INTO meta(key,value) VALUES('last_seq',?1)"
			       " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, hw);
		sqlite3_step(s);
	}
	sqlite3_finalize(s);
	s = NULL;
	/* The knowledge index is rebuilt from its content table. */
	sqlite3_exec(dst, "INSERT INTO knowledge_fts(knowledge_fts) VALUES('rebuild')", NULL, NULL,
		     NULL);
	if (sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		r = cairn_err_set(err, CAIRN_E_STORE, "", "cannot write '%s': %s", out_path,
				  sqlite3_errmsg(dst));
		goto out;
	}
	r = 0;
out:
	sqlite3_close(src);
	if (dst && sqlite3_close(dst) != SQLITE_OK && r == 0) {
		r = cairn_err_set(err, CAIRN_E_STORE, "", "cannot close '%s'", out_path);
	}
	return r;
}
