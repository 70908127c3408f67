/* The knowledge base: what was decided, what went wrong and how it was
 * fixed, kept as short entries in the `knowledge` table of cairn's database
 * and found again by full-text search (FTS5) or by error signature.
 *
 * Storage (migration 2, src/store/store.c):
 *
 *   knowledge  id INTEGER PRIMARY KEY     local id (what the CLI shows)
 *              uid TEXT UNIQUE            ULID, stable across export/import
 *              kind TEXT                  decision|mistake|pattern|fix|note
 *              title, body, tags, files   tags: space-separated, lower case;
 *                                         files: newline-separated
 *              project TEXT               absolute path; NULL = everywhere
 *              created_ms, updated_ms     wall-clock ms
 *              superseded_by INTEGER      id of the entry that replaces it
 *              uses, last_used_ms, confidence REAL, state TEXT
 *                                         active|candidate|rejected
 *              forgotten_ms               set while soft-deleted
 *              signature, sig_general, fix_key   for learned fixes
 *              sources TEXT               JSON array of event ids
 *              hash TEXT UNIQUE           the exact-duplicate key (below)
 *   knowledge_fts  FTS5 over (title, tags, body, files), external content
 *              (the knowledge table), kept in step by triggers
 *   signatures sig PRIMARY KEY, general, example, first_ms, last_ms, count
 *
 * Rules (docs/kb.md tells the whole model):
 *  - Text is redacted (kb/redact.h) before it is hashed or stored, on every
 *    path in: kb_add(), kb_update(), kb_import(), kb_learn_fix(),
 *    kb_note_signature().
 *  - Exact duplicates: two entries are the same when kind, project, title and
 *    body are equal after whitespace normalisation (every run of ASCII
 *    whitespace becomes one space, leading and trailing whitespace is
 *    dropped; case is kept), and, for kind fix, also signature and fix_key.
 *    The hash column holds the SHA-256 of that key (first 64 bits, hex).
 *  - Forgotten entries are hidden from search and fixes and purged once
 *    forgotten longer than the forget window (default 30 days).
 *  - A superseded entry never ranks above the entry that replaced it.
 *
 * Ownership: strings passed in are borrowed for the call; every struct the
 * library fills (kb_entry, kb_results, kb_fix_hit arrays) is owned by the
 * caller and freed with the matching release/free function.
 *
 * Threads: a struct kb wraps one SQLite connection and may be used by one
 * thread at a time (any thread). Every function that touches the database
 * blocks, waiting up to the connection's busy timeout (5 s with kb_open())
 * for other writers such as the daemon's store writer. */
#ifndef CAIRN_KB_H
#define CAIRN_KB_H

#include "common/err.h"
#include "common/ulid.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kb;
struct sqlite3;

/* Limits on an entry, checked by kb_add(), kb_update() and kb_import() on the
 * text as given (redaction may then make it a little longer or shorter). */
#define KB_TITLE_MAX 200           /* bytes, one line, at least 1 */
#define KB_BODY_MAX (64u * 1024)   /* bytes */
#define KB_TAGS_MAX 32             /* tags per entry */
#define KB_TAG_MAX 40              /* bytes per tag, of [a-z0-9._-] */
#define KB_FILES_MAX 100           /* paths per entry */
#define KB_FILE_MAX 4096           /* bytes per path */
#define KB_SIG_MAX 4096            /* bytes of signature, sig_general, fix_key */
#define KB_SOURCES_MAX 50          /* event ids in sources */
#define KB_LINE_MAX (1024u * 1024) /* bytes per line of an import file */
#define KB_QUERY_WORDS 32          /* words of a query or failure text used */
#define KB_LIMIT_MAX 1000          /* most results one search returns */
#define KB_FORGET_DEFAULT_MS (30LL * 24 * 3600 * 1000)

/* Kinds as bits, for kb_query.kinds. */
enum kb_kind_bit {
	KB_DECISION = 1u << 0,
	KB_MISTAKE = 1u << 1,
	KB_PATTERN = 1u << 2,
	KB_FIX = 1u << 3,
	KB_NOTE = 1u << 4,
};

/* Returns the library's static string for kind name s ("decision",
 * "mistake", "pattern", "fix", "note"), or NULL if s is none of them. */
const char *kb_kind_parse(const char *s);
/* The bit of kind name s, or 0 if s is not a kind. */
unsigned kb_kind_bit(const char *s);
/* Returns the static string for state name s ("active", "candidate",
 * "rejected"), or NULL. */
