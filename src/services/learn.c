/* The learner: when a target that failed passes again, what changed in
 * between becomes a candidate fix for the failure's signature. */
#include "services/triage.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/gitdl.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "kb/fixshape.h"
#include "kb/kb.h"
#include "services/triage_int.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One file that differs between the failure and the pass. */
struct fchange {
	char *path;
	char *before, *after; /* NULL: missing (or unknown when !known) */
	size_t blen, alen;
	bool known; /* we know the before side */
};

struct fchanges {
	struct fchange *v;
	size_t n, cap;
};

static struct fchange *fc_find(struct fchanges *c, const char *path)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].path, path) == 0)
			return &c->v[i];
	return NULL;
}

static struct fchange *fc_add(struct fchanges *c, const char *path)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
	}
	struct fchange *f = &c->v[c->n++];
	memset(f, 0, sizeof *f);
	f->path = xstrdup(path);
	return f;
}

static void fc_release(struct fchanges *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].before);
		free(c->v[i].after);
	}
	free(c->v);
}

static int fc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fchange *)a)->path, ((const struct fchange *)b)->path);
}

static char *read_current(const char *root, const char *rel, size_t *len)
{
	char *abs = xasprintf("%s/%s", root, rel);
	bool trunc;
	char *t = triage__read_file(abs, TRIAGE_SNAPSHOT_MAX + 1, len, &trunc);
	free(abs);
	if (t && (*len > TRIAGE_SNAPSHOT_MAX || memchr(t, '\0', *len))) {
		free(t);
		return NULL;
	}
	return t;
}

/* The content of path at HEAD in the repository at root, or NULL. */
static char *head_blob(git_repository *repo, const char *rel, size_t *len)
{
	if (!repo)
		return NULL;
	char *spec = xasprintf("HEAD:%s", rel);
	git_object *obj = NULL;
	char *out = NULL;
	if (git_revparse_single(&obj, repo, spec) == 0 && git_object_type(obj) == GIT_OBJECT_BLOB) {
		const git_blob *b = (const git_blob *)obj;
		size_t n = (size_t)git_blob_rawsize(b);
		if (n <= TRIAGE_SNAPSHOT_MAX && !git_blob_is_binary(b)) {
			out = xmalloc(n + 1);
			memcpy(out, git_blob_rawcontent(b), n);
			out[n] = '\0';
			*len = n;
		}
	}
	git_object_free(obj);
	free(spec);
	return out;
}

/* Appends what fits of s under b's max and drops the rest: a diff, a key or
 * a file list cut short is still useful. */
static void add_cut(struct buf *b, const char *s, size_t n)
{
	if (n > b->max - b->len)
		n = b->max - b->len;
	buf_add(b, s, n);
}

/* Appends the unified diff of one file to diff (capped) and its token-level
 * shape to key. */
static void diff_one(const struct fchange *c, struct buf *diff, struct buf *key)
{
	git_patch *patch = NULL;
	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.context_lines = 1;
	/* libgit2 adds the a/ and b/ prefixes itself. */
	char *a = xstrdup(c->path), *b = xstrdup(c->path);
	if (git_patch_from_buffers(&patch, c->before, c->before ? c->blen : 0, c->before ? a : NULL,
				   c->after, c->after ? c->alen : 0, c->after ? b : NULL,
				   &opts) != 0) {
		free(a);
		free(b);
		return;
	}
	free(a);
	free(b);
	git_buf out = {0};
	if (git_patch_to_buf(&out, patch) == 0 && out.ptr)
		add_cut(diff, out.ptr, out.size);
	git_buf_dispose(&out);
	struct buf removed = BUF_INIT(64 << 10), added = BUF_INIT(64 << 10);
	size_t nh = git_patch_num_hunks(patch);
	for (size_t h = 0; h < nh; h++) {
		int nl = git_patch_num_lines_in_hunk(patch, h);
		for (int l = 0; l < nl; l++) {
			const git_diff_line *line;
			if (git_patch_get_line_in_hunk(&line, patch, h, (size_t)l) != 0)
				continue;
			if (line->origin == GIT_DIFF_LINE_DELETION)
				add_cut(&removed, line->content, line->content_len);
			else if (line->origin == GIT_DIFF_LINE_ADDITION)
				add_cut(&added, line->content, line->content_len);
		}
	}
	/* Inserted names carry the kind of value they were declared with in
	 * the file after the fix (fixshape.h, "Types"). */
	struct fixshape_decls *decls = c->after ? fixshape_decls_scan(c->after, c->alen) : NULL;
	char shape[FIXSHAPE_MAX];
	int fr = fixshape_compute_typed(removed.data, removed.len, added.data, added.len, decls,
					shape, sizeof shape);
	fixshape_decls_free(decls);
	if (fr == 0 && shape[0]) {
		if (key->len)
			add_cut(key, " ; ", 3);
		add_cut(key, shape, strlen(shape));
	}
	buf_release(&removed);
	buf_release(&added);
	git_patch_free(patch);
}

