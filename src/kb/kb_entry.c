/* Entries in the database: reading them (kb_get(), kb_resolve()), adding
 * and changing them (kb_add(), kb_update(), kb_supersede(), kb_forget(),
 * kb_confirm(), kb_reject() and the like), the row helpers the other parts
 * share (kb__entry_from_row(), kb__by_hash(), kb__insert()), and an entry as
 * JSON (kb_entry_to_json()). Text is prepared by kb_prep.c first. */
#include "kb/kb_int.h"

#include "common/err.h"
#include "common/timefmt.h"
#include "common/ulid.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- entries from rows ---- */

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? xstrdup((const char *)s) : NULL;
}

static void col_uid(sqlite3_stmt *st, int i, char out[ULID_LEN + 1])
{
	const unsigned char *s = sqlite3_column_text(st, i);
	snprintf(out, ULID_LEN + 1, "%s", s ? (const char *)s : "");
}

void kb__entry_from_row(sqlite3_stmt *st, struct kb_entry *e)
{
	memset(e, 0, sizeof *e);
	e->id = sqlite3_column_int64(st, 0);
	col_uid(st, 1, e->uid);
	const char *k = (const char *)sqlite3_column_text(st, 2);
	e->kind = kb_kind_parse(k) ? kb_kind_parse(k) : "note";
	e->title = col_str(st, 3);
	e->body = col_str(st, 4);
	e->tags = col_str(st, 5);
	e->files = col_str(st, 6);
	e->project = col_str(st, 7);
	e->created_ms = sqlite3_column_int64(st, 8);
	e->updated_ms = sqlite3_column_int64(st, 9);
	e->superseded_by = sqlite3_column_int64(st, 10);
	col_uid(st, 11, e->superseded_by_uid);
	e->uses = sqlite3_column_int64(st, 12);
	e->last_used_ms = sqlite3_column_int64(st, 13);
	e->confidence = sqlite3_column_double(st, 14);
	const char *s = (const char *)sqlite3_column_text(st, 15);
	e->state = kb_state_parse(s) ? kb_state_parse(s) : "active";
	e->forgotten_ms = sqlite3_column_int64(st, 16);
	e->signature = col_str(st, 17);
	e->sig_general = col_str(st, 18);
	e->fix_key = col_str(st, 19);
	e->sources = col_str(st, 20);
	if (!e->title)
		e->title = xstrdup("");
	if (!e->body)
		e->body = xstrdup("");
	if (!e->tags)
		e->tags = xstrdup("");
	if (!e->files)
		e->files = xstrdup("");
	if (!e->sources)
		e->sources = xstrdup("[]");
}

void kb_entry_release(struct kb_entry *e)
{
	if (!e)
		return;
	free(e->title);
	free(e->body);
	free(e->tags);
	free(e->files);
	free(e->project);
	free(e->signature);
	free(e->sig_general);
	free(e->fix_key);
	free(e->sources);
	memset(e, 0, sizeof *e);
}

static int get_by(struct kb *kb, enum stmt_id which, int64_t id, const char *uid,
		  struct kb_entry *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = kb__stmt(kb, which);
	if (!st)
		return CAIRN_E_STORE;
	if (uid)
		kb__bind_text(st, 1, uid);
	else
		sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st), r = 0;
	if (rc == SQLITE_ROW)
		kb__entry_from_row(st, out);
	else if (rc == SQLITE_DONE)
		r = uid ? kb__seterr(kb, CAIRN_E_NOTFOUND, "no entry with uid %s", uid)
			: kb__seterr(kb, CAIRN_E_NOTFOUND, "no entry %lld", (long long)id);
	else
		r = kb__sqlerr(kb, "cannot read an entry");
	sqlite3_reset(st);
	return r;
}

int kb_get(struct kb *kb, int64_t id, struct kb_entry *out)
{
	return get_by(kb, S_GET_ID, id, NULL, out);
}

int kb_get_uid(struct kb *kb, const char *uid, struct kb_entry *out)
{
	return get_by(kb, S_GET_UID, 0, uid ? uid : "", out);
}

static int exists(struct kb *kb, int64_t id)
{
	sqlite3_stmt *st = kb__stmt(kb, S_EXISTS);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, id);
	int64_t v;
	int r = kb__one_int(kb, st, &v, "cannot read an entry");
	if (r == 0)
		return kb__seterr(kb, CAIRN_E_NOTFOUND, "no entry %lld", (long long)id);
	return r < 0 ? r : 0;
}