const char *kb_state_parse(const char *s);

/* One entry. Filled by kb_get() and friends: the caller owns the strings and
 * releases them with kb_entry_release(). As input to kb_add() the caller
 * fills the fields that function names and keeps ownership. */
struct kb_entry {
	int64_t id;             /* local id; 0 = none */
	char uid[ULID_LEN + 1]; /* "" = none */
	const char *kind;       /* static (kb_kind_parse()) when filled */
	char *title;
	char *body;    /* never NULL when filled ("" if empty) */
	char *tags;    /* space-separated; "" if none */
	char *files;   /* newline-separated; "" if none */
	char *project; /* absolute path, or NULL = everywhere */
	int64_t created_ms, updated_ms;
	int64_t superseded_by;                /* id, or 0 */
	char superseded_by_uid[ULID_LEN + 1]; /* its uid, or "" */
	int64_t uses;
	int64_t last_used_ms;                    /* 0 = never */
	double confidence;                       /* 0..1 */
	const char *state;                       /* static: "active", "candidate", "rejected" */
	int64_t forgotten_ms;                    /* 0 = not forgotten */
	char *signature, *sig_general, *fix_key; /* NULL when unset */
	char *sources; /* JSON array text, e.g. ["01J..."]; never NULL when filled */
};

/* Frees the strings of an entry the library filled and zeroes it. NULL and
 * zeroed entries are fine. */
void kb_entry_release(struct kb_entry *e);

/* Flags of kb_entry_to_json(). */
enum kb_json_flags {
	KB_JSON_LOCAL = 1u << 0, /* add "id" and "superseded_by_id" (local ids) */
};

/* The entry as a JSON object (a new reference) with the fields of the export
 * format, in this order: uid, kind, title, body, tags (array), files (array),
 * project, created, updated (RFC 3339), superseded_by (uid or null), uses,
 * last_used, confidence, state, forgotten (RFC 3339 or null), signature,
 * sig_general, fix_key, sources (array). With KB_JSON_LOCAL, "id" comes
 * first and "superseded_by_id" follows "superseded_by". Any thread. */
json_t *kb_entry_to_json(const struct kb_entry *e, unsigned flags);

/* The event that tells the log about a change of entry e: type "kb.WHAT"
 * (what: "added", "updated"...), source cairn/kb, subject its uid, its
 * project, and data {id, uid, kind, title}; with e NULL, data is {} (an
 * import). A new reference. Any thread. */
json_t *kb_change_event(const char *what, const struct kb_entry *e);

/* The short form of an entry a writer answers with: {id, uid, kind, title,
 * duplicate, project?}. A new reference. Any thread. */
json_t *kb_entry_added_json(const struct kb_entry *e, bool duplicate);

/* ---- opening ---- */

/* Opens the database at db_path with store_db_open() (read-write opens create
 * it and apply pending migrations) and wraps it. forget_ms is the forget
 * window (<= 0: KB_FORGET_DEFAULT_MS); a read-write open purges entries
 * forgotten longer ago than that (best effort: a busy database only delays
 * the purge). On failure returns CAIRN_E_STORE or CAIRN_E_VERSION and fills
 * err (may be NULL) with it and a reason. The caller owns *out (kb_close()).
 * Blocking. */
int kb_open(const char *db_path, bool readonly, int64_t forget_ms, struct kb **out,
	    struct cairn_err *err);

/* Wraps a connection someone else owns and keeps open longer than the kb
 * (the triage service's). The schema must be at migration 2 or later
 * (CAIRN_E_VERSION otherwise). Purges as kb_open() does unless the
 * connection is read-only. If the owner is inside a transaction, changes
 * are made in a savepoint within it. Blocking. */
int kb_open_db(struct sqlite3 *db, int64_t forget_ms, struct kb **out, struct cairn_err *err);

/* Closes the kb (and its connection if kb_open() opened it). NULL is a
 * no-op. */
void kb_close(struct kb *kb);

/* The last failure of a function of this kb (storage in the kb, valid until
 * the next call): its code, the field at fault for CAIRN_E_INVALID ("title")
 * and the message, e.g. "title: must be one line of 1 to 200 bytes". */
const struct cairn_err *kb_error(const struct kb *kb);
/* kb_error(kb)->msg. */
const char *kb_errmsg(const struct kb *kb);

/* How many secrets the last kb_add(), kb_update() or kb_import() replaced
 * with markers. */
