/* The command prediction service: learns the online next-command model of
 * cmdpredict.h from shell.command events, and the query over it. A service
 * of the host (service.h): handle() runs on the pool, one command at a
 * time, and learns each in one transaction together with its seq. */
#include "services/cmdpredict.h"

#include "common/strmap.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "services/service.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The constants of the model (cmdpredict.h says why they are these). */
#define ALPHA_0 0.95    /* order 0 */
#define ALPHA_1 0.90    /* order 1 */
#define ALPHA_2 0.95    /* order 2 */
#define ALPHA_SKIP 0.90 /* two commands later */
#define ALPHA_LINE 0.90 /* the whole lines of a word */
#define WEIGHT_SKIP 0.2
#define BONUS_LAST 0.05 /* the last command again */
#define BONUS_PREV 0.10 /* the one before it again */
/* The list after the first: each candidate's score plus DIV_ORDER0 x its
 * order-0 probability plus DIV_RECENT x DIV_GAMMA^r / (the sum over the
 * ranks) when it is the r-th most recently run distinct command (r <
 * DIV_RECENT_N): recent and frequent commands are the usual misses of
 * the model's own second to fifth choices. */
#define DIV_ORDER0 0.2
#define DIV_RECENT 0.2
#define DIV_GAMMA 0.8
#define DIV_RECENT_N 10
/* A whole line is shown for its word when it is at least this share of
 * the word's recent uses and was typed at least twice. */
#define LINE_SHARE 0.5

/* A context key: "0", "1 P1", "2 P2 P1", "s P2", "w WORD"; words have no
 * blanks, so the key is unambiguous. */
#define CTX_MAX (2 * CMDPREDICT_WORD_MAX + 8)

bool cmdpredict_first_word(const char *line, char *buf)
{
	while (*line == ' ' || *line == '\t' || *line == '\n' || *line == '\r')
		line++;
	size_t n = strcspn(line, " \t\r\n");
	if (n == 0 || n > CMDPREDICT_WORD_MAX)
		return false;
	memcpy(buf, line, n);
	buf[n] = '\0';
	return true;
}

/* The line with its blanks folded to one space and trimmed, NULL when over
 * CMDPREDICT_LINE_MAX. The caller frees it. */
static char *fold_line(const char *line)
{
	size_t len = strlen(line);
	if (len > 4 * CMDPREDICT_LINE_MAX)
		return NULL;
	char *out = xmalloc(len + 1), *w = out;
	bool blank = false;
	for (const char *r = line; *r; r++) {
		bool b = *r == ' ' || *r == '\t' || *r == '\n' || *r == '\r';
		if (b) {
			blank = w != out;
			continue;
		}
		if (blank)
			*w++ = ' ';
		blank = false;
		*w++ = *r;
	}
	*w = '\0';
	if ((size_t)(w - out) > CMDPREDICT_LINE_MAX) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- learning ---- */

struct cmdpredict_learner {
	sqlite3 *db;
	sqlite3_stmt *seen, *row_get, *row_put, *ent_get, *ent_put, *evict, *mark;
};

void cmdpredict_learner_free(struct cmdpredict_learner *l)
{
	if (!l)
		return;
	sqlite3_finalize(l->seen);
	sqlite3_finalize(l->row_get);
	sqlite3_finalize(l->row_put);
	sqlite3_finalize(l->ent_get);
	sqlite3_finalize(l->ent_put);
	sqlite3_finalize(l->evict);
	sqlite3_finalize(l->mark);
	sqlite3_close(l->db);
	free(l);
}

int cmdpredict_learner_new(const char *db_path, struct cmdpredict_learner **out,
			   struct cairn_err *err)
{
	*out = NULL;
	struct cmdpredict_learner *l = xcalloc(1, sizeof *l);
	int r = store_db_open(db_path, false, &l->db, err);
	if (r) {
		free(l);
		return r;
	}
	/* The model can be learned again from the log: no fsync of its own. */
	sqlite3_exec(l->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	static const struct {
		size_t off;
		const char *sql;
	} stmts[] = {
		{offsetof(struct cmdpredict_learner, seen),
		 "SELECT seq, w1, w2 FROM cmd_learned WHERE id = 1"},
		{offsetof(struct cmdpredict_learner, row_get),
		 "SELECT n, d FROM cmd_ctx WHERE ctx = ?1"},
		{offsetof(struct cmdpredict_learner, row_put),
		 "INSERT INTO cmd_ctx(ctx, n, d) VALUES (?1, ?2, ?3) ON CONFLICT(ctx)"
		 " DO UPDATE SET n = excluded.n, d = excluded.d"},
		{offsetof(struct cmdpredict_learner, ent_get),
		 "SELECT w, at, n FROM cmd_next WHERE ctx = ?1 AND next = ?2"},
		{offsetof(struct cmdpredict_learner, ent_put),
		 "INSERT INTO cmd_next(ctx, next, w, at, n, last_ms)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(ctx, next) DO UPDATE"
		 " SET w = excluded.w, at = excluded.at, n = excluded.n,"
		 " last_ms = max(last_ms, excluded.last_ms)"},
		{offsetof(struct cmdpredict_learner, evict),
		 "DELETE FROM cmd_next WHERE ctx = ?1 AND next = (SELECT next FROM cmd_next"
		 " WHERE ctx = ?1 AND next <> ?2 ORDER BY at, next LIMIT 1)"},
		{offsetof(struct cmdpredict_learner, mark),
		 "INSERT INTO cmd_learned(id, seq, w1, w2, line, time_ms)"
		 " VALUES (1, ?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE"
		 " SET seq = excluded.seq, w1 = excluded.w1, w2 = excluded.w2,"
		 " line = excluded.line, time_ms = excluded.time_ms"},
	};
	for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)l + stmts[i].off);
		if (sqlite3_prepare_v2(l->db, stmts[i].sql, -1, st, NULL) != SQLITE_OK) {
			cairn_err_set(err, CAIRN_E_STORE, "",
				      "cannot prepare the command model: %s",
				      sqlite3_errmsg(l->db));
			cmdpredict_learner_free(l);
			return CAIRN_E_STORE;
		}
	}
	*out = l;
	return 0;
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : CAIRN_E_STORE;
}

