/* JSON Lines out and in: kb_export() writes one kb_entry_to_json() object per
 * line; kb_import() parses each line strictly, prepares it (kb_prep.c) on a
 * reader thread while the calling thread writes the previous chunk, matches
 * entries by uid, and sets superseded_by once every line is in. */
#include "kb/kb_int.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "common/ulid.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reader hands lines over in chunks of this many lines (or CHUNK_BYTES
 * of them). */
#define CHUNK_LINES 1000
#define CHUNK_BYTES (16u << 20)
/* The writer commits once its transaction has been open this long, or
 * sooner when it would wait for the reader. Longer transactions write each
 * page of the random-keyed indexes (uid, hash, files, FTS5) once per commit
 * instead of once per 1,000 lines (at 100,000 entries, 11,000 entries/s
 * with a commit every 1,000 lines, 17,000 with one every 5,000); this bound
 * keeps what another writer of the database (the daemon) waits for about
 * what one chunk of 1,000 lines used to take. */
#define TX_MAX_NS (200u * 1000 * 1000)

/* ---- export ---- */

/* The dump flags of every JSON line cairn writes for an entry: 12
 * significant digits print a confidence the same way after a round trip. */
#define KB_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

int kb_export(struct kb *kb, FILE *out, const struct kb_query *filter, size_t *n)
{
	struct kb_query all;
	kb_query_init(&all);
	all.include_forgotten = all.include_rejected = true;
	struct filt f;
	kb__filt_build(&f, filter ? filter : &all, 1);
	char *sql =
		xasprintf("SELECT " COLS " FROM knowledge k WHERE 1%s ORDER BY k.uid", f.sql.data);
	sqlite3_stmt *st = NULL;
	size_t count = 0;
	int r = 0, rc;
	if (n)
		*n = 0;
	if (sqlite3_prepare_v2(kb->db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = kb__sqlerr(kb, "cannot export");
		goto out;
	}
	kb__filt_bind(&f, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kb_entry e;
		kb__entry_from_row(st, &e);
		json_t *o = kb_entry_to_json(&e, 0);
		int wr = json_dumpf(o, out, KB_DUMP_FLAGS);
		json_decref(o);
		kb_entry_release(&e);
		if (wr || fputc('\n', out) == EOF) {
			r = errno ? -errno : -EIO;
			kb__seterr(kb, r, "cannot write the export: %s", strerror(-r));
			goto out;
		}
		count++;
	}
	if (rc != SQLITE_DONE) {
		r = kb__sqlerr(kb, "cannot export");
		goto out;
	}
	if (fflush(out) == EOF || ferror(out)) {
		r = errno ? -errno : -EIO;
		kb__seterr(kb, r, "cannot write the export: %s", strerror(-r));
		goto out;
	}
	if (n)
		*n = count;
out:
	sqlite3_finalize(st);
	free(sql);
	kb__filt_release(&f);
	return r;
}

/* ---- import ---- */

/* One line of an import file, parsed and prepared by the reader (a thread
 * of its own, or the caller's when none could be made). */
struct iline {
	size_t lineno;
	char *text;
	size_t len;
	bool toolong;
	int status; /* 0 ready, 1 blank, -1 bad (err says why) */
	char err[320];
	struct prep p;
	struct meta m;
	char uid[ULID_LEN + 1];
	char super_uid[ULID_LEN + 1]; /* "" = not superseded */
};

static const char *const import_fields[] = {
	"uid",           "kind",        "title",
	"body",          "tags",        "files",
	"project",       "created",     "updated",
	"superseded_by", "uses",        "last_used",
	"confidence",    "state",       "forgotten",
	"signature",     "sig_general", "fix_key",
	"sources",       "id",          "superseded_by_id",
};

static int bad(struct iline *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct iline *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err, sizeof L->err, fmt, ap);
	va_end(ap);
	L->status = -1;
	return -1;
}

/* The last time an export can write (9999-12-31T23:59:59.999Z). */
#define TIME_MAX_MS 253402300799999LL