unsigned kb_redactions(const struct kb *kb);

/* The forget window in ms. */
int64_t kb_forget_window_ms(const struct kb *kb);

/* ---- entries ---- */

/* Adds an entry. Reads from in: kind, title, body, tags (separated by blanks
 * or commas; upper case is folded; a leading '#' is dropped), files
 * (newline-separated; blank lines dropped), project (NULL or "" = global),
 * signature, sig_general, fix_key (NULL or "" = unset), sources (JSON array
 * of strings, NULL = []), state (NULL = active) and confidence (outside
 * (0, 1]: 0.5). Validates (CAIRN_E_INVALID, kb_errmsg() names the field),
 * redacts, and stores it with a new uid, created = updated = now_ms.
 * An exact duplicate of an existing entry is not stored again: *id is the
 * existing entry's, *duplicate is true, and the existing entry is
 * un-forgotten if it was forgotten. Returns 0, CAIRN_E_INVALID or
 * CAIRN_E_STORE. */
int kb_add(struct kb *kb, const struct kb_entry *in, int64_t now_ms, int64_t *id, bool *duplicate);

/* Fills *out with entry id (or uid). Returns 0 or CAIRN_E_NOTFOUND (also for
 * purged entries) or CAIRN_E_STORE. *out is zeroed on failure. */
int kb_get(struct kb *kb, int64_t id, struct kb_entry *out);
int kb_get_uid(struct kb *kb, const char *uid, struct kb_entry *out);

/* Resolves what a user typed for an entry: a local id ("12" or "#12") or a
 * uid. Returns 0 and *id, CAIRN_E_INVALID (neither form) or
 * CAIRN_E_NOTFOUND. */
int kb_resolve(struct kb *kb, const char *ref, int64_t *id);

/* An edit: NULL fields stay as they are. tags and files replace the whole
 * set (same syntax as kb_add()); set_project with project NULL makes the
 * entry global. */
struct kb_edit {
	const char *kind, *title, *body, *tags, *files;
	bool set_project;
	const char *project;
};

/* Applies an edit: validates and redacts as kb_add() does, recomputes the
 * hash and sets updated_ms = now_ms. Refuses (CAIRN_E_INVALID, "identical to
 * entry N") an edit that would make the entry an exact duplicate of another.
 * An edit that changes nothing writes nothing and sets *changed (may be
 * NULL) false. Returns 0, CAIRN_E_NOTFOUND, CAIRN_E_INVALID or
 * CAIRN_E_STORE. */
int kb_update(struct kb *kb, int64_t id, const struct kb_edit *ed, int64_t now_ms, bool *changed);

/* Marks old_id as superseded by new_id (new_id 0 clears it) and bumps old's
 * updated_ms. Refuses (CAIRN_E_INVALID) old == new and a change that would
 * make a cycle (new is, directly or not, superseded by old). Returns 0,
 * CAIRN_E_NOTFOUND, CAIRN_E_INVALID or CAIRN_E_STORE. */
int kb_supersede(struct kb *kb, int64_t old_id, int64_t new_id, int64_t now_ms);

/* Soft delete: hides the entry from search (unless asked for) and from
 * kb_fixes_for(); kb_unforget() undoes it until the entry is purged,
 * forget window after now_ms. Forgetting a forgotten entry keeps its first
 * time. Both bump updated_ms when they change something. Returns 0,
 * CAIRN_E_NOTFOUND or CAIRN_E_STORE. */
int kb_forget(struct kb *kb, int64_t id, int64_t now_ms);
int kb_unforget(struct kb *kb, int64_t id, int64_t now_ms);

/* Deletes the entries forgotten before older_than_ms; *purged (may be NULL)
 * gets how many. Entries that were superseded by a purged entry are
 * re-pointed to what replaced it, if anything. Returns 0 or CAIRN_E_STORE. */
int kb_purge(struct kb *kb, int64_t older_than_ms, size_t *purged);

/* The user vouches for the entry: state active, confidence c += (1 - c) / 2,
 * uses + 1, last_used = updated = now_ms. Returns 0, CAIRN_E_NOTFOUND or
 * CAIRN_E_STORE. */
int kb_confirm(struct kb *kb, int64_t id, int64_t now_ms);

/* The user says the entry is wrong: state rejected. kb_fixes_for() never
 * returns it again and kb_search() only with include_rejected;
 * kb_learn_fix() leaves it rejected. kb_confirm() undoes it. */