int kb_resolve(struct kb *kb, const char *ref, int64_t *id)
{
	*id = 0;
	const char *s = ref && *ref == '#' ? ref + 1 : ref;
	if (s && *s && strspn(s, "0123456789") == strlen(s)) {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (*end || errno || v <= 0)
			return kb__seterr(kb, CAIRN_E_INVALID, "'%s' is not an entry id or uid",
					  ref);
		int r = exists(kb, v);
		if (r == 0)
			*id = v;
		return r;
	}
	char up[ULID_LEN + 1];
	snprintf(up, sizeof up, "%s", s ? s : "");
	for (char *p = up; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (!s || strlen(s) != ULID_LEN || !ulid_valid(up))
		return kb__seterr(kb, CAIRN_E_INVALID,
				  "'%s' is not an entry id (a number) or uid (26 characters)",
				  ref ? ref : "");
	sqlite3_stmt *st = kb__stmt(kb, S_UID_LOOKUP);
	if (!st)
		return CAIRN_E_STORE;
	kb__bind_text(st, 1, up);
	int r = kb__one_int(kb, st, id, "cannot look up an entry");
	if (r == 0)
		return kb__seterr(kb, CAIRN_E_NOTFOUND, "no entry with uid %s", up);
	return r < 0 ? r : 0;
}

/* ---- adding and changing ---- */

int kb__by_hash(struct kb *kb, const char *hash, int64_t *id, int64_t *forgotten)
{
	sqlite3_stmt *st = kb__stmt(kb, S_BY_HASH);
	if (!st)
		return CAIRN_E_STORE;
	kb__bind_text(st, 1, hash);
	int rc = sqlite3_step(st), r = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		if (forgotten)
			*forgotten = sqlite3_column_int64(st, 1);
		r = 1;
	} else if (rc != SQLITE_DONE) {
		r = kb__sqlerr(kb, "cannot look up duplicates");
	}
	sqlite3_reset(st);
	return r;
}

/* Binds one row of an insert to parameters base + 1 .. base + INSERT_NCOLS. */
static void insert_bind(sqlite3_stmt *st, int base, const struct prep *p, const struct meta *m)
{
	kb__bind_text(st, base + 1, m->uid);
	kb__bind_text(st, base + 2, p->kind);
	kb__bind_text(st, base + 3, p->title);
	kb__bind_text(st, base + 4, p->body);
	kb__bind_text(st, base + 5, p->tags);
	kb__bind_text(st, base + 6, p->files);
	kb__bind_text(st, base + 7, p->project);
	sqlite3_bind_int64(st, base + 8, m->created_ms);
	sqlite3_bind_int64(st, base + 9, m->updated_ms);
	sqlite3_bind_int64(st, base + 10, m->uses);
	kb__bind_time(st, base + 11, m->last_used_ms);
	sqlite3_bind_double(st, base + 12, m->confidence);
	kb__bind_text(st, base + 13, m->state);
	kb__bind_time(st, base + 14, m->forgotten_ms);
	kb__bind_text(st, base + 15, p->signature);
	kb__bind_text(st, base + 16, p->sig_general);
	kb__bind_text(st, base + 17, p->fix_key);
	kb__bind_text(st, base + 18, p->sources);
	kb__bind_text(st, base + 19, p->hash);
}

/* The cached insert of 1 << k rows, reset and unbound; NULL after setting
 * the error. */
static sqlite3_stmt *many_stmt(struct kb *kb, unsigned k)
{
	if (!kb->many[k]) {
		struct buf sql = BUF_INIT(KB_TEXT_MAX);
		buf_addstr(&sql, "INSERT INTO knowledge(" INSERT_COLS ") VALUES");
		for (size_t i = 0; i < (size_t)1 << k; i++) {
			buf_addstr(&sql, i ? ",(" : "(");
			for (int c = 0; c < INSERT_NCOLS; c++)
				buf_addstr(&sql, c ? ",?" : "?");
			buf_addch(&sql, ')');
		}
		buf_addstr(&sql, " ON CONFLICT DO NOTHING");
		int rc = sqlite3_prepare_v3(kb->db, sql.data, -1, SQLITE_PREPARE_PERSISTENT,
					    &kb->many[k], NULL);
		buf_release(&sql);
		if (rc != SQLITE_OK) {
			kb__sqlerr(kb, "cannot prepare a knowledge base query");
			return NULL;
		}
	}
	sqlite3_reset(kb->many[k]);
	sqlite3_clear_bindings(kb->many[k]);
	return kb->many[k];
}