/* The millisecond time of a ULID (its first 10 characters). */
static int64_t ulid_time(const char *uid)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	int64_t t = 0;
	for (int i = 0; i < 10; i++) {
		const char *p = strchr(alphabet, toupper((unsigned char)uid[i]));
		t = t * 32 + (p ? p - alphabet : 0);
	}
	return t;
}

/* Optional string field: 0 and *out (NULL when absent or null), or -1. */
static int get_str(struct iline *L, json_t *o, const char *name, bool nullable, const char **out)
{
	json_t *v = json_object_get(o, name);
	*out = NULL;
	if (!v || (nullable && json_is_null(v)))
		return 0;
	if (!json_is_string(v))
		return bad(L, "field '%s': must be a string%s", name, nullable ? " or null" : "");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(L, "field '%s': must not contain NUL characters", name);
	*out = json_string_value(v);
	return 0;
}

static int get_time(struct iline *L, json_t *o, const char *name, int64_t *ms)
{
	const char *s;
	*ms = 0;
	if (get_str(L, o, name, true, &s))
		return -1;
	if (s && (timefmt_parse_rfc3339(s, ms) || *ms <= 0 || *ms > TIME_MAX_MS))
		return bad(L,
			   "field '%s': must be an RFC 3339 time between 1970 and 9999 such as "
			   "\"2026-11-27T21:08:43.123Z\"",
			   name);
	return 0;
}

/* Joins an array of strings with sep; each element must be one item (no
 * separator characters inside). */