/* One IPAM update of the row ctx: next followed it. cap > 0 bounds the
 * entries the row keeps (the least recently updated goes). */
static int row_update(struct cmdpredict_learner *l, const char *ctx, double alpha, const char *next,
		      int64_t ms, int64_t cap)
{
	int64_t n_row = 0, d = 0;
	sqlite3_bind_text(l->row_get, 1, ctx, -1, SQLITE_STATIC);
	int rc = sqlite3_step(l->row_get);
	if (rc == SQLITE_ROW) {
		n_row = sqlite3_column_int64(l->row_get, 0);
		d = sqlite3_column_int64(l->row_get, 1);
	}
	sqlite3_reset(l->row_get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return CAIRN_E_STORE;
	double w = 0;
	int64_t at = n_row, n = 0;
	sqlite3_bind_text(l->ent_get, 1, ctx, -1, SQLITE_STATIC);
	sqlite3_bind_text(l->ent_get, 2, next, -1, SQLITE_STATIC);
	rc = sqlite3_step(l->ent_get);
	if (rc == SQLITE_ROW) {
		w = sqlite3_column_double(l->ent_get, 0);
		at = sqlite3_column_int64(l->ent_get, 1);
		n = sqlite3_column_int64(l->ent_get, 2);
	} else {
		d++;
	}
	sqlite3_reset(l->ent_get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return CAIRN_E_STORE;
	/* Every entry decays once more; this one gains 1 - alpha. */
	w = w * pow(alpha, (double)(n_row + 1 - at)) + (1 - alpha);
	sqlite3_bind_text(l->ent_put, 1, ctx, -1, SQLITE_STATIC);
	sqlite3_bind_text(l->ent_put, 2, next, -1, SQLITE_STATIC);
	sqlite3_bind_double(l->ent_put, 3, w);
	sqlite3_bind_int64(l->ent_put, 4, n_row + 1);
	sqlite3_bind_int64(l->ent_put, 5, n + 1);
	sqlite3_bind_int64(l->ent_put, 6, ms);
	if (step_reset(l->ent_put))
		return CAIRN_E_STORE;
	if (cap > 0 && d > cap) {
		sqlite3_bind_text(l->evict, 1, ctx, -1, SQLITE_STATIC);
		sqlite3_bind_text(l->evict, 2, next, -1, SQLITE_STATIC);
		if (step_reset(l->evict))
			return CAIRN_E_STORE;
		d -= sqlite3_changes(l->db);
	}
	sqlite3_bind_text(l->row_put, 1, ctx, -1, SQLITE_STATIC);
	sqlite3_bind_int64(l->row_put, 2, n_row + 1);
	sqlite3_bind_int64(l->row_put, 3, d);
	return step_reset(l->row_put);
}

int cmdpredict_learn(struct cmdpredict_learner *l, int64_t seq, const char *line, int64_t ms,
		     struct cairn_err *err)
{
	char word[CMDPREDICT_WORD_MAX + 1], ctx[CTX_MAX];
	if (!cmdpredict_first_word(line, word))
		return 0;
	char *folded = fold_line(line);
	if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	int64_t done = 0;
	char w1[CMDPREDICT_WORD_MAX + 1] = "", w2[CMDPREDICT_WORD_MAX + 1] = "";
	int rc = sqlite3_step(l->seen);
	if (rc == SQLITE_ROW) {
		done = sqlite3_column_int64(l->seen, 0);
		const char *a = (const char *)sqlite3_column_text(l->seen, 1);
		const char *b = (const char *)sqlite3_column_text(l->seen, 2);
		snprintf(w1, sizeof w1, "%s", a ? a : "");
		snprintf(w2, sizeof w2, "%s", b ? b : "");
	}
	sqlite3_reset(l->seen);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail_tx;
	if (seq <= done) { /* learned before the daemon stopped */
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		free(folded);
		return 0;
	}
	if (row_update(l, "0", ALPHA_0, word, ms, 0))
		goto fail_tx;
	if (*w1) {
		snprintf(ctx, sizeof ctx, "1 %s", w1);
		if (row_update(l, ctx, ALPHA_1, word, ms, 0))
			goto fail_tx;
	}
	if (*w1 && *w2) {
		snprintf(ctx, sizeof ctx, "2 %s %s", w2, w1);
		if (row_update(l, ctx, ALPHA_2, word, ms, 0))
			goto fail_tx;
		snprintf(ctx, sizeof ctx, "s %s", w2);
		if (row_update(l, ctx, ALPHA_SKIP, word, ms, 0))
			goto fail_tx;
	}
	if (folded) {
		snprintf(ctx, sizeof ctx, "w %s", word);
		if (row_update(l, ctx, ALPHA_LINE, folded, ms, CMDPREDICT_LINES_KEPT))
			goto fail_tx;
	}
	sqlite3_bind_int64(l->mark, 1, seq);
	sqlite3_bind_text(l->mark, 2, word, -1, SQLITE_STATIC);
	if (*w1)
		sqlite3_bind_text(l->mark, 3, w1, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(l->mark, 3);
	if (folded)
		sqlite3_bind_text(l->mark, 4, folded, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(l->mark, 4);
	sqlite3_bind_int64(l->mark, 5, ms);
	rc = step_reset(l->mark);
	sqlite3_clear_bindings(l->mark);
	if (rc || sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_tx;
	free(folded);
	return 1;
fail_tx:
	cairn_err_set(err, CAIRN_E_STORE, "", "cannot learn command seq %lld: %s", (long long)seq,
		      sqlite3_errmsg(l->db));
	sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	free(folded);
	return CAIRN_E_STORE;
fail:
	free(folded);
	return cairn_err_set(err, CAIRN_E_STORE, "", "cannot learn command seq %lld: %s",
			     (long long)seq, sqlite3_errmsg(l->db));
}

/* ---- the service ---- */

struct cmdpredict_svc {
	struct cmdpredict_learner *l;
	uint64_t learned, skipped; /* atomics: handle() writes, status() reads */
};

static const char *const cmdpredict_patterns[] = {"shell.command", NULL};

static void svc_free(void *state)
{
	struct cmdpredict_svc *s = state;
	cmdpredict_learner_free(s->l);
	free(s);
}

static int svc_start(const struct service_env *env, void **state, struct cairn_err *err)
{
	struct cmdpredict_svc *s = xcalloc(1, sizeof *s);
	int r = cmdpredict_learner_new(env->cfg->db_path, &s->l, err);
	if (r) {
		free(s);
		return r;
	}
	*state = s;
	return 0;
}

static int svc_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
		      struct cairn_err *err)
{
	struct cmdpredict_svc *s = state;
	json_t *ev = json_loadb(json, len, 0, NULL);
	const json_t *data = json_object_get(ev, "data");
	const char *line = json_string_value(json_object_get(data, "command"));
	const json_t *status = json_object_get(data, "exit");
	int r = 0;
	/* 127: the shell found no such command, a typo rather than a habit. */
	if (!line || (json_is_integer(status) && json_integer_value(status) == 127)) {
		__atomic_add_fetch(&s->skipped, 1, __ATOMIC_RELAXED);
		goto out;
	}
	int64_t ms = 0;
	const char *t = json_string_value(json_object_get(ev, "time"));
	if (t)
		timefmt_parse_rfc3339(t, &ms);
	r = cmdpredict_learn(s->l, seq, line, ms, err);
	if (r >= 0) {
		__atomic_add_fetch(r ? &s->learned : &s->skipped, 1, __ATOMIC_RELAXED);
		r = 0;
	}
out:
	json_decref(ev);
	return r;
}

static void svc_status(void *state, json_t *o)
{
	struct cmdpredict_svc *s = state;
	json_object_set_new(
		o, "commands_learned",
		json_integer((json_int_t)__atomic_load_n(&s->learned, __ATOMIC_RELAXED)));
	json_object_set_new(
		o, "commands_skipped",
		json_integer((json_int_t)__atomic_load_n(&s->skipped, __ATOMIC_RELAXED)));
}

const struct service_def cmdpredict_service = {
	.name = "cmdpredict",
	.patterns = cmdpredict_patterns,
	.start = svc_start,
	.handle = svc_handle,
	.status = svc_status,
	.free = svc_free,
};

/* ---- the query ---- */

void cmdpredict_items_free(struct cmdpredict_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].command);
		free(v[i].word);
		free(v[i].reason);
	}
	free(v);
}

/* Where an item's score came from: the part that gave most says why. */
enum part { PART_ORDER2, PART_ORDER1, PART_ORDER0, PART_SKIP, PART_LAST, PART_PREV };

struct cand {
	double score, best; /* total; the largest part */
	enum part part;
	int64_t n, of, last_ms; /* the best part's counts and time */
	double p0;              /* its order-0 probability */
	int64_t at0;            /* when it was last run: the order-0 row's count then, or -1 */
};

struct query {
	sqlite3 *db;
	sqlite3_stmt *row, *ents;
	struct strmap idx; /* word -> struct cand * */
};

static struct cand *cand_get(struct query *q, const char *word)
{
	struct cand *c = strmap_get(&q->idx, word);
	if (!c) {
		c = xcalloc(1, sizeof *c);
		c->best = -1;
		c->at0 = -1;
		strmap_put(&q->idx, word, c);
	}
	return c;
}

static void cand_add(struct cand *c, double v, enum part part, int64_t n, int64_t of,
		     int64_t last_ms)
{
	c->score += v;
	if (v > c->best) {
		c->best = v;
		c->part = part;
		c->n = n;
		c->of = of;
		c->last_ms = last_ms;
	}
}

/* The row ctx: its update count and distinct successors (0, 0 when new). */
static int read_row(struct query *q, const char *ctx, int64_t *n, int64_t *d)
{
	*n = *d = 0;
	sqlite3_bind_text(q->row, 1, ctx, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q->row);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(q->row, 0);
		*d = sqlite3_column_int64(q->row, 1);
	}
	sqlite3_reset(q->row);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

/* Adds weight x P(next | ctx) to each successor of the row ctx. */
static int add_row(struct query *q, const char *ctx, int64_t n_row, double alpha, double weight,
		   enum part part)
{
	double total = 1 - pow(alpha, (double)n_row);
	if (n_row <= 0 || total <= 0)
		return 0;
	sqlite3_bind_text(q->ents, 1, ctx, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(q->ents)) == SQLITE_ROW) {
		const char *next = (const char *)sqlite3_column_text(q->ents, 0);
		if (!next)
			continue;
		double w = sqlite3_column_double(q->ents, 1);
		int64_t at = sqlite3_column_int64(q->ents, 2);
		double p = w * pow(alpha, (double)(n_row - at)) / total;
		struct cand *c = cand_get(q, next);
		cand_add(c, weight * p, part, sqlite3_column_int64(q->ents, 3), n_row,
			 sqlite3_column_int64(q->ents, 4));
		if (part == PART_ORDER0) {
			c->p0 = p;
			c->at0 = at;
		}
	}
	sqlite3_reset(q->ents);
	return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

/* The usual whole line of word (see LINE_SHARE), or NULL. */
static char *usual_line(struct query *q, const char *word)
{
	char ctx[CTX_MAX];
	int64_t n_row, d;
	snprintf(ctx, sizeof ctx, "w %s", word);
	if (read_row(q, ctx, &n_row, &d) || n_row <= 0)
		return NULL;
	double total = 1 - pow(ALPHA_LINE, (double)n_row), best = 0;
	char *line = NULL;
	sqlite3_bind_text(q->ents, 1, ctx, -1, SQLITE_STATIC);
	while (sqlite3_step(q->ents) == SQLITE_ROW) {
		const char *next = (const char *)sqlite3_column_text(q->ents, 0);
		double p = sqlite3_column_double(q->ents, 1) *
			   pow(ALPHA_LINE, (double)(n_row - sqlite3_column_int64(q->ents, 2))) /
			   total;
		if (next && p > best && p >= LINE_SHARE && sqlite3_column_int64(q->ents, 3) >= 2) {
			free(line);
			line = xstrdup(next);
			best = p;
		}
	}
	sqlite3_reset(q->ents);
	return line;
}

static char *reason_of(const struct cand *c, const char *w1, const char *w2)
{
	switch (c->part) {
	case PART_ORDER2:
		return xasprintf("followed '%s' then '%s' %lld of %lld times", w2, w1,
				 (long long)c->n, (long long)c->of);
	case PART_ORDER1:
		return xasprintf("followed '%s' %lld of %lld times", w1, (long long)c->n,
				 (long long)c->of);
	case PART_SKIP:
		return xasprintf("came two after '%s' %lld of %lld times", w2, (long long)c->n,
				 (long long)c->of);
	case PART_LAST: return xstrdup("you ran it just before");
	case PART_PREV: return xstrdup("you ran it two commands ago");
	case PART_ORDER0: break;
	}
	return xasprintf("%lld of the %lld commands learned", (long long)c->n, (long long)c->of);
}

/* An item being ranked: key is what it is sorted by (the score, then the
 * score of the list after the first). */
struct ranked {
	struct cmdpredict_item it;
	const struct cand *c;
	double key;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? 1 : -1;
	if (x->it.last_ms != y->it.last_ms)
		return x->it.last_ms < y->it.last_ms ? 1 : -1;
	return strcmp(x->it.word, y->it.word);
}

static int recent_cmp(const void *a, const void *b)
{
	const struct ranked *const *x = a, *const *y = b;
	int64_t p = (*x)->c->at0, q = (*y)->c->at0;
	return p != q ? (p < q ? 1 : -1) : strcmp((*x)->it.word, (*y)->it.word);
}

/* Ranks v[0..n): the best by score first, then the rest by the score of
 * the list after the first (DIV_ORDER0, DIV_RECENT). */
static void rank_items(struct ranked *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i].key = v[i].it.score;
	qsort(v, n, sizeof *v, ranked_cmp);
	if (n < 3)
		return;
	for (size_t i = 1; i < n; i++)
		v[i].key = v[i].it.score + DIV_ORDER0 * v[i].c->p0;
	/* The recently run: the candidates with the latest order-0 count. */
	struct ranked **by = xcalloc(n, sizeof *by);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].c->at0 >= 0)
			by[m++] = &v[i];
	qsort(by, m, sizeof *by, recent_cmp);
	if (m > DIV_RECENT_N)
		m = DIV_RECENT_N;
	double z = 0, g = 1;
	for (size_t r = 0; r < m; r++, g *= DIV_GAMMA)
		z += g;
	g = 1;
	for (size_t r = 0; r < m; r++, g *= DIV_GAMMA)
		if (by[r] != &v[0])
			by[r]->key += DIV_RECENT * g / z;
	free(by);
	qsort(v + 1, n - 1, sizeof *v, ranked_cmp);
}

