/* The prediction service: learns co-change rules from git.commit events and
 * from edit bursts in file.changed events, and the query over them (see
 * predict.h). A service of the host (service.h): handle() runs on the pool,
 * one event at a time, and learns each event in one transaction together
 * with its seq, so a job the host runs twice after a crash is learned once. */
#include "services/predict.h"

#include "common/clock.h"
#include "common/strmap.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "services/service.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The time constant of a file's activity (w): a change counts e^-1 after 180
 * days. Measured on curl's history (bench/predict/files.py, tuned on the
 * 4,000 test-eligible commits before the last 2,000): 180 days did better
 * than 30 days (which forgets the files a project keeps coming back to) and
 * than 1,000 days (which hardly tells this year's work from old work). */
#define TAU_MS (180.0 * 86400.0 * 1000.0)
/* exp() of at most this: 700 * 180 days is 345 years past the first event. */
#define EXP_MAX 700.0

struct predictor {
	sqlite3 *db; /* its own connection; only handle() uses it */
	sqlite3_stmt *seen, *mark, *proj, *file_commit, *file_burst, *pair_commit, *pair_burst;
	sqlite3_stmt *burst_get, *burst_put, *burst_del;
	/* atomics: handle() writes, status() reads */
	uint64_t learned, skipped, bursts, file_events;
	uint64_t learn_ns; /* time spent in handle(), all events */
};

/* git.commit is the main source. file.changed and file.created make the edit
 * bursts; fs.batch announces the file events of a git operation (checkout,
 * rebase), which are not edits, and file.deleted / file.renamed are only
 * counted off against it. */
static const char *const predict_patterns[] = {
	"git.commit", "file.changed", "file.created", "file.deleted", "file.renamed", "fs.batch",
	NULL};

static const struct {
	size_t off;
	const char *sql;
} stmts[] = {
	{offsetof(struct predictor, seen), "SELECT seq FROM predict_learned WHERE id = 1"},
	{offsetof(struct predictor, mark), "INSERT INTO predict_learned(id, seq) VALUES (1, ?1)"
					   " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq"},
	{offsetof(struct predictor, proj),
	 "INSERT INTO predict_projects(project, commits, t0_ms, last_ms) VALUES (?1, ?2, ?3, ?3)"
	 " ON CONFLICT(project) DO UPDATE SET commits = commits + ?2,"
	 " last_ms = max(last_ms, excluded.last_ms) RETURNING commits, t0_ms"},
	{offsetof(struct predictor, file_commit),
	 "INSERT INTO file_changes(project, path, n, e, w, no, last_ms)"
	 " VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6) ON CONFLICT(project, path) DO UPDATE"
	 " SET n = n + ?3, w = w + ?4, no = ?5, last_ms = max(last_ms, excluded.last_ms)"
	 " RETURNING n"},
	{offsetof(struct predictor, file_burst),
	 "INSERT INTO file_changes(project, path, n, e, w, no, last_ms)"
	 " VALUES (?1, ?2, 0, 1, ?3, 0, ?4) ON CONFLICT(project, path) DO UPDATE"
	 " SET e = e + 1, w = w + ?3, last_ms = max(last_ms, excluded.last_ms)"},
	{offsetof(struct predictor, pair_commit),
	 "INSERT INTO cochange(project, a, b, n, e, ws, a_at, last_ms)"
	 " VALUES (?1, ?2, ?3, 1, 0, ?4, ?5, ?6) ON CONFLICT(project, a, b) DO UPDATE"
	 " SET n = n + 1, ws = ws + ?4, a_at = ?5, last_ms = max(last_ms, excluded.last_ms)"},
	{offsetof(struct predictor, pair_burst),
	 "INSERT INTO cochange(project, a, b, n, e, ws, a_at, last_ms)"
	 " VALUES (?1, ?2, ?3, 0, 1, ?4, 0, ?5) ON CONFLICT(project, a, b) DO UPDATE"
	 " SET e = e + 1, ws = ws + ?4, last_ms = max(last_ms, excluded.last_ms)"},
	{offsetof(struct predictor, burst_get),
	 "SELECT first_ms, last_ms, files, skip FROM predict_bursts WHERE project = ?1"},
	{offsetof(struct predictor, burst_put),
	 "INSERT OR REPLACE INTO predict_bursts(project, first_ms, last_ms, files, skip)"
	 " VALUES (?1, ?2, ?3, ?4, ?5)"},
	{offsetof(struct predictor, burst_del), "DELETE FROM predict_bursts WHERE project = ?1"},
};
#define N_STMTS (sizeof stmts / sizeof stmts[0])

static sqlite3_stmt **stmt_at(struct predictor *p, size_t i)
{
	return (sqlite3_stmt **)((char *)p + stmts[i].off);
}

static void predict_free(void *state)
{
	struct predictor *p = state;
	for (size_t i = 0; i < N_STMTS; i++)
		sqlite3_finalize(*stmt_at(p, i));
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
	/* The model can be learned again from the log: no fsync of its own.
	 * Learning a commit of k files touches k file rows and k(k-1) pair
	 * rows all over the model: with SQLite's default 2 MiB of page cache,
	 * git's whole history (60,746 commits) was read back from the file
	 * page by page; 16 MiB holds the pages a replay keeps coming back to.
	 * Checkpoints every 4,000 pages as the store's writer does (the
	 * default 1,000 made this connection checkpoint, with an fsync, four
	 * times as often: handle() took 17 s for git's history, 13.5 s after). */
	sqlite3_exec(p->db,
		     "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;"
		     " PRAGMA wal_autocheckpoint=4000",
		     NULL, NULL, NULL);
	for (size_t i = 0; i < N_STMTS; i++) {
		if (sqlite3_prepare_v2(p->db, stmts[i].sql, -1, stmt_at(p, i), NULL) != SQLITE_OK) {
			cairn_err_set(err, CAIRN_E_STORE, "",
				      "cannot prepare the prediction model: %s",
				      sqlite3_errmsg(p->db));
			predict_free(p);
			return CAIRN_E_STORE;
		}
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

/* Sorts files[0..n) and drops repeats; returns the new count. */
static size_t sort_unique(const char **files, size_t n)
{
	qsort(files, n, sizeof *files, cmp_str);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || strcmp(files[u - 1], files[i]) != 0)
			files[u++] = files[i];
	return u;
}

/* The project's row moved to time ms (and one commit on when commit):
 * returns its commit count and t0 in *commits and *t0. */
static int touch_project(struct predictor *p, const char *project, bool commit, int64_t ms,
			 int64_t *commits, int64_t *t0)
{
	sqlite3_bind_text(p->proj, 1, project, -1, SQLITE_STATIC);
	sqlite3_bind_int(p->proj, 2, commit ? 1 : 0);
	sqlite3_bind_int64(p->proj, 3, ms);
	int rc = sqlite3_step(p->proj);
	if (rc == SQLITE_ROW) {
		*commits = sqlite3_column_int64(p->proj, 0);
		*t0 = sqlite3_column_int64(p->proj, 1);
	}
	sqlite3_reset(p->proj);
	return rc == SQLITE_ROW ? 0 : CAIRN_E_STORE;
}

/* weight * exp((ms - t0) / tau): one change's share of a file's activity,
 * kept on a fixed origin so that it only ever adds up (see predict.h). */
static double activity(double weight, int64_t ms, int64_t t0)
{
	double x = (double)(ms - t0) / TAU_MS;
	return weight * exp(x > EXP_MAX ? EXP_MAX : x);
}

/* Learns one commit of n distinct sorted files (1..PREDICT_COMMIT_MAX). */
static int learn_commit(struct predictor *p, const char *project, const char **files, size_t n,
			int64_t ms)
{
	int64_t commits = 0, t0 = ms, na[PREDICT_COMMIT_MAX];
	if (touch_project(p, project, true, ms, &commits, &t0))
		return CAIRN_E_STORE;
	double x = activity(1.0, ms, t0);
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = p->file_commit;
		sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, files[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, n >= 2 ? 1 : 0);
		sqlite3_bind_double(st, 4, x);
		sqlite3_bind_int64(st, 5, commits);
		sqlite3_bind_int64(st, 6, ms);
		int rc = sqlite3_step(st);
		na[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return CAIRN_E_STORE;
	}
	/* A commit of k files says of each pair 1/(k-1): a file in a big
	 * commit shares its one change among many partners. */
	double share = n >= 2 ? 1.0 / (double)(n - 1) : 0;
	for (size_t i = 0; i < n && n >= 2; i++) {
		for (size_t j = 0; j < n; j++) {
			if (i == j)
				continue;
			sqlite3_stmt *st = p->pair_commit;
			sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, files[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, files[j], -1, SQLITE_STATIC);
			sqlite3_bind_double(st, 4, share);
			sqlite3_bind_int64(st, 5, na[i]);
			sqlite3_bind_int64(st, 6, ms);
			if (step_reset(st))
				return CAIRN_E_STORE;
		}
	}
	return 0;
}

/* Learns a closed edit burst (its files as a JSON array, ending at ms):
 * like a commit, PREDICT_BURST_WEIGHT of one, counted apart (e) so that the
 * reasons stay about commits. Returns 1 if learned, 0 if too small or too
 * big. */
static int learn_burst(struct predictor *p, const char *project, const char *files_json, int64_t ms)
{
	json_t *list = json_loads(files_json, 0, NULL);
	size_t n = json_array_size(list);
	int r = 0;
	if (n < 2 || n > PREDICT_COMMIT_MAX)
		goto out;
	const char *files[PREDICT_COMMIT_MAX];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (json_is_string(json_array_get(list, i)))
			files[k++] = json_string_value(json_array_get(list, i));
	k = sort_unique(files, k);
	if (k < 2)
		goto out;
	int64_t commits = 0, t0 = ms;
	if ((r = touch_project(p, project, false, ms, &commits, &t0)))
		goto out;
	double x = activity(PREDICT_BURST_WEIGHT, ms, t0);
	for (size_t i = 0; i < k; i++) {
		sqlite3_bind_text(p->file_burst, 1, project, -1, SQLITE_STATIC);
		sqlite3_bind_text(p->file_burst, 2, files[i], -1, SQLITE_STATIC);
		sqlite3_bind_double(p->file_burst, 3, x);
		sqlite3_bind_int64(p->file_burst, 4, ms);
		if ((r = step_reset(p->file_burst)))
			goto out;
	}
	double share = PREDICT_BURST_WEIGHT / (double)(k - 1);
	for (size_t i = 0; i < k; i++) {
		for (size_t j = 0; j < k; j++) {
			if (i == j)
				continue;
			sqlite3_stmt *st = p->pair_burst;
			sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, files[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, files[j], -1, SQLITE_STATIC);
			sqlite3_bind_double(st, 4, share);
			sqlite3_bind_int64(st, 5, ms);
			if ((r = step_reset(st)))
				goto out;
		}
	}
	r = 1;
out:
	json_decref(list);
	return r;
}

/* The open burst of a project, as read from predict_bursts. */
struct burst {
	bool open;
	int64_t first_ms, last_ms, skip;
	json_t *files; /* owned; NULL when !open */
};

static int burst_load(struct predictor *p, const char *project, struct burst *b)
{
	memset(b, 0, sizeof *b);
	sqlite3_bind_text(p->burst_get, 1, project, -1, SQLITE_STATIC);
	int rc = sqlite3_step(p->burst_get);
	if (rc == SQLITE_ROW) {
		b->open = true;
		b->first_ms = sqlite3_column_int64(p->burst_get, 0);
		b->last_ms = sqlite3_column_int64(p->burst_get, 1);
		b->files = json_loads((const char *)sqlite3_column_text(p->burst_get, 2), 0, NULL);
		b->skip = sqlite3_column_int64(p->burst_get, 3);
		if (!json_is_array(b->files)) {
			json_decref(b->files);
			b->files = json_array();
		}
	}
	sqlite3_reset(p->burst_get);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

static int burst_save(struct predictor *p, const char *project, const struct burst *b)
{
	char *files = json_dumps(b->files, JSON_COMPACT);
	sqlite3_bind_text(p->burst_put, 1, project, -1, SQLITE_STATIC);
	sqlite3_bind_int64(p->burst_put, 2, b->first_ms);
	sqlite3_bind_int64(p->burst_put, 3, b->last_ms);
	sqlite3_bind_text(p->burst_put, 4, files ? files : "[]", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(p->burst_put, 5, b->skip);
	int r = step_reset(p->burst_put);
	free(files);
	return r;
}

/* Closes the open burst of the project, learning it; keeps skip (a git
 * operation's events still to come) in a row with no files. */
static int burst_close(struct predictor *p, const char *project, struct burst *b)
{
	int r = 0;
	if (!b->open)
		return 0;
	if (json_array_size(b->files) >= 2) {
		char *files = json_dumps(b->files, JSON_COMPACT);
		r = learn_burst(p, project, files ? files : "[]", b->last_ms);
		free(files);
		if (r < 0)
			return r;
		if (r > 0)
			__atomic_add_fetch(&p->bursts, 1, __ATOMIC_RELAXED);
	}
	json_array_clear(b->files);
	if (b->skip > 0)
		return burst_save(p, project, b);
	sqlite3_bind_text(p->burst_del, 1, project, -1, SQLITE_STATIC);
	b->open = false;
	return step_reset(p->burst_del);
}

/* A file event (type t) of the project at ms. A burst is the files edited
 * less than PREDICT_BURST_GAP_MS apart; it is learned when the next edit
 * comes after the gap, when a commit of the project comes, or when a git
 * operation starts (fs.batch). One that grows past PREDICT_COMMIT_MAX files
 * is kept at that plus one and not learned, as a big commit is not. */
static int file_event(struct predictor *p, const char *project, const char *type,
		      const json_t *data, int64_t ms)
{
	struct burst b;
	int r;
	if ((r = burst_load(p, project, &b)))
		return r;
	if (strcmp(type, "fs.batch") == 0) {
		static const char *const keys[] = {"created", "changed", "deleted", "renamed"};
		int64_t k = 0;
		for (size_t i = 0; i < 4; i++)
			k += json_integer_value(json_object_get(data, keys[i]));
		if ((r = burst_close(p, project, &b)) == 0 && k > 0) {
			if (!b.files)
				b.files = json_array();
			b.open = true;
			b.skip += k > 1000000 ? 1000000 : k;
			b.first_ms = b.last_ms = ms;
			r = burst_save(p, project, &b);
		}
		goto out;
	}
	if (b.skip > 0) { /* one of the git operation's */
		b.skip--;
		r = burst_save(p, project, &b);
		goto out;
	}
	const char *path = json_string_value(json_object_get(data, "path"));
	if (!path || !*path || strcmp(type, "file.deleted") == 0 ||
	    strcmp(type, "file.renamed") == 0)
		goto out;
	if (b.open && json_array_size(b.files) > 0 &&
	    (ms - b.last_ms > PREDICT_BURST_GAP_MS || ms < b.first_ms - PREDICT_BURST_GAP_MS)) {
		if ((r = burst_close(p, project, &b)))
			goto out;
	}
	if (!b.files)
		b.files = json_array();
	if (json_array_size(b.files) == 0)
		b.first_ms = b.last_ms = ms;
	bool have = false;
	for (size_t i = 0; i < json_array_size(b.files) && !have; i++)
		have = strcmp(json_string_value(json_array_get(b.files, i)), path) == 0;
	if (!have && json_array_size(b.files) <= PREDICT_COMMIT_MAX)
		json_array_append_new(b.files, json_string(path));
	if (ms > b.last_ms)
		b.last_ms = ms;
	b.open = true;
	r = burst_save(p, project, &b);
out:
	json_decref(b.files);
	return r;
}

static int predict_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			  struct cairn_err *err)
{
	struct predictor *p = state;
	uint64_t h0 = clock_mono_ns();
	json_t *ev = json_loadb(json, len, 0, NULL);
	const char *project = json_string_value(json_object_get(ev, "project"));
	const char *type = json_string_value(json_object_get(ev, "type"));
	const json_t *data = json_object_get(ev, "data");
	bool commit = type && strcmp(type, "git.commit") == 0;
	int r = 0;
	if (!project || !type) {
		if (commit)
			__atomic_add_fetch(&p->skipped, 1, __ATOMIC_RELAXED);
		goto out;
	}
	int64_t ms = 0;
	const char *t = json_string_value(json_object_get(ev, "time"));
	if (t)
		timefmt_parse_rfc3339(t, &ms);

	if (sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	int64_t done = 0;
	if (sqlite3_step(p->seen) == SQLITE_ROW)
		done = sqlite3_column_int64(p->seen, 0);
	sqlite3_reset(p->seen);
	if (seq <= done) { /* learned before the daemon stopped */
		sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	bool learned = false;
	if (commit) {
		/* Entries are {path, ...} (the git hook's) or plain paths. */
		const json_t *list = json_object_get(data, "files");
		size_t n = json_array_size(list);
		struct burst b;
		if (burst_load(p, project, &b) || burst_close(p, project, &b)) {
			json_decref(b.files);
			goto fail_tx;
		}
		json_decref(b.files);
		if (n >= 1 && n <= PREDICT_COMMIT_MAX) {
			const char *files[PREDICT_COMMIT_MAX];
			size_t k = 0;
			for (size_t i = 0; i < n; i++) {
				const json_t *e = json_array_get(list, i);
				const char *path =
					json_is_string(e)
						? json_string_value(e)
						: json_string_value(json_object_get(e, "path"));
				if (path && *path)
					files[k++] = path;
			}
			k = sort_unique(files, k);
			if (k >= 1) {
				if (learn_commit(p, project, files, k, ms))
					goto fail_tx;
				learned = true;
			}
		}
	} else {
		__atomic_add_fetch(&p->file_events, 1, __ATOMIC_RELAXED);
		if (file_event(p, project, type, data, ms))
			goto fail_tx;
	}
	sqlite3_bind_int64(p->mark, 1, seq);
	if (step_reset(p->mark) || sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_tx;
	if (commit)
		__atomic_add_fetch(learned ? &p->learned : &p->skipped, 1, __ATOMIC_RELAXED);
	goto out;
fail_tx:
	r = cairn_err_set(err, CAIRN_E_STORE, "", "cannot learn event seq %lld: %s", (long long)seq,
			  sqlite3_errmsg(p->db));
	sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
	goto out;
fail:
	r = cairn_err_set(err, CAIRN_E_STORE, "", "cannot learn event seq %lld: %s", (long long)seq,
			  sqlite3_errmsg(p->db));
out:
	json_decref(ev);
	__atomic_add_fetch(&p->learn_ns, clock_mono_ns() - h0, __ATOMIC_RELAXED);
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
	json_object_set_new(
		o, "file_events",
		json_integer((json_int_t)__atomic_load_n(&p->file_events, __ATOMIC_RELAXED)));
	json_object_set_new(
		o, "learn_ms",
		json_integer(
			(json_int_t)(__atomic_load_n(&p->learn_ns, __ATOMIC_RELAXED) / 1000000)));
	json_object_set_new(
		o, "bursts_learned",
		json_integer((json_int_t)__atomic_load_n(&p->bursts, __ATOMIC_RELAXED)));
}

const struct service_def predict_service = {
	.name = "predict",
	.patterns = predict_patterns,
	.start = predict_start,
	.handle = predict_handle,
	.status = predict_status,
	.free = predict_free,
};

/* ---- the query ----
 *
 * Each candidate b of a given file g gets a linear score, the sum of the
 * terms below; a candidate of several given files gets log(sum of exp) of
 * its scores (one suggested by two given files ranks above one suggested by
 * either), and the printed score is its share of the softmax over all
 * candidates: the model's probability that it is the file that changes
 * next. The weights were fitted on curl's history (the listwise softmax
 * likelihood, then each weight scaled for hit@3) on the 4,000 test-eligible
 * commits before the 2,000 the benchmark scores; git's history was not used
 * (bench/predict/files.py, docs/benchmarks.md). With N(x) = commits + 0.25
 * edit bursts:
 *
 *   W_CONF  * N(g,b)/N(g)     confidence, ROSE's: how often b came with g
 *   W_RCONF * N(g,b)/N(b)     the other way: b rarely changes without g
 *   W_WS    * ln(1 + ws)      support, each commit counted 1/(files - 1)
 *   W_NB    * ln(1 + N(b))    (< 0) a file that changes with everything is
 *                             a weaker hint for any one of them
 *   W_ACT   * ln(1 + act(b))  recency: b's changes decayed by their age
 *                             (tau 180 days) at the project's latest time
 *   W_SINCE * ln(1 + s)       (< 0) s = g's commits since the last one
 *                             with b: what g goes with lately
 *   W_R3, W_R10               b changed in the project's last 3 / 10
 *                             commits (any file): what you touched lately
 *   W_DIR, W_STEM             b is in g's directory / has g's name
 *                             (foo.c, foo.h)
 *   W_PAIR                    b ever changed with g (the files of the last
 *                             commits are candidates too, without it)
 */
#define W_CONF 4.8
#define W_RCONF 1.0
#define W_WS 0.9
#define W_NB (-0.3)
#define W_ACT 0.9
#define W_SINCE (-0.5)
#define W_R3 0.8
#define W_R10 0.3
#define W_DIR 0.6
#define W_STEM 1.4
#define W_PAIR 1.8

void predict_items_free(struct predict_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].with);
	}
	free(v);
}

void predict_item_reason(const struct predict_item *it, char *buf, size_t len)
{
	int k = 0;
	if (it->with && it->with_n > 0)
		k = snprintf(buf, len, "changed together with %s in %lld of %lld commits", it->with,
			     (long long)it->with_n, (long long)it->of_n);
	if (it->with && it->edits_n > 0 && k >= 0 && (size_t)k < len)
		k += snprintf(buf + k, len - (size_t)k, "%s%s in %lld of %lld edit bursts",
			      k ? " and edited together" : "edited together with ",
			      k ? "" : it->with, (long long)it->edits_n, (long long)it->edits_of);
	if (it->ago >= 0 && it->ago < PREDICT_RECENT && k >= 0 && (size_t)k < len) {
		const char *sep = k ? "; " : "";
		if (it->ago == 0)
			k += snprintf(buf + k, len - (size_t)k, "%schanged in the last commit",
				      sep);
		else
			k += snprintf(buf + k, len - (size_t)k, "%schanged %lld commits ago", sep,
				      (long long)it->ago);
	}
	if (k == 0 && len)
		snprintf(buf, len, "changed with the given files before");
}

static int item_cmp(const void *a, const void *b)
{
	const struct predict_item *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return strcmp(x->path, y->path);
}

/* The part of a path after its last '/'. */
static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static bool same_dir(const char *a, const char *b)
{
	size_t da = (size_t)(base_name(a) - a), db = (size_t)(base_name(b) - b);
	return da == db && strncmp(a, b, da) == 0;
}

/* The length of a base name without its extension (the part from its last
 * '.', unless only dots come before it: ".bashrc" has none). */
static size_t stem_len(const char *base)
{
	const char *dot = strrchr(base, '.');
	if (!dot)
		return strlen(base);
	for (const char *c = base; c < dot; c++)
		if (*c != '.')
			return (size_t)(dot - base);
	return strlen(base);
}

static bool same_stem(const char *a, const char *b)
{
	const char *ba = base_name(a), *bb = base_name(b);
	size_t la = stem_len(ba), lb = stem_len(bb);
	return la == lb && strncmp(ba, bb, la) == 0;
}

/* What the score reads of a candidate b for a given file g. */
struct feat {
	double nab, na, nb, ws, act;
	int64_t since, ago; /* ago < 0: never committed */
	bool pair;
};

static double logit(const struct feat *f, const char *g, const char *b)
{
	double s = 0;
	if (f->pair) {
		s += W_PAIR + W_WS * log1p(f->ws) + W_SINCE * log1p((double)f->since);
		if (f->na > 0)
			s += W_CONF * f->nab / f->na;
		if (f->nb > 0)
			s += W_RCONF * f->nab / f->nb;
	}
	s += W_NB * log1p(f->nb) + W_ACT * log1p(f->act);
	if (f->ago >= 0 && f->ago < 3)
		s += W_R3;
	if (f->ago >= 0 && f->ago < 10)
		s += W_R10;
	if (same_dir(g, b))
		s += W_DIR;
	if (same_stem(g, b))
		s += W_STEM;
	return s;
}

/* The query's candidates: v[0..n) with a map path -> index + 1. */
struct cands {
	struct predict_item *v;
	double *sum;    /* sum over the given files of exp(logit) */
	size_t *pair_g; /* the last given file b was a pair of (+1) */
	double *best;   /* the best logit of a pair, for `with` */
	size_t n, cap;
	struct strmap idx;
};

static size_t cand_at(struct cands *c, const char *path)
{
	size_t at = (size_t)(uintptr_t)strmap_get(&c->idx, path);
	if (at)
		return at - 1;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
		c->sum = xreallocarray(c->sum, c->cap, sizeof *c->sum);
		c->pair_g = xreallocarray(c->pair_g, c->cap, sizeof *c->pair_g);
		c->best = xreallocarray(c->best, c->cap, sizeof *c->best);
	}
	struct predict_item *it = &c->v[c->n];
	memset(it, 0, sizeof *it);
	it->path = xstrdup(path);
	it->ago = -1;
	c->sum[c->n] = 0;
	c->pair_g[c->n] = 0;
	c->best[c->n] = -INFINITY;
	strmap_put(&c->idx, path, (void *)(uintptr_t)(c->n + 1));
	return c->n++;
}

static bool is_given(const char *const *given, size_t n_given, const char *b)
{
	for (size_t k = 0; k < n_given; k++)
		if (strcmp(given[k], b) == 0)
			return true;
	return false;
}

/* A recent file (of the project's last PREDICT_RECENT commits). */
struct recent {
	char *path;
	double nb, act;
	int64_t ago;
};

int predict_files(sqlite3 *db, const char *project, const char *const *given, size_t n_given,
		  size_t limit, struct predict_item **out, size_t *n_out, struct cairn_err *err)
{
	*out = NULL;
	*n_out = 0;
	sqlite3_stmt *st_proj = NULL, *st_file = NULL, *st_pairs = NULL, *st_recent = NULL;
	struct cands c = {0};
	strmap_init(&c.idx);
	struct recent *rec = NULL;
	size_t n_rec = 0, cap_rec = 0;
	int r = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT commits, t0_ms, last_ms FROM predict_projects"
			       " WHERE project = ?1",
			       -1, &st_proj, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT n, e FROM file_changes WHERE project = ?1 AND path = ?2",
			       -1, &st_file, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT c.b, c.n, c.e, c.ws, c.a_at, c.last_ms, f.n, f.e, f.w, f.no"
			       " FROM cochange c JOIN file_changes f"
			       " ON f.project = c.project AND f.path = c.b"
			       " WHERE c.project = ?1 AND c.a = ?2",
			       -1, &st_pairs, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT path, n, e, w, no FROM file_changes"
			       " WHERE project = ?1 AND no > ?2",
			       -1, &st_recent, NULL) != SQLITE_OK)
		goto out_sqlerr;

	/* The project's clock: its commit count and latest time. */
	int64_t commits = 0, t0 = 0, now = 0;
	sqlite3_bind_text(st_proj, 1, project, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st_proj);
	if (rc == SQLITE_ROW) {
		commits = sqlite3_column_int64(st_proj, 0);
		t0 = sqlite3_column_int64(st_proj, 1);
		now = sqlite3_column_int64(st_proj, 2);
	} else if (rc != SQLITE_DONE) {
		goto out_sqlerr;
	}
	double decay = exp(-fmin((double)(now - t0) / TAU_MS, EXP_MAX));

	/* The files of the last commits, once for all the given files. */
	sqlite3_bind_text(st_recent, 1, project, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st_recent, 2, commits > PREDICT_RECENT ? commits - PREDICT_RECENT : 0);
	while ((rc = sqlite3_step(st_recent)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(st_recent, 0);
		if (!b || is_given(given, n_given, b))
			continue;
		if (n_rec == cap_rec) {
			cap_rec = cap_rec ? cap_rec * 2 : 64;
			rec = xreallocarray(rec, cap_rec, sizeof *rec);
		}
		rec[n_rec++] = (struct recent){
			.path = xstrdup(b),
			.nb = (double)sqlite3_column_int64(st_recent, 1) +
			      PREDICT_BURST_WEIGHT * (double)sqlite3_column_int64(st_recent, 2),
			.act = sqlite3_column_double(st_recent, 3) * decay,
			.ago = commits - sqlite3_column_int64(st_recent, 4),
		};
	}
	if (rc != SQLITE_DONE)
		goto out_sqlerr;

	for (size_t g = 0; g < n_given; g++) {
		int64_t na_n = 0, na_e = 0;
		sqlite3_bind_text(st_file, 1, project, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_file, 2, given[g], -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st_file)) == SQLITE_ROW) {
			na_n = sqlite3_column_int64(st_file, 0);
			na_e = sqlite3_column_int64(st_file, 1);
		}
		sqlite3_reset(st_file);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto out_sqlerr;
		double na = (double)na_n + PREDICT_BURST_WEIGHT * (double)na_e;

		sqlite3_bind_text(st_pairs, 1, project, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_pairs, 2, given[g], -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st_pairs)) == SQLITE_ROW) {
			const char *b = (const char *)sqlite3_column_text(st_pairs, 0);
			if (!b || is_given(given, n_given, b))
				continue;
			int64_t nab_n = sqlite3_column_int64(st_pairs, 1);
			int64_t nab_e = sqlite3_column_int64(st_pairs, 2);
			int64_t a_at = sqlite3_column_int64(st_pairs, 4);
			int64_t no = sqlite3_column_int64(st_pairs, 9);
			struct feat f = {
				.pair = true,
				.nab = (double)nab_n + PREDICT_BURST_WEIGHT * (double)nab_e,
				.na = na,
				.nb = (double)sqlite3_column_int64(st_pairs, 6) +
				      PREDICT_BURST_WEIGHT *
					      (double)sqlite3_column_int64(st_pairs, 7),
				.ws = sqlite3_column_double(st_pairs, 3),
				.act = sqlite3_column_double(st_pairs, 8) * decay,
				/* A pair only edited together never had a commit
				 * of g with b: all of g's commits came since. */
				.since = nab_n > 0 && na_n >= a_at ? na_n - a_at : na_n,
				.ago = no > 0 ? commits - no : -1,
			};
			double s = logit(&f, given[g], b);
			size_t i = cand_at(&c, b);
			c.sum[i] += exp(s);
			c.pair_g[i] = g + 1;
			struct predict_item *it = &c.v[i];
			it->ago = f.ago;
			if (s > c.best[i]) {
				c.best[i] = s;
				free(it->with);
				it->with = xstrdup(given[g]);
				it->with_n = nab_n;
				it->of_n = na_n;
				it->edits_n = nab_e;
				it->edits_of = na_e;
				it->last_ms = sqlite3_column_int64(st_pairs, 5);
			}
		}
		sqlite3_reset(st_pairs);
		if (rc != SQLITE_DONE)
			goto out_sqlerr;

		/* The files of the last commits that never changed with g. */
		for (size_t k = 0; k < n_rec; k++) {
			size_t i = cand_at(&c, rec[k].path);
			if (c.pair_g[i] == g + 1)
				continue;
			struct feat f = {.nb = rec[k].nb, .act = rec[k].act, .ago = rec[k].ago};
			c.sum[i] += exp(logit(&f, given[g], rec[k].path));
			c.v[i].ago = rec[k].ago;
		}
	}

	double total = 0;
	for (size_t i = 0; i < c.n; i++) {
		c.v[i].logit = log(c.sum[i]);
		total += c.sum[i];
	}
	for (size_t i = 0; i < c.n; i++)
		c.v[i].score = total > 0 ? c.sum[i] / total : 0;
	if (c.n > 1)
		qsort(c.v, c.n, sizeof *c.v, item_cmp);
	while (c.n > limit) {
		c.n--;
		free(c.v[c.n].path);
		free(c.v[c.n].with);
	}
	*out = c.v;
	*n_out = c.n;
	c.v = NULL;
	c.n = 0;
	goto out;
out_sqlerr:
	r = cairn_err_set(err, CAIRN_E_STORE, "", "cannot read the prediction model: %s",
			  sqlite3_errmsg(db));
out:
	predict_items_free(c.v, c.n);
	free(c.sum);
	free(c.pair_g);
	free(c.best);
	strmap_release(&c.idx, NULL);
	for (size_t k = 0; k < n_rec; k++)
		free(rec[k].path);
	free(rec);
	sqlite3_finalize(st_proj);
	sqlite3_finalize(st_file);
	sqlite3_finalize(st_pairs);
	sqlite3_finalize(st_recent);
	return r;
}