static int get_list(struct iline *L, json_t *o, const char *name, char sep, const char *forbid,
		    char **out)
{
	json_t *a = json_object_get(o, name);
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return bad(L, "field '%s': must be an array of strings", name);
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *v = json_array_get(a, i);
		const char *s = json_string_value(v);
		if (!s || strlen(s) != json_string_length(v)) {
			buf_release(&b);
			return bad(L, "field '%s': must be an array of strings", name);
		}
		if (strpbrk(s, forbid) || !*s) {
			buf_release(&b);
			return bad(L, "field '%s': item %zu must be one non-empty %s", name, i + 1,
				   sep == ' ' ? "tag" : "path");
		}
		if (i)
			buf_addch(&b, sep);
		buf_addstr(&b, s);
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

/* Parses and prepares one line (any thread). */
static void parse_line(struct iline *L)
{
	json_t *o = NULL;
	char *tags = NULL, *files = NULL, *sources = NULL;
	size_t n = L->len;
	while (n > 0 && kb__is_space((unsigned char)L->text[n - 1]))
		n--;
	size_t s = 0;
	while (s < n && kb__is_space((unsigned char)L->text[s]))
		s++;
	if (L->toolong) {
		bad(L, "longer than %u bytes", KB_LINE_MAX);
		return;
	}
	if (s == n) {
		L->status = 1;
		return;
	}
	json_error_t je;
	o = json_loadb(L->text + s, n - s, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		bad(L, "not valid JSON: %s (column %d)", je.text, je.column);
		return;
	}
	if (!json_is_object(o)) {
		bad(L, "must be a JSON object");
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(o, key, val) {
		bool known = false;
		for (size_t i = 0; i < sizeof import_fields / sizeof import_fields[0] && !known;
		     i++)
			known = strcmp(key, import_fields[i]) == 0;
		if (!known) {
			bad(L, "unknown field '%.60s'", key);
			goto out;
		}
	}
	struct raw raw = {0};
	const char *uid, *sup, *state;
	if (get_str(L, o, "uid", false, &uid))
		goto out;
	if (!uid || strlen(uid) != ULID_LEN) {
		bad(L, "field 'uid': must be a ULID (26 characters of Crockford base32)");
		goto out;
	}
	for (int i = 0; i <= ULID_LEN; i++)
		L->uid[i] = (char)toupper((unsigned char)uid[i]);
	if (!ulid_valid(L->uid)) {
		bad(L, "field 'uid': must be a ULID (26 characters of Crockford base32)");
		goto out;
	}
	if (get_str(L, o, "kind", false, &raw.kind) || get_str(L, o, "title", false, &raw.title) ||
	    get_str(L, o, "body", true, &raw.body) ||
	    get_str(L, o, "project", true, &raw.project) ||
	    get_str(L, o, "signature", true, &raw.signature) ||
	    get_str(L, o, "sig_general", true, &raw.sig_general) ||
	    get_str(L, o, "fix_key", true, &raw.fix_key) ||
	    get_str(L, o, "superseded_by", true, &sup) || get_str(L, o, "state", false, &state) ||
	    get_list(L, o, "tags", ' ', " \t\n\r\v\f,", &tags) ||
	    get_list(L, o, "files", '\n', "\n", &files) ||
	    get_time(L, o, "created", &L->m.created_ms) ||
	    get_time(L, o, "updated", &L->m.updated_ms) ||
	    get_time(L, o, "last_used", &L->m.last_used_ms) ||
	    get_time(L, o, "forgotten", &L->m.forgotten_ms))
		goto out;
	if (!raw.kind) {
		bad(L, "field 'kind': is required");
		goto out;
	}
	if (!raw.title) {
		bad(L, "field 'title': is required");
		goto out;
	}
	for (int i = 0; sup && strlen(sup) == ULID_LEN && i <= ULID_LEN; i++)
		L->super_uid[i] = (char)toupper((unsigned char)sup[i]);
	if (sup && !ulid_valid(L->super_uid)) {
		bad(L, "field 'superseded_by': must be a uid or null");
		goto out;
	}
	L->m.state = state ? kb_state_parse(state) : "active";
	if (!L->m.state) {
		bad(L, "field 'state': must be active, candidate or rejected");
		goto out;
	}
	json_t *v = json_object_get(o, "uses");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		bad(L, "field 'uses': must be a whole number >= 0");
		goto out;
	}
	L->m.uses = v ? json_integer_value(v) : 0;
	v = json_object_get(o, "confidence");
	if (v && (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)) {
		bad(L, "field 'confidence': must be a number from 0 to 1");
		goto out;
	}
	L->m.confidence = v ? json_number_value(v) : 0.5;
	v = json_object_get(o, "sources");
	if (v && !json_is_null(v))
		sources = json_dumps(v, JSON_COMPACT);
	v = json_object_get(o, "id");
	if (v && !json_is_integer(v)) {
		bad(L, "field 'id': must be a whole number (it is ignored)");
		goto out;
	}
	if (!L->m.created_ms)
		L->m.created_ms = ulid_time(L->uid);
	if (L->m.created_ms <= 0 || L->m.created_ms > TIME_MAX_MS) {
		bad(L,
		    "field 'created': is needed, as the uid's time is not between 1970 and 9999");
		goto out;
	}
	if (!L->m.updated_ms)
		L->m.updated_ms = L->m.created_ms;
	raw.tags = tags;
	raw.files = files;
	raw.sources = sources;
	struct cairn_err pe;
	if (kb__prep_make(&raw, false, &L->p, &pe)) {
		snprintf(L->err, sizeof L->err, "%.*s", (int)sizeof L->err - 1, pe.msg);
		L->status = -1;
		goto out;
	}
	L->m.uid = L->uid;
	L->status = 0;
out:
	free(tags);
	free(files);
	free(sources);
	json_decref(o);
}

/* Reads one line (without its newline) into b, keeping at most KB_LINE_MAX
 * bytes (*toolong when more were discarded). Returns 1, 0 at the end, or
 * -errno. */
static int read_line(FILE *in, struct buf *b, bool *toolong)
{
	int c;
	bool any = false;
	buf_reset(b);
	*toolong = false;
	while ((c = getc_unlocked(in)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (buf_addch(b, (char)c) < 0) /* b's max is KB_LINE_MAX */
			*toolong = true;
	}
	if (c == EOF && ferror(in))
		return errno ? -errno : -EIO;
	return any ? 1 : 0;
}

/* A superseded_by to set once every line is in: entry id (imported from
 * line lineno) is superseded by the entry with this uid. */
struct pending {
	int64_t id;
	size_t lineno;
	char uid[ULID_LEN + 1];
};

struct pendings {
	struct pending *v;
	size_t n, cap;
};

static void pending_add(struct pendings *p, int64_t id, const struct iline *L)
{
	if (!L->super_uid[0])
		return;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = xreallocarray(p->v, p->cap, sizeof *p->v);
	}
	p->v[p->n].id = id;
	p->v[p->n].lineno = L->lineno;
	memcpy(p->v[p->n].uid, L->super_uid, sizeof L->super_uid);
	p->n++;
}

static int replace(struct kb *kb, int64_t id, const struct iline *L)
{
	sqlite3_stmt *st = kb__stmt(kb, S_REPLACE);
	if (!st)
		return CAIRN_E_STORE;
	const struct prep *p = &L->p;
	sqlite3_bind_int64(st, 1, id);
	kb__bind_text(st, 2, p->kind);
	kb__bind_text(st, 3, p->title);
	kb__bind_text(st, 4, p->body);
	kb__bind_text(st, 5, p->tags);
	kb__bind_text(st, 6, p->files);
	kb__bind_text(st, 7, p->project);
	sqlite3_bind_int64(st, 8, L->m.created_ms);
	sqlite3_bind_int64(st, 9, L->m.updated_ms);
	sqlite3_bind_int64(st, 10, L->m.uses);
	kb__bind_time(st, 11, L->m.last_used_ms);
	sqlite3_bind_double(st, 12, L->m.confidence);
	kb__bind_text(st, 13, L->m.state);
	kb__bind_time(st, 14, L->m.forgotten_ms);
	kb__bind_text(st, 15, p->signature);
	kb__bind_text(st, 16, p->sig_general);
	kb__bind_text(st, 17, p->fix_key);
	kb__bind_text(st, 18, p->sources);
	kb__bind_text(st, 19, p->hash);
	return kb__run(kb, st, "cannot update an entry");
}

static int apply_line(struct kb *kb, struct iline *L, struct kb_import_stats *st,
		      struct pendings *pend)
{
	int r;
	int64_t id = 0, updated = 0, other = 0;
	/* Most lines of an import are new: try that first, and look up what
	 * is in the way only when something is. */
	if ((r = kb__insert(kb, &L->p, &L->m, &id)) < 0)
		return r;
	if (r == 0) {
		st->imported++;
		pending_add(pend, id, L);
		return 0;
	}
	sqlite3_stmt *s = kb__stmt(kb, S_UID_LOOKUP);
	if (!s)
		return CAIRN_E_STORE;
	kb__bind_text(s, 1, L->uid);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(s, 0);
		updated = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return kb__sqlerr(kb, "cannot look up an entry");
	if (!id) {
		/* Not the uid: the same content is there under another one. */
		st->duplicates++;
		return 0;
	}
	if (L->m.updated_ms <= updated) {
		st->unchanged++;
		return 0;
	}
	if ((r = kb__by_hash(kb, L->p.hash, &other, NULL)) < 0)
		return r;
	if (r == 1 && other != id) {
		st->duplicates++;
		return 0;
	}
	if ((r = replace(kb, id, L)))
		return r;
	st->updated++;
	pending_add(pend, id, L);
	return 0;
}

static void report_line(kb_import_report_fn report, void *ctx, size_t line, bool skipped,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report_line(kb_import_report_fn report, void *ctx, size_t line, bool skipped,
			const char *fmt, ...)
{
	if (!report)
		return;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	report(ctx, line, skipped, msg);
}

/* Sets superseded_by of the imported entries once every line is in. */
static int resolve_pending(struct kb *kb, struct pendings *pend, struct kb_import_stats *st,
			   kb_import_report_fn report, void *ctx)
{
	int r = 0;
	for (size_t i = 0; i < pend->n; i++) {
		if (i % CHUNK_LINES == 0) {
			if (i && (r = kb__tx_commit(kb)))
				return r;
			if ((r = kb__tx_begin(kb)))
				return r;
		}
		struct pending *p = &pend->v[i];
		int64_t target = 0;
		sqlite3_stmt *s = kb__stmt(kb, S_UID_LOOKUP);
		if (!s) {
			r = CAIRN_E_STORE;
			goto out_rollback;
		}
		kb__bind_text(s, 1, p->uid);
		if ((r = kb__one_int(kb, s, &target, "cannot look up an entry")) < 0)
			goto out_rollback;
		if (r == 0) {
			st->unresolved++;
			report_line(report, ctx, p->lineno, false,
				    "superseded_by: no entry has uid %s; left unset", p->uid);
			continue;
		}
		if (target == p->id || (r = kb__makes_cycle(kb, p->id, target)) == 1) {
			st->unresolved++;
			report_line(report, ctx, p->lineno, false,
				    "superseded_by: %s would make a cycle; left unset", p->uid);
			continue;
		}
		if (r < 0)
			goto out_rollback;
		if (!(s = kb__stmt(kb, S_SET_SUPER_QUIET))) {
			r = CAIRN_E_STORE;
			goto out_rollback;
		}
		sqlite3_bind_int64(s, 1, p->id);
		sqlite3_bind_int64(s, 2, target);
		if ((r = kb__run(kb, s, "cannot set superseded_by")))
			goto out_rollback;
	}
	return pend->n ? kb__tx_commit(kb) : 0;
out_rollback:
	kb__tx_rollback(kb);
	return r;
}

/* Import runs as a pipeline of two threads: a reader that reads, parses,
 * validates and redacts one chunk of lines while the caller's thread writes
 * the previous one in a transaction. One reader, not more: glibc's regexec()
 * holds a lock per compiled expression, so several threads redacting at once
 * mostly wait on each other.
 *
 *   reader:  fill slot 0 | fill slot 1 | fill slot 0 | ...
 *   caller:              | write 0     | write 1     | ...
 *
 * Slots are handed over under mu; a slot is EMPTY (the reader's), READY
 * (the writer's) or, at the end, READY with last set. */
enum slot_state { SLOT_EMPTY, SLOT_READY };

struct slot {
	struct iline *v;
	size_t n;
	enum slot_state state;
	bool last;    /* no chunk follows (end of input or a read error) */
	int read_err; /* -errno from reading, with last */
};

/* mu guards slots[].state and stop. The rest of a slot is the reader's while
 * it is EMPTY and the writer's while it is READY: the change of state, under
 * mu, hands it over. */
struct pipeline {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	FILE *in;
	struct slot slots[2];
	bool stop;     /* the writer gave up: the reader stops */
	size_t lineno; /* the reader's */
	struct buf line;
};

static void free_chunk(struct iline *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].text);
		kb__prep_release(&v[i].p);
	}
}

