/* The triage service's part of the knowledge base: kb_fixes_for() (known
 * fixes for a failure, by signature, general signature, then similar text),
 * kb_learn_fix() (a learned fix recorded as a candidate, or its recurrence
 * counted) and kb_note_signature() (the signatures table). */
#include "kb/kb_int.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/ulid.h"
#include "common/xalloc.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tier 3 of kb_fixes_for() ranks the matches of its rarest words, up to this
 * many entries. */
#define FIX_TEXT_MATCHES 1000
#define CHAIN_MAX 64         /* superseded_by hops followed before giving up */
#define EXAMPLE_MAX 4096     /* bytes of a signature's example */
#define LEARN_CONFIDENCE 0.4 /* of a new learned fix */

/* ---- known fixes for a failure ---- */

static const char *const reasons[] = {"same error", "same error, other names", "similar text",
				      "same error, in another project"};

struct hits {
	struct kb_fix_hit *v;
	int *tier; /* per hit: 0, 1, 2 for kb.h's tiers 1, 2, 3 */
	size_t n, cap;
};

static void hits_push(struct hits *h, size_t at, int tier)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = xreallocarray(h->v, h->cap, sizeof *h->v);
		h->tier = xreallocarray(h->tier, h->cap, sizeof *h->tier);
	}
	memmove(h->v + at + 1, h->v + at, (h->n - at) * sizeof *h->v);
	memmove(h->tier + at + 1, h->tier + at, (h->n - at) * sizeof *h->tier);
	memset(&h->v[at], 0, sizeof h->v[at]);
	h->v[at].reason = reasons[tier];
	h->tier[at] = tier;
	h->n++;
}

/* Adds the ids a tier query returns (not seen before) as hits of tier. */
static int tier_ids(struct kb *kb, sqlite3_stmt *st, int tier, struct hits *h, struct idset *seen,
		    size_t limit)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (h->n >= limit || !kb__idset_add(seen, id))
			continue;
		hits_push(h, h->n, tier);
		h->v[h->n - 1].e.id = id;
		if (tier == 2)
			h->v[h->n - 1].score = sqlite3_column_double(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : kb__sqlerr(kb, "cannot look up fixes");
}

/* The words of w found in the entry's text, space-separated (NULL if none);
 * *count gets how many. */
static char *matched_words(const struct kb_entry *e, const struct words *w, size_t *count)
{
	bool found[KB_QUERY_WORDS] = {false};
	const char *texts[4] = {e->title, e->tags, e->body, e->files};
	char word[WORD_MAX + 1];
	for (int t = 0; t < 4; t++) {
		const char *s = texts[t] ? texts[t] : "";
		size_t n = strlen(s), pos = 0;
		while (kb__next_word(s, n, &pos, false, word, NULL))
			for (size_t i = 0; i < w->n; i++)
				if (!found[i] && strcmp(word, w->w[i]) == 0)
					found[i] = true;
	}
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	*count = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (!found[i])
			continue;
		if (b.len)
			buf_addch(&b, ' ');
		buf_addstr(&b, w->w[i]);
		(*count)++;
	}
	return b.len ? buf_detach(&b, NULL) : NULL;
}

/* A hit with its rank within the tier: confidence less idleness. */
struct keyed_hit {
	struct kb_fix_hit h;
	double standing;
};