int kb__insert_many(struct kb *kb, const struct prep *const *p, const struct meta *const *m,
		    size_t n)
{
	/* Statements of 2^k rows, largest first, as long as SQLite takes that
	 * many parameters. */
	int max_vars = sqlite3_limit(kb->db, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
	unsigned top = KB_MANY_LOG2;
	while (top > 0 && ((1 << top) * INSERT_NCOLS > max_vars))
		top--;
	size_t done = 0, inserted = 0;
	while (done < n) {
		unsigned k = top;
		while (((size_t)1 << k) > n - done)
			k--;
		sqlite3_stmt *st = many_stmt(kb, k);
		if (!st)
			return CAIRN_E_STORE;
		for (size_t i = 0; i < (size_t)1 << k; i++)
			insert_bind(st, (int)i * INSERT_NCOLS, p[done + i], m[done + i]);
		int r = kb__run(kb, st, "cannot add the entries");
		if (r)
			return r;
		inserted += (size_t)sqlite3_changes(kb->db);
		done += (size_t)1 << k;
	}
	return (int)inserted;
}

int kb__insert(struct kb *kb, const struct prep *p, const struct meta *m, int64_t *id)
{
	sqlite3_stmt *st = kb__stmt(kb, S_INSERT);
	if (!st)
		return CAIRN_E_STORE;
	insert_bind(st, 0, p, m);
	int r = kb__run(kb, st, "cannot add the entry");
	if (r)
		return r;
	if (sqlite3_changes(kb->db) == 0)
		return 1; /* the uid or the content is there already */
	*id = sqlite3_last_insert_rowid(kb->db);
	return 0;
}

static void raw_from_entry(struct raw *r, const struct kb_entry *e)
{
	r->kind = e->kind;
	r->title = e->title;
	r->body = e->body;
	r->tags = e->tags;
	r->files = e->files;
	r->project = e->project;
	r->signature = e->signature;
	r->sig_general = e->sig_general;
	r->fix_key = e->fix_key;
	r->sources = e->sources;
}

int kb_add(struct kb *kb, const struct kb_entry *in, int64_t now_ms, int64_t *id, bool *duplicate)
{
	struct raw raw;
	struct prep p;
	int r;
	*id = 0;
	*duplicate = false;
	kb->redactions = 0;
	raw_from_entry(&raw, in);
	const char *state = in->state ? kb_state_parse(in->state) : "active";
	if (!state)
		return kb__seterr(kb, CAIRN_E_INVALID,
				  "state: must be active, candidate or rejected");
	if ((r = kb__prep_make(&raw, false, &p, &kb->err)))
		return r;
	kb->redactions = p.redactions;
	if ((r = kb__tx_begin(kb)))
		goto out_free;
	int64_t old = 0, forgotten = 0;
	if ((r = kb__by_hash(kb, p.hash, &old, &forgotten)) < 0)
		goto out_rollback;
	if (r == 1) {
		if (forgotten) {
			sqlite3_stmt *st = kb__stmt(kb, S_UNFORGET);
			if (!st) {
				r = CAIRN_E_STORE;
				goto out_rollback;
			}
			sqlite3_bind_int64(st, 1, old);
			sqlite3_bind_int64(st, 2, now_ms);
			if ((r = kb__run(kb, st, "cannot restore the entry")))
				goto out_rollback;
		}
		*id = old;
		*duplicate = true;
	} else {
		char uid[ULID_LEN + 1];
		ulid_make(uid, now_ms);
		struct meta m = {
			.uid = uid,
			.created_ms = now_ms,
			.updated_ms = now_ms,
			.confidence =
				in->confidence > 0 && in->confidence <= 1 ? in->confidence : 0.5,
			.state = state,
		};
		if ((r = kb__insert(kb, &p, &m, id)) == 1)
			r = kb__seterr(kb, CAIRN_E_STORE, "cannot add the entry: its uid is taken");
		if (r)
			goto out_rollback;
	}
	r = kb__tx_commit(kb);
	if (r)
		*id = 0, *duplicate = false;
	goto out_free;
out_rollback:
	kb__tx_rollback(kb);
out_free:
	kb__prep_release(&p);
	return r;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int kb_update(struct kb *kb, int64_t id, const struct kb_edit *ed, int64_t now_ms, bool *changed)
{
	struct kb_entry cur;
	struct raw raw;
	struct prep p;
	int r;
	if (changed)
		*changed = false;
	kb->redactions = 0;
	if ((r = kb_get(kb, id, &cur)))
		return r;
	raw_from_entry(&raw, &cur);
	if (ed->kind)
		raw.kind = ed->kind;
	if (ed->title)
		raw.title = ed->title;
	if (ed->body)
		raw.body = ed->body;
	if (ed->tags)
		raw.tags = ed->tags;
	if (ed->files)
		raw.files = ed->files;
	if (ed->set_project)
		raw.project = ed->project;
	if ((r = kb__prep_make(&raw, false, &p, &kb->err)))
		goto out_entry;
	kb->redactions = p.redactions;
	if (p.kind == cur.kind && same(p.title, cur.title) && same(p.body, cur.body) &&
	    same(p.tags, cur.tags) && same(p.files, cur.files) && same(p.project, cur.project))
		goto out_prep;
	if ((r = kb__tx_begin(kb)))
		goto out_prep;
	int64_t other = 0;
	if ((r = kb__by_hash(kb, p.hash, &other, NULL)) < 0)
		goto out_rollback;
	if (r == 1 && other != id) {
		r = kb__seterr(
			kb, CAIRN_E_INVALID,
			"the edited entry would be identical to entry %lld; supersede or forget "
			"one of them instead",
			(long long)other);
		goto out_rollback;
	}
	sqlite3_stmt *st = kb__stmt(kb, S_UPDATE_CONTENT);
	if (!st) {
		r = CAIRN_E_STORE;
		goto out_rollback;
	}
	sqlite3_bind_int64(st, 1, id);
	kb__bind_text(st, 2, p.kind);
	kb__bind_text(st, 3, p.title);
	kb__bind_text(st, 4, p.body);
	kb__bind_text(st, 5, p.tags);
	kb__bind_text(st, 6, p.files);
	kb__bind_text(st, 7, p.project);
	kb__bind_text(st, 8, p.hash);
	sqlite3_bind_int64(st, 9, now_ms);
	if ((r = kb__run(kb, st, "cannot update the entry")))
		goto out_rollback;
	if ((r = kb__tx_commit(kb)))
		goto out_prep;
	if (changed)
		*changed = true;
	goto out_prep;
out_rollback:
	kb__tx_rollback(kb);
out_prep:
	kb__prep_release(&p);
out_entry:
	kb_entry_release(&cur);
	return r;
}

int kb__superseded_by(struct kb *kb, int64_t id, int64_t *next)
{
	sqlite3_stmt *st = kb__stmt(kb, S_SUPER_OF);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, id);
	*next = 0;
	int r = kb__one_int(kb, st, next, "cannot read an entry");
	return r < 0 ? r : 0;
}

int kb__makes_cycle(struct kb *kb, int64_t from, int64_t to)
{
	int64_t cur = to;
	for (int i = 0; cur && i < 100000; i++) {
		if (cur == from)
			return 1;
		int r = kb__superseded_by(kb, cur, &cur);
		if (r)
			return r;
	}
	return 0;
}

int kb_supersede(struct kb *kb, int64_t old_id, int64_t new_id, int64_t now_ms)
{
	int r;
	if (old_id == new_id)
		return kb__seterr(kb, CAIRN_E_INVALID, "an entry cannot supersede itself");
	if ((r = kb__tx_begin(kb)))
		return r;
	if ((r = exists(kb, old_id)) || (new_id && (r = exists(kb, new_id))))
		goto out_rollback;
	if (new_id && (r = kb__makes_cycle(kb, old_id, new_id)) != 0) {
		if (r == 1)
			r = kb__seterr(
				kb, CAIRN_E_INVALID,
				"entry %lld is already superseded, directly or through others, "
				"by entry %lld; that would make a cycle",
				(long long)new_id, (long long)old_id);
		goto out_rollback;
	}
	sqlite3_stmt *st = kb__stmt(kb, S_SET_SUPER);
	if (!st) {
		r = CAIRN_E_STORE;
		goto out_rollback;
	}
	sqlite3_bind_int64(st, 1, old_id);
	if (new_id)
		sqlite3_bind_int64(st, 2, new_id);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, now_ms);
	if ((r = kb__run(kb, st, "cannot supersede the entry")))
		goto out_rollback;
	return kb__tx_commit(kb);
out_rollback:
	kb__tx_rollback(kb);
	return r;
}

