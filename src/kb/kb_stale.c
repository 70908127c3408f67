/* Memory hygiene in the knowledge base: how idle an entry is and what that
 * costs it in rankings (kb_idle_days(), kb_idle_penalty()), and the entries
 * that look stale, each with why (kb_stale()). */
#include "kb/kb_int.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/strmap.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- idleness ---- */

int64_t kb_idle_days(int64_t last_used_ms, int64_t created_ms, int64_t now_ms)
{
	int64_t since = last_used_ms ? last_used_ms : created_ms;
	int64_t d = (now_ms - since) / KB_DAY_MS;
	return d > 0 ? d : 0;
}

double kb_idle_penalty(int64_t idle_days)
{
	/* IDLE_PENALTY_SQL (kb_int.h) is the same rule in SQL. */
	return (double)(idle_days < KB_IDLE_DAYS ? idle_days : KB_IDLE_DAYS) / 300.0;
}

/* ---- stale entries ---- */

/* What stat() said about a path, as a strmap value (NULL: not asked yet). */
#define PATH_THERE ((void *)1)
#define PATH_GONE ((void *)2)
#define PATH_UNKNOWN ((void *)3)

/* Whether path exists, asked once per path (the cache is the caller's). A
 * path that cannot be checked (EACCES, ELOOP, ...) is PATH_UNKNOWN: only a
 * certain absence is a reason. */
static void *path_state(struct strmap *cache, const char *path, bool want_dir)
{
	void *v = strmap_get(cache, path);
	if (v)
		return v;
	struct stat sb;
	if (stat(path, &sb) == 0)
		v = !want_dir || S_ISDIR(sb.st_mode) ? PATH_THERE : PATH_GONE;
	else
		v = errno == ENOENT || errno == ENOTDIR ? PATH_GONE : PATH_UNKNOWN;
	strmap_put(cache, path, v);
	return v;
}

static const char *plural(int64_t n)
{
	return n == 1 ? "" : "s";
}

/* The reasons of one entry as they are found: only counted (s NULL: the
 * first pass, over every candidate), or made (the second, for the entries
 * listed). */
struct collect {
	struct kb_stale_entry *s;
	size_t n, cap;
};

static void reason(struct collect *c, const char *code, int64_t ref, const char *file,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void reason(struct collect *c, const char *code, int64_t ref, const char *file,
		   const char *fmt, ...)
{
	c->n++;
	if (!c->s)
		return;
	struct kb_stale_entry *s = c->s;
	if (s->n_reasons == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		s->reasons = xreallocarray(s->reasons, c->cap, sizeof *s->reasons);
	}
	struct buf t = BUF_INIT(KB_TEXT_MAX);
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&t, fmt, ap);
	va_end(ap);
	char *text = buf_detach(&t, NULL);
	s->reasons[s->n_reasons++] = (struct kb_stale_reason){
		.code = code, .text = text, .ref = ref, .file = file ? xstrdup(file) : NULL};
}

static void stale_entry_release(struct kb_stale_entry *s)
{
	for (size_t i = 0; i < s->n_reasons; i++) {
		free(s->reasons[i].text);
		free(s->reasons[i].file);
	}
	free(s->reasons);
	free(s->title);
	free(s->project);
	memset(s, 0, sizeof *s);
}

