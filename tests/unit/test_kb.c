/* Knowledge base: ranking (data: tests/data/kb/ranking.txt), validation
 * (tests/data/kb/fields.txt), duplicates, supersede, forget and purge,
 * confirm and reject, fixes for the triage service, export and import
 * (tests/data/kb/import-mixed.*), and redaction (the positive cases of
 * tests/data/redact/cases.txt), each on a fresh database file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "kb/kb.h"
#include "kb/redact.h"
#include "testdata.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1764000000000LL /* a fixed "now" */
#define MIN 60000LL
#define DAY (24 * 3600 * 1000LL)

/* ---- fixture: a fresh database per test ---- */

struct fx {
	char dir[64];
	char path[128];
	struct kb *kb;
};

static struct kb *reopen(struct fx *f, int64_t forget_ms)
{
	struct cairn_err err;
	kb_close(f->kb);
	f->kb = NULL;
	int r = kb_open(f->path, false, forget_ms, &f->kb, &err);
	if (r)
		fail_msg("kb_open(%s): %s", f->path, err.msg);
	return f->kb;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/cairn-test-kb-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/cairn.db", f->dir);
	struct cairn_err err;
	if (kb_open(f->path, false, 0, &f->kb, &err)) {
		fprintf(stderr, "kb_open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_close(f->kb);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(cmd);
	free(f);
	return 0;
}

/* Adds an entry; fails the test unless it was stored as a new one. */
static int64_t add(struct kb *kb, const char *kind, const char *title, const char *body,
		   const char *tags, const char *files, const char *project, int64_t now)
{
	struct kb_entry in = {.kind = kind,
			      .title = (char *)title,
			      .body = (char *)body,
			      .tags = (char *)tags,
			      .files = (char *)files,
			      .project = (char *)project};
	int64_t id = 0;
	bool dup = true;
	int r = kb_add(kb, &in, now, &id, &dup);
	if (r || dup || id <= 0)
		fail_msg("kb_add('%s'): r=%d dup=%d: %s", title, r, dup, kb_errmsg(kb));
	return id;
}

static int64_t add_fix(struct kb *kb, const char *kind, const char *title, const char *sig,
		       const char *general, const char *project, int64_t now)
{
	struct kb_entry in = {.kind = kind,
			      .title = (char *)title,
			      .body = (char *)"fix body",
			      .project = (char *)project,
			      .signature = (char *)sig,
			      .sig_general = (char *)general};
	int64_t id = 0;
	bool dup = true;
	int r = kb_add(kb, &in, now, &id, &dup);
	if (r || dup)
		fail_msg("kb_add('%s'): %s", title, kb_errmsg(kb));
	return id;
}

static void get(struct kb *kb, int64_t id, struct kb_entry *e)
{
	int r = kb_get(kb, id, e);
	if (r)
		fail_msg("kb_get(%lld): %s", (long long)id, kb_errmsg(kb));
}

/* The ids of a search, as a space-separated string of names from names[]. */
static char *search_ids(struct kb *kb, const struct kb_query *q, int64_t *ids, char **names,
			size_t n_names)
{
	struct kb_results res;
	int r = kb_search(kb, q, &res);
	if (r)
		fail_msg("kb_search('%s'): %s", q->text ? q->text : "", kb_errmsg(kb));
	char buf[4096] = "";
	for (size_t i = 0; i < res.n; i++) {
		const char *name = "?";
		for (size_t j = 0; j < n_names; j++)
			if (ids[j] == res.v[i].e.id)
				name = names[j];
		if (i)
			strcat(buf, " ");
		if (strlen(buf) + strlen(name) + 2 < sizeof buf)
			strcat(buf, name);
	}
	kb_results_release(&res);
	return xstrdup(buf[0] ? buf : "-");
}

/* ---- data-driven cases ---- */

/* Decodes \n, \t, \r, \\ and \xHH in place; returns the length. */
static size_t unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1]) {
			char c = r[1];
			if (c == 'n' || c == 't' || c == 'r' || c == '\\') {
				*w++ = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : '\\';
				r++;
				continue;
			}
			if (c == 'x' && r[2] && r[3]) {
				char hex[3] = {r[2], r[3], 0};
				*w++ = (char)strtol(hex, NULL, 16);
				r += 3;
				continue;
			}
		}
		*w++ = *r;
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* Expands {N*c}, {tags:N} and {files:N} (the whole value), {rep:N:TEXT}
 * (followed by more text) and escapes. */
static char *expand(const char *spec)
{
	unsigned n;
	char c;
	if (sscanf(spec, "{%u*%c}", &n, &c) == 2) {
		char *s = xmalloc(n + 1);
		memset(s, c, n);
		s[n] = '\0';
		return s;
	}
	if (sscanf(spec, "{tags:%u}", &n) == 1 || sscanf(spec, "{files:%u}", &n) == 1) {
		bool tags = spec[1] == 't';
		char *s = xstrdup("");
		for (unsigned i = 0; i < n; i++) {
			char *t = xasprintf("%s%s%s%u", s, i ? (tags ? " " : "\n") : "",
					    tags ? "t" : "src/f", i);
			free(s);
			s = t;
		}
		return s;
	}
	char rep[256];
	if (sscanf(spec, "{rep:%u:%255[^}]}", &n, rep) == 2) {
		char *s = xstrdup("");
		for (unsigned i = 0; i < n; i++) {
			char *t = xasprintf("%s%s", s, rep);
			free(s);
			s = t;
		}
		/* Text after the closing brace follows the copies. */
		char *rest = xstrdup(strchr(spec, '}') + 1);
		unescape(rest);
		char *t = xasprintf("%s%s", s, rest);
		free(s);
		free(rest);
		return t;
	}
	char *s = xstrdup(spec);
	unescape(s);
	return s;
}

/* Splits line at tabs into at most max fields; returns the count. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == '\t') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

static bool has_opt(const char *opts, const char *name, char *val, size_t vlen)
{
	if (!opts)
		return false;
	char *copy = xstrdup(opts);
	bool found = false;
	for (char *tok = strtok(copy, ","); tok && !found; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');
		size_t kl = eq ? (size_t)(eq - tok) : strlen(tok);
		if (kl == strlen(name) && strncmp(tok, name, kl) == 0) {
			found = true;
			if (val)
				snprintf(val, vlen, "%s", eq ? eq + 1 : "");
		}
	}
	free(copy);
	return found;
}

static int word_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the words of s in place (for unordered comparison). */
static void sort_words(char *s)
{
	char *w[128], *copy = xstrdup(s);
	size_t n = 0;
	for (char *t = strtok(copy, " "); t && n < 128; t = strtok(NULL, " "))
		w[n++] = t;
	qsort(w, n, sizeof *w, word_cmp);
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, w[i]);
	}
	free(copy);
}