/* Runs one of the single-entry updates; an update that changed no row is
 * fine if the entry exists (it was already in that state). */
static int simple_update(struct kb *kb, enum stmt_id which, int64_t id, int64_t now_ms,
			 const char *what)
{
	sqlite3_stmt *st = kb__stmt(kb, which);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_ms);
	int r = kb__run(kb, st, what);
	if (r == 0 && sqlite3_changes(kb->db) == 0)
		r = exists(kb, id);
	return r;
}

int kb_forget(struct kb *kb, int64_t id, int64_t now_ms)
{
	return simple_update(kb, S_FORGET, id, now_ms, "cannot forget the entry");
}

int kb_unforget(struct kb *kb, int64_t id, int64_t now_ms)
{
	return simple_update(kb, S_UNFORGET, id, now_ms, "cannot restore the entry");
}

int kb_confirm(struct kb *kb, int64_t id, int64_t now_ms)
{
	return simple_update(kb, S_CONFIRM, id, now_ms, "cannot confirm the entry");
}

int kb_reject(struct kb *kb, int64_t id, int64_t now_ms)
{
	return simple_update(kb, S_REJECT, id, now_ms, "cannot reject the entry");
}

int kb_mark_used(struct kb *kb, int64_t id, int64_t now_ms)
{
	return simple_update(kb, S_USED, id, now_ms, "cannot record the use");
}