void kb_stale_list_release(struct kb_stale_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		stale_entry_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The "missing-file" reasons of an entry of project: its relative files,
 * at most KB_STALE_FILES_MAX, that are certainly not under the project's
 * directory (which must exist: on another machine nothing can be told). */
static void missing_files(struct strmap *cache, struct buf *path, const char *project,
			  const char *files, struct collect *c)
{
	if (path_state(cache, project, true) != PATH_THERE)
		return;
	unsigned checked = 0;
	for (const char *p = files, *q; *p && checked < KB_STALE_FILES_MAX; p = q + (*q ? 1 : 0)) {
		q = strchr(p, '\n');
		if (!q)
			q = p + strlen(p);
		size_t n = (size_t)(q - p);
		if (n == 0 || p[0] == '/' || n > KB_FILE_MAX)
			continue;
		checked++;
		buf_reset(path);
		buf_addstr(path, project);
		buf_addch(path, '/');
		buf_add(path, p, n);
		if (path_state(cache, path->data, false) != PATH_GONE)
			continue;
		const char *file = path->data + strlen(project) + 1;
		reason(c, "missing-file", 0, file, "names %s, which is no longer in the project",
		       file);
	}
}

/* What a pass needs besides the row. */
struct pass {
	int64_t now, cutoff;
	struct strmap cache; /* path -> PATH_* */
	struct buf path;
};

/* The reasons of the row at st (the columns of the query in kb_stale()):
 * their count, and with s (zeroed), the entry and its reasons. */
static size_t stale_row(struct pass *ps, sqlite3_stmt *st, struct kb_stale_entry *s, int64_t *idle)
{
	struct collect c = {.s = s};
	const char *kind = kb_kind_parse((const char *)sqlite3_column_text(st, 2));
	const char *project = (const char *)sqlite3_column_text(st, 4);
	const char *files = (const char *)sqlite3_column_text(st, 5);
	const char *state = (const char *)sqlite3_column_text(st, 9);
	int64_t uses = sqlite3_column_int64(st, 6);
	int64_t last = sqlite3_column_int64(st, 7), created = sqlite3_column_int64(st, 8);
	int64_t sup = sqlite3_column_int64(st, 10);
	int64_t age = kb_idle_days(0, created, ps->now);
	*idle = kb_idle_days(last, created, ps->now);
	if (!last && created < ps->cutoff && !uses)
		reason(&c, "never-used", 0, NULL, "never used in %lld day%s since it was added",
		       (long long)age, plural(age));
	else if (!last && created < ps->cutoff)
		reason(&c, "unused", 0, NULL,
		       "no use recorded in the %lld day%s since it was added", (long long)age,
		       plural(age));
	else if (last && last < ps->cutoff)
		reason(&c, "unused", 0, NULL, "not used for %lld day%s", (long long)*idle,
		       plural(*idle));
	if (sup) {
		const char *t = (const char *)sqlite3_column_text(st, 11);
		reason(&c, "superseded", sup, NULL, "superseded by #%lld%s%s%s but not forgotten",
		       (long long)sup, t ? " (" : "", t ? t : "", t ? ")" : "");
	}
	if (state && strcmp(state, "candidate") == 0 && created < ps->cutoff)
		reason(&c, "unconfirmed", 0, NULL, "a candidate %s never confirmed in %lld day%s",
		       kind ? kind : "entry", (long long)age, plural(age));
	if (project && files && *files)
		missing_files(&ps->cache, &ps->path, project, files, &c);
	if (s && c.n) {
		const char *uid = (const char *)sqlite3_column_text(st, 1);
		const char *title = (const char *)sqlite3_column_text(st, 3);
		s->id = sqlite3_column_int64(st, 0);
		snprintf(s->uid, sizeof s->uid, "%s", uid ? uid : "");
		s->kind = kind ? kind : "note";
		s->title = xstrdup(title ? title : "");
		s->project = project ? xstrdup(project) : NULL;
		s->uses = uses;
		s->last_used_ms = last;
		s->created_ms = created;
		s->idle_days = *idle;
	}
	return c.n;
}

/* An entry's place in the order, from the first pass. */
struct key {
	int64_t id, idle;
	size_t n;
};

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	if (x->idle != y->idle)
		return x->idle > y->idle ? -1 : 1;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int stale_cmp(const void *a, const void *b)
{
	const struct kb_stale_entry *x = a, *y = b;
	struct key kx = {x->id, x->idle_days, x->n_reasons},
		   ky = {y->id, y->idle_days, y->n_reasons};
	return key_cmp(&kx, &ky);
}

int kb_stale(struct kb *kb, const struct kb_stale_query *q, struct kb_stale_list *out)
{
	memset(out, 0, sizeof *out);
	struct pass ps = {.now = q->now_ms ? q->now_ms : clock_wall_ms()};
	int64_t days = q->days > 0 ? q->days : KB_IDLE_DAYS;
	size_t limit = q->limit ? q->limit : 20;
	if (limit > KB_LIMIT_MAX)
		limit = KB_LIMIT_MAX;
	ps.cutoff = ps.now - days * KB_DAY_MS;
	strmap_init(&ps.cache);
	buf_init(&ps.path, KB_TEXT_MAX);

	/* Scope, not forgotten, not rejected: the filters of a search. */
	struct kb_query fq;
	kb_query_init(&fq);
	fq.scope = q->scope;
	fq.project = q->project;
	struct filt f;
	kb__filt_build(&f, &fq, 2);
	/* The rows that may have a reason (the time ones are decided here;
	 * files need stat()), with the title of the replacement. The second
	 * pass reads the same rows of the ids listed (the last parameter). */
	const char *sql_fmt =
		"SELECT k.id, k.uid, k.kind, k.title, k.project, k.files, k.uses, k.last_used_ms,"
		" k.created_ms, k.state, k.superseded_by, s.title"
		" FROM knowledge k LEFT JOIN knowledge s ON s.id=k.superseded_by"
		" WHERE (coalesce(k.last_used_ms, k.created_ms) < ?1 OR k.superseded_by IS NOT NULL"
		" OR (k.state='candidate' AND k.created_ms < ?1)"
		" OR (k.project IS NOT NULL AND k.files != ''))%s%s";
	int ids_param = 2 + f.n;
	char *ids_clause = xasprintf(" AND k.id IN (SELECT value FROM json_each(?%d))", ids_param);
	char *sql1 = xasprintf(sql_fmt, f.sql.data, "");
	char *sql2 = xasprintf(sql_fmt, f.sql.data, ids_clause);
	sqlite3_stmt *st = NULL;
	struct key *keys = NULL;
	size_t nk = 0, cap = 0;
	struct buf ids = BUF_INIT(KB_TEXT_MAX);
	int r = 0, rc;

	/* Pass 1: every candidate's place in the order, nothing built. */
	if (sqlite3_prepare_v2(kb->db, sql1, -1, &st, NULL) != SQLITE_OK) {
		r = kb__sqlerr(kb, "cannot list stale entries");
		goto out;
	}
	sqlite3_bind_int64(st, 1, ps.cutoff);
	kb__filt_bind(&f, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct key k = {.id = sqlite3_column_int64(st, 0)};
		if (!(k.n = stale_row(&ps, st, NULL, &k.idle)))
			continue;
		if (nk == cap) {
			cap = cap ? cap * 2 : 256;
			keys = xreallocarray(keys, cap, sizeof *keys);
		}
		keys[nk++] = k;
	}
	if (rc != SQLITE_DONE) {
		r = kb__sqlerr(kb, "cannot list stale entries");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	out->total = nk;
	if (!nk)
		goto out;
	if (nk > 1)
		qsort(keys, nk, sizeof *keys, key_cmp);

	/* Pass 2: the first `limit`, with their reasons. */
	size_t want = nk < limit ? nk : limit;
	buf_addch(&ids, '[');
	for (size_t i = 0; i < want; i++)
		buf_addf(&ids, "%s%lld", i ? "," : "", (long long)keys[i].id);
	buf_addch(&ids, ']');
	if (sqlite3_prepare_v2(kb->db, sql2, -1, &st, NULL) != SQLITE_OK) {
		r = kb__sqlerr(kb, "cannot list stale entries");
		goto out;
	}
	sqlite3_bind_int64(st, 1, ps.cutoff);
	kb__filt_bind(&f, st);
	sqlite3_bind_text(st, ids_param, ids.data, (int)ids.len, SQLITE_STATIC);
	out->v = xcalloc(want, sizeof *out->v);
	while (out->n < want && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t idle;
		struct kb_stale_entry *s = &out->v[out->n];
		/* The same row gives the same reasons, unless another process
		 * changed it in between: then it is left out. */
		if (stale_row(&ps, st, s, &idle))
			out->n++;
		else
			stale_entry_release(s);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		r = kb__sqlerr(kb, "cannot list stale entries");
		kb_stale_list_release(out);
		goto out;
	}
	qsort(out->v, out->n, sizeof *out->v, stale_cmp);
out:
	sqlite3_finalize(st);
	free(keys);
	buf_release(&ids);
	free(ids_clause);
	free(sql1);
	free(sql2);
	kb__filt_release(&f);
	strmap_release(&ps.cache, NULL);
	buf_release(&ps.path);
	return r;
}