/* Reads and prepares up to CHUNK_LINES lines into slot s (the reader's). */
static void fill_slot(struct pipeline *pl, struct slot *s)
{
	size_t bytes = 0;
	s->n = 0;
	s->last = false;
	s->read_err = 0;
	while (s->n < CHUNK_LINES && bytes < CHUNK_BYTES) {
		bool toolong;
		int rr = read_line(pl->in, &pl->line, &toolong);
		if (rr <= 0) {
			s->last = true;
			s->read_err = rr;
			break;
		}
		struct iline *L = &s->v[s->n++];
		memset(L, 0, sizeof *L);
		L->lineno = ++pl->lineno;
		L->toolong = toolong;
		L->len = pl->line.len;
		L->text = xreallocarray(NULL, pl->line.len + 1, 1);
		memcpy(L->text, pl->line.data, pl->line.len);
		L->text[pl->line.len] = '\0';
		bytes += pl->line.len;
		parse_line(L);
	}
}

static void *reader_main(void *arg)
{
	struct pipeline *pl = arg;
	for (int i = 0;; i ^= 1) {
		struct slot *s = &pl->slots[i];
		pthread_mutex_lock(&pl->mu);
		while (s->state != SLOT_EMPTY && !pl->stop)
			pthread_cond_wait(&pl->cond, &pl->mu);
		bool stop = pl->stop;
		pthread_mutex_unlock(&pl->mu);
		if (stop)
			return NULL;
		fill_slot(pl, s);
		pthread_mutex_lock(&pl->mu);
		s->state = SLOT_READY;
		pthread_cond_broadcast(&pl->cond);
		pthread_mutex_unlock(&pl->mu);
		if (s->last)
			return NULL;
	}
}