static void format_took(char *out, size_t n, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(out, n, "under a second");
	else if (ms < 60000)
		snprintf(out, n, "%lld s", (long long)(ms / 1000));
	else if (ms < 7200000)
		snprintf(out, n, "%lld min", (long long)(ms / 60000));
	else
		snprintf(out, n, "%.1f h", (double)ms / 3600000);
}

/* Marks the target's open failures resolved by the pass; the one the fix
 * was learned from keeps the entry and what was published (learned, a JSON
 * text, or NULL). */
static void resolve(sqlite3 *db, const char *scope, const char *target, int64_t pass_seq,
		    const char *fixed_id, int64_t entry, const char *learned)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
		    db,
		    "UPDATE failures SET resolved_seq = ?3,"
		    " fixed_by = CASE WHEN event_id = ?4 AND ?5 > 0 THEN ?5 ELSE fixed_by END,"
		    " learned = CASE WHEN event_id = ?4 THEN ?6 ELSE learned END"
		    " WHERE target = ?1 AND project = ?2 AND seq < ?3 AND resolved_seq IS NULL",
		    -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, pass_seq);
	sqlite3_bind_text(st, 4, fixed_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, entry);
	if (learned)
		sqlite3_bind_text(st, 6, learned, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/* What this pass already learned, if it resolved a failure before (the
 * daemon stopped after learning, before its event was logged): 1 with
 * *learned, 0 if it did not, or CAIRN_E_STORE. */
static int learned_before(sqlite3 *db, const char *scope, const char *target, int64_t pass_seq,
			  json_t **learned)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT learned FROM failures WHERE target = ?1 AND project = ?2"
			       " AND resolved_seq = ?3 AND learned IS NOT NULL LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, pass_seq);
	int rc = sqlite3_step(st);
	int r = 0;
	if (rc == SQLITE_ROW) {
		*learned = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		r = *learned ? 1 : 0;
	} else if (rc != SQLITE_DONE) {
		r = CAIRN_E_STORE;
	}
	sqlite3_finalize(st);
	return r;
}

/* Whether a failure is a configuration step's: the target is a configure
 * script or a build-system generator, or the message is configure's. */
static bool configure_failure(const char *target, const char *msg)
{
	static const char *const tools[] = {"configure", "autogen.sh", "autoreconf",
					    "cmake",     "meson",      "bootstrap"};
	const char *t = strrchr(target, '/');
	t = t ? t + 1 : target;
	for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
		size_t n = strlen(tools[i]);
		if (strncmp(t, tools[i], n) == 0 && (t[n] == '\0' || t[n] == ' '))
			return true;
	}
	return strstr(msg, "configure: error:") || strstr(msg, "CMake Error") ||
	       strstr(msg, "Could NOT find");
}

/* Records a note for a configuration failure that passed again with no
 * change in the project; 1 with *learned ({id, uid, title, kind,
 * recurred, failure_id, took_ms}), or a negative error. */
static int environment_note(struct triage_ctx *cx, const struct triage_pass *p, const char *fid,
			    const char *msg, int64_t fms, json_t **learned)
{
	if (!cx->kb)
		return 0;
	char took[32];
	format_took(took, sizeof took, p->time_ms - fms);
	char shortmsg[161];
	snprintf(shortmsg, sizeof shortmsg, "%s", *msg ? msg : "configuration failed");
	char *title = xasprintf("%s: fixed outside the project", shortmsg);
	char *body = xasprintf("Error: %s\n%s failed, then passed %s later with no file of the "
			       "project changed: what fixed it was outside the project (a "
			       "package installed, a tool or variable set).\n",
			       msg, p->target, took);
	struct kb_entry e = {.kind = "note",
			     .title = title,
			     .body = body,
			     .tags = (char *)"environment configure",
			     .files = (char *)"",
			     .project = (char *)p->project};
	int64_t id = 0;
	bool dup = false;
	int r = kb_add(cx->kb, &e, p->time_ms, &id, &dup);
	if (r == 0)
		*learned = json_pack("{s:I,s:s,s:s,s:b,s:s,s:I}", "id", (json_int_t)id, "title",
				     title, "kind", "note", "recurred", dup, "failure_id", fid,
				     "took_ms", (json_int_t)(p->time_ms - fms));
	free(title);
	free(body);
	return r == 0 ? 1 : r;
}