int kb_reject(struct kb *kb, int64_t id, int64_t now_ms);

/* Notes a use: uses + 1, last_used = now_ms (or stays, if it is later:
 * last_used never goes back). Does not change updated_ms. What counts as a
 * use is docs/kb.md's to say: a person opening the entry (`cairn kb show`),
 * confirming it (kb_confirm() counts it itself), and the triage service
 * offering it as a known fix in a report. Returns 0, CAIRN_E_NOTFOUND or
 * CAIRN_E_STORE. */
int kb_mark_used(struct kb *kb, int64_t id, int64_t now_ms);

/* ---- idleness ---- */

#define KB_DAY_MS (24LL * 3600 * 1000)
/* Idle this many days, an entry has lost all that idleness takes off its
 * rank, and kb_stale() calls it stale (unless told another threshold). */
#define KB_IDLE_DAYS 90

/* Whole days from the entry's last use (last_used_ms), or, never used
 * (last_used_ms 0), from its creation, to now_ms; 0 when that lies in the
 * future. Pure; any thread. */
int64_t kb_idle_days(int64_t last_used_ms, int64_t created_ms, int64_t now_ms);

/* What idleness takes off an entry's confidence where entries are ranked
 * for a person or an agent (the ties of kb_search(), kb_fixes_for() within
 * a tier, the fixes of a triage report): idle_days / 300, at most 0.3 (from
 * KB_IDLE_DAYS on), the brief's rule (docs/brief.md). An entry used or
 * added today loses nothing, so entries of the same day keep their order.
 * Pure; any thread. */
double kb_idle_penalty(int64_t idle_days);

/* ---- search ---- */

enum kb_scope {
	KB_SCOPE_ALL = 0, /* entries of every project and global ones */
	KB_SCOPE_PROJECT, /* entries of kb_query.project, and global ones */
	KB_SCOPE_GLOBAL,  /* global entries only */
};

struct kb_query {
	const char *text; /* the user's words; NULL or blank = list */
	unsigned kinds;   /* enum kb_kind_bit set; 0 = every kind */
	enum kb_scope scope;
	const char *project;    /* for KB_SCOPE_PROJECT (NULL: as global) */
	const char *tag;        /* only entries with this tag; NULL = any */
	int64_t since_ms;       /* updated_ms >= since_ms; 0 = unbounded */
	int64_t until_ms;       /* updated_ms < until_ms; 0 = unbounded */
	bool include_forgotten; /* also forgotten entries */
	bool include_rejected;  /* also rejected entries */
	size_t limit;           /* 0 = 20; at most KB_LIMIT_MAX */
	int64_t now_ms;         /* the time idleness is measured at; 0 = now */
	/* Markers around each hit in snippets, e.g. "\x02" and "\x03" for a
	 * terminal or "[" and "]"; NULL = "". */
	const char *mark_open, *mark_close;
};

/* Sets q to: no text, every kind, every scope, no filter, limit 20, no
 * markers, idleness measured now (clock_wall_ms()). */
void kb_query_init(struct kb_query *q);

struct kb_result {
	struct kb_entry e;
	double score;  /* relevance within its stage, higher is better (0 in list mode) */
	char *snippet; /* the body around the hits, marked; never NULL */
};

struct kb_results {
	struct kb_result *v;
	size_t n;
};

/* Searches (or lists, when q->text has no word) and fills *out, best first;
 * the caller releases it with kb_results_release(). docs/kb.md tells the
 * ranking: results come in stages (every word whole in title or tags; every
 * word whole anywhere; the same with words of 4 bytes or more as prefixes;
 * then, to fill the limit, any word), each ranked by BM25 with weights
 * title 10, tags 5, files 2, body 1 (ties: confidence less the idleness
 * penalty at q->now_ms (kb_idle_penalty()), then recency), over
 * the newest 300 matches first; superseded entries after every other one
 * and never before their replacement. Query syntax in the text is taken
 * literally, never as FTS syntax. A list is ordered by updated_ms, newest
 * first. Returns 0 or CAIRN_E_STORE. */
int kb_search(struct kb *kb, const struct kb_query *q, struct kb_results *out);
void kb_results_release(struct kb_results *r);

/* ---- export and import ---- */

/* Writes the entries that pass filter (its text and limit are ignored; NULL
 * = every entry, forgotten and rejected included) to out as JSON Lines,
 * ordered by uid, one kb_entry_to_json() object per line. *n (may be NULL)
 * gets the count. Returns 0, CAIRN_E_STORE, or -errno when writing fails. */