/* The most lines write_run() takes at once. */
#define RUN_MAX ((size_t)1 << KB_MANY_LOG2)

/* Inserts the n ready lines L[0..n) as new entries, with as few statements
 * as kb__insert_many() can, when every one of them is new (no uid or hash
 * in the way, none twice): then the result is what apply_line() one line
 * after the other gives, as each of those would have inserted its line.
 * Returns 0 then, 1 (nothing changed) when one was not new, so the caller
 * applies them one by one, or a negative error. */
static int write_run(struct kb *kb, struct iline *L, size_t n, struct kb_import_stats *st,
		     struct pendings *pend)
{
	const struct prep *p[RUN_MAX];
	const struct meta *m[RUN_MAX];
	int r;
	for (size_t i = 0; i < n; i++) {
		p[i] = &L[i].p;
		m[i] = &L[i].m;
	}
	if ((r = kb__exec(kb, "SAVEPOINT kb_run")))
		return r;
	if ((r = kb__insert_many(kb, p, m, n)) < 0 || (size_t)r != n) {
		/* Some line was not new: undo the others, which went in as if
		 * that line had not been there (apply_line() might replace an
		 * entry with it first, and then one of them would be a
		 * duplicate). */
		struct cairn_err keep = kb->err;
		int rr = kb__exec(kb, "ROLLBACK TO kb_run; RELEASE kb_run");
		if (r >= 0 && rr)
			return rr;
		kb->err = keep;
		return r < 0 ? r : 1;
	}
	if ((r = kb__exec(kb, "RELEASE kb_run")))
		return r;
	for (size_t i = 0; i < n; i++) {
		st->imported++;
		kb->redactions += L[i].p.redactions;
		if (!L[i].super_uid[0])
			continue;
		/* The id, for superseded_by once every line is in. */
		int64_t id = 0;
		sqlite3_stmt *s = kb__stmt(kb, S_UID_LOOKUP);
		if (!s)
			return CAIRN_E_STORE;
		kb__bind_text(s, 1, L[i].uid);
		if ((r = kb__one_int(kb, s, &id, "cannot look up an entry")) < 0)
			return r;
		pending_add(pend, id, &L[i]);
	}
	return 0;
}