static void test_ranking_cases(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/kb/ranking.txt", testdata_dir());
	FILE *in = fopen(path, "r");
	if (!in)
		fail_msg("cannot open %s: %s (set CAIRN_TEST_DATA)", path, strerror(errno));
	char *line = NULL, *names[64];
	int64_t ids[64];
	size_t cap = 0, n_names = 0;
	int lineno = 0, failures = 0, searches = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *fl[8];
		int nf = split_tabs(line, fl, 8);
		if (strcmp(fl[0], "reset") == 0) {
			for (size_t i = 0; i < n_names; i++)
				free(names[i]);
			n_names = 0;
			kb_close(f->kb);
			f->kb = NULL;
			unlink(f->path);
			char *wal = xasprintf("%s-wal", f->path),
			     *shm = xasprintf("%s-shm", f->path);
			unlink(wal);
			unlink(shm);
			free(wal);
			free(shm);
			reopen(f, 0);
		} else if (strcmp(fl[0], "entry") == 0) {
			if (nf < 6 || n_names >= 64)
				fail_msg("%s:%d: entry needs NAME KIND TITLE TAGS BODY", path,
					 lineno);
			char files[512] = "", val[64];
			if (nf > 6 && strcmp(fl[6], "-"))
				for (char *p = fl[6], *o = files; *p; p++, o++)
					*o = *p == ';' ? '\n' : *p;
			const char *opts = nf > 7 ? fl[7] : NULL;
			int64_t now = T0;
			if (has_opt(opts, "age", val, sizeof val))
				now -= atoll(val) * MIN;
			char project[256] = "";
			has_opt(opts, "project", project, sizeof project);
			struct kb_entry e = {.kind = fl[2],
					     .title = fl[3],
					     .tags = strcmp(fl[4], "-") ? fl[4] : (char *)"",
					     .body = strcmp(fl[5], "-") ? fl[5] : (char *)"",
					     .files = files,
					     .project = project[0] ? project : NULL};
			if (has_opt(opts, "confidence", val, sizeof val))
				e.confidence = atof(val);
			int64_t id;
			bool dup;
			if (kb_add(f->kb, &e, now, &id, &dup) || dup)
				fail_msg("%s:%d: kb_add: %s", path, lineno, kb_errmsg(f->kb));
			if (has_opt(opts, "forgotten", NULL, 0))
				assert_int_equal(kb_forget(f->kb, id, now), 0);
			if (has_opt(opts, "rejected", NULL, 0))
				assert_int_equal(kb_reject(f->kb, id, now), 0);
			if (has_opt(opts, "used", val, sizeof val))
				assert_int_equal(kb_mark_used(f->kb, id, T0 - atoll(val) * MIN), 0);
			names[n_names] = xstrdup(fl[1]);
			ids[n_names++] = id;
		} else if (strcmp(fl[0], "supersede") == 0) {
			int64_t a = 0, b = 0;
			for (size_t i = 0; i < n_names; i++) {
				if (strcmp(names[i], fl[1]) == 0)
					a = ids[i];
				if (nf > 2 && strcmp(names[i], fl[2]) == 0)
					b = ids[i];
			}
			if (!a || !b)
				fail_msg("%s:%d: unknown entry name", path, lineno);
			if (kb_supersede(f->kb, a, b, T0))
				fail_msg("%s:%d: kb_supersede: %s", path, lineno, kb_errmsg(f->kb));
		} else if (strcmp(fl[0], "search") == 0) {
			if (nf < 3)
				fail_msg("%s:%d: search needs QUERY EXPECTED", path, lineno);
			const char *opts = nf > 3 ? fl[3] : NULL;
			struct kb_query q;
			char val[256], project[256];
			kb_query_init(&q);
			q.now_ms = T0;
			q.text = fl[1];
			if (has_opt(opts, "kind", val, sizeof val))
				q.kinds = kb_kind_bit(val);
			if (has_opt(opts, "project", project, sizeof project)) {
				q.scope = KB_SCOPE_PROJECT;
				q.project = project;
			}
			if (has_opt(opts, "global", NULL, 0))
				q.scope = KB_SCOPE_GLOBAL;
			char tag[64];
			if (has_opt(opts, "tag", tag, sizeof tag))
				q.tag = tag;
			if (has_opt(opts, "limit", val, sizeof val))
				q.limit = (size_t)atoi(val);
			if (has_opt(opts, "since", val, sizeof val))
				q.since_ms = T0 - atoll(val) * MIN;
			if (has_opt(opts, "until", val, sizeof val))
				q.until_ms = T0 - atoll(val) * MIN;
			q.include_forgotten = has_opt(opts, "forgotten", NULL, 0);
			q.include_rejected = has_opt(opts, "rejected", NULL, 0);
			char *got = search_ids(f->kb, &q, ids, names, n_names);
			char want[1024];
			snprintf(want, sizeof want, "%s", fl[2]);
			char gotbuf[4096];
			snprintf(gotbuf, sizeof gotbuf, "%s", got);
			if (has_opt(opts, "unordered", NULL, 0)) {
				sort_words(want);
				sort_words(gotbuf);
			}
			if (strcmp(want, gotbuf) != 0) {
				fprintf(stderr, "%s:%d: search '%s'%s%s: expected %s, got %s\n",
					path, lineno, fl[1], opts ? " " : "", opts ? opts : "",
					fl[2], got);
				failures++;
			}
			free(got);
			searches++;
		} else {
			fail_msg("%s:%d: unknown directive '%s'", path, lineno, fl[0]);
		}
	}
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(line);
	fclose(in);
	free(path);
	if (searches < 40)
		fail_msg("only %d search cases ran; is ranking.txt truncated?", searches);
	if (failures)
		fail_msg("%d of %d ranking cases failed (see above)", failures, searches);
}

static void test_field_cases(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/kb/fields.txt", testdata_dir());
	FILE *in = fopen(path, "r");
	if (!in)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, failures = 0, cases = 0;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *fl[4];
		if (split_tabs(line, fl, 4) != 4)
			fail_msg("%s:%d: expected 4 TAB-separated fields", path, lineno);
		bool ok = strcmp(fl[0], "ok") == 0;
		char *value = expand(fl[2]), *expect = expand(fl[3]);
		char title[64];
		snprintf(title, sizeof title, "field case %d", lineno);
		struct kb_entry e = {.kind = "note", .title = title, .body = (char *)"body"};
		const char *field = fl[1];
		if (strcmp(field, "kind") == 0)
			e.kind = value;
		else if (strcmp(field, "title") == 0)
			e.title = value;
		else if (strcmp(field, "body") == 0)
			e.body = value;
		else if (strcmp(field, "tags") == 0)
			e.tags = value;
		else if (strcmp(field, "files") == 0)
			e.files = value;
		else if (strcmp(field, "project") == 0)
			e.project = value;
		else if (strcmp(field, "sources") == 0)
			e.sources = value;
		else
			fail_msg("%s:%d: unknown field '%s'", path, lineno, field);
		int64_t id = 0;
		bool dup = false;
		int r = kb_add(f->kb, &e, T0, &id, &dup);
		cases++;
		if (!ok) {
			if (r != CAIRN_E_INVALID || !strstr(kb_errmsg(f->kb), expect)) {
				fprintf(stderr,
					"%s:%d: expected CAIRN_E_INVALID with '%s', got %d '%s'\n",
					path, lineno, expect, r, r ? kb_errmsg(f->kb) : "");
				failures++;
			} else if (kb_error(f->kb)->code != r ||
				   (!kb_error(f->kb)->field[0] &&
				    strncmp(kb_errmsg(f->kb), "field", 5) != 0 &&
				    strchr(kb_errmsg(f->kb), ':'))) {
				/* An error "name: rule" names its field. */
				fprintf(stderr, "%s:%d: code %d, field '%s' for '%s'\n", path,
					lineno, kb_error(f->kb)->code, kb_error(f->kb)->field,
					kb_errmsg(f->kb));
				failures++;
			}
		} else if (r) {
			fprintf(stderr, "%s:%d: refused: %s\n", path, lineno, kb_errmsg(f->kb));
			failures++;
		} else {
			struct kb_entry got;
			get(f->kb, id, &got);
			const char *stored = strcmp(field, "title") == 0     ? got.title
					     : strcmp(field, "body") == 0    ? got.body
					     : strcmp(field, "tags") == 0    ? got.tags
					     : strcmp(field, "files") == 0   ? got.files
					     : strcmp(field, "project") == 0 ? got.project
					     : strcmp(field, "sources") == 0 ? got.sources
									     : got.kind;
			if (strcmp(stored ? stored : "", expect) != 0) {
				fprintf(stderr, "%s:%d: stored '%.80s', expected '%.80s'\n", path,
					lineno, stored ? stored : "(null)", expect);
				failures++;
			}
			kb_entry_release(&got);
		}
		free(value);
		free(expect);
	}
	free(line);
	fclose(in);
	free(path);
	if (cases < 30)
		fail_msg("only %d field cases ran", cases);
	if (failures)
		fail_msg("%d of %d field cases failed (see above)", failures, cases);
}

/* ---- duplicates and edits ---- */