static bool has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	bool yes = false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

int cmdpredict_query(sqlite3 *db, const char *const *after, size_t n_after, size_t limit,
		     struct cmdpredict_item **out, size_t *n_out, struct cairn_err *err)
{
	*out = NULL;
	*n_out = 0;
	/* A database the daemon has not migrated yet has learned nothing. */
	if (!has_table(db, "cmd_learned"))
		return 0;
	char w1[CMDPREDICT_WORD_MAX + 1] = "", w2[CMDPREDICT_WORD_MAX + 1] = "", ctx[CTX_MAX];
	struct query q = {.db = db};
	strmap_init(&q.idx);
	struct cmdpredict_item *v = NULL;
	size_t n = 0;
	int r = 0;
	/* One read transaction: the model as one commit of the learner left it. */
	if (sqlite3_exec(db, "SAVEPOINT cmdpredict_query", NULL, NULL, NULL) != SQLITE_OK)
		return cairn_err_set(err, CAIRN_E_STORE, "", "cannot read the command model: %s",
				     sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, "SELECT n, d FROM cmd_ctx WHERE ctx = ?1", -1, &q.row, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT next, w, at, n, last_ms FROM cmd_next WHERE ctx = ?1",
			       -1, &q.ents, NULL) != SQLITE_OK)
		goto out_sqlerr;
	if (n_after > 0) {
		/* A command without a word (blank) leaves its place empty. */
		if (!cmdpredict_first_word(after[n_after - 1], w1))
			w1[0] = '\0';
		if (n_after > 1 && !cmdpredict_first_word(after[n_after - 2], w2))
			w2[0] = '\0';
	} else {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, "SELECT w1, w2 FROM cmd_learned WHERE id = 1", -1, &st,
				       NULL) != SQLITE_OK)
			goto out_sqlerr;
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *a = (const char *)sqlite3_column_text(st, 0);
			const char *b = (const char *)sqlite3_column_text(st, 1);
			snprintf(w1, sizeof w1, "%s", a ? a : "");
			snprintf(w2, sizeof w2, "%s", b ? b : "");
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto out_sqlerr;
	}
	/* The orders, longest context first, each taking n / (n + d) of the
	 * weight that is left. */
	struct {
		bool use;
		double alpha;
		enum part part;
	} orders[3] = {
		{*w1 && *w2, ALPHA_2, PART_ORDER2},
		{*w1 != '\0', ALPHA_1, PART_ORDER1},
		{true, ALPHA_0, PART_ORDER0},
	};
	double left = 1;
	for (size_t k = 0; k < 3; k++) {
		if (!orders[k].use)
			continue;
		if (k == 0)
			snprintf(ctx, sizeof ctx, "2 %s %s", w2, w1);
		else if (k == 1)
			snprintf(ctx, sizeof ctx, "1 %s", w1);
		else
			snprintf(ctx, sizeof ctx, "0");
		int64_t n_row, d;
		if (read_row(&q, ctx, &n_row, &d))
			goto out_sqlerr;
		if (n_row <= 0)
			continue;
		double share = left * (double)n_row / (double)(n_row + d);
		left -= share;
		if (add_row(&q, ctx, n_row, orders[k].alpha, share, orders[k].part))
			goto out_sqlerr;
	}
	if (*w1 && *w2) {
		int64_t n_row, d;
		snprintf(ctx, sizeof ctx, "s %s", w2);
		if (read_row(&q, ctx, &n_row, &d) ||
		    add_row(&q, ctx, n_row, ALPHA_SKIP, WEIGHT_SKIP, PART_SKIP))
			goto out_sqlerr;
	}
	if (strmap_len(&q.idx) == 0) /* nothing learned: no recency guess either */
		goto out;
	if (*w1)
		cand_add(cand_get(&q, w1), BONUS_LAST, PART_LAST, 0, 0, 0);
	if (*w2)
		cand_add(cand_get(&q, w2), BONUS_PREV, PART_PREV, 0, 0, 0);

	size_t it = 0, n_all = 0;
	const char *word;
	void *val;
	struct ranked *all = xcalloc(strmap_len(&q.idx), sizeof *all);
	while (strmap_next(&q.idx, &it, &word, &val)) {
		const struct cand *c = val;
		all[n_all].it.word = (char *)word; /* the map's key: copied if kept */
		all[n_all].it.score = c->score;
		all[n_all].it.last_ms = c->last_ms;
		all[n_all].c = c;
		n_all++;
	}
	rank_items(all, n_all);
	n = n_all < limit ? n_all : limit;
	v = xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		v[i] = all[i].it;
		v[i].word = xstrdup(all[i].it.word);
		v[i].reason = reason_of(all[i].c, w1, w2);
	}
	free(all);
	for (size_t i = 0; i < n; i++) {
		v[i].command = usual_line(&q, v[i].word);
		if (!v[i].command)
			v[i].command = xstrdup(v[i].word);
	}
	goto out;
out_sqlerr:
	r = cairn_err_set(err, CAIRN_E_STORE, "", "cannot read the command model: %s",
			  sqlite3_errmsg(db));
out:
	sqlite3_finalize(q.row);
	sqlite3_finalize(q.ents);
	sqlite3_exec(db, "RELEASE cmdpredict_query", NULL, NULL, NULL);
	strmap_release(&q.idx, free);
	if (r) {
		cmdpredict_items_free(v, n);
		return r;
	}
	*out = v;
	*n_out = n;
	return 0;
}