int kb_export(struct kb *kb, FILE *out, const struct kb_query *filter, size_t *n);

struct kb_import_stats {
	size_t lines;      /* lines read, blank ones included */
	size_t imported;   /* new entries */
	size_t updated;    /* known uid, newer updated: replaced */
	size_t unchanged;  /* known uid, not newer */
	size_t duplicates; /* identical content under another uid: skipped */
	size_t bad;        /* lines that could not be imported: skipped */
	size_t unresolved; /* superseded_by naming no known entry (left unset) */
};

/* Called for each problem of an import: line number (1-based), whether the
 * line was skipped (false for a warning about an imported line), and a
 * message such as "field 'title': must be a string". */
typedef void (*kb_import_report_fn)(void *ctx, size_t line, bool skipped, const char *msg);

/* Imports JSON Lines in the export format from in. Each line is parsed
 * strictly (jansson; at most KB_LINE_MAX bytes; unknown fields and wrong
 * types are errors; required: uid, kind, title; created defaults to the
 * uid's time and updated to created); a bad line is reported and skipped
 * and the rest is imported. Text is validated and redacted as by kb_add().
 * Matching is by uid: a newer updated replaces the entry, otherwise it is
 * left alone; a new uid whose content is an exact duplicate of another
 * entry is skipped. So importing the same file twice changes nothing.
 * Commits every 1000 lines, so other writers wait at most one such
 * transaction. One thread of its own reads, parses and redacts the next
 * 1000 lines while the calling thread writes (so `in` is read from that
 * thread until the call returns); on glibc the first call raises the heap
 * trim threshold (M_TRIM_THRESHOLD) of the process to 64 MiB. report (may be
 * NULL) is called from the calling thread. Returns 0 when every line was imported,
 * CAIRN_E_PARSE when some were skipped (*st says how many), or
 * CAIRN_E_STORE / -errno on a failure that stopped the import (what was
 * committed stays). */
int kb_import(struct kb *kb, FILE *in, struct kb_import_stats *st, kb_import_report_fn report,
	      void *ctx);

/* ---- the triage service's contract ---- */

struct kb_fix_hit {
	struct kb_entry e;
	double score;       /* informative: tier (3, 2, 1) - 1 + confidence, and
			     * for similar text confidence x share of words matched */
	const char *reason; /* static: "same error", "same error, other names",
			     * "same error, in another project", "similar text" */
	char *matched;      /* for similar text: the matched words (space-
			     * separated), else NULL */
	size_t n_matched;   /* for similar text: how many words matched, */
	size_t n_words;     /* of how many words of text were searched for */
};

/* Known fixes for a failure, best first: tier 1 entries whose signature ==
 * sig (kinds fix, mistake, pattern), tier 2 sig_general == general, then
 * entries of other projects whose signature == sig ("same error, in another
 * project": a fix learned elsewhere for the very same error), tier 3
 * FTS over text (OR of its words, up to 32 distinct words; stop words,
 * numbers, <placeholders> and words found in more than 5% of the entries or
 * in more than 1000 are ignored, and the rarest are used while their
 * matches add up to at most 1000; the best `limit` by bm25 are kept) among
 * kinds fix, mistake,
 * pattern; each entry at most once (its best tier). Within a tier:
 * non-superseded first, then confidence less the idleness penalty at now_ms
 * (kb_idle_penalty(); now_ms 0 = now) desc, uses desc, updated desc.
 * A superseded hit pulls in the entry that replaced it (when that is
 * eligible) just before it, with the same reason. Excludes rejected and
 * forgotten entries. project: entries of that project or global (NULL:
 * global only). sig, general and text may each be NULL. limit 0 = 10.
 * Offering a fix is not a use: the caller marks the ones it shows
 * (kb_mark_used()). *out (free with kb_fix_hits_free()) gets *n hits.
 * Returns 0 or CAIRN_E_STORE. */
int kb_fixes_for(struct kb *kb, const char *sig, const char *general, const char *text,
		 const char *project, size_t limit, int64_t now_ms, struct kb_fix_hit **out,
		 size_t *n);
void kb_fix_hits_free(struct kb_fix_hit *v, size_t n);

/* A fix the learner saw: the failure with signature (and sig_general) went
 * away after the change fix_key. Strings are borrowed; any may be NULL
 * except title. */