static void test_dedup(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t a = add(kb, "decision", "Use WAL mode", "Readers never block\nthe writer.", "db",
			NULL, NULL, T0);
	struct kb_entry in = {.kind = "decision",
			      .title = "  Use   WAL mode ",
			      .body = "Readers never block the\twriter.  \n",
			      .tags = "other tags"};
	int64_t id = 0;
	bool dup = false;
	assert_int_equal(kb_add(kb, &in, T0 + 5, &id, &dup), 0);
	assert_true(dup);
	assert_int_equal(id, a);
	/* Case, kind and project make a different entry. */
	in.title = "use WAL mode";
	assert_int_equal(kb_add(kb, &in, T0, &id, &dup), 0);
	assert_false(dup);
	in.title = "Use WAL mode";
	in.kind = "note";
	assert_int_equal(kb_add(kb, &in, T0, &id, &dup), 0);
	assert_false(dup);
	in.kind = "decision";
	in.project = "/p/app";
	assert_int_equal(kb_add(kb, &in, T0, &id, &dup), 0);
	assert_false(dup);
	/* A forgotten duplicate comes back. */
	assert_int_equal(kb_forget(kb, a, T0 + 10), 0);
	in.project = NULL;
	assert_int_equal(kb_add(kb, &in, T0 + 20, &id, &dup), 0);
	assert_true(dup);
	assert_int_equal(id, a);
	struct kb_entry e;
	get(kb, a, &e);
	assert_int_equal(e.forgotten_ms, 0);
	kb_entry_release(&e);
	/* Fixes differ by signature and fix_key too. */
	int64_t f1 = add_fix(kb, "fix", "Add the include", "sig-a", NULL, NULL, T0);
	int64_t f2 = add_fix(kb, "fix", "Add the include", "sig-b", NULL, NULL, T0);
	assert_true(f1 != f2);
	struct kb_entry fx = {.kind = "fix",
			      .title = "Add the include",
			      .body = "fix body",
			      .signature = "sig-a"};
	assert_int_equal(kb_add(kb, &fx, T0, &id, &dup), 0);
	assert_true(dup);
	assert_int_equal(id, f1);
}

static void test_update(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t a = add(kb, "note", "First", "one", "x", NULL, NULL, T0);
	int64_t b = add(kb, "note", "Second", "two", NULL, NULL, NULL, T0);
	bool changed = true;
	struct kb_edit ed = {0};
	assert_int_equal(kb_update(kb, a, &ed, T0 + 1, &changed), 0);
	assert_false(changed);
	ed.title = "First";
	ed.tags = "X";
	assert_int_equal(kb_update(kb, a, &ed, T0 + 1, &changed), 0);
	assert_false(changed);
	/* Refuses to become a copy of b. */
	struct kb_edit copy = {.title = "Second", .body = "two"};
	assert_int_equal(kb_update(kb, a, &copy, T0 + 2, &changed), CAIRN_E_INVALID);
	assert_non_null(strstr(kb_errmsg(kb), "identical to entry"));
	/* A real edit: redacted, re-hashed, searchable under the new words. */
	struct kb_edit real = {.kind = "mistake",
			       .body = "export API_TOKEN=hunter2 broke the deploy",
			       .tags = "deploy, secrets",
			       .files = "deploy.sh",
			       .set_project = true,
			       .project = "/p/app"};
	assert_int_equal(kb_update(kb, a, &real, T0 + 3, &changed), 0);
	assert_true(changed);
	assert_int_equal(kb_redactions(kb), 1);
	struct kb_entry e;
	get(kb, a, &e);
	assert_string_equal(e.kind, "mistake");
	assert_string_equal(e.body, "export API_TOKEN=[REDACTED:env-secret] broke the deploy");
	assert_string_equal(e.tags, "deploy secrets");
	assert_string_equal(e.project, "/p/app");
	assert_int_equal(e.updated_ms, T0 + 3);
	assert_int_equal(e.created_ms, T0);
	kb_entry_release(&e);
	struct kb_query q;
	kb_query_init(&q);
	q.text = "hunter2";
	struct kb_results res;
	assert_int_equal(kb_search(kb, &q, &res), 0);
	assert_int_equal(res.n, 0);
	kb_results_release(&res);
	q.text = "broke deploy";
	assert_int_equal(kb_search(kb, &q, &res), 0);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.v[0].e.id, a);
	kb_results_release(&res);
	/* The old text is gone from the index. */
	q.text = "one";
	assert_int_equal(kb_search(kb, &q, &res), 0);
	assert_int_equal(res.n, 0);
	kb_results_release(&res);
	struct kb_edit badkind = {.kind = "nope"};
	assert_int_equal(kb_update(kb, b, &badkind, T0, NULL), CAIRN_E_INVALID);
	assert_int_equal(kb_update(kb, 999, &real, T0, NULL), CAIRN_E_NOTFOUND);
}

