/* What the parts of the knowledge base share: the handle (struct kb), its
 * cached statements, and the helpers one part offers the others. Only the
 * files below include it; everyone else uses kb.h.
 *
 *   kb.c         the handle: open, close, purge; errors, statements and
 *                transactions; kind and state names
 *   kb_prep.c    an entry's text validated, normalised, redacted and hashed
 *                (pure: no database, any thread)
 *   kb_entry.c   entries in the database: add, get, resolve, update,
 *                supersede, forget, confirm, reject; an entry as JSON
 *   kb_search.c  words, the ranking function, filters, snippets, kb_search()
 *   kb_jsonl.c   kb_export() and kb_import() (JSON Lines)
 *   kb_fix.c     the triage service's part: kb_fixes_for(), kb_learn_fix(),
 *                kb_note_signature()
 *   kb_stale.c   memory hygiene: idleness (kb_idle_days(), kb_idle_penalty())
 *                and the stale entries (kb_stale())
 *
 * Names shared between these files start with kb__ (functions) or are
 * defined here; everything else in them is static. Errors are negative
 * codes (common/err.h) with the error in kb->err, as in kb.h. */
#ifndef CAIRN_KB_INT_H
#define CAIRN_KB_INT_H

#include "common/buf.h"
#include "kb/kb.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The cap of the strings built here (struct buf, common/buf.h). Everything
 * they are built from is capped before it gets here (kb.h's limits; the
 * longest input, an import line, is KB_LINE_MAX), so this generous bound
 * is never reached in use: it only stops a runaway. */
#define KB_TEXT_MAX (16u * 1024 * 1024)

/* ---- kb.c: the handle ---- */

/* The kind names, in the order of enum kb_kind_bit. */
#define KB__N_KINDS 5
extern const char *const kb__kinds[KB__N_KINDS];

/* The cached statements (SQL in kb.c), by the file that runs them. */
enum stmt_id {
	/* kb_entry.c */
	S_GET_ID,
	S_GET_UID,
	S_EXISTS,
	S_UID_LOOKUP, /* also kb_jsonl.c */
	S_BY_HASH,
	S_INSERT,
	S_UPDATE_CONTENT,
	S_SUPER_OF,
	S_SET_SUPER,
	S_FORGET,
	S_UNFORGET,
	S_CONFIRM,
	S_REJECT,
	S_USED,
	/* kb.c: kb_purge() */
	S_PURGE_COUNT,
	S_PURGE_REWIRE,
	S_PURGE_UNLINK,
	S_PURGE_DELETE,
	/* kb_jsonl.c */
	S_REPLACE,
	S_SET_SUPER_QUIET,
	/* kb_search.c */
	S_DF, /* also kb_fix.c */
	/* kb_fix.c */
	S_FIX_SIG,
	S_FIX_SIG_ELSEWHERE,
	S_FIX_GEN,
	S_FIX_ELIGIBLE,
	S_MAXID,
	S_LEARN_SIG,
	S_LEARN_GEN,
	S_RECUR,
	S_SIG_UPSERT,
	N_STMTS
};

/* The columns every entry is read with (table alias k), in the order
 * kb__entry_from_row() reads. */
#define COLS                                                                                       \
	"k.id,k.uid,k.kind,k.title,k.body,k.tags,k.files,k.project,k.created_ms,k.updated_ms,"     \
	"k.superseded_by,(SELECT s.uid FROM knowledge s WHERE s.id=k.superseded_by),k.uses,"       \
	"k.last_used_ms,k.confidence,k.state,k.forgotten_ms,k.signature,k.sig_general,k.fix_key,"  \
	"k.sources"

/* kb_idle_penalty() of entry k in SQL, now being the SQL of the time (a
 * parameter): whole days idle (integer division, as kb_idle_days()), at
 * most KB_IDLE_DAYS, over 300. The two must agree (tests/unit/test_kb.c). */
#define IDLE_PENALTY_SQL(now)                                                                      \
	"(min(max((" now " - coalesce(k.last_used_ms, k.created_ms)) / 86400000, 0), 90) / 300.0)"

/* The entries kb_fixes_for() may return (alias k, ?2 the project). */
#define FIX_ELIGIBLE                                                                               \
	"k.kind IN ('fix','mistake','pattern') AND k.state!='rejected' AND k.forgotten_ms IS "     \
	"NULL AND (k.project IS NULL OR k.project=?2)"

/* The columns an insert sets (S_INSERT, kb__insert_many()), in the order
 * kb_entry.c binds them. */