struct kb_learned {
	const char *signature, *sig_general, *fix_key, *title, *body;
	const char *files; /* newline-separated */
	const char *project, *failure_id, *pass_id;
};

/* Records a learned fix as a `fix` entry in state candidate (confidence 0.4,
 * uses 1 and last_used now_ms: the fix was just used; sources [failure_id,
 * pass_id]). If a non-forgotten entry with the same signature (or, failing
 * that, same sig_general) and the same non-empty fix_key exists in the same
 * project scope (same project, or both global), it recurs instead: uses++,
 * last_used = now_ms (unless later), confidence c += (1-c)*0.25 (not for a rejected
 * entry, which stays rejected), the event ids appended to sources (the last
 * 50 kept), updated_ms = now, body replaced by the newer one (unless that
 * would duplicate another entry); *recurred = true. Text is redacted first;
 * an over-long title or body is cut (at a UTF-8 boundary) rather than
 * refused. If an identical entry exists but is forgotten, it stays so and
 * *id is set to it. Returns 0, CAIRN_E_INVALID (no title) or
 * CAIRN_E_STORE. */
int kb_learn_fix(struct kb *kb, const struct kb_learned *l, int64_t now_ms, int64_t *id,
		 bool *recurred);

/* ---- memory hygiene: stale entries ---- */

struct kb_stale_query {
	enum kb_scope scope;
	const char *project; /* for KB_SCOPE_PROJECT (NULL: as global) */
	int64_t days;        /* idle longer than this is stale; <= 0: KB_IDLE_DAYS */
	size_t limit;        /* 0 = 20; at most KB_LIMIT_MAX */
	int64_t now_ms;      /* the time staleness is measured at; 0 = now */
};

/* One reason an entry looks stale. */
struct kb_stale_reason {
	const char *code; /* static: see kb_stale() */
	char *text;       /* for a person, e.g. "not used for 120 days" */
	int64_t ref;      /* "superseded": the id of the replacement; else 0 */
	char *file;       /* "missing-file": the path as the entry names it; else NULL */
};

struct kb_stale_entry {
	int64_t id;
	char uid[ULID_LEN + 1];
	const char *kind; /* static */
	char *title;
	char *project; /* NULL = global */
	int64_t uses, last_used_ms, created_ms;
	int64_t idle_days; /* kb_idle_days() at now_ms */
	struct kb_stale_reason *reasons;
	size_t n_reasons; /* >= 1 */
};

struct kb_stale_list {
	struct kb_stale_entry *v;
	size_t n;     /* entries in v (at most the limit) */
	size_t total; /* stale entries found, before the limit */
};

/* Lists the entries in q's scope (as kb_search()'s) that are neither
 * forgotten nor rejected and look stale at q->now_ms, each with every
 * reason that applies, in this order:
 *   "never-used"   uses 0 and added more than q->days ago;
 *   "unused"       last used more than q->days ago (or, with uses but no
 *                  time of use, e.g. imported, added more than q->days ago);
 *   "superseded"   superseded by another entry (ref), but not forgotten;
 *   "unconfirmed"  a candidate (a learned fix) added more than q->days ago
 *                  and never confirmed;
 *   "missing-file" of a project whose directory exists, it names a file
 *                  (a relative path) that stat() does not find there; one
 *                  reason per file, of at most KB_STALE_FILES_MAX files per
 *                  entry (a file that cannot be checked, EACCES say, is not
 *                  reported).
 * Most stale first: the longest idle (kb_idle_days()), then the most
 * reasons, then the lower id. Two queries, none per entry: a scan that
 * counts every candidate's reasons, then the rows of the entries listed,
 * read again by id to make their reasons' texts; one stat() per distinct
 * path. *out (release with
 * kb_stale_list_release()) gets the first q->limit. Returns 0 or
 * CAIRN_E_STORE. Blocking: reads the database and the file system. */
#define KB_STALE_FILES_MAX 50
int kb_stale(struct kb *kb, const struct kb_stale_query *q, struct kb_stale_list *out);
void kb_stale_list_release(struct kb_stale_list *l);

/* Upserts the signatures table: count++, last_ms = now_ms, first_ms on
 * insert, example (redacted, cut to 4 KiB) and general kept from the first.
 * Returns 0, CAIRN_E_INVALID (sig empty) or CAIRN_E_STORE. */
int kb_note_signature(struct kb *kb, const char *sig, const char *general, const char *example,
		      int64_t now_ms);

#endif