/* Writes one prepared chunk in the caller's transaction: runs of new
 * entries with write_run(), the rest line by line with apply_line(). On
 * failure the caller rolls the transaction back. *run is how many
 * lines the next run tries: doubled after every run or line that went in as
 * new, back to 1 (apply_line() alone) after one that did not, so that an
 * import of what is there already (every line unchanged) costs no more
 * than line by line. */
static int write_chunk(struct kb *kb, struct slot *s, struct kb_import_stats *st,
		       struct pendings *pend, size_t *run, kb_import_report_fn report, void *ctx)
{
	int r;
	st->lines += s->n;
	for (size_t i = 0; i < s->n;) {
		struct iline *L = &s->v[i];
		if (L->status == 1) {
			i++;
			continue;
		}
		if (L->status < 0) {
			st->bad++;
			report_line(report, ctx, L->lineno, true, "%s", L->err);
			i++;
			continue;
		}
		size_t n = 1;
		while (n < *run && i + n < s->n && s->v[i + n].status == 0)
			n++;
		if (n > 1) {
			if ((r = write_run(kb, L, n, st, pend)) < 0)
				return r;
			if (r == 0) {
				i += n;
				*run = *run * 2 > RUN_MAX ? RUN_MAX : *run * 2;
				continue;
			}
		}
		size_t before = st->imported;
		kb->redactions += L->p.redactions;
		if ((r = apply_line(kb, L, st, pend)))
			return r;
		if (st->imported > before)
			*run = *run * 2 > RUN_MAX ? RUN_MAX : *run * 2;
		else
			*run = 1;
		i++;
	}
	return 0;
}