/* ---- JSON ---- */

static json_t *json_time(int64_t ms)
{
	if (!ms)
		return json_null();
	char t[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(t, ms);
	return json_string(t);
}

/* A JSON string of s. Everything stored through this module is valid UTF-8,
 * but another writer of the table need not be: such bytes become '?'
 * rather than a field left out of an export line. */
static json_t *json_text(const char *s)
{
	json_t *v = json_string(s ? s : "");
	if (!v) {
		char *fixed = kb__utf8_fix(s, strlen(s));
		v = json_string(fixed);
		free(fixed);
	}
	return v;
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_text(s) : json_null();
}

/* Splits s at sep into a JSON array of its non-empty parts. */
static json_t *json_split(const char *s, char sep)
{
	json_t *a = json_array();
	for (const char *p = s ? s : ""; *p;) {
		const char *e = strchr(p, sep);
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n) {
			char *item = xstrndup(p, n);
			json_array_append_new(a, json_text(item));
			free(item);
		}
		p += n + (e ? 1 : 0);
	}
	return a;
}

json_t *kb_entry_to_json(const struct kb_entry *e, unsigned flags)
{
	json_t *o = json_object();
	if (flags & KB_JSON_LOCAL)
		json_object_set_new(o, "id", json_integer(e->id));
	json_object_set_new(o, "uid", json_string(e->uid));
	json_object_set_new(o, "kind", json_string(e->kind ? e->kind : "note"));
	json_object_set_new(o, "title", json_text(e->title));
	json_object_set_new(o, "body", json_text(e->body));
	json_object_set_new(o, "tags", json_split(e->tags, ' '));
	json_object_set_new(o, "files", json_split(e->files, '\n'));
	json_object_set_new(o, "project", json_str_or_null(e->project));
	json_object_set_new(o, "created", json_time(e->created_ms));
	json_object_set_new(o, "updated", json_time(e->updated_ms));
	json_object_set_new(o, "superseded_by",
			    e->superseded_by_uid[0] ? json_string(e->superseded_by_uid)
						    : json_null());
	if (flags & KB_JSON_LOCAL)
		json_object_set_new(o, "superseded_by_id",
				    e->superseded_by ? json_integer(e->superseded_by)
						     : json_null());
	json_object_set_new(o, "uses", json_integer(e->uses));
	json_object_set_new(o, "last_used", json_time(e->last_used_ms));
	json_object_set_new(o, "confidence", json_real(e->confidence));
	json_object_set_new(o, "state", json_string(e->state ? e->state : "active"));
	json_object_set_new(o, "forgotten", json_time(e->forgotten_ms));
	json_object_set_new(o, "signature", json_str_or_null(e->signature));
	json_object_set_new(o, "sig_general", json_str_or_null(e->sig_general));
	json_object_set_new(o, "fix_key", json_str_or_null(e->fix_key));
	json_t *src = e->sources ? json_loads(e->sources, 0, NULL) : NULL;
	json_object_set_new(o, "sources", json_is_array(src) ? src : json_array());
	if (src && !json_is_array(src))
		json_decref(src);
	return o;
}

json_t *kb_change_event(const char *what, const struct kb_entry *e)
{
	json_t *data = e ? json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)e->id, "uid", e->uid,
				     "kind", e->kind, "title", e->title)
			 : json_object();
	char type[64];
	snprintf(type, sizeof type, "kb.%s", what);
	json_t *ev = json_pack("{s:s,s:s,s:o}", "type", type, "source", "cairn/kb", "data", data);
	if (e)
		json_object_set_new(ev, "subject", json_string(e->uid));
	if (e && e->project)
		json_object_set_new(ev, "project", json_string(e->project));
	return ev;
}

json_t *kb_entry_added_json(const struct kb_entry *e, bool duplicate)
{
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:b}", "id", (json_int_t)e->id, "uid", e->uid,
			      "kind", e->kind, "title", e->title, "duplicate", duplicate);
	if (e->project)
		json_object_set_new(o, "project", json_string(e->project));
	return o;
}
