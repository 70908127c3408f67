/* The prediction service: learns co-change rules from git.commit events,
 * and the query over them (see predict.h). A service of the host
 * (service.h): handle() runs on the pool, one commit at a time, and learns
 * each commit in one transaction together with its seq, so a job the host
 * runs twice after a crash is learned once. */
#include "services/predict.h"

#include "common/log.h"
#include "common/strmap.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "services/service.h"
#include "store/store.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct predictor {
	sqlite3 *db; /* its own connection; only handle() uses it */
	sqlite3_stmt *seen, *file, *pair, *mark;
	uint64_t learned, skipped; /* atomics: handle() writes, status() reads */
};

static const char *const predict_patterns[] = {"git.commit", NULL};

static void predict_free(void *state)
{
	struct predictor *p = state;
	sqlite3_finalize(p->seen);
	sqlite3_finalize(p->file);
	sqlite3_finalize(p->pair);
	sqlite3_finalize(p->mark);
	sqlite3_close(p->db);
	free(p);
}

static int predict_start(const struct service_env *env, void **state, struct cairn_err *err)
{
	struct predictor *p = xcalloc(1, sizeof *p);
	int r = store_db_open(env->cfg->db_path, false, &p->db, err);
	if (r) {
		free(p);
		return r;
	}
	/* The model can be learned again from the log: no fsync of its own. */
	sqlite3_exec(p->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(p->db, "SELECT seq FROM predict_learned WHERE id = 1", -1, &p->seen,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(p->db,
			       "INSERT INTO file_changes(project, path, n, last_ms)"
			       " VALUES (?1, ?2, 1, ?3) ON CONFLICT(project, path) DO UPDATE"
			       " SET n = n + 1, last_ms = max(last_ms, excluded.last_ms)",
			       -1, &p->file, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(p->db,
			       "INSERT INTO cochange(project, a, b, n, last_ms)"
			       " VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT(project, a, b) DO UPDATE"
			       " SET n = n + 1, last_ms = max(last_ms, excluded.last_ms)",
			       -1, &p->pair, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(p->db,
			       "INSERT INTO predict_learned(id, seq) VALUES (1, ?1)"
			       " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq",
			       -1, &p->mark, NULL) != SQLITE_OK) {
		cairn_err_set(err, CAIRN_E_STORE, "", "cannot prepare the prediction model: %s",
			      sqlite3_errmsg(p->db));
		predict_free(p);
		return CAIRN_E_STORE;
	}
	*state = p;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : CAIRN_E_STORE;
}

/* Learns one commit: its files (2..PREDICT_COMMIT_MAX distinct paths), in
 * one transaction with its seq. */
static int learn(struct predictor *p, int64_t seq, const char *project, const char **files,
		 size_t n, int64_t ms, struct cairn_err *err)
{
	if (sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	int64_t done = 0;
	if (sqlite3_step(p->seen) == SQLITE_ROW)
		done = sqlite3_column_int64(p->seen, 0);
	sqlite3_reset(p->seen);
	if (seq <= done) { /* learned before the daemon stopped */
		sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(p->file, 1, project, -1, SQLITE_STATIC);
		sqlite3_bind_text(p->file, 2, files[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(p->file, 3, ms);
		if (step_reset(p->file))
			goto fail_tx;
		for (size_t j = 0; j < n; j++) {
			if (i == j)
				continue;
			sqlite3_bind_text(p->pair, 1, project, -1, SQLITE_STATIC);
			sqlite3_bind_text(p->pair, 2, files[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(p->pair, 3, files[j], -1, SQLITE_STATIC);
			sqlite3_bind_int64(p->pair, 4, ms);
			if (step_reset(p->pair))
				goto fail_tx;
		}
	}
	sqlite3_bind_int64(p->mark, 1, seq);
	if (step_reset(p->mark) || sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_tx;
	return 1;
fail_tx:
	cairn_err_set(err, CAIRN_E_STORE, "", "cannot learn commit seq %lld: %s", (long long)seq,
		      sqlite3_errmsg(p->db));
	sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
	return CAIRN_E_STORE;
fail:
	return cairn_err_set(err, CAIRN_E_STORE, "", "cannot learn commit seq %lld: %s",
			     (long long)seq, sqlite3_errmsg(p->db));
}

static int predict_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			  struct cairn_err *err)
{
	struct predictor *p = state;
	json_t *ev = json_loadb(json, len, 0, NULL);
	const char *project = json_string_value(json_object_get(ev, "project"));
	const json_t *list = json_object_get(json_object_get(ev, "data"), "files");
	size_t n = json_array_size(list);
	int r = 0;
	if (!project || n < 2 || n > PREDICT_COMMIT_MAX) {
		__atomic_add_fetch(&p->skipped, 1, __ATOMIC_RELAXED);
		goto out;
	}
	/* Entries are {path, ...} (the git hook's) or plain paths. */
	const char *files[PREDICT_COMMIT_MAX];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(list, i);
		const char *path = json_is_string(e)
					   ? json_string_value(e)
					   : json_string_value(json_object_get(e, "path"));
		if (path && *path)
			files[k++] = path;
	}
	qsort(files, k, sizeof *files, cmp_str);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (!u || strcmp(files[u - 1], files[i]) != 0)
			files[u++] = files[i];
	if (u < 2) {
		__atomic_add_fetch(&p->skipped, 1, __ATOMIC_RELAXED);
		goto out;
	}
	int64_t ms = 0;
	const char *t = json_string_value(json_object_get(ev, "time"));
	if (t)
		timefmt_parse_rfc3339(t, &ms);
	r = learn(p, seq, project, files, u, ms, err);
	if (r > 0) {
		__atomic_add_fetch(&p->learned, 1, __ATOMIC_RELAXED);
		r = 0;
	}
out:
	json_decref(ev);
	return r;
}

static void predict_status(void *state, json_t *o)
{
	struct predictor *p = state;
	json_object_set_new(
		o, "commits_learned",
		json_integer((json_int_t)__atomic_load_n(&p->learned, __ATOMIC_RELAXED)));
	json_object_set_new(
		o, "commits_skipped",
		json_integer((json_int_t)__atomic_load_n(&p->skipped, __ATOMIC_RELAXED)));
}

const struct service_def predict_service = {
	.name = "predict",
	.patterns = predict_patterns,
	.start = predict_start,
	.handle = predict_handle,
	.status = predict_status,
	.free = predict_free,
};

/* ---- the query ---- */

void predict_items_free(struct predict_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].with);
	}
	free(v);
}

static int item_cmp(const void *a, const void *b)
{
	const struct predict_item *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	if (x->with_n != y->with_n)
		return x->with_n < y->with_n ? 1 : -1;
	if (x->last_ms != y->last_ms)
		return x->last_ms < y->last_ms ? 1 : -1;
	return strcmp(x->path, y->path);
}

int predict_files(sqlite3 *db, const char *project, const char *const *given, size_t n_given,
		  size_t limit, struct predict_item **out, size_t *n_out, struct cairn_err *err)
{
	*out = NULL;
	*n_out = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT c.b, c.n, f.n, c.last_ms FROM cochange c JOIN file_changes f"
			       " ON f.project = c.project AND f.path = c.a"
			       " WHERE c.project = ?1 AND c.a = ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return cairn_err_set(err, CAIRN_E_STORE, "", "cannot read the prediction model: %s",
				     sqlite3_errmsg(db));
	struct strmap idx; /* path -> index + 1 in v */
	strmap_init(&idx);
	struct predict_item *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	for (size_t g = 0; g < n_given && !r; g++) {
		sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, given[g], -1, SQLITE_STATIC);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *b = (const char *)sqlite3_column_text(st, 0);
			int64_t nab = sqlite3_column_int64(st, 1), na = sqlite3_column_int64(st, 2);
			int64_t last = sqlite3_column_int64(st, 3);
			bool is_given = false;
			for (size_t k = 0; k < n_given && !is_given; k++)
				is_given = strcmp(given[k], b) == 0;
			if (!b || is_given || na <= 0)
				continue;
			double conf = (double)nab / (double)na;
			size_t at = (size_t)(uintptr_t)strmap_get(&idx, b);
			struct predict_item *it;
			if (!at) {
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					v = xreallocarray(v, cap, sizeof *v);
				}
				it = &v[n++];
				memset(it, 0, sizeof *it);
				it->path = xstrdup(b);
				strmap_put(&idx, b, (void *)(uintptr_t)n);
			} else {
				it = &v[at - 1];
			}
			it->score += conf;
			if (!it->with || conf > (double)it->with_n / (double)it->of_n) {
				free(it->with);
				it->with = xstrdup(given[g]);
				it->with_n = nab;
				it->of_n = na;
			}
			if (last > it->last_ms)
				it->last_ms = last;
		}
		if (rc != SQLITE_DONE)
			r = cairn_err_set(err, CAIRN_E_STORE, "",
					  "cannot read the prediction model: %s",
					  sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	strmap_release(&idx, NULL);
	if (r) {
		predict_items_free(v, n);
		return r;
	}
	if (n)
		qsort(v, n, sizeof *v, item_cmp);
	while (n > limit) {
		n--;
		free(v[n].path);
		free(v[n].with);
	}
	*out = v;
	*n_out = n;
	return 0;
}