#ifdef __GLIBC__
/* Every transaction of an import builds FTS5's pending index in memory (a
 * megabyte or so) and frees it at commit. With glibc's default trim
 * threshold the heap is then shrunk and grown again each time, and with two
 * threads every shrink flushes the other CPU's TLB: a fifth of the import's
 * time. 64 MiB of slack stops that. */
static void raise_trim_threshold(void)
{
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}
#endif

int kb_import(struct kb *kb, FILE *in, struct kb_import_stats *st, kb_import_report_fn report,
	      void *ctx)
{
#ifdef __GLIBC__
	static pthread_once_t trim_once = PTHREAD_ONCE_INIT;
	pthread_once(&trim_once, raise_trim_threshold);
#endif
	struct pipeline pl = {.in = in, .line = BUF_INIT(KB_LINE_MAX)};
	struct pendings pend = {0};
	size_t run = 1;
	pthread_t reader;
	bool threaded, in_tx = false;
	uint64_t tx_start = 0;
	int r = 0;
	memset(st, 0, sizeof *st);
	kb->redactions = 0;
	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.cond, NULL);
	for (int i = 0; i < 2; i++)
		pl.slots[i].v = xcalloc(CHUNK_LINES, sizeof *pl.slots[i].v);
	/* Without a thread (none could be made) the same steps run in turn. */
	threaded = pthread_create(&reader, NULL, reader_main, &pl) == 0;
	for (int i = 0;; i ^= 1) {
		struct slot *s = &pl.slots[i];
		if (threaded) {
			pthread_mutex_lock(&pl.mu);
			/* Never wait for the reader holding the write lock. */
			if (s->state != SLOT_READY && in_tx) {
				pthread_mutex_unlock(&pl.mu);
				in_tx = false;
				r = kb__tx_commit(kb);
				pthread_mutex_lock(&pl.mu);
				if (r) {
					/* s is the reader's: leave it to the end. */
					pl.stop = true;
					pthread_cond_broadcast(&pl.cond);
					pthread_mutex_unlock(&pl.mu);
					break;
				}
			}
			while (s->state != SLOT_READY)
				pthread_cond_wait(&pl.cond, &pl.mu);
			pthread_mutex_unlock(&pl.mu);
		} else {
			fill_slot(&pl, s);
		}
		bool last = s->last;
		int read_err = s->read_err;
		if (s->n && !in_tx && !(r = kb__tx_begin(kb))) {
			in_tx = true;
			tx_start = clock_mono_ns();
		}
		if (!r && s->n && (r = write_chunk(kb, s, st, &pend, &run, report, ctx))) {
			kb__tx_rollback(kb);
			in_tx = false;
		}
		if (!r && in_tx && (last || read_err || clock_mono_ns() - tx_start >= TX_MAX_NS)) {
			in_tx = false;
			r = kb__tx_commit(kb);
		}
		free_chunk(s->v, s->n);
		s->n = 0;
		pthread_mutex_lock(&pl.mu);
		s->state = SLOT_EMPTY;
		if (r)
			pl.stop = true;
		pthread_cond_broadcast(&pl.cond);
		pthread_mutex_unlock(&pl.mu);
		if (r)
			break;
		if (read_err) {
			r = kb__seterr(kb, read_err, "cannot read line %zu: %s", st->lines + 1,
				       strerror(-read_err));
			break;
		}
		if (last)
			break;
	}
	if (threaded)
		pthread_join(reader, NULL);
	/* A chunk the reader finished after the writer stopped. */
	for (int i = 0; i < 2; i++) {
		if (pl.slots[i].state == SLOT_READY)
			free_chunk(pl.slots[i].v, pl.slots[i].n);
		free(pl.slots[i].v);
	}
	buf_release(&pl.line);
	pthread_cond_destroy(&pl.cond);
	pthread_mutex_destroy(&pl.mu);
	if (r)
		goto out;
	if ((r = resolve_pending(kb, &pend, st, report, ctx)))
		goto out;
	r = st->bad ? CAIRN_E_PARSE : 0;
	if (r)
		kb__seterr(kb, r, "%zu line%s could not be imported", st->bad,
			   st->bad == 1 ? "" : "s");
out:
	free(pend.v);
	return r;
}