static int fix_cmp(const void *a, const void *b)
{
	const struct keyed_hit *kx = a, *ky = b;
	const struct kb_entry *x = &kx->h.e, *y = &ky->h.e;
	if ((x->superseded_by != 0) != (y->superseded_by != 0))
		return x->superseded_by ? 1 : -1;
	if (kx->standing != ky->standing)
		return kx->standing > ky->standing ? -1 : 1;
	if (x->uses != y->uses)
		return x->uses > y->uses ? -1 : 1;
	if (x->updated_ms != y->updated_ms)
		return x->updated_ms > y->updated_ms ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

/* Tier 3: ids of eligible entries sharing the informative words of text:
 * words found in more than 5% of the entries (or in more than
 * FIX_TEXT_MATCHES) are dropped, the rest taken rarest first while their
 * matches add up to at most FIX_TEXT_MATCHES. */
static int tier_text(struct kb *kb, const char *text, const char *project, size_t limit,
		     struct hits *h, struct idset *seen, struct words *kept)
{
	struct words all;
	int64_t df[KB_QUERY_WORDS], maxid = 0, dfmax;
	size_t order[KB_QUERY_WORDS], n = 0;
	int r;
	kept->n = 0;
	kb__split_words(text, true, &all);
	if (!all.n)
		return 0;
	sqlite3_stmt *st = kb__stmt(kb, S_MAXID);
	if (!st)
		return CAIRN_E_STORE;
	if ((r = kb__one_int(kb, st, &maxid, "cannot look up fixes")) < 0)
		return r;
	dfmax = maxid / 20 > 50 ? maxid / 20 : 50;
	if (dfmax > FIX_TEXT_MATCHES)
		dfmax = FIX_TEXT_MATCHES;
	for (size_t i = 0; i < all.n; i++) {
		char *e = kb__words_expr(&all, i, 1, "", false);
		if (!(st = kb__stmt(kb, S_DF))) {
			free(e);
			return CAIRN_E_STORE;
		}
		kb__bind_text(st, 1, e);
		sqlite3_bind_int64(st, 2, dfmax + 1);
		r = kb__one_int(kb, st, &df[i], "cannot look up fixes");
		free(e);
		if (r < 0)
			return r;
		if (df[i] < 1 || df[i] > dfmax)
			continue;
		/* Insertion by df, rarest first (stable). */
		size_t j = n++;
		while (j > 0 && df[order[j - 1]] > df[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	int64_t total = 0;
	struct buf rank = BUF_INIT(KB_TEXT_MAX);
	buf_addstr(&rank, "kb_rank(knowledge_fts");
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		if (kept->n && total + df[i] > FIX_TEXT_MATCHES)
			break;
		total += df[i];
		memcpy(kept->w[kept->n++], all.w[i], sizeof all.w[i]);
		char num[32];
		snprintf(num, sizeof num, ",%lld", (long long)df[i]);
		buf_addstr(&rank, num);
	}
	buf_addch(&rank, ')');
	if (!kept->n) {
		buf_release(&rank);
		return 0;
	}
	char *expr = kb__words_expr(kept, 0, kept->n, " OR ", false);
	char *sql =
		xasprintf("SELECT k.id, %s AS r FROM knowledge_fts JOIN knowledge k ON "
			  "k.id=knowledge_fts.rowid WHERE knowledge_fts MATCH ?1 AND " FIX_ELIGIBLE
			  " ORDER BY r DESC LIMIT ?3",
			  rank.data);
	buf_release(&rank);
	r = sqlite3_prepare_v2(kb->db, sql, -1, &st, NULL);
	free(sql);
	if (r != SQLITE_OK) {
		free(expr);
		return kb__sqlerr(kb, "cannot look up fixes");
	}
	kb__bind_text(st, 1, expr);
	kb__bind_text(st, 2, project);
	sqlite3_bind_int64(st, 3, (int64_t)(limit + seen->n));
	r = tier_ids(kb, st, 2, h, seen, limit);
	sqlite3_finalize(st);
	free(expr);
	return r;
}

void kb_fix_hits_free(struct kb_fix_hit *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		kb_entry_release(&v[i].e);
		free(v[i].matched);
	}
	free(v);
}

/* The head of the superseded_by chain above id (the entry that finally
 * replaces it), or 0. */
static int chain_head(struct kb *kb, int64_t id, int64_t *head)
{
	int64_t cur = id, next = 0;
	*head = 0;
	for (int i = 0; i < CHAIN_MAX; i++) {
		int r = kb__superseded_by(kb, cur, &next);
		if (r)
			return r;
		if (!next)
			break;
		cur = next;
	}
	if (cur != id && !next)
		*head = cur;
	return 0;
}

int kb_fixes_for(struct kb *kb, const char *sig, const char *general, const char *text,
		 const char *project, size_t limit, int64_t now_ms, struct kb_fix_hit **out,
		 size_t *n)
{
	struct hits h = {0};
	struct idset seen = {0};
	struct words kept = {0};
	char *rsig = NULL, *rgen = NULL;
	unsigned ignored = 0;
	int r = 0;
	*out = NULL;
	*n = 0;
	if (!limit)
		limit = 10;
	if (limit > KB_LIMIT_MAX)
		limit = KB_LIMIT_MAX;
	if (!now_ms)
		now_ms = clock_wall_ms();
	/* Stored signatures are redacted: compare like with like. */
	if (sig && *sig && strlen(sig) <= KB_SIG_MAX) {
		rsig = xstrdup(sig);
		kb__redact_in_place(&rsig, &ignored);
	}
	if (general && *general && strlen(general) <= KB_SIG_MAX) {
		rgen = xstrdup(general);
		kb__redact_in_place(&rgen, &ignored);
	}
	const enum stmt_id which[2] = {S_FIX_SIG, S_FIX_GEN};
	const char *keys[2] = {rsig, rgen};
	for (int t = 0; t < 2; t++) {
		if (!keys[t] || h.n >= limit)
			continue;
		sqlite3_stmt *st = kb__stmt(kb, which[t]);
		if (!st) {
			r = CAIRN_E_STORE;
			goto out;
		}
		kb__bind_text(st, 1, keys[t]);
		kb__bind_text(st, 2, project);
		sqlite3_bind_int64(st, 3, (int64_t)(limit + seen.n));
		sqlite3_bind_int64(st, 4, now_ms);
		if ((r = tier_ids(kb, st, t, &h, &seen, limit)))
			goto out;
	}
	/* The same exact error, fixed in another project: after this
	 * project's own, before similar text. */
	if (rsig && h.n < limit) {
		sqlite3_stmt *st = kb__stmt(kb, S_FIX_SIG_ELSEWHERE);
		if (!st) {
			r = CAIRN_E_STORE;
			goto out;
		}
		kb__bind_text(st, 1, rsig);
		kb__bind_text(st, 2, project);
		sqlite3_bind_int64(st, 3, (int64_t)(limit + seen.n));
		sqlite3_bind_int64(st, 4, now_ms);
		if ((r = tier_ids(kb, st, 3, &h, &seen, limit)))
			goto out;
	}
	size_t first_text = h.n;
	if (text && *text && h.n < limit &&
	    (r = tier_text(kb, text, project, limit, &h, &seen, &kept)))
		goto out;
	for (size_t i = 0; i < h.n; i++) {
		int64_t id = h.v[i].e.id;
		if ((r = kb_get(kb, id, &h.v[i].e)))
			goto out;
		if (h.tier[i] == 2) {
			size_t cnt = 0;
			h.v[i].matched = matched_words(&h.v[i].e, &kept, &cnt);
			h.v[i].n_matched = cnt;
			h.v[i].n_words = kept.n;
			h.v[i].score = h.v[i].e.confidence * (kept.n ? (double)cnt / kept.n : 0);
		} else {
			h.v[i].score = (h.tier[i] == 0 ? 2.0 : 1.0) + h.v[i].e.confidence;
		}
	}
	/* Tier 3 came ranked by bm25; within the tier the contract orders it
	 * like the others. */
	if (h.n > first_text) {
		size_t m = h.n - first_text;
		struct keyed_hit *tmp = xreallocarray(NULL, m, sizeof *tmp);
		for (size_t i = 0; i < m; i++) {
			const struct kb_entry *e = &h.v[first_text + i].e;
			tmp[i].h = h.v[first_text + i];
			tmp[i].standing = e->confidence -
					  kb_idle_penalty(kb_idle_days(e->last_used_ms,
								       e->created_ms, now_ms));
		}
		qsort(tmp, m, sizeof *tmp, fix_cmp);
		for (size_t i = 0; i < m; i++)
			h.v[first_text + i] = tmp[i].h;
		free(tmp);
	}
	/* A superseded hit: its replacement goes just before it, with its reason. */
	for (size_t i = 0; i < h.n; i++) {
		if (!h.v[i].e.superseded_by)
			continue;
		int64_t head = 0;
		if ((r = chain_head(kb, h.v[i].e.id, &head)))
			goto out;
		if (!head)
			continue;
		size_t j = 0;
		while (j < h.n && h.v[j].e.id != head)
			j++;
		if (j < i)
			continue;
		if (j < h.n) {
			struct kb_fix_hit moved = h.v[j];
			memmove(h.v + i + 1, h.v + i, (j - i) * sizeof *h.v);
			memmove(h.tier + i + 1, h.tier + i, (j - i) * sizeof *h.tier);
			h.v[i] = moved;
			h.tier[i] = h.tier[i + 1];
			h.v[i].reason = h.v[i + 1].reason;
			i++;
			continue;
		}
		sqlite3_stmt *st = kb__stmt(kb, S_FIX_ELIGIBLE);
		int64_t ok = 0;
		if (!st) {
			r = CAIRN_E_STORE;
			goto out;
		}
		sqlite3_bind_int64(st, 1, head);
		kb__bind_text(st, 2, project);
		if ((r = kb__one_int(kb, st, &ok, "cannot look up fixes")) < 0)
			goto out;
		if (r == 0)
			continue;
		hits_push(&h, i, h.tier[i]);
		if ((r = kb_get(kb, head, &h.v[i].e))) {
			memmove(h.v + i, h.v + i + 1, (h.n - i - 1) * sizeof *h.v);
			memmove(h.tier + i, h.tier + i + 1, (h.n - i - 1) * sizeof *h.tier);
			h.n--;
			if (r == CAIRN_E_NOTFOUND)
				continue;
			goto out;
		}
		h.v[i].score = h.v[i + 1].score;
		i++;
	}
	r = 0;
	while (h.n > limit) {
		h.n--;
		kb_entry_release(&h.v[h.n].e);
		free(h.v[h.n].matched);
	}
	*out = h.v;
	*n = h.n;
	h.v = NULL;
out:
	if (h.v)
		kb_fix_hits_free(h.v, h.n);
	free(h.tier);
	free(seen.v);
	free(rsig);
	free(rgen);
	return r;
}

/* ---- learning ---- */

/* Appends the valid event ids among add[] to the JSON array text old,
 * without duplicates, keeping the last KB_SOURCES_MAX. */
static char *sources_merge(const char *old, const char *const *add, size_t nadd)
{
	json_t *a = old ? json_loads(old, 0, NULL) : NULL;
	if (!json_is_array(a)) {
		json_decref(a);
		a = json_array();
	}
	for (size_t i = 0; i < nadd; i++) {
		if (!add[i] || !kb__source_id_ok(add[i]))
			continue;
		bool dup = false;
		for (size_t j = 0; j < json_array_size(a) && !dup; j++)
			dup = json_is_string(json_array_get(a, j)) &&
			      strcmp(json_string_value(json_array_get(a, j)), add[i]) == 0;
		if (!dup)
			json_array_append_new(a, json_string(add[i]));
	}
	while (json_array_size(a) > KB_SOURCES_MAX)
		json_array_remove(a, 0);
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static int learn_lookup(struct kb *kb, enum stmt_id which, const char *key, const struct prep *p,
			int64_t *id)
{
	sqlite3_stmt *st = kb__stmt(kb, which);
	if (!st)
		return CAIRN_E_STORE;
	kb__bind_text(st, 1, key);
	kb__bind_text(st, 2, p->fix_key);
	kb__bind_text(st, 3, p->project);
	return kb__one_int(kb, st, id, "cannot look up learned fixes");
}

static int recur(struct kb *kb, int64_t id, const struct prep *p, const char *const *ids,
		 int64_t now_ms)
{
	struct kb_entry cur;
	int r = kb_get(kb, id, &cur);
	if (r)
		return r;
	char *sources = sources_merge(cur.sources, ids, 2);
	double c = cur.confidence;
	if (strcmp(cur.state, "rejected") != 0)
		c += (1 - c) * 0.25;
	/* The newer title, body and files, all three about the same change
	 * (the title names the file whose diff the body shows), unless that
	 * makes the entry a copy of another one: then the older three. */
	char hash[33];
	const char *title = p->title, *body = p->body, *files = p->files;
	kb__hash_key(hash, cur.kind, cur.project, title, body, cur.signature, cur.fix_key);
	int64_t other = 0;
	if ((r = kb__by_hash(kb, hash, &other, NULL)) < 0)
		goto out;
	if (r == 1 && other != id) {
		title = cur.title;
		body = cur.body;
		files = cur.files;
		kb__hash_key(hash, cur.kind, cur.project, title, body, cur.signature, cur.fix_key);
	}
	sqlite3_stmt *st = kb__stmt(kb, S_RECUR);
	if (!st) {
		r = CAIRN_E_STORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_double(st, 2, c);
	kb__bind_text(st, 3, sources);
	sqlite3_bind_int64(st, 4, now_ms);
	kb__bind_text(st, 5, body);
	kb__bind_text(st, 6, hash);
	kb__bind_text(st, 7, title);
	kb__bind_text(st, 8, files);
	r = kb__run(kb, st, "cannot record the recurrence");
out:
	free(sources);
	kb_entry_release(&cur);
	return r;
}

int kb_learn_fix(struct kb *kb, const struct kb_learned *l, int64_t now_ms, int64_t *id,
		 bool *recurred)
{
	struct prep p;
	int r;
	*id = 0;
	*recurred = false;
	kb->redactions = 0;
	const char *ids[2] = {l->failure_id, l->pass_id};
	char *sources = sources_merge(NULL, ids, 2);
	struct raw raw = {
		.kind = "fix",
		.title = l->title,
		.body = l->body,
		.files = l->files,
		.project = l->project,
		.signature = l->signature,
		.sig_general = l->sig_general,
		.fix_key = l->fix_key,
		.sources = sources,
	};
	r = kb__prep_make(&raw, true, &p, &kb->err);
	free(sources);
	if (r)
		return r;
	kb->redactions = p.redactions;
	if ((r = kb__tx_begin(kb)))
		goto out_free;
	int64_t found = 0;
	if (p.fix_key) {
		if (p.signature && (r = learn_lookup(kb, S_LEARN_SIG, p.signature, &p, &found)) < 0)
			goto out_rollback;
		if (!found && p.sig_general &&
		    (r = learn_lookup(kb, S_LEARN_GEN, p.sig_general, &p, &found)) < 0)
			goto out_rollback;
	}
	if (found) {
		if ((r = recur(kb, found, &p, ids, now_ms)))
			goto out_rollback;
		*id = found;
		*recurred = true;
	} else {
		int64_t dup = 0;
		if ((r = kb__by_hash(kb, p.hash, &dup, NULL)) < 0)
			goto out_rollback;
		if (r == 1) {
			*id = dup;
		} else {
			char uid[ULID_LEN + 1];
			ulid_make(uid, now_ms);
			struct meta m = {
				.uid = uid,
				.created_ms = now_ms,
				.updated_ms = now_ms,
				.uses = 1,
				.last_used_ms = now_ms,
				.confidence = LEARN_CONFIDENCE,
				.state = "candidate",
			};
			if ((r = kb__insert(kb, &p, &m, id)) == 1)
				r = kb__seterr(kb, CAIRN_E_STORE,
					       "cannot record the fix: its uid is taken");
			if (r)
				goto out_rollback;
		}
	}
	if ((r = kb__tx_commit(kb)))
		*id = 0, *recurred = false;
	goto out_free;
out_rollback:
	kb__tx_rollback(kb);
	*id = 0;
	*recurred = false;
out_free:
	kb__prep_release(&p);
	return r;
}

int kb_note_signature(struct kb *kb, const char *sig, const char *general, const char *example,
		      int64_t now_ms)
{
	if (!sig || !*sig)
		return kb__seterr(kb, CAIRN_E_INVALID, "signature: must not be empty");
	unsigned k = 0;
	char *s = kb__utf8_fix(sig, kb__utf8_cut(sig, strlen(sig), KB_SIG_MAX));
	const char *g0 = general && *general ? general : sig;
	char *g = kb__utf8_fix(g0, kb__utf8_cut(g0, strlen(g0), KB_SIG_MAX));
	const char *e0 = example ? example : "";
	char *e = kb__utf8_fix(e0, kb__utf8_cut(e0, strlen(e0), EXAMPLE_MAX));
	kb__redact_in_place(&s, &k);
	kb__redact_in_place(&g, &k);
	kb__redact_in_place(&e, &k);
	sqlite3_stmt *st = kb__stmt(kb, S_SIG_UPSERT);
	int r = CAIRN_E_STORE;
	if (st) {
		kb__bind_text(st, 1, s);
		kb__bind_text(st, 2, g);
		kb__bind_text(st, 3, e);
		sqlite3_bind_int64(st, 4, now_ms);
		r = kb__run(kb, st, "cannot record the signature");
	}
	free(s);
	free(g);
	free(e);
	return r;
}