int triage_learn(struct triage_ctx *cx, const struct triage_pass *p, int64_t now_ms,
		 json_t **learned)
{
	*learned = NULL;
	const char *scope = triage__scope(p->project, p->cwd);
	if (!cx->db || !p->target || !scope)
		return 0;
	sqlite3 *db = cx->db;
	int prior = p->seq > 0 ? learned_before(db, scope, p->target, p->seq, learned) : 0;
	if (prior)
		return prior; /* the same event again, or the error */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT event_id, seq, signature, sig_general, message, time_ms"
			       " FROM failures WHERE target = ?1 AND project = ?2 AND seq < ?3"
			       " AND resolved_seq IS NULL ORDER BY seq DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, p->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, p->seq > 0 ? p->seq : INT64_MAX);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
	}
	char *fid = xstrdup((const char *)sqlite3_column_text(st, 0));
	int64_t fseq = sqlite3_column_int64(st, 1);
	char *sig = sqlite3_column_text(st, 2) ? xstrdup((const char *)sqlite3_column_text(st, 2))
					       : NULL;
	char *gen = sqlite3_column_text(st, 3) ? xstrdup((const char *)sqlite3_column_text(st, 3))
					       : NULL;
	char *msg = sqlite3_column_text(st, 4) ? xstrdup((const char *)sqlite3_column_text(st, 4))
					       : xstrdup("");
	int64_t fms = sqlite3_column_int64(st, 5);
	sqlite3_finalize(st);

	int r = 0;
	struct fchanges ch = {0};
	/* 1. Snapshot files whose content changed since the failure. */
	if (sqlite3_prepare_v2(db, "SELECT path, content FROM snapshots WHERE failure_id = ?1", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, fid, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *path = (const char *)sqlite3_column_text(st, 0);
			/* Written by the passing run itself: a by-product. */
			if (p->started_ms && path[0] != '/') {
				char *abs = xasprintf("%s/%s", scope, path);
				int64_t mt = triage__mtime_ms(abs);
				free(abs);
				if (mt >= p->started_ms)
					continue;
			}
			const void *blob = sqlite3_column_blob(st, 1);
			size_t blen = (size_t)sqlite3_column_bytes(st, 1);
			bool had = sqlite3_column_type(st, 1) != SQLITE_NULL;
			size_t alen = 0;
			char *now = read_current(scope, path, &alen);
			bool same = (had && now && alen == blen && memcmp(now, blob, blen) == 0) ||
				    (!had && !now);
			if (same) {
				free(now);
				continue;
			}
			struct fchange *c = fc_add(&ch, path);
			c->known = true;
			if (had) {
				c->before = xmalloc(blen + 1);
				memcpy(c->before, blob, blen);
				c->before[blen] = '\0';
				c->blen = blen;
			}
			c->after = now;
			c->alen = alen;
		}
		sqlite3_finalize(st);
	}
	/* 2. Files the watcher or git saw change in between. */
	struct triage_changes tc;
	triage__changes(db, p->project, fseq, p->seq, 0, p->started_ms, &tc);
	git_repository *repo = NULL;
	/* Without libgit2 (common/gitdl.h) a fix is still learned, with the
	 * files it changed but without its diff or shape. */
	struct cairn_err ge;
	bool git = gitdl_load(&ge) == 0;
	if (!git) {
		static atomic_bool said;
		if (!atomic_exchange(&said, true))
			log_warn("%s; fixes are learned without their diffs", ge.msg);
	} else {
		git_libgit2_init();
	}
	if (git && p->project && tc.n && tc.commits == 0)
		git_repository_open_ext(&repo, p->project, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	for (size_t i = 0; i < tc.n && ch.n < 64; i++) {
		if (fc_find(&ch, tc.v[i].path))
			continue;
		/* What a build wrote is not what fixed it: a file last written
		 * before the failure was logged (the failing build's objects,
		 * reported once the tree was quiet) or once the passing run had
		 * started (its own objects). */
		if (strcmp(tc.v[i].source, "git") && tc.v[i].path[0] != '/') {
			char *abs = xasprintf("%s/%s", scope, tc.v[i].path);
			int64_t mt = triage__mtime_ms(abs);
			free(abs);
			if (mt && (mt < fms || (p->started_ms && mt >= p->started_ms)))
				continue;
		}
		size_t alen = 0, blen = 0;
		char *now = read_current(scope, tc.v[i].path, &alen);
		char *before = head_blob(repo, tc.v[i].path, &blen);
		if ((before && now && alen == blen && memcmp(before, now, blen) == 0) ||
		    (!before && !now)) {
			/* Touched, but back as it was at HEAD; or neither in HEAD
			 * nor there now (configure's conftest.c, created by the
			 * failing run and removed by the passing one). */
			free(before);
			free(now);
			continue;
		}
		struct fchange *c = fc_add(&ch, tc.v[i].path);
		c->known = before != NULL;
		c->before = before;
		c->blen = blen;
		c->after = now;
		c->alen = alen;
	}
	if (repo)
		git_repository_free(repo);

	if (ch.n == 0 && configure_failure(p->target, msg)) {
		/* Fixed outside the project: a package installed, a variable
		 * set. Not a fix of anything in it; a note with the message. */
		r = environment_note(cx, p, fid, msg, fms, learned);
		char *text = r == 1 ? json_dumps(*learned, JSON_COMPACT) : NULL;
		resolve(db, scope, p->target, p->seq > 0 ? p->seq : INT64_MAX, fid, 0, text);
		free(text);
		goto out;
	}
	if (ch.n == 0 || (!sig && !gen)) {
		/* Passed with nothing we can see changed (flaky, or an outside
		 * cause), or nothing to key a fix on. */
		resolve(db, scope, p->target, p->seq > 0 ? p->seq : INT64_MAX, fid, 0, NULL);
		goto out;
	}
	qsort(ch.v, ch.n, sizeof *ch.v, fc_cmp);
	struct buf diff = BUF_INIT(TRIAGE_DIFF_MAX), key = BUF_INIT(FIXSHAPE_MAX - 1),
		   files = BUF_INIT(16 << 10);
	for (size_t i = 0; i < ch.n; i++) {
		if (ch.v[i].known && git)
			diff_one(&ch.v[i], &diff, &key);
		if (files.len)
			add_cut(&files, "\n", 1);
		add_cut(&files, ch.v[i].path, strlen(ch.v[i].path));
	}

	char took[32];
	format_took(took, sizeof took, p->time_ms - fms);
	char shortmsg[121];
	snprintf(shortmsg, sizeof shortmsg, "%s", msg);
	char more[32] = "";
	if (ch.n > 1)
		snprintf(more, sizeof more, " and %zu more", ch.n - 1);
	char *title =
		key.len && key.len <= 40
			? xasprintf("%s: changed %s%s (%s)", shortmsg, ch.v[0].path, more, key.data)
			: xasprintf("%s: changed %s%s", shortmsg, ch.v[0].path, more);
	char *commit =
		tc.commit_subject ? xasprintf("Commit: %s\n", tc.commit_subject) : xstrdup("");
	char *body = xasprintf("Error: %s\nChanged: %s\n%sFixed in %s (target %s).\n%s%s", msg,
			       files.data, commit, took, p->target, diff.len ? "\n" : "",
			       diff.len ? diff.data : "");
	struct kb_learned l = {
		.signature = sig,
		.sig_general = gen,
		.fix_key = key.len ? key.data : NULL,
		.title = title,
		.body = body,
		.files = files.data,
		.project = p->project,
		.failure_id = fid,
		.pass_id = p->event_id,
	};
	int64_t id = 0;
	bool recurred = false;
	r = kb_learn_fix(cx->kb, &l, now_ms, &id, &recurred);
	if (r == 0) {
		json_t *fl = json_array();
		for (size_t i = 0; i < ch.n; i++)
			json_array_append_new(fl, json_string(ch.v[i].path));
		*learned =
			json_pack("{s:I,s:s,s:b,s:s?,s:o,s:s?,s:I,s:s,s:s?,s:s?}", "id",
				  (json_int_t)id, "title", title, "recurred", recurred, "signature",
				  sig, "files", fl, "fix_key", key.len ? key.data : NULL, "took_ms",
				  (json_int_t)(p->time_ms - fms), "failure_id", fid, "pass_id",
				  p->event_id, "commit", tc.commit_subject);
		char *text = json_dumps(*learned, JSON_COMPACT);
		resolve(db, scope, p->target, p->seq > 0 ? p->seq : INT64_MAX, fid, id, text);
		free(text);
		r = 1;
	}
	free(title);
	free(commit);
	free(body);
	buf_release(&diff);
	buf_release(&key);
	buf_release(&files);
out:
	if (git)
		git_libgit2_shutdown();
	triage__changes_release(&tc);
	fc_release(&ch);
	free(fid);
	free(sig);
	free(gen);
	free(msg);
	return r;
}