#define INSERT_COLS                                                                                \
	"uid,kind,title,body,tags,files,project,created_ms,updated_ms,uses,last_used_ms,"          \
	"confidence,state,forgotten_ms,signature,sig_general,fix_key,sources,hash"
#define INSERT_NCOLS 19

/* kb__insert_many() inserts up to 1 << KB_MANY_LOG2 rows in one
 * statement. */
#define KB_MANY_LOG2 8

/* The connection and its cached statements belong to the one thread using
 * the kb at a time. */
struct kb {
	sqlite3 *db;
	bool owned;    /* kb_close() closes db */
	bool tx_outer; /* the current transaction is ours (not a savepoint) */
	int64_t forget_ms;
	unsigned redactions;
	sqlite3_stmt *st[N_STMTS];
	/* many[k]: the insert of 1 << k rows (kb__insert_many()), or NULL */
	sqlite3_stmt *many[KB_MANY_LOG2 + 1];
	struct cairn_err err; /* the last failure (kb_error()) */
};

/* Sets kb->err from code and fmt and returns code. A CAIRN_E_INVALID
 * message of the form "name: rule" also names name as the field. */
int kb__seterr(struct kb *kb, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets kb->err to "what: " and SQLite's message; returns CAIRN_E_STORE. */
int kb__sqlerr(struct kb *kb, const char *what);

/* The cached statement i, reset and with no bindings; NULL after setting the
 * error. */
sqlite3_stmt *kb__stmt(struct kb *kb, enum stmt_id i);

/* Binds s (NULL: SQL NULL; borrowed until the statement is reset). */
void kb__bind_text(sqlite3_stmt *st, int i, const char *s);

/* Binds a time in ms (0: SQL NULL). */
void kb__bind_time(sqlite3_stmt *st, int i, int64_t ms);

/* Steps a statement that returns no row (or whose rows are ignored) and
 * resets it. st NULL (kb__stmt() failed) gives CAIRN_E_STORE. Returns 0 or
 * CAIRN_E_STORE with "what: ..." in kb->err. */
int kb__run(struct kb *kb, sqlite3_stmt *st, const char *what);

/* Steps a statement for one integer; returns 1 with *v set, 0 when no row,
 * or CAIRN_E_STORE. Resets it. */
int kb__one_int(struct kb *kb, sqlite3_stmt *st, int64_t *v, const char *what);

/* Runs sql (statements without results) on the connection; 0, or
 * CAIRN_E_STORE with the statement and SQLite's message in kb->err. */
int kb__exec(struct kb *kb, const char *sql);

/* A write transaction: BEGIN IMMEDIATE (so the busy timeout covers taking the
 * write lock), or a savepoint inside the owner's transaction. Not nested.
 * kb__tx_commit() rolls back when the commit fails; kb__tx_rollback() keeps
 * the error already in kb->err. */
int kb__tx_begin(struct kb *kb);
int kb__tx_commit(struct kb *kb);
void kb__tx_rollback(struct kb *kb);

/* ---- kb_prep.c: text ready to store ---- */

static inline bool kb__is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A copy of s[0..n) with invalid UTF-8 bytes replaced by '?'. Caller frees. */
char *kb__utf8_fix(const char *s, size_t n);

/* The largest length <= max that does not cut a UTF-8 sequence of s[0..len). */
size_t kb__utf8_cut(const char *s, size_t len, size_t max);

/* The text of an entry as given (borrowed). */
struct raw {
	const char *kind, *title, *body, *tags, *files, *project;
	const char *signature, *sig_general, *fix_key, *sources;
};

/* The same, ready to store (owned). */
struct prep {
	const char *kind;
	char *title, *body, *tags, *files, *project;
	char *signature, *sig_general, *fix_key, *sources;
	char hash[33];
	unsigned redactions;
};

/* Validates and normalises in, then redacts and hashes it. lenient (learned
 * text) cuts and cleans instead of refusing. Pure: any thread. On failure
 * returns CAIRN_E_INVALID with the reason in err; p is then empty. */
int kb__prep_make(const struct raw *in, bool lenient, struct prep *p, struct cairn_err *err);

/* Sets e->field to the NAME of a message "NAME: ..." (NAME of [a-z_]), else
 * to "". */
void kb__field_from_msg(struct cairn_err *e);
void kb__prep_release(struct prep *p);

/* The exact-duplicate key of kb.h (hex, NUL-terminated) of text already
 * prepared. */
void kb__hash_key(char out[33], const char *kind, const char *project, const char *title,
		  const char *body, const char *sig, const char *fix_key);

/* Redacts *s in place (a malloc'd string, or NULL), adding to *count. */
void kb__redact_in_place(char **s, unsigned *count);

/* Whether s is an event id sources may hold. */
bool kb__source_id_ok(const char *s);

/* ---- kb_entry.c: rows ---- */

/* Fills e from a row of COLS (e's strings are then the caller's). */
void kb__entry_from_row(sqlite3_stmt *st, struct kb_entry *e);

/* Looks up the entry with this hash: 1 with *id (and *forgotten, if not
 * NULL), 0 if none, or CAIRN_E_STORE. */
int kb__by_hash(struct kb *kb, const char *hash, int64_t *id, int64_t *forgotten);

/* What an insert stores beyond the prepared text. */
struct meta {
	const char *uid;
	int64_t created_ms, updated_ms, uses, last_used_ms, forgotten_ms;
	double confidence;
	const char *state;
};

/* Inserts an entry: 0 and *id, 1 when an entry with its uid or hash exists
 * (nothing inserted), or CAIRN_E_STORE. */
int kb__insert(struct kb *kb, const struct prep *p, const struct meta *m, int64_t *id);

/* Inserts n entries (p[i], m[i]) with as few statements as it can, each row
 * as kb__insert() would, in order (each row's id is one more than the last
 * one's as long as ids have not reached the largest rowid). Returns the
 * number of rows inserted, which is less than n when some uid or hash was
 * there already: those rows are skipped and the others inserted, so a
 * caller that needs kb__insert()'s order of effects undoes the lot (a
 * savepoint) and inserts them one by one. Or CAIRN_E_STORE.
 *
 * Why: SQLite opens a statement savepoint for every insert into knowledge
 * inside a transaction (its triggers write to other tables), and FTS5
 * writes its pending index to disk at every savepoint: one row per
 * statement makes one tiny index segment per entry, which then has to be
 * merged. Many rows per statement make one segment per statement. */
int kb__insert_many(struct kb *kb, const struct prep *const *p, const struct meta *const *m,
		    size_t n);

/* The id that replaces id (0 if none, or no such entry) into *next; 0 or
 * CAIRN_E_STORE. */
int kb__superseded_by(struct kb *kb, int64_t id, int64_t *next);

/* Would pointing `from` at `to` close a cycle? 1 yes, 0 no, or an error. */
int kb__makes_cycle(struct kb *kb, int64_t from, int64_t to);

/* ---- kb_search.c: words, ranking, filters ---- */

/* Registers the ranking function kb_rank() on the connection (once per
 * connection; a second registration replaces the first). 0 or
 * CAIRN_E_STORE (no FTS5). */
int kb__register_rank(sqlite3 *db);

#define WORD_MAX 64 /* bytes of one query word (longer ones are cut) */

struct words {
	char w[KB_QUERY_WORDS][WORD_MAX + 1];
	size_t n;
};

/* The next word of s[*pos..n) into out (ASCII folded to lower case, cut at
 * WORD_MAX bytes on a character boundary), with *start (may be NULL) where
 * it begins and *pos just after it; false at the end. With placeholders,
 * "<word>" is skipped whole. Words are split where FTS5's unicode61
 * tokenizer would split them, as far as can be told without its tables. */
bool kb__next_word(const char *s, size_t n, size_t *pos, bool placeholders, char out[WORD_MAX + 1],
		   size_t *start);

/* The first KB_QUERY_WORDS distinct words of text (NULL: none). for_fixes
 * also drops <placeholders>, stop words, numbers and one-letter words. */
void kb__split_words(const char *text, bool for_fixes, struct words *out);

/* The FTS5 expression "w1"* AND "w2"* ... of words [from, from + count)
 * joined by op (" AND " or " OR "), each quoted; with prefix, words of
 * PREFIX_MIN bytes or more (kb_search.c) are prefixes. Caller frees. */
char *kb__words_expr(const struct words *w, size_t from, size_t count, const char *op, bool prefix);

/* The SQL filter clauses of a query (kinds, scope, tag, time, forgotten,
 * rejected) on alias k, each " AND ...", with numbered parameters from base
 * on. */
struct filt {
	struct buf sql;
	int n, base;
	struct {
		bool text;
		int64_t i;
		char *s;
	} b[8];
};

void kb__filt_build(struct filt *f, const struct kb_query *q, int base);
/* Binds f's parameters to st (f must outlive st's next step). */
void kb__filt_bind(const struct filt *f, sqlite3_stmt *st);
void kb__filt_release(struct filt *f);

/* A set of ids, all non-zero (open addressing); {0} is empty; free v. */
struct idset {
	int64_t *v;
	size_t cap, n;
};

/* Adds id; false if it was there already. */
bool kb__idset_add(struct idset *s, int64_t id);

#endif