static void test_resolve(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t a = add(kb, "note", "Resolve me", "", NULL, NULL, NULL, T0);
	struct kb_entry e;
	get(kb, a, &e);
	int64_t id = 0;
	char ref[32];
	snprintf(ref, sizeof ref, "%lld", (long long)a);
	assert_int_equal(kb_resolve(kb, ref, &id), 0);
	assert_int_equal(id, a);
	snprintf(ref, sizeof ref, "#%lld", (long long)a);
	assert_int_equal(kb_resolve(kb, ref, &id), 0);
	assert_int_equal(kb_resolve(kb, e.uid, &id), 0);
	assert_int_equal(id, a);
	for (char *p = e.uid; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	assert_int_equal(kb_resolve(kb, e.uid, &id), 0);
	assert_int_equal(id, a);
	assert_int_equal(kb_resolve(kb, "999", &id), CAIRN_E_NOTFOUND);
	assert_int_equal(kb_resolve(kb, "01JD00000000000000000000ZZ", &id), CAIRN_E_NOTFOUND);
	assert_int_equal(kb_resolve(kb, "12abc", &id), CAIRN_E_INVALID);
	assert_int_equal(kb_resolve(kb, "banana", &id), CAIRN_E_INVALID);
	assert_int_equal(kb_resolve(kb, "", &id), CAIRN_E_INVALID);
	kb_entry_release(&e);
}

/* knowledge_files (migration 10) names each entry's files exactly, through
 * every way an entry's files change: added, edited, forgotten and purged. */
static char *files_index(const char *path)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(
		sqlite3_prepare_v2(db,
				   "SELECT coalesce(group_concat(path || '@' || id, ' '), '')"
				   " FROM (SELECT path, id FROM knowledge_files"
				   " ORDER BY path, id)",
				   -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char *out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static void test_files_index(void **state)
{
	struct fx *f = *state;
	struct kb *kb = f->kb;
	int64_t a = add(kb, "decision", "Quote paths", "", NULL,
			"src/a.c\nsrc/\"odd\\name\".c\ndocs/\xc3\xa9t\xc3\xa9.md", NULL, T0);
	int64_t b = add(kb, "note", "No files", "", NULL, NULL, NULL, T0);
	int64_t c = add(kb, "mistake", "Shares a file", "", NULL, "src/a.c", NULL, T0);
	(void)b;
	char want[256];
	snprintf(
		want, sizeof want,
		"docs/\xc3\xa9t\xc3\xa9.md@%lld src/\"odd\\name\".c@%lld src/a.c@%lld src/a.c@%lld",
		(long long)a, (long long)a, (long long)a, (long long)c);
	char *got = files_index(f->path);
	assert_string_equal(got, want);
	free(got);
	/* An edit of the files replaces the entry's rows, and only its. */
	struct kb_edit ed = {.files = "src/b.c"};
	bool changed = false;
	assert_int_equal(kb_update(kb, a, &ed, T0 + 1, &changed), 0);
	assert_true(changed);
	snprintf(want, sizeof want, "src/a.c@%lld src/b.c@%lld", (long long)c, (long long)a);
	got = files_index(f->path);
	assert_string_equal(got, want);
	free(got);
	/* A purged entry leaves nothing behind. */
	assert_int_equal(kb_forget(kb, c, T0 + 2), 0);
	size_t purged = 0;
	assert_int_equal(kb_purge(kb, T0 + 3, &purged), 0);
	assert_int_equal(purged, 1);
	snprintf(want, sizeof want, "src/b.c@%lld", (long long)a);
	got = files_index(f->path);
	assert_string_equal(got, want);
	free(got);
}

/* ---- supersede, forget, purge ---- */

static void test_supersede_rules(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t a = add(kb, "fix", "A", "", NULL, NULL, NULL, T0);
	int64_t b = add(kb, "fix", "B", "", NULL, NULL, NULL, T0);
	int64_t c = add(kb, "fix", "C", "", NULL, NULL, NULL, T0);
	assert_int_equal(kb_supersede(kb, a, a, T0), CAIRN_E_INVALID);
	assert_int_equal(kb_supersede(kb, a, 999, T0), CAIRN_E_NOTFOUND);
	assert_int_equal(kb_supersede(kb, 999, a, T0), CAIRN_E_NOTFOUND);
	assert_int_equal(kb_supersede(kb, a, b, T0 + 1), 0);
	assert_int_equal(kb_supersede(kb, b, c, T0 + 1), 0);
	/* c -> a would close a -> b -> c -> a. */
	assert_int_equal(kb_supersede(kb, c, a, T0), CAIRN_E_INVALID);
	assert_non_null(strstr(kb_errmsg(kb), "cycle"));
	struct kb_entry e;
	get(kb, a, &e);
	assert_int_equal(e.superseded_by, b);
	assert_int_equal(e.updated_ms, T0 + 1);
	struct kb_entry eb;
	get(kb, b, &eb);
	assert_string_equal(e.superseded_by_uid, eb.uid);
	kb_entry_release(&e);
	kb_entry_release(&eb);
	assert_int_equal(kb_supersede(kb, a, 0, T0 + 2), 0);
	get(kb, a, &e);
	assert_int_equal(e.superseded_by, 0);
	assert_string_equal(e.superseded_by_uid, "");
	kb_entry_release(&e);
}

static size_t count_hits(struct kb *kb, const char *text, bool forgotten)
{
	struct kb_query q;
	kb_query_init(&q);
	q.text = text;
	q.include_forgotten = forgotten;
	struct kb_results r;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	size_t n = r.n;
	kb_results_release(&r);
	return n;
}

static void test_forget_purge(void **state)
{
	struct fx *f = *state;
	struct kb *kb = f->kb;
	int64_t a = add(kb, "note", "Forget me soon", "", NULL, NULL, NULL, T0);
	int64_t b = add(kb, "note", "Forget me later", "", NULL, NULL, NULL, T0);
	int64_t c = add_fix(kb, "fix", "Forgotten fix", "sig-f", NULL, NULL, T0);
	assert_int_equal(count_hits(kb, "forget", false), 2);
	assert_int_equal(kb_forget(kb, a, T0 + 1), 0);
	assert_int_equal(kb_forget(kb, a, T0 + 50), 0); /* keeps the first time */
	assert_int_equal(count_hits(kb, "forget", false), 1);
	assert_int_equal(count_hits(kb, "forget", true), 2);
	struct kb_entry e;
	get(kb, a, &e);
	assert_int_equal(e.forgotten_ms, T0 + 1);
	kb_entry_release(&e);
	/* Undo. */
	assert_int_equal(kb_unforget(kb, a, T0 + 2), 0);
	assert_int_equal(count_hits(kb, "forget", false), 2);
	/* Forgotten fixes are not offered. */
	assert_int_equal(kb_forget(kb, c, T0), 0);
	struct kb_fix_hit *hits;
	size_t n;
	assert_int_equal(kb_fixes_for(kb, "sig-f", NULL, NULL, NULL, 10, T0, &hits, &n), 0);
	assert_int_equal(n, 0);
	kb_fix_hits_free(hits, n);
	/* Purge: only what was forgotten before the cut. a -> b, then b is purged. */
	assert_int_equal(kb_supersede(kb, a, b, T0), 0);
	assert_int_equal(kb_forget(kb, b, T0 + 100), 0);
	size_t purged = 9;
	assert_int_equal(kb_purge(kb, T0 + 100, &purged), 0);
	assert_int_equal(purged, 1); /* c */
	assert_int_equal(kb_get(kb, c, &e), CAIRN_E_NOTFOUND);
	assert_int_equal(kb_unforget(kb, c, T0), CAIRN_E_NOTFOUND);
	assert_int_equal(kb_purge(kb, T0 + 101, &purged), 0);
	assert_int_equal(purged, 1); /* b */
	get(kb, a, &e);
	assert_int_equal(e.superseded_by, 0); /* re-pointed to what replaced b: nothing */
	kb_entry_release(&e);
	/* kb_open() purges what was forgotten longer ago than the window. */
	int64_t now = clock_wall_ms();
	int64_t d = add(kb, "note", "Old news", "", NULL, NULL, NULL, now - 3 * DAY);
	int64_t g = add(kb, "note", "Recent news", "", NULL, NULL, NULL, now - 3 * DAY);
	assert_int_equal(kb_forget(kb, d, now - 3 * DAY), 0);
	assert_int_equal(kb_forget(kb, g, now - DAY / 2), 0);
	kb = reopen(f, 2 * DAY);
	assert_int_equal(kb_forget_window_ms(kb), 2 * DAY);
	assert_int_equal(kb_get(kb, d, &e), CAIRN_E_NOTFOUND);
	get(kb, g, &e);
	kb_entry_release(&e);
}

static void test_purge_rewires(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t a = add(kb, "fix", "Old way", "", NULL, NULL, NULL, T0);
	int64_t b = add(kb, "fix", "Middle way", "", NULL, NULL, NULL, T0);
	int64_t c = add(kb, "fix", "New way", "", NULL, NULL, NULL, T0);
	assert_int_equal(kb_supersede(kb, a, b, T0), 0);
	assert_int_equal(kb_supersede(kb, b, c, T0), 0);
	assert_int_equal(kb_forget(kb, b, T0), 0);
	assert_int_equal(kb_purge(kb, T0 + 1, NULL), 0);
	struct kb_entry e;
	get(kb, a, &e);
	assert_int_equal(e.superseded_by, c);
	kb_entry_release(&e);
}

/* ---- confirm, reject ---- */

static void test_confirm_reject(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	struct kb_entry in = {.kind = "fix",
			      .title = "Clear the cache",
			      .body = "rm -rf .cache",
			      .signature = "sig-c",
			      .state = "candidate",
			      .confidence = 0.4};
	int64_t id;
	bool dup;
	assert_int_equal(kb_add(kb, &in, T0, &id, &dup), 0);
	assert_int_equal(kb_confirm(kb, id, T0 + 1), 0);
	struct kb_entry e;
	get(kb, id, &e);
	assert_string_equal(e.state, "active");
	assert_float_equal(e.confidence, 0.7, 1e-9);
	assert_int_equal(e.uses, 1);
	assert_int_equal(e.last_used_ms, T0 + 1);
	kb_entry_release(&e);
	assert_int_equal(kb_confirm(kb, id, T0 + 2), 0);
	get(kb, id, &e);
	assert_float_equal(e.confidence, 0.85, 1e-9);
	assert_int_equal(e.uses, 2);
	kb_entry_release(&e);
	assert_int_equal(kb_mark_used(kb, id, T0 + 9), 0);
	get(kb, id, &e);
	assert_int_equal(e.uses, 3);
	assert_int_equal(e.last_used_ms, T0 + 9);
	assert_int_equal(e.updated_ms, T0 + 2);
	kb_entry_release(&e);

	struct kb_fix_hit *hits;
	size_t n;
	assert_int_equal(kb_fixes_for(kb, "sig-c", NULL, "cache", NULL, 10, T0, &hits, &n), 0);
	assert_int_equal(n, 1);
	kb_fix_hits_free(hits, n);
	assert_int_equal(kb_reject(kb, id, T0 + 3), 0);
	get(kb, id, &e);
	assert_string_equal(e.state, "rejected");
	kb_entry_release(&e);
	assert_int_equal(kb_fixes_for(kb, "sig-c", NULL, "clear cache", NULL, 10, T0, &hits, &n),
			 0);
	assert_int_equal(n, 0);
	kb_fix_hits_free(hits, n);
	assert_int_equal(count_hits(kb, "cache", false), 0);
	struct kb_query q;
	kb_query_init(&q);
	q.text = "cache";
	q.include_rejected = true;
	struct kb_results r;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	assert_int_equal(r.n, 1);
	kb_results_release(&r);
	/* Confirming undoes a rejection. */
	assert_int_equal(kb_confirm(kb, id, T0 + 4), 0);
	assert_int_equal(count_hits(kb, "cache", false), 1);
	assert_int_equal(kb_reject(kb, 999, T0), CAIRN_E_NOTFOUND);
	assert_int_equal(kb_confirm(kb, 999, T0), CAIRN_E_NOTFOUND);
}

/* ---- fixes for the triage service ---- */

static void test_fixes_for_tiers(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	/* Tier 1 (exact signature), two of them: higher confidence first. */
	int64_t s1 = add_fix(kb, "fix", "Include stdio.h for printf", "E1 exact", "E1", NULL, T0);
	int64_t s2 = add_fix(kb, "mistake", "Forgot the header again", "E1 exact", "E1", NULL, T0);
	assert_int_equal(kb_confirm(kb, s2, T0), 0); /* 0.75 > 0.5 */
	/* Tier 2 (general signature only). */
	int64_t g1 = add_fix(kb, "pattern", "Headers go first", "E1 other names", "E1", NULL, T0);
	/* Tier 3 (similar text). */
	struct kb_entry t = {.kind = "fix",
			     .title = "Implicit declaration of printf",
			     .body = "gcc says implicit declaration; add the include"};
	int64_t t1, ignored;
	bool dup;
	assert_int_equal(kb_add(kb, &t, T0, &t1, &dup), 0);
	/* Not offered: a note (wrong kind), a rejected one, another project's
	 * fix for the general signature only. */
	add_fix(kb, "note", "A note about E1", "E1 exact", "E1", NULL, T0);
	add_fix(kb, "fix", "Other project, other names", "E1 other", "E1", "/p/other", T0);
	/* Offered after this project's own: another project's fix for the
	 * very same error. */
	int64_t op = add_fix(kb, "fix", "Other project", "E1 exact", "E1", "/p/other", T0);
	int64_t rj = add_fix(kb, "fix", "Rejected", "E1 exact", "E1", NULL, T0);
	assert_int_equal(kb_reject(kb, rj, T0), 0);
	/* Same project: offered. */
	int64_t pj = add_fix(kb, "fix", "This project", "E1 exact", "E1", "/p/app", T0);
	(void)ignored;

	struct kb_fix_hit *h;
	size_t n;
	assert_int_equal(kb_fixes_for(kb, "E1 exact", "E1",
				      "src/a.c:3:5: error: implicit declaration of function "
				      "'printf' <path> 42",
				      "/p/app", 10, T0, &h, &n),
			 0);
	assert_int_equal(n, 6);
	assert_int_equal(h[0].e.id, s2);
	assert_string_equal(h[0].reason, "same error");
	/* s1 and pj: same confidence and uses; the later id first. */
	assert_int_equal(h[1].e.id, pj);
	assert_int_equal(h[2].e.id, s1);
	assert_string_equal(h[2].reason, "same error");
	assert_int_equal(h[3].e.id, g1);
	assert_string_equal(h[3].reason, "same error, other names");
	assert_int_equal(h[4].e.id, op);
	assert_string_equal(h[4].reason, "same error, in another project");
	assert_int_equal(h[5].e.id, t1);
	assert_string_equal(h[5].reason, "similar text");
	assert_non_null(h[5].matched);
	assert_non_null(strstr(h[5].matched, "implicit"));
	assert_non_null(strstr(h[5].matched, "printf"));
	assert_null(strstr(h[5].matched, "error"));
	assert_null(h[0].matched);
	for (size_t i = 1; i < n; i++)
		assert_true(h[i - 1].score >= h[i].score);
	kb_fix_hits_free(h, n);
	/* No project: global entries, then every project's for the same error. */
	assert_int_equal(kb_fixes_for(kb, "E1 exact", NULL, NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(h[1].reason, "same error");
	assert_string_equal(h[2].reason, "same error, in another project");
	kb_fix_hits_free(h, n);
	/* The limit. */
	assert_int_equal(kb_fixes_for(kb, "E1 exact", "E1", "printf", "/p/app", 2, T0, &h, &n), 0);
	assert_int_equal(n, 2);
	kb_fix_hits_free(h, n);
	/* Nothing known. */
	assert_int_equal(kb_fixes_for(kb, "nope", "nope", "zzz qqq", NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 0);
	kb_fix_hits_free(h, n);
	assert_int_equal(kb_fixes_for(kb, NULL, NULL, NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 0);
	kb_fix_hits_free(h, n);
}

static void test_fixes_for_superseded(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t old = add_fix(kb, "fix", "Old fix", "E2", NULL, NULL, T0);
	int64_t other = add_fix(kb, "fix", "Other fix", "E2", NULL, NULL, T0);
	assert_int_equal(kb_confirm(kb, old, T0), 0); /* would rank first */
	/* The replacement has no signature: it is pulled in before the old one. */
	int64_t repl = add(kb, "fix", "Better fix", "do it this way", NULL, NULL, NULL, T0);
	assert_int_equal(kb_supersede(kb, old, repl, T0), 0);
	struct kb_fix_hit *h;
	size_t n;
	assert_int_equal(kb_fixes_for(kb, "E2", NULL, NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(h[0].e.id, other);
	assert_int_equal(h[1].e.id, repl);
	assert_string_equal(h[1].reason, "same error");
	assert_int_equal(h[2].e.id, old);
	kb_fix_hits_free(h, n);
	/* A replacement found in a lower tier moves up before what it replaced. */
	int64_t g = add_fix(kb, "fix", "General fix", "E3 variant", "E3", NULL, T0);
	int64_t s = add_fix(kb, "fix", "Specific fix", "E3", "E3", NULL, T0);
	assert_int_equal(kb_supersede(kb, s, g, T0), 0);
	assert_int_equal(kb_fixes_for(kb, "E3", "E3", NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].e.id, g);
	assert_string_equal(h[0].reason, "same error");
	assert_int_equal(h[1].e.id, s);
	kb_fix_hits_free(h, n);
	/* A rejected replacement is not pulled in. */
	assert_int_equal(kb_reject(kb, repl, T0), 0);
	assert_int_equal(kb_fixes_for(kb, "E2", NULL, NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 2);
	kb_fix_hits_free(h, n);
}

static void test_learn_fix(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	struct kb_learned l = {.signature = "E5 exact",
			       .sig_general = "E5",
			       .fix_key = "add include",
			       .title = "undefined printf: changed src/a.c",
			       .body = "Changed src/a.c\nexport TOKEN=abc123",
			       .files = "src/a.c",
			       .project = "/p/app",
			       .failure_id = "ev-fail-1",
			       .pass_id = "ev-pass-1"};
	int64_t id = 0, id2 = 0;
	bool rec = true;
	assert_int_equal(kb_learn_fix(kb, &l, T0, &id, &rec), 0);
	assert_false(rec);
	struct kb_entry e;
	get(kb, id, &e);
	assert_string_equal(e.kind, "fix");
	assert_string_equal(e.state, "candidate");
	assert_float_equal(e.confidence, 0.4, 1e-9);
	assert_int_equal(e.uses, 1);
	assert_int_equal(e.last_used_ms, T0); /* the use it was learned from */
	assert_string_equal(e.sources, "[\"ev-fail-1\",\"ev-pass-1\"]");
	assert_string_equal(e.body, "Changed src/a.c\nexport TOKEN=[REDACTED:env-secret]");
	kb_entry_release(&e);
	/* Recurs: same signature and fix_key in the same project. */
	l.failure_id = "ev-fail-2";
	l.pass_id = "ev-pass-2";
	l.title = "undefined printf: changed src/b.c";
	l.body = "Changed src/b.c";
	l.files = "src/b.c";
	assert_int_equal(kb_learn_fix(kb, &l, T0 + 10, &id2, &rec), 0);
	assert_true(rec);
	assert_int_equal(id2, id);
	get(kb, id, &e);
	/* Title, body and files all about the newer change. */
	assert_string_equal(e.title, "undefined printf: changed src/b.c");
	assert_string_equal(e.files, "src/b.c");
	assert_float_equal(e.confidence, 0.55, 1e-9);
	assert_int_equal(e.uses, 2);
	assert_int_equal(e.last_used_ms, T0 + 10);
	assert_int_equal(e.updated_ms, T0 + 10);
	assert_string_equal(e.body, "Changed src/b.c");
	assert_string_equal(e.sources, "[\"ev-fail-1\",\"ev-pass-1\",\"ev-fail-2\",\"ev-pass-2\"]");
	kb_entry_release(&e);
	/* Failing the exact signature, the general one with the same fix_key. */
	l.signature = "E5 other names";
	assert_int_equal(kb_learn_fix(kb, &l, T0 + 20, &id2, &rec), 0);
	assert_true(rec);
	assert_int_equal(id2, id);
	get(kb, id, &e);
	assert_float_equal(e.confidence, 0.55 + 0.45 * 0.25, 1e-9);
	kb_entry_release(&e);
	/* Another fix_key, another project or no fix_key: a new entry. */
	l.fix_key = "remove flag";
	assert_int_equal(kb_learn_fix(kb, &l, T0 + 30, &id2, &rec), 0);
	assert_false(rec);
	assert_true(id2 != id);
	l.fix_key = "add include";
	l.project = NULL;
	assert_int_equal(kb_learn_fix(kb, &l, T0 + 30, &id2, &rec), 0);
	assert_false(rec);
	assert_true(id2 != id);
	l.project = "/p/app";
	/* A rejected entry stays rejected. */
	assert_int_equal(kb_reject(kb, id, T0 + 40), 0);
	l.signature = "E5 exact";
	assert_int_equal(kb_learn_fix(kb, &l, T0 + 50, &id2, &rec), 0);
	assert_true(rec);
	assert_int_equal(id2, id);
	get(kb, id, &e);
	assert_string_equal(e.state, "rejected");
	assert_float_equal(e.confidence, 0.55 + 0.45 * 0.25, 1e-9);
	assert_int_equal(e.uses, 4);
	kb_entry_release(&e);
	/* Sources keep the last 50. */
	assert_int_equal(kb_confirm(kb, id, T0 + 60), 0);
	for (int i = 0; i < 40; i++) {
		char f[32], p[32];
		snprintf(f, sizeof f, "f-%d", i);
		snprintf(p, sizeof p, "p-%d", i);
		l.failure_id = f;
		l.pass_id = p;
		assert_int_equal(kb_learn_fix(kb, &l, T0 + 100 + i, &id2, &rec), 0);
	}
	get(kb, id, &e);
	json_t *src = json_loads(e.sources, 0, NULL);
	assert_int_equal(json_array_size(src), KB_SOURCES_MAX);
	assert_string_equal(json_string_value(json_array_get(src, KB_SOURCES_MAX - 1)), "p-39");
	json_decref(src);
	kb_entry_release(&e);
	/* Over-long, multi-line titles are cut and joined, not refused. */
	char longt[400];
	memset(longt, 'x', sizeof longt - 1);
	longt[sizeof longt - 1] = '\0';
	longt[10] = '\n';
	struct kb_learned l2 = {.signature = "E6", .fix_key = "k", .title = longt, .body = "b"};
	assert_int_equal(kb_learn_fix(kb, &l2, T0, &id2, &rec), 0);
	get(kb, id2, &e);
	assert_int_equal(strlen(e.title), KB_TITLE_MAX);
	assert_null(strchr(e.title, '\n'));
	kb_entry_release(&e);
	int64_t e6 = id2;
	struct kb_learned none = {.signature = "E7"};
	assert_int_equal(kb_learn_fix(kb, &none, T0, &id2, &rec), CAIRN_E_INVALID);
	/* Learned fixes are found for their signature. */
	struct kb_fix_hit *h;
	size_t n;
	assert_int_equal(kb_fixes_for(kb, "E6", NULL, NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].e.id, e6);
	kb_fix_hits_free(h, n);
}

static int64_t sig_count(struct fx *f, const char *sig, char *example, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t c = -1;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(db,
				   "SELECT count, example, first_ms, last_ms FROM signatures "
				   "WHERE sig=?1",
				   -1, &st, NULL),
		SQLITE_OK);
	sqlite3_bind_text(st, 1, sig, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		c = sqlite3_column_int64(st, 0);
		snprintf(example, len, "%s|%lld|%lld", sqlite3_column_text(st, 1),
			 (long long)sqlite3_column_int64(st, 2),
			 (long long)sqlite3_column_int64(st, 3));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return c;
}

static void test_note_signature(void **state)
{
	struct fx *f = *state;
	char ex[512];
	assert_int_equal(kb_note_signature(f->kb, "S1", "G1", "first example PGPASSWORD=x", T0), 0);
	assert_int_equal(kb_note_signature(f->kb, "S1", "G1", "second example", T0 + 5), 0);
	assert_int_equal(kb_note_signature(f->kb, "S1", NULL, NULL, T0 + 3), 0);
	assert_int_equal(sig_count(f, "S1", ex, sizeof ex), 3);
	char want[128];
	snprintf(want, sizeof want, "first example PGPASSWORD=[REDACTED:env-secret]|%lld|%lld", T0,
		 T0 + 5);
	assert_string_equal(ex, want);
	assert_int_equal(kb_note_signature(f->kb, "", NULL, NULL, T0), CAIRN_E_INVALID);
}

/* ---- export and import ---- */

static char *read_all(const char *path)
{
	FILE *in = fopen(path, "r");
	if (!in)
		fail_msg("cannot open %s", path);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int c;
	while ((c = getc(in)) != EOF)
		putc(c, mem);
	fclose(in);
	fclose(mem);
	return buf;
}

static char *export_string(struct kb *kb, size_t *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int r = kb_export(kb, mem, NULL, n);
	fclose(mem);
	if (r)
		fail_msg("kb_export: %s", kb_errmsg(kb));
	return buf;
}

static int import_string(struct kb *kb, const char *text, struct kb_import_stats *st)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(in);
	int r = kb_import(kb, in, st, NULL, NULL);
	fclose(in);
	return r;
}

static void test_export_import_roundtrip(void **state)
{
	struct fx *f = *state;
	struct kb *kb = f->kb;
	int64_t a = add(kb, "decision", "Use \"quotes\" and\\backslashes", "Line one\nline two\t✓",
			"db wal", "src/store.c\nsrc/kb/kb.c", "/p/app", T0);
	int64_t b = add(kb, "fix", "Replacement", "", NULL, NULL, NULL, T0 + 1);
	int64_t c = add_fix(kb, "fix", "Learned", "sig x", "sig", NULL, T0 + 2);
	assert_int_equal(kb_supersede(kb, a, b, T0 + 3), 0);
	assert_int_equal(kb_confirm(kb, c, T0 + 4), 0);
	assert_int_equal(kb_reject(kb, b, T0 + 5), 0);
	int64_t d = add(kb, "note", "Forgotten", "", NULL, NULL, NULL, T0);
	assert_int_equal(kb_forget(kb, d, T0 + 6), 0);
	/* Make a confidence that prints with many digits. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(kb_confirm(kb, c, T0 + 7), 0);
	size_t n1 = 0, n2 = 0;
	char *first = export_string(kb, &n1);
	assert_int_equal(n1, 4);

	/* Into a fresh database: everything, then a byte-identical export. */
	char path2[160];
	snprintf(path2, sizeof path2, "%s/other.db", f->dir);
	struct kb *kb2;
	struct cairn_err err;
	assert_int_equal(kb_open(path2, false, 100 * 365 * DAY, &kb2, &err), 0);
	struct kb_import_stats st;
	assert_int_equal(import_string(kb2, first, &st), 0);
	assert_int_equal(st.imported, 4);
	assert_int_equal(st.bad + st.duplicates + st.unresolved + st.updated, 0);
	char *second = export_string(kb2, &n2);
	assert_string_equal(first, second);
	/* Again: nothing changes. */
	assert_int_equal(import_string(kb2, first, &st), 0);
	assert_int_equal(st.unchanged, 4);
	assert_int_equal(st.imported + st.updated, 0);
	char *third = export_string(kb2, &n2);
	assert_string_equal(first, third);
	/* And into the original: unchanged too. */
	assert_int_equal(import_string(kb, first, &st), 0);
	assert_int_equal(st.unchanged, 4);
	/* The superseded_by link survived as a uid. */
	struct kb_entry ea, eb;
	get(kb, a, &ea);
	assert_int_equal(kb_get_uid(kb2, ea.uid, &eb), 0);
	assert_string_equal(eb.superseded_by_uid, ea.superseded_by_uid);
	assert_true(eb.superseded_by > 0);
	assert_string_equal(eb.title, ea.title);
	assert_string_equal(eb.files, ea.files);
	kb_entry_release(&ea);
	kb_entry_release(&eb);
	/* A newer version of one line replaces the entry; an older one does not. */
	json_t *o = json_loads(strchr(first, '\n') + 1, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(o);
	json_object_set_new(o, "title", json_string("Replacement, edited"));
	json_object_set_new(o, "updated", json_string("2030-01-01T00:00:00.000Z"));
	char *line = json_dumps(o, JSON_COMPACT);
	assert_int_equal(import_string(kb2, line, &st), 0);
	assert_int_equal(st.updated, 1);
	json_object_set_new(o, "title", json_string("Replacement, older edit"));
	json_object_set_new(o, "updated", json_string("2029-01-01T00:00:00.000Z"));
	free(line);
	line = json_dumps(o, JSON_COMPACT);
	assert_int_equal(import_string(kb2, line, &st), 0);
	assert_int_equal(st.unchanged, 1);
	/* The same content under a new uid is a duplicate. */
	json_object_set_new(o, "uid", json_string("01JD0000000000000000000099"));
	json_object_set_new(o, "title", json_string("Replacement, edited"));
	free(line);
	line = json_dumps(o, JSON_COMPACT);
	assert_int_equal(import_string(kb2, line, &st), 0);
	assert_int_equal(st.duplicates, 1);
	free(line);
	json_decref(o);
	kb_close(kb2);
	free(first);
	free(second);
	free(third);
}

struct reported {
	size_t line[64];
	bool skipped[64];
	char msg[64][400];
	size_t n;
};

static void on_report(void *ctx, size_t line, bool skipped, const char *msg)
{
	struct reported *r = ctx;
	if (r->n < 64) {
		r->line[r->n] = line;
		r->skipped[r->n] = skipped;
		snprintf(r->msg[r->n], sizeof r->msg[0], "%s", msg);
		r->n++;
	}
}

static void test_import_mixed(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	char *path = xasprintf("%s/kb/import-mixed.jsonl", testdata_dir());
	char *epath = xasprintf("%s/kb/import-mixed.expect", testdata_dir());
	FILE *in = fopen(path, "r");
	if (!in)
		fail_msg("cannot open %s", path);
	struct reported rep = {0};
	struct kb_import_stats st;
	int r = kb_import(kb, in, &st, on_report, &rep);
	fclose(in);
	assert_int_equal(r, CAIRN_E_PARSE);
	char *expect = read_all(epath);
	size_t matched = 0;
	int failures = 0;
	for (char *ln = strtok(expect, "\n"); ln; ln = strtok(NULL, "\n")) {
		if (ln[0] == '#')
			continue;
		char *fl[3];
		int nf = split_tabs(ln, fl, 3);
		if (strcmp(fl[0], "stats") == 0) {
			char got[256];
			snprintf(got, sizeof got,
				 "lines=%zu imported=%zu updated=%zu unchanged=%zu duplicates=%zu "
				 "bad=%zu unresolved=%zu",
				 st.lines, st.imported, st.updated, st.unchanged, st.duplicates,
				 st.bad, st.unresolved);
			if (strcmp(got, fl[1]) != 0) {
				fprintf(stderr, "%s: stats %s, expected %s\n", epath, got, fl[1]);
				failures++;
			}
			continue;
		}
		assert_int_equal(nf, 3);
		size_t lineno = (size_t)atol(fl[0]);
		bool found = false;
		for (size_t i = 0; i < rep.n; i++) {
			if (rep.line[i] != lineno)
				continue;
			found = true;
			matched++;
			if (rep.skipped[i] != (strcmp(fl[1], "skipped") == 0) ||
			    !strstr(rep.msg[i], fl[2])) {
				fprintf(stderr, "line %zu: reported %s '%s', expected %s '%s'\n",
					lineno, rep.skipped[i] ? "skipped" : "warning", rep.msg[i],
					fl[1], fl[2]);
				failures++;
			}
		}
		if (!found) {
			fprintf(stderr, "line %zu: expected a report '%s', got none\n", lineno,
				fl[2]);
			failures++;
		}
	}
	if (matched != rep.n) {
		for (size_t i = 0; i < rep.n; i++)
			fprintf(stderr, "reported: line %zu: %s\n", rep.line[i], rep.msg[i]);
		fprintf(stderr, "%zu reports, %zu expected\n", rep.n, matched);
		failures++;
	}
	if (failures)
		fail_msg("%d import expectations failed (see above)", failures);
	/* The lower-case uid was accepted, and its link resolved. */
	struct kb_entry e;
	assert_int_equal(kb_get_uid(kb, "01JD000000000000000000000M", &e), 0);
	assert_string_equal(e.superseded_by_uid, "01JD000000000000000000000J");
	kb_entry_release(&e);
	assert_int_equal(kb_get_uid(kb, "01JD0000000000000000000001", &e), 0);
	assert_string_equal(e.tags, "ld build");
	assert_float_equal(e.confidence, 0.75, 1e-12);
	assert_int_equal(e.uses, 3);
	kb_entry_release(&e);
	free(expect);
	free(path);
	free(epath);
}

static void test_import_limits(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	/* A line over 1 MiB is refused by number, the next one still imports. */
	size_t big = KB_LINE_MAX + 100;
	char *text = xmalloc(big + 200);
	size_t k =
		(size_t)sprintf(text, "{\"uid\":\"01JD0000000000000000000001\",\"kind\":\"note\","
				      "\"title\":\"big\",\"body\":\"");
	memset(text + k, 'x', big - k);
	k = big;
	k += (size_t)sprintf(text + k, "\"}\r\n{\"uid\":\"01JD0000000000000000000002\",\"kind\":"
				       "\"note\",\"title\":\"crlf\"}\r\n");
	FILE *in = fmemopen(text, k, "r");
	struct reported rep = {0};
	struct kb_import_stats st;
	assert_int_equal(kb_import(kb, in, &st, on_report, &rep), CAIRN_E_PARSE);
	fclose(in);
	assert_int_equal(rep.n, 1);
	assert_int_equal(rep.line[0], 1);
	assert_non_null(strstr(rep.msg[0], "longer than 1048576 bytes"));
	assert_int_equal(st.imported, 1);
	free(text);
	/* Empty input. */
	assert_int_equal(import_string(kb, "", &st), 0);
	assert_int_equal(st.lines, 0);
	/* Many lines: several transactions, in order. */
	struct sbuf {
		char *p;
		size_t n;
	} s = {0};
	FILE *mem = open_memstream(&s.p, &s.n);
	for (int i = 0; i < 2500; i++)
		fprintf(mem,
			"{\"uid\":\"01JE%022d\",\"kind\":\"note\",\"title\":\"bulk entry %d\","
			"\"tags\":[\"bulk\"]}\n",
			i, i);
	/* The same uid later in the file with a newer time replaces it. */
	fprintf(mem,
		"{\"uid\":\"01JE%022d\",\"kind\":\"note\",\"title\":\"bulk entry 7 edited\","
		"\"updated\":\"2031-01-01T00:00:00Z\"}\n",
		7);
	fclose(mem);
	assert_int_equal(import_string(kb, s.p, &st), 0);
	assert_int_equal(st.imported, 2500);
	assert_int_equal(st.updated, 1);
	free(s.p);
	struct kb_query q;
	kb_query_init(&q);
	q.tag = "bulk";
	q.limit = KB_LIMIT_MAX;
	struct kb_results r;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	assert_int_equal(r.n, KB_LIMIT_MAX);
	kb_results_release(&r);
}

/* Many matches: search ranks in windows and still finds what filters
 * select far back, and title matches first. */
static void test_search_windows(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	char *p = NULL;
	size_t n = 0;
	FILE *mem = open_memstream(&p, &n);
	for (int i = 0; i < 5000; i++)
		fprintf(mem,
			"{\"uid\":\"01JF%022d\",\"kind\":\"%s\",\"title\":\"%s %d\",\"body\":\"the "
			"common word is here %d\",\"tags\":[\"%s\"]}\n",
			i, i == 3 ? "fix" : "note", i == 10 ? "common title" : "entry", i, i,
			i < 3 ? "rare" : "bulk");
	fclose(mem);
	struct kb_import_stats st;
	assert_int_equal(import_string(kb, p, &st), 0);
	assert_int_equal(st.imported, 5000);
	free(p);
	struct kb_query q;
	kb_query_init(&q);
	q.text = "common";
	q.limit = 5;
	struct kb_results r;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.v[0].e.title, "common title 10");
	for (size_t i = 1; i < r.n; i++)
		for (size_t j = 0; j < i; j++)
			assert_true(r.v[i].e.id != r.v[j].e.id);
	kb_results_release(&r);
	/* The oldest entries, selected by tag, are found behind 5000 newer matches. */
	q.tag = "rare";
	q.limit = 20;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	assert_int_equal(r.n, 3);
	kb_results_release(&r);
	q.tag = NULL;
	q.kinds = KB_FIX;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].e.title, "entry 3");
	kb_results_release(&r);
}

static void test_snippets(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	add(kb, "note", "Flaky tests", "The integration suite times out when the runner is slow.",
	    NULL, NULL, NULL, T0);
	struct kb_query q;
	kb_query_init(&q);
	q.text = "runner slow";
	q.mark_open = "\x02";
	q.mark_close = "\x03";
	struct kb_results r;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.v[0].snippet, "\x02runner\x03"));
	assert_non_null(strstr(r.v[0].snippet, "\x02slow\x03"));
	assert_true(r.v[0].score > 0);
	kb_results_release(&r);
	q.text = NULL;
	assert_int_equal(kb_search(kb, &q, &r), 0);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.v[0].snippet, "integration suite"));
	assert_null(strchr(r.v[0].snippet, '\x02'));
	kb_results_release(&r);
}

static void test_entry_json(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t id = add(kb, "fix", "Json", "body", "a b", "x.c\ny.c", "/p", T0);
	struct kb_entry e;
	get(kb, id, &e);
	json_t *o = kb_entry_to_json(&e, KB_JSON_LOCAL);
	char *s = json_dumps(o, JSON_COMPACT);
	char want[1024];
	snprintf(
		want, sizeof want,
		"{\"id\":%lld,\"uid\":\"%s\",\"kind\":\"fix\",\"title\":\"Json\",\"body\":\"body\","
		"\"tags\":[\"a\",\"b\"],\"files\":[\"x.c\",\"y.c\"],\"project\":\"/p\","
		"\"created\":\"2025-11-24T16:00:00.000Z\",\"updated\":\"2025-11-24T16:00:00.000Z\","
		"\"superseded_by\":null,\"superseded_by_id\":null,\"uses\":0,\"last_used\":null,"
		"\"confidence\":0.5,\"state\":\"active\",\"forgotten\":null,\"signature\":null,"
		"\"sig_general\":null,\"fix_key\":null,\"sources\":[]}",
		(long long)id, e.uid);
	assert_string_equal(s, want);
	free(s);
	json_decref(o);
	kb_entry_release(&e);
}

/* Secrets never reach the database: every positive redaction case that fits
 * in a body, and the one-line ones as titles. */
static void test_redaction_cases(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	char *path = xasprintf("%s/redact/cases.txt", testdata_dir());
	FILE *in = fopen(path, "r");
	if (!in)
		fail_msg("cannot open %s", path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, cases = 0, failures = 0;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *fl[3];
		if (split_tabs(line, fl, 3) < 2 || strcmp(fl[1], "=") == 0)
			continue;
		char *input = xstrdup(fl[0]), *want = xstrdup(fl[1]);
		size_t in_len = unescape(input), want_len = unescape(want);
		if (strlen(input) != in_len || strlen(want) != want_len) {
			free(input);
			free(want);
			continue;
		}
		/* kb_add() keeps the body but for trailing whitespace. */
		while (want_len > 0 && strchr(" \t\n\r", want[want_len - 1]))
			want[--want_len] = '\0';
		char title[64];
		snprintf(title, sizeof title, "redaction case %d", lineno);
		struct kb_entry e = {.kind = "note", .title = title, .body = input};
		int64_t id;
		bool dup;
		if (kb_add(kb, &e, T0, &id, &dup) || dup) {
			fprintf(stderr, "%s:%d: kb_add: %s\n", path, lineno, kb_errmsg(kb));
			failures++;
		} else {
			struct kb_entry got;
			get(kb, id, &got);
			if (strcmp(got.body, want) != 0 || kb_redactions(kb) == 0) {
				fprintf(stderr, "%s:%d: stored body '%s', expected '%s'\n", path,
					lineno, got.body, want);
				failures++;
			}
			kb_entry_release(&got);
		}
		if (!strchr(input, '\n') && strlen(input) <= KB_TITLE_MAX) {
			char *t = input;
			while (*t == ' ')
				t++;
			struct kb_entry e2 = {.kind = "mistake", .title = t, .files = input};
			if (kb_add(kb, &e2, T0, &id, &dup) == 0 && !dup) {
				struct kb_entry got;
				get(kb, id, &got);
				if (strstr(got.title, "[REDACTED:") == NULL ||
				    strstr(got.files, "[REDACTED:") == NULL) {
					fprintf(stderr, "%s:%d: title/files kept a secret: '%s'\n",
						path, lineno, got.title);
					failures++;
				}
				kb_entry_release(&got);
			}
		}
		cases++;
		free(input);
		free(want);
	}
	free(line);
	fclose(in);
	free(path);
	if (cases < 30)
		fail_msg("only %d redaction cases ran", cases);
	if (failures)
		fail_msg("%d of %d redaction cases failed (see above)", failures, cases);
	/* Imported text is redacted as well. */
	struct kb_import_stats st;
	assert_int_equal(import_string(kb,
				       "{\"uid\":\"01JD0000000000000000000005\",\"kind\":\"note\","
				       "\"title\":\"curl -u admin:hunter2 https://x\","
				       "\"body\":\"export "
				       "GITHUB_TOKEN=ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d\"}\n",
				       &st),
			 0);
	struct kb_entry got;
	assert_int_equal(kb_get_uid(kb, "01JD0000000000000000000005", &got), 0);
	assert_null(strstr(got.body, "ghp_"));
	assert_null(strstr(got.title, "hunter2"));
	kb_entry_release(&got);
}

static void test_readonly_and_open_db(void **state)
{
	struct fx *f = *state;
	add(f->kb, "note", "Written before", "", NULL, NULL, NULL, T0);
	struct kb *ro;
	struct cairn_err err;
	assert_int_equal(kb_open(f->path, true, 0, &ro, &err), 0);
	assert_int_equal(count_hits(ro, "written", false), 1);
	struct kb_entry in = {.kind = "note", .title = "Not allowed"};
	int64_t id;
	bool dup;
	assert_int_equal(kb_add(ro, &in, T0, &id, &dup), CAIRN_E_STORE);
	kb_close(ro);
	/* A connection someone else owns, inside their transaction. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	struct kb *kb2;
	assert_int_equal(kb_open_db(db, 0, &kb2, &err), 0);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	in.title = "In their transaction";
	assert_int_equal(kb_add(kb2, &in, T0, &id, &dup), 0);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(count_hits(kb2, "transaction", false), 0);
	kb_close(kb2);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	/* No knowledge table: a clear error. */
	char p2[160];
	snprintf(p2, sizeof p2, "%s/empty.db", f->dir);
	assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
	assert_int_equal(kb_open_db(db, 0, &kb2, &err), CAIRN_E_VERSION);
	assert_non_null(strstr(err.msg, "migration 2"));
	assert_int_equal(err.code, CAIRN_E_VERSION);
	sqlite3_close(db);
	assert_int_equal(kb_open("/nonexistent/dir/x.db", false, 0, &kb2, &err), CAIRN_E_STORE);
	assert_int_equal(err.code, CAIRN_E_STORE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ranking_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_field_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supersede_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_rewires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirm_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixes_for_tiers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixes_for_superseded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn_fix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_note_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_import_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snippets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redaction_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_and_open_db, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
