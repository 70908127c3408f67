/* Failure triage: the report for one failed run (excerpt, signature, known
 * fixes, suspect changes, summary) and the memory of failures that the
 * learner (learn.c) turns into fixes. */
#include "services/triage.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/headtail.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "event/outcome.h"
#include "kb/fixshape.h"
#include "kb/kb.h"
#include "kb/redact.h"
#include "kb/signature.h"
#include "services/excerpt.h"
#include "services/triage_int.h"
#include "sources/diag.h"
#include "store/queries.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_HEAD ((size_t)1 << 20)

/* ---- small helpers shared with learn.c ---- */

const char *triage__scope(const char *project, const char *cwd)
{
	return project ? project : cwd;
}

char *triage__read_file(const char *path, size_t max, size_t *len, bool *truncated)
{
	*len = 0;
	if (truncated)
		*truncated = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	/* Keep the head and the end: a failure is explained near the end of
	 * a long log, and the head names the tools. A file that fits is kept
	 * whole, as head and tail together hold max bytes. */
	size_t head = max < LOG_HEAD * 2 ? max / 4 : LOG_HEAD;
	struct headtail ht;
	headtail_init(&ht, head, max - head);
	uint64_t size = (uint64_t)sb.st_size;
	(void)headtail_add_range(&ht, fd, 0, size);
	close(fd);
	if (truncated)
		*truncated = size > max;
	return headtail_detach(&ht, 0, len);
}

char *triage__rel_path(const char *root, const char *cwd, const char *file)
{
	if (!file || !*file)
		return NULL;
	char *abs;
	if (file[0] == '/')
		abs = xstrdup(file);
	else if (cwd)
		abs = xasprintf("%s/%s", cwd, file);
	else
		return xstrdup(file);
	/* Lexical clean-up of "." and ".." so that paths compare. */
	char *out = xmalloc(strlen(abs) + 2);
	size_t o = 0;
	const char *p = abs;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - p);
		if (n == 0)
			break;
		if (n == 1 && p[0] == '.') {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(abs);
	if (root) {
		size_t rl = strlen(root);
		while (rl > 1 && root[rl - 1] == '/')
			rl--;
		if (strncmp(out, root, rl) == 0 && out[rl] == '/') {
			char *rel = xstrdup(out + rl + 1);
			free(out);
			return rel;
		}
	}
	return out;
}

/* ---- reading the failure ---- */

char *triage_read_log(const char *path, size_t *len)
{
	return triage__read_file(path, TRIAGE_LOG_MAX, len, NULL);
}

int triage_failure_from_event(const json_t *ev, struct triage_failure *f, char **logbuf)
{
	memset(f, 0, sizeof *f);
	*logbuf = NULL;
	const char *type = json_string_value(json_object_get(ev, "type"));
	if (!type || !outcome_is_failure(type))
		return CAIRN_E_INVALID;
	const json_t *data = json_object_get(ev, "data");
	f->type = type;
	f->event_id = json_string_value(json_object_get(ev, "id"));
	f->seq = json_integer_value(json_object_get(ev, "seq"));
	const char *t = json_string_value(json_object_get(ev, "time"));
	if (t)
		timefmt_parse_rfc3339(t, &f->time_ms);
	json_int_t dur = json_integer_value(json_object_get(data, "duration_ms"));
	if (f->time_ms && dur > 0 && dur < f->time_ms)
		f->started_ms = f->time_ms - dur;
	/* The runner's own start time, when it gives one, is exact. */
	const char *st = json_string_value(json_object_get(data, "started"));
	int64_t st_ms;
	if (st && timefmt_parse_rfc3339(st, &st_ms) == 0 && st_ms > 0 &&
	    (!f->time_ms || st_ms <= f->time_ms))
		f->started_ms = st_ms;
	f->project = json_string_value(json_object_get(ev, "project"));
	f->cwd = json_string_value(json_object_get(data, "cwd"));
	f->target = json_string_value(json_object_get(data, "target"));
	if (!f->target)
		f->target = json_string_value(json_object_get(ev, "subject"));
	f->command = json_string_value(json_object_get(data, "command"));
	f->dirty = json_object_get(json_object_get(data, "git"), "dirty");
	if (f->dirty && !json_is_array(f->dirty))
		f->dirty = NULL;
	const json_t *ex = json_object_get(data, "exit");
	if (json_is_integer(ex)) {
		f->has_exit = true;
		f->exit_code = json_integer_value(ex);
	}
	f->signal = json_string_value(json_object_get(data, "signal"));
	f->spawn_error = json_string_value(json_object_get(data, "error"));
	f->snapshot =
		json_string_value(json_object_get(json_object_get(data, "output"), "snapshot"));
	const char *path =
		json_string_value(json_object_get(json_object_get(data, "output"), "path"));
	if (!path)
		path = json_string_value(json_object_get(data, "log_path"));
	if (path) {
		size_t len;
		char *buf = triage__read_file(path, TRIAGE_LOG_MAX, &len, NULL);
		if (buf) {
			*logbuf = buf;
			f->log = buf;
			f->log_len = len;
			return 0;
		}
	}
	const char *inline_log = json_string_value(json_object_get(data, "log"));
	if (inline_log) {
		f->log = inline_log;
		f->log_len = json_string_length(json_object_get(data, "log"));
	}
	return 0;
}

/* ---- the primary diagnostic and the signature ---- */

/* Build drivers report that something else failed; prefer what they ran. */
static bool is_driver(const char *tool)
{
	return strcmp(tool, "make") == 0 || strcmp(tool, "ninja") == 0;
}

/* The diagnostic that names the failure: the first error from a tool that
 * is not a build driver, else the first error, else NULL. */
static const struct diag *primary_diag(const struct diag_list *dl)
{
	const struct diag *first = NULL;
	for (size_t i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->v[i];
		if (d->severity != SEV_ERROR && d->severity != SEV_CRITICAL)
			continue;
		if (!first)
			first = d;
		if (!is_driver(d->tool))
			return d;
	}
	return first;
}

static bool has_error_word(const char *s)
{
	static const char *const words[] = {"error",     "Error", "ERROR",  "failed", "FAILED",
					    "Failed",    "fatal", "FATAL",  "Fatal",  "exception",
					    "Exception", "panic", "assert", "Assert"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strstr(s, words[i]))
			return true;
	return false;
}

/* Without diagnostics: the first excerpt line that says what went wrong, or
 * the last non-empty one. */
static const char *message_from_excerpt(const struct excerpt *ex)
{
	const char *last = NULL;
	for (size_t i = 0; i < ex->n; i++) {
		const char *t = ex->v[i].text;
		while (*t == ' ' || *t == '\t')
			t++;
		if (!*t)
			continue;
		if (has_error_word(t))
			return t;
		last = t;
	}
	return last;
}

/* ---- known fixes ---- */

/* What the failing line says about the fixes that could apply. */
struct line_facts {
	char *shape;                  /* its tokens as a removal shape, or NULL */
	struct fixshape_decls *decls; /* the declarations of its file, or NULL */
	/* The name the message quotes (gcc's 'x' undeclared, clang's use of
	 * undeclared identifier 'x') is used with a subscript on the line. */
	bool quoted_subscripted;
};

static bool ident_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

/* The first name quoted in message (in 'x' or in ‘x’), copied to out. */
static bool quoted_name(const char *message, char *out, size_t outlen)
{
	for (const char *p = message; *p; p++) {
		const char *q = NULL;
		if (*p == '\'')
			q = p + 1;
		else if (strncmp(p, "\xe2\x80\x98", 3) == 0)
			q = p + 3;
		if (!q)
			continue;
		size_t n = 0; /* ASCII names: a closing ’ is bytes >= 0x80 too */
		while (ident_byte((unsigned char)q[n]) && (unsigned char)q[n] < 0x80)
			n++;
		bool closed = q[n] == '\'' || strncmp(q + n, "\xe2\x80\x99", 3) == 0;
		if (n && n < outlen && closed && !(q[0] >= '0' && q[0] <= '9')) {
			memcpy(out, q, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

/* Whether name occurs in line[0..len) as a whole word followed by '['. */
static bool used_with_subscript(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl <= len; i++) {
		if (memcmp(line + i, name, nl) != 0 ||
		    (i > 0 && ident_byte((unsigned char)line[i - 1])) ||
		    (i + nl < len && ident_byte((unsigned char)line[i + nl])))
			continue;
		size_t k = i + nl;
		while (k < len && (line[k] == ' ' || line[k] == '\t'))
			k++;
		if (k < len && line[k] == '[')
			return true;
	}
	return false;
}

/* Splits a fix shape ("- = + ==") into its removed (sign '-') or inserted
 * (sign '+') tokens; returns how many were stored in toks (pointers into a
 * copy the caller frees). */
static size_t shape_tokens(const char *key, char sign, char *copy, const char **toks, size_t max)
{
	strcpy(copy, key);
	size_t n = 0;
	char *save = NULL;
	int want = 0; /* 1 after the wanted sign */
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if ((w[0] == '-' || w[0] == '+' || w[0] == ';') && !w[1]) {
			want = w[0] == sign;
			continue;
		}
		if (want && n < max)
			toks[n++] = w;
		want = 0;
	}
	return n;
}

/* Does the code around the error fit the fix? 2: yes (it removes
 * something, and it is there; or it renames a subscripted name to an array
 * or a pointer), 1: no evidence either way (the fix only inserts), 0: it
 * removes something that is not on the line, brings in a name of a kind the
 * failing file declares none of ("+ ID:[]" where the file has no array:
 * fixshape.h, "Types"), or renames the subscripted name the message quotes
 * to a plain value (which cannot take a subscript). */
static int applicability(const char *fix_key, const struct line_facts *lf)
{
	if (!fix_key || !*fix_key)
		return 1;
	size_t kl = strlen(fix_key);
	char *copy = xmalloc(kl + 1);
	const char *toks[64];
	int r = 1;
	size_t n_ins = shape_tokens(fix_key, '+', copy, toks, 64);
	const char *typed = NULL; /* the one inserted typed name */
	size_t n_typed = 0;
	for (size_t i = 0; i < n_ins && r; i++) {
		if (strncmp(toks[i], "ID:", 3) != 0)
			continue;
		typed = toks[i] + 3;
		n_typed++;
		if (fixshape_decls_count(lf->decls) > 0 &&
		    !fixshape_decls_has_type(lf->decls, typed, strlen(typed)))
			r = 0;
	}
	/* Read before copy is split again for the removed tokens. */
	bool indexable = typed && (strcmp(typed, "[]") == 0 || strcmp(typed, "*") == 0);
	size_t n = r && lf->shape ? shape_tokens(fix_key, '-', copy, toks, 64) : 0;
	bool removes_name = false;
	if (n > 0) {
		r = 2;
		char hay[FIXSHAPE_MAX * 4 + 2];
		snprintf(hay, sizeof hay, "%s ", lf->shape);
		for (size_t i = 0; i < n; i++) {
			char pat[128];
			snprintf(pat, sizeof pat, "- %s ", toks[i]);
			removes_name |= strcmp(toks[i], "ID") == 0;
			if (!strstr(hay, pat)) {
				r = 0;
				break;
			}
		}
	}
	/* A rename of the name the message quotes: what it becomes must take
	 * the subscript the line gives it. */
	if (r && n_typed == 1 && removes_name && lf->quoted_subscripted)
		r = indexable ? 2 : 0;
	free(copy);
	return r;
}

static int reason_tier(const char *reason)
{
	if (!reason)
		return 0;
	if (strcmp(reason, "same error") == 0)
		return 3;
	if (strcmp(reason, "same error, other names") == 0)
		return 2;
	if (strcmp(reason, "same error, in another project") == 0)
		return 1;
	return 0;
}

struct ranked_fix {
	struct kb_fix_hit *h;
	int tier, appl;
	double score;
	size_t order;
};

/* How much an exact match of the signature (names included) counts over a
 * match of its general form, in confidence points. A name that recurs is
 * some evidence (in one project, the same variable) but no more than a few
 * recurrences of a fix seen with other names. */
#define EXACT_BONUS 0.15

/* Fixes for the same signature (either form) first, then similar text;
 * inside each, fixes that cannot apply to the failing line last, then by
 * confidence with the exact-match bonus, then kb's own order. */
static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked_fix *x = a, *y = b;
	/* This project's fixes for the error (tiers 3, 2), then the same
	 * error's fixes from other projects (1), then similar text (0). */
	int tx = x->tier >= 2 ? 2 : x->tier, ty = y->tier >= 2 ? 2 : y->tier;
	if (tx != ty)
		return ty - tx;
	if ((x->appl > 0) != (y->appl > 0))
		return y->appl > 0 ? 1 : -1;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* What the source around a diagnostic says (struct line_facts): the
 * abstract tokens of the line before and the line itself, as a fix shape of
 * their removal; the declarations of its file; whether the quoted name is
 * subscripted. Everything is left empty when the file cannot be read. */
static void line_facts_read(const char *root, const char *cwd, const struct diag *d,
			    struct line_facts *lf)
{
	memset(lf, 0, sizeof *lf);
	if (!d || !d->file || d->line <= 0)
		return;
	char *rel = triage__rel_path(root, cwd, d->file);
	char *path = rel[0] == '/' || !root ? xstrdup(rel) : xasprintf("%s/%s", root, rel);
	free(rel);
	size_t len;
	char *text = triage__read_file(path, TRIAGE_SNAPSHOT_MAX, &len, NULL);
	free(path);
	if (!text)
		return;
	lf->decls = fixshape_decls_scan(text, len);
	int want_from = d->line > 1 ? d->line - 1 : 1;
	int ln = 1;
	const char *start = NULL, *end = NULL;
	for (const char *p = text; p < text + len; p++) {
		if (ln == want_from && !start)
			start = p;
		if (*p == '\n') {
			if (ln == d->line) {
				end = p;
				break;
			}
			ln++;
			if (ln == want_from && !start)
				start = p + 1;
		}
	}
	if (start && !end && ln == d->line)
		end = text + len;
	if (start && end && end >= start) {
		char buf[FIXSHAPE_MAX * 4];
		if (fixshape_compute(start, (size_t)(end - start), "", 0, buf, sizeof buf) == 0 &&
		    buf[0])
			lf->shape = xstrdup(buf);
		const char *own = start; /* the diagnostic's line, without the one before */
		for (const char *p = start; p < end; p++)
			if (*p == '\n')
				own = p + 1;
		char name[128];
		if (d->message && quoted_name(d->message, name, sizeof name))
			lf->quoted_subscripted =
				used_with_subscript(own, (size_t)(end - own), name);
	}
	free(text);
}

static json_t *lines_array(const char *text)
{
	json_t *a = json_array();
	if (!text)
		return a;
	const char *p = text;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n)
			json_array_append_new(a, json_stringn(p, n));
		if (!e)
			break;
		p = e + 1;
	}
	return a;
}

static json_t *fix_to_json(const struct kb_fix_hit *h, int appl)
{
	const struct kb_entry *e = &h->e;
	size_t bl = e->body ? strlen(e->body) : 0;
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:f,s:I,s:s,s:o}", "id", (json_int_t)e->id,
			      "uid", e->uid, "kind", e->kind, "title", e->title, "reason",
			      h->reason ? h->reason : "similar text", "confidence", e->confidence,
			      "uses", (json_int_t)e->uses, "state", e->state, "files",
			      lines_array(e->files));
	json_object_set_new(o, "body",
			    e->body ? json_stringn(e->body, bl > 2048 ? 2048 : bl)
				    : json_string(""));
	if (h->matched)
		json_object_set_new(o, "matched", json_string(h->matched));
	/* Learned elsewhere: say where. */
	if (e->project && h->reason && strcmp(h->reason, "same error, in another project") == 0)
		json_object_set_new(o, "from_project", json_string(e->project));
	if (e->fix_key && *e->fix_key) {
		json_object_set_new(o, "fix_key", json_string(e->fix_key));
		json_object_set_new(o, "applies",
				    json_string(appl == 2   ? "yes"
						: appl == 1 ? "unknown"
							    : "no"));
	}
	if (e->sources)
		json_object_set_new(o, "sources", json_loads(e->sources, 0, NULL));
	json_object_set_new(o, "learned", json_boolean(e->fix_key && *e->fix_key));
	return o;
}

/* Whether a hit found by similar text is worth showing. A learned fix is
 * about one error's signature: met through other words it was right for
 * none of 22 TRACER reports that showed one first (an undeclared name
 * offered a missing-semicolon fix), so it is never shown that way. Other
 * entries (written by hand) need SIMILAR_MIN_WORDS of the words searched
 * for and at least SIMILAR_MIN_SHARE of them: a floor, not a figure fitted
 * to data (no labelled set of hand-written matches exists; TRACER holds
 * learned fixes only). */
#define SIMILAR_MIN_WORDS 2
#define SIMILAR_MIN_SHARE 0.5

static bool similar_enough(const struct kb_fix_hit *h)
{
	if (reason_tier(h->reason) >= 1)
		return true;
	if (h->e.fix_key && *h->e.fix_key)
		return false;
	return h->n_matched >= SIMILAR_MIN_WORDS &&
	       (double)h->n_matched >= SIMILAR_MIN_SHARE * (double)h->n_words;
}

static json_t *find_fixes(struct triage_ctx *cx, const struct triage_failure *f,
			  const struct signature *sig, const char *text,
			  const struct line_facts *lf, size_t max, int64_t now_ms, int *err)
{
	json_t *arr = json_array();
	if (!cx->kb || (!sig->exact[0] && !text))
		return arr;
	if (!now_ms)
		now_ms = clock_wall_ms();
	struct kb_fix_hit *hits = NULL;
	size_t n = 0;
	int r = kb_fixes_for(cx->kb, sig->exact[0] ? sig->exact : NULL,
			     sig->general[0] ? sig->general : NULL, text,
			     triage__scope(f->project, f->cwd), 50, now_ms, &hits, &n);
	if (r < 0) {
		*err = r;
		return arr;
	}
	struct ranked_fix *rk = xcalloc(n ? n : 1, sizeof *rk);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (!similar_enough(&hits[i]))
			continue;
		size_t k = kept++;
		rk[k].h = &hits[i];
		rk[k].tier = reason_tier(hits[i].reason);
		/* Only evidence against a fix moves it down; "it removes tokens
		 * that are there" is too common (an '=' on the line) to outrank a
		 * fix seen many more times. */
		rk[k].appl = applicability(hits[i].e.fix_key, lf);
		/* An entry nobody used for long sinks (kb_idle_penalty()). */
		const struct kb_entry *e = &hits[i].e;
		rk[k].score =
			e->confidence -
			kb_idle_penalty(kb_idle_days(e->last_used_ms, e->created_ms, now_ms)) +
			(rk[k].tier == 3 ? EXACT_BONUS : 0);
		rk[k].order = i;
	}
	qsort(rk, kept, sizeof *rk, ranked_cmp);
	for (size_t i = 0; i < kept && i < max; i++)
		json_array_append_new(arr, fix_to_json(rk[i].h, rk[i].appl));
	free(rk);
	kb_fix_hits_free(hits, n);
	return arr;
}

/* ---- suspect changes ---- */

struct suspect {
	char *path;
	int tier;           /* 3 named in an error, 2 included, 1 same directory, 0 changed */
	char *why;          /* the relation, readable */
	int64_t changed_ms; /* last change seen */
	int64_t seq;        /* of the last change event, to order changes in one batch */
	int events;         /* how many change events */
	const char *source; /* "file events", "git", "working tree" */
};

struct suspects {
	struct suspect *v;
	size_t n, cap;
};

static struct suspect *suspect_get(struct suspects *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return &s->v[i];
	if (s->n >= 2000)
		return NULL;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
	}
	struct suspect *x = &s->v[s->n++];
	memset(x, 0, sizeof *x);
	x->path = xstrdup(path);
	return x;
}

static void suspect_touch(struct suspects *s, const char *path, int64_t ms, int events,
			  const char *source)
{
	struct suspect *x = suspect_get(s, path);
	if (!x)
		return;
	if (ms > x->changed_ms)
		x->changed_ms = ms;
	x->events += events;
	if (!x->source)
		x->source = source;
}

static int suspect_cmp(const void *a, const void *b)
{
	const struct suspect *x = a, *y = b;
	if (x->tier != y->tier)
		return y->tier - x->tier;
	if (x->changed_ms != y->changed_ms)
		return x->changed_ms < y->changed_ms ? 1 : -1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? 1 : -1;
	return strcmp(x->path, y->path);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static char *dir_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? xstrndup(p, (size_t)(s - p)) : xstrdup("");
}

/* The headers a source file includes (#include "x.h" or <x.h>), as base
 * names joined by '\n' with one at each end, or NULL. */
static char *includes_of(const char *path)
{
	size_t len;
	char *text = triage__read_file(path, 64 << 10, &len, NULL);
	if (!text)
		return NULL;
	/* Each name comes from a longer line of text: the list is shorter
	 * than the text. */
	struct buf out;
	buf_init(&out, len + 2);
	buf_addch(&out, '\n');
	for (char *p = text; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '#') {
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			if (strncmp(q, "include", 7) == 0) {
				q += 7;
				while (*q == ' ' || *q == '\t')
					q++;
				char close = *q == '"' ? '"' : *q == '<' ? '>' : 0;
				char *e = close ? strchr(q + 1, close) : NULL;
				if (e) {
					*e = '\0';
					buf_addstr(&out, base_name(q + 1));
					buf_addch(&out, '\n');
				}
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	free(text);
	return buf_detach(&out, NULL);
}

struct diag_file {
	char *rel;      /* relative to the root when inside it */
	char *includes; /* see includes_of() */
};

int64_t triage__mtime_ms(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return 0;
	return (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
}

/* store_q_file_changes() row -> triage_changes. */
static int add_file_change(void *ctx, const char *path, int64_t last_ms, int events,
			   int64_t last_seq)
{
	struct triage_changes *out = ctx;
	size_t n = out->n;
	triage__changes_add(out, path, last_ms, events, "file events");
	if (out->n > n)
		out->v[out->n - 1].seq = last_seq;
	return 0;
}

/* store_q_git_events() row -> triage_changes: the files of a commit,
 * checkout or merge, and the last commit's subject. */
static int add_git_change(void *ctx, const struct store_q_event *row)
{
	struct triage_changes *out = ctx;
	json_t *ev = json_loadb(row->envelope, row->envelope_len, 0, NULL);
	const json_t *data = json_object_get(ev, "data");
	size_t i;
	const json_t *fe;
	json_array_foreach(json_object_get(data, "files"), i, fe) {
		const char *p = json_string_value(json_object_get(fe, "path"));
		if (p)
			triage__changes_add(out, p, row->time_ms, 1, "git");
	}
	const char *subj = json_string_value(json_object_get(data, "subject"));
	if (strcmp(row->type, "git.commit") == 0 && subj) {
		free(out->commit_subject);
		out->commit_subject = xstrdup(subj);
		out->commits++;
	}
	json_decref(ev);
	return 0;
}

void triage__changes(sqlite3 *db, const char *project, int64_t from_seq, int64_t to_seq,
		     int64_t from_ms, int64_t until_ms, struct triage_changes *out)
{
	memset(out, 0, sizeof *out);
	if (!db || !project)
		return;
	const struct store_q_window w = {.project = project,
					 .after_seq = from_seq,
					 .until_seq = to_seq,
					 .since_ms = from_ms,
					 .until_ms = until_ms};
	/* File events, one row per path; then commits, checkouts and merges.
	 * A query that fails leaves fewer suspects, not a failed report. */
	if (store_q_file_changes(db, &w, TRIAGE_CHANGES_MAX, add_file_change, out))
		log_debug("triage: file changes in %s: %s", project, sqlite3_errmsg(db));
	if (store_q_git_events(db, &w, 200, add_git_change, out))
		log_debug("triage: git events in %s: %s", project, sqlite3_errmsg(db));
}

void triage__changes_add(struct triage_changes *c, const char *path, int64_t ms, int n,
			 const char *source)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].path, path) == 0) {
			if (ms > c->v[i].ms)
				c->v[i].ms = ms;
			c->v[i].events += n;
			return;
		}
	}
	if (c->n >= TRIAGE_CHANGES_MAX)
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
	}
	c->v[c->n].path = xstrdup(path);
	c->v[c->n].ms = ms;
	c->v[c->n].events = n;
	c->v[c->n].source = source;
	c->v[c->n].seq = 0;
	c->n++;
}

void triage__changes_release(struct triage_changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	free(c->commit_subject);
	memset(c, 0, sizeof *c);
}

/* ---- where each line of the log ran: make -C, ninja -C ---- */

/* The directory a build tool said it was in, from a log line: make's
 * "make[1]: Entering directory '/src/redis/src'" (any quote style, a
 * translated "make" prefix kept simple) and ninja's "ninja: Entering
 * directory `build'". Returns a new string, or NULL. *leave is set for
 * make's "Leaving directory". */
char *triage__entered_dir(const char *line, size_t n, bool *leave)
{
	*leave = false;
	const char *p = memmem(line, n, "Entering directory ", 19);
	size_t skip = 19;
	if (!p) {
		p = memmem(line, n, "Leaving directory ", 18);
		skip = 18;
		if (!p)
			return NULL;
		*leave = true;
	}
	/* Only from make or ninja: "make: ", "make[2]: ", "gmake[1]: ",
	 * "ninja: " before it. */
	size_t lead = (size_t)(p - line);
	if (!(memmem(line, lead, "make", 4) || memmem(line, lead, "ninja", 5)))
		return NULL;
	const char *q = p + skip;
	const char *end = line + n;
	while (end > q && (end[-1] == '\r' || end[-1] == ' '))
		end--;
	/* Quotes: '...', `...', "...", and the UTF-8 quotes ‘...’. */
	if (end - q >= 2 && strchr("'`\"", *q))
		q++;
	else if (end - q >= 6 && (unsigned char)q[0] == 0xE2 && (unsigned char)q[1] == 0x80)
		q += 3;
	if (end > q && strchr("'`\"", end[-1]))
		end--;
	else if (end - q >= 3 && (unsigned char)end[-3] == 0xE2 && (unsigned char)end[-2] == 0x80)
		end -= 3;
	if (end <= q || end - q > 4096)
		return NULL;
	return xstrndup(q, (size_t)(end - q));
}

/* The directory each diagnostic's line ran in, when the log says (make's
 * and ninja's "Entering directory"): dirs[k] for dl->v[k], NULL where the
 * log says nothing (the run's own directory). A relative directory is taken
 * from the one before it (ninja's `build' from where ninja ran). */
static char **diag_dirs(const char *log, size_t len, const struct diag_list *dl, const char *cwd,
			char ***all, size_t *n_all)
{
	char **dirs = xcalloc(dl->n ? dl->n : 1, sizeof *dirs);
	*all = NULL;
	*n_all = 0;
	size_t cap_all = 0;
	if (!log || !dl->n)
		return dirs;
	/* A stack of directories: make nests, and says when it leaves. */
	char *stack[32];
	size_t depth = 0;
	size_t line_no = 0, k = 0;
	const char *p = log, *end = log + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		/* Every diagnostic that starts on this line gets the directory
		 * in force before the line. */
		while (k < dl->n && dl->v[k].log_line <= line_no) {
			if (depth)
				dirs[k] = xstrdup(stack[depth - 1]);
			k++;
		}
		bool leave;
		char *d = n > 19 ? triage__entered_dir(p, n, &leave) : NULL;
		if (d && leave) {
			if (depth)
				free(stack[--depth]);
			free(d);
		} else if (d) {
			if (d[0] != '/') {
				const char *base = depth ? stack[depth - 1] : cwd;
				char *abs = base ? xasprintf("%s/%s", base, d) : xstrdup(d);
				free(d);
				d = abs;
			}
			bool seen = false;
			for (size_t i = 0; i < *n_all && !seen; i++)
				seen = strcmp((*all)[i], d) == 0;
			if (!seen && *n_all < 64) {
				if (*n_all == cap_all) {
					cap_all = cap_all ? 2 * cap_all : 8;
					*all = xreallocarray(*all, cap_all, sizeof **all);
				}
				(*all)[(*n_all)++] = xstrdup(d);
			}
			if (depth < sizeof stack / sizeof stack[0])
				stack[depth++] = d;
			else
				free(d);
		}
		line_no++;
		p = nl ? nl + 1 : end;
	}
	while (depth)
		free(stack[--depth]);
	return dirs;
}

static void dirs_free(char **dirs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
}

static json_t *find_suspects(struct triage_ctx *cx, const struct triage_failure *f,
			     const struct diag_list *dl, const char *log, size_t log_len,
			     size_t max, json_t **since, int *err)
{
	const char *root = triage__scope(f->project, f->cwd);
	struct suspects s = {0};
	struct store_q_event pass = {0};
	if (cx->db && f->target) {
		int r = store_q_last_pass(cx->db, f->project, f->cwd, f->target, f->seq, &pass);
		if (r < 0)
			*err = r;
	}
	int64_t pass_seq = pass.seq, pass_ms = pass.time_ms;
	/* Never passed: look at the last day. */
	int64_t from_ms = pass_seq ? 0 : (f->time_ms ? f->time_ms : 0) - 24 * 3600 * 1000LL;
	if (pass_seq) {
		char ts[TIMEFMT_RFC3339_LEN + 1];
		timefmt_rfc3339(ts, pass_ms);
		*since = json_pack("{s:I,s:s,s:s?}", "seq", (json_int_t)pass_seq, "time", ts, "id",
				   pass.id);
	} else {
		*since = json_null();
	}
	store_q_event_release(&pass);

	struct triage_changes ch;
	triage__changes(cx->db, f->project, pass_seq, f->seq, from_ms, f->started_ms, &ch);
	for (size_t i = 0; i < ch.n; i++) {
		/* The watcher reports a file once the tree is quiet, so what the
		 * passing build itself wrote (its objects, its binary) is logged
		 * after the pass: a file still there whose content was last
		 * written before the pass ended has not changed since. One
		 * last written once this run had started is what the failing
		 * build wrote, not what broke it. */
		if (root && ch.v[i].path[0] != '/' && strcmp(ch.v[i].source, "git")) {
			char *abs = xasprintf("%s/%s", root, ch.v[i].path);
			int64_t mt = triage__mtime_ms(abs);
			free(abs);
			if (mt &&
			    ((pass_ms && mt < pass_ms) || (f->started_ms && mt >= f->started_ms)))
				continue;
		}
		suspect_touch(&s, ch.v[i].path, ch.v[i].ms, ch.v[i].events, ch.v[i].source);
		struct suspect *x = suspect_get(&s, ch.v[i].path);
		if (x && ch.v[i].seq > x->seq)
			x->seq = ch.v[i].seq;
	}
	triage__changes_release(&ch);

	/* Files that differ from HEAD (when the run recorded them) and files
	 * the errors name, if they were edited after the last pass. */
	size_t i;
	const json_t *dj;
	json_array_foreach(f->dirty, i, dj) {
		const char *p = json_string_value(dj);
		/* git names an untracked directory ("build/"), not a file. */
		if (!p || !root || !*p || p[strlen(p) - 1] == '/')
			continue;
		char *abs = xasprintf("%s/%s", root, p);
		int64_t mt = triage__mtime_ms(abs);
		free(abs);
		if ((!pass_ms || mt >= pass_ms) && (!f->started_ms || mt < f->started_ms))
			suspect_touch(&s, p, mt, 0, "working tree");
	}

	/* The files the errors are about. */
	struct diag_file df[8];
	size_t ndf = 0;
	/* A build driver's "[Makefile:9: b.o] Error 1" names where the rule
	 * is, not what is wrong: it counts only when nothing else names a file. */
	bool tool_named = false;
	for (size_t k = 0; k < dl->n; k++)
		tool_named |=
			(dl->v[k].severity == SEV_ERROR || dl->v[k].severity == SEV_CRITICAL) &&
			dl->v[k].file && !is_driver(dl->v[k].tool);
	/* A relative path is relative to where the tool ran: `make -C src`
	 * prints "t_set.c" for src/t_set.c. */
	char **all_dirs;
	size_t n_all_dirs;
	char **dirs = diag_dirs(log, log_len, dl, f->cwd, &all_dirs, &n_all_dirs);
	for (size_t k = 0; k < dl->n && ndf < 8; k++) {
		const struct diag *d = &dl->v[k];
		if ((d->severity != SEV_ERROR && d->severity != SEV_CRITICAL) || !d->file ||
		    (tool_named && is_driver(d->tool)))
			continue;
		const char *base = dirs[k] ? dirs[k] : f->cwd;
		/* stdout and stderr reach the log through two pipes, so make's
		 * "Entering directory" may land after the error it explains:
		 * when the file is not where the line's directory says, the
		 * directories the log entered are tried, and the first that
		 * holds it wins. */
		if (d->file[0] != '/' && n_all_dirs) {
			char *try = base ? xasprintf("%s/%s", base, d->file) : NULL;
			bool there = try && access(try, F_OK) == 0;
			free(try);
			for (size_t a = 0; !there && a < n_all_dirs; a++) {
				char *t2 = xasprintf("%s/%s", all_dirs[a], d->file);
				if (access(t2, F_OK) == 0) {
					base = all_dirs[a];
					there = true;
				}
				free(t2);
			}
		}
		char *rel = triage__rel_path(root, base, d->file);
		/* Still not there (a build that prints no "Entering directory":
		 * make --no-print-directory, cmake, meson): the one changed file
		 * whose path ends with the name the error gives. */
		if (rel && rel[0] != '/' && root && d->file[0] != '/') {
			char *abs = xasprintf("%s/%s", root, rel);
			bool there = access(abs, F_OK) == 0;
			free(abs);
			const char *match = NULL;
			size_t fl = strlen(d->file), matches = 0;
			for (size_t m = 0; !there && m < s.n; m++) {
				size_t pl = strlen(s.v[m].path);
				if (pl > fl && s.v[m].path[pl - fl - 1] == '/' &&
				    strcmp(s.v[m].path + pl - fl, d->file) == 0) {
					match = s.v[m].path;
					matches++;
				}
			}
			if (matches == 1) {
				free(rel);
				rel = xstrdup(match);
			}
		}
		bool dup = false;
		for (size_t j = 0; j < ndf; j++)
			dup |= strcmp(df[j].rel, rel) == 0;
		if (dup) {
			free(rel);
			continue;
		}
		char *abs = rel[0] == '/' || !root ? xstrdup(rel) : xasprintf("%s/%s", root, rel);
		df[ndf].rel = rel;
		df[ndf].includes = includes_of(abs);
		int64_t mt = triage__mtime_ms(abs);
		if (mt && rel[0] != '/' && (pass_ms ? mt >= pass_ms : mt >= from_ms))
			suspect_touch(&s, rel, mt, 0, "working tree");
		free(abs);
		ndf++;
	}
	for (size_t k = 0; k < s.n; k++) {
		struct suspect *x = &s.v[k];
		char *xdir = dir_name(x->path);
		char needle[512];
		snprintf(needle, sizeof needle, "\n%s\n", base_name(x->path));
		for (size_t j = 0; j < ndf; j++) {
			if (strcmp(df[j].rel, x->path) == 0) {
				if (x->tier < 3) {
					x->tier = 3;
					free(x->why);
					x->why = xstrdup("named in the error");
				}
			} else if (df[j].includes && strstr(df[j].includes, needle)) {
				if (x->tier < 2) {
					x->tier = 2;
					free(x->why);
					x->why = xasprintf("included by %s", df[j].rel);
				}
			} else {
				char *ddir = dir_name(df[j].rel);
				if (strcmp(ddir, xdir) == 0 && x->tier < 1) {
					x->tier = 1;
					free(x->why);
					x->why = xasprintf("same directory as %s", df[j].rel);
				}
				free(ddir);
			}
		}
		free(xdir);
	}
	dirs_free(dirs, dl->n);
	dirs_free(all_dirs, n_all_dirs);
	for (size_t j = 0; j < ndf; j++) {
		free(df[j].rel);
		free(df[j].includes);
	}
	if (s.n)
		qsort(s.v, s.n, sizeof *s.v, suspect_cmp);
	json_t *arr = json_array();
	for (size_t k = 0; k < s.n; k++) {
		struct suspect *x = &s.v[k];
		if (k < max) {
			char ts[TIMEFMT_RFC3339_LEN + 1];
			json_t *o = json_pack("{s:s,s:s,s:s,s:i}", "path", x->path, "relation",
					      x->why ? x->why
						     : (pass_seq ? "changed since the last pass"
								 : "changed recently"),
					      "source", x->source ? x->source : "working tree",
					      "events", x->events);
			if (x->changed_ms) {
				timefmt_rfc3339(ts, x->changed_ms);
				json_object_set_new(o, "changed", json_string(ts));
			}
			json_array_append_new(arr, o);
		}
		free(x->path);
		free(x->why);
	}
	free(s.v);
	return arr;
}

/* ---- the report ---- */

/* Counts errors and warnings. Errors are what the tools said, not the
 * build driver's echo of them: make's "Error 1" counts only when nothing
 * else reported an error. */
static void count_diags(const struct diag_list *dl, size_t *errors, size_t *warnings)
{
	size_t tool = 0, driver = 0, warn = 0;
	for (size_t i = 0; i < dl->n; i++) {
		if (dl->v[i].severity == SEV_ERROR || dl->v[i].severity == SEV_CRITICAL)
			*(is_driver(dl->v[i].tool) ? &driver : &tool) += 1;
		else if (dl->v[i].severity == SEV_WARNING)
			warn++;
	}
	*errors = tool ? tool : driver;
	*warnings = warn;
}

/* The full stop a sentence ending with s needs: none when s already ends
 * with one (".", "?", "!", "…"), so that "did you mean 'robj'?" and "no
 * makefile found." are not followed by another. */
static const char *stop_after(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n)
		return ".";
	if (strchr(".?!", s[n - 1]))
		return "";
	if (n >= 3 && (unsigned char)s[n - 3] == 0xE2 && (unsigned char)s[n - 2] == 0x80 &&
	    (unsigned char)s[n - 1] == 0xA6)
		return "";
	return ".";
}

static char *make_summary(const struct triage_failure *f, size_t errors, size_t warnings,
			  const struct diag *pd, const char *message, int64_t seen,
			  const json_t *fixes, const json_t *suspects)
{
	char *s;
	const char *what = f->target ? f->target : "The run";
	if (pd) {
		char place[600] = "";
		/* A message that starts with the file ("tests/x.py::test_y: ...")
		 * says where already: the path is not given twice. */
		bool named = pd->file && strncmp(pd->message, pd->file, strlen(pd->file)) == 0;
		if (pd->file && pd->line && !named)
			snprintf(place, sizeof place, " at %s:%d", pd->file, pd->line);
		else if (pd->file && !named)
			snprintf(place, sizeof place, " in %s", pd->file);
		s = xasprintf("%s failed with %zu error%s%s; the first%s: %s%s", what, errors,
			      errors == 1 ? "" : "s",
			      warnings ? (warnings == 1 ? " and 1 warning" : " and warnings") : "",
			      place, pd->message, stop_after(pd->message));
	} else if (message) {
		s = xasprintf("%s failed; the log says: %s%s", what, message, stop_after(message));
	} else {
		s = xasprintf("%s failed, and its output says nothing recognisable about why.",
			      what);
	}
	char *t;
	if (seen > 0) {
		t = xasprintf("%s Seen %lld time%s before.", s, (long long)seen,
			      seen == 1 ? "" : "s");
		free(s);
		s = t;
	} else if (pd || message) {
		t = xasprintf("%s First time this error is seen.", s);
		free(s);
		s = t;
	}
	const json_t *fx = json_array_get(fixes, 0);
	if (fx) {
		const char *title = json_string_value(json_object_get(fx, "title"));
		t = xasprintf("%s Known fix (%s): %s%s", s,
			      json_string_value(json_object_get(fx, "reason")), title,
			      stop_after(title));
		free(s);
		s = t;
	}
	const json_t *sx = json_array_get(suspects, 0);
	if (sx) {
		t = xasprintf("%s Most likely change: %s (%s).", s,
			      json_string_value(json_object_get(sx, "path")),
			      json_string_value(json_object_get(sx, "relation")));
		free(s);
		s = t;
	}
	return s;
}

/* Whether the last bytes of log (its last 4 KiB) hold needle. */
static bool tail_has(const char *log, size_t len, const char *needle)
{
	if (!log)
		return false;
	size_t from = len > 4096 ? len - 4096 : 0;
	return memmem(log + from, len - from, needle, strlen(needle)) != NULL;
}

const char *triage_not_code(const struct triage_failure *f, const char *log, size_t log_len,
			    char *why, size_t len)
{
	const char *what = f->target ? f->target : "the run";
	const char *sig = f->signal ? f->signal : "";
	bool under_timeout = f->command && (strncmp(f->command, "timeout ", 8) == 0 ||
					    strstr(f->command, " timeout ") != NULL);
	if (!strcmp(sig, "INT") || (f->has_exit && f->exit_code == 130) ||
	    tail_has(log, log_len, "] Interrupt") || tail_has(log, log_len, "KeyboardInterrupt")) {
		snprintf(why, len,
			 "%s was interrupted (Ctrl-C): not a failure of the code, so there is "
			 "nothing to explain or learn.",
			 what);
		return "interrupted";
	}
	if (f->spawn_error || (f->has_exit && f->exit_code == 127) ||
	    (f->has_exit && f->exit_code == 126 && tail_has(log, log_len, "ermission denied"))) {
		/* The program named: the command's first word. */
		char prog[128] = "";
		if (f->command)
			snprintf(prog, sizeof prog, "%.*s", (int)strcspn(f->command, " \t"),
				 f->command);
		snprintf(why, len,
			 "%s could not run%s%s%s: %s; not a failure of the code: check the "
			 "command's name and PATH, or that it is installed and executable.",
			 what, *prog ? " (" : "", prog, *prog ? ")" : "",
			 f->spawn_error        ? f->spawn_error
			 : f->exit_code == 126 ? "permission denied"
					       : "command not found (exit 127)");
		return "not_found";
	}
	if ((f->has_exit && f->exit_code == 124 && under_timeout) || !strcmp(sig, "ALRM") ||
	    (!strcmp(sig, "TERM") && under_timeout)) {
		snprintf(why, len,
			 "%s was stopped by a timeout: not a failure of the code as such; it ran "
			 "out of time.",
			 what);
		return "timed_out";
	}
	if (!strcmp(sig, "KILL") || (f->has_exit && f->exit_code == 137)) {
		snprintf(why, len,
			 "%s was killed (SIGKILL: the out-of-memory killer, or kill -9): not a "
			 "failure of the code as such; see 'journalctl -k' for an OOM kill.",
			 what);
		return "killed";
	}
	if (!strcmp(sig, "TERM") || (f->has_exit && f->exit_code == 143)) {
		snprintf(why, len, "%s was terminated (SIGTERM): not a failure of the code.", what);
		return "killed";
	}
	return NULL;
}

/* The excerpt as JSON, with secrets redacted (the report is stored). */
static json_t *excerpt_json(const struct excerpt *ex)
{
	size_t total = 0;
	for (size_t i = 0; i < ex->n; i++)
		total += strlen(ex->v[i].text) + 1;
	char *joined = xmalloc(total + 1);
	size_t o = 0;
	for (size_t i = 0; i < ex->n; i++) {
		size_t l = strlen(ex->v[i].text);
		memcpy(joined + o, ex->v[i].text, l);
		o += l;
		joined[o++] = '\n';
	}
	joined[o] = '\0';
	size_t rl = 0;
	char *red = redact(joined, o, &rl, NULL);
	free(joined);
	json_t *lines = json_array();
	const char *p = red ? red : "";
	for (size_t i = 0; i < ex->n; i++) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		json_array_append_new(lines,
				      json_pack("{s:I,s:s%}", "line",
						(json_int_t)(ex->v[i].line + 1), "text", p, n));
		p = e ? e + 1 : p + n;
	}
	free(red);
	return json_pack("{s:s,s:I,s:o}", "method", ex->method, "total_lines",
			 (json_int_t)ex->total_lines, "lines", lines);
}

static char *redacted(const char *s)
{
	if (!s)
		return NULL;
	size_t l = strlen(s);
	if (l > 4096)
		l = 4096;
	char *r = redact(s, l, NULL, NULL);
	return r ? r : xstrdup("");
}

static int64_t signature_seen(sqlite3 *db, const char *sig, int64_t *first_ms)
{
	*first_ms = 0;
	if (!db || !sig || !*sig)
		return 0;
	sqlite3_stmt *st;
	int64_t n = 0;
	if (sqlite3_prepare_v2(db, "SELECT count, first_ms FROM signatures WHERE sig = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, sig, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		*first_ms = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return n;
}

int triage_analyze(struct triage_ctx *cx, const struct triage_failure *f,
		   const struct triage_opts *o, int64_t now_ms, json_t **report)
{
	struct triage_opts def = {0};
	if (!o)
		o = &def;
	size_t max_lines = o->max_lines ? o->max_lines : 50;
	size_t max_fixes = o->max_fixes ? o->max_fixes : 5;
	size_t max_suspects = o->max_suspects ? o->max_suspects : 10;
	int err = 0;
	const char *root = triage__scope(f->project, f->cwd);

	/* Everything below is computed from the redacted log and command: the
	 * diagnostics, the excerpt, the message and so the signature, which
	 * is stored (failures, signatures) and looked up. A secret the failing
	 * command printed never gets that far. */
	size_t log_len = 0;
	char *log = f->log ? redact_text(f->log, f->log_len, &log_len, NULL) : NULL;
	char *command = f->command ? redact_text(f->command, strlen(f->command), NULL, NULL) : NULL;
	struct diag_list dl = {0};
	diag_extract(log, log_len, command, &dl);
	free(command);
	struct excerpt ex = {0};
	excerpt_select(log ? log : "", log_len, &dl, max_lines, &ex);

	const struct diag *pd = primary_diag(&dl);
	const char *message = pd ? pd->message : message_from_excerpt(&ex);
	struct signature sig;
	memset(&sig, 0, sizeof sig);
	if (message)
		signature_from_message(message, strlen(message), &sig);

	int64_t first_ms = 0;
	int64_t seen = signature_seen(cx->db, sig.exact, &first_ms);

	/* Text for the similarity tier: the message and the first error lines. */
	char *text = NULL;
	if (message) {
		text = xstrdup(message);
		for (size_t i = 0; i < dl.n && i < 5; i++) {
			if (&dl.v[i] == pd ||
			    (dl.v[i].severity != SEV_ERROR && dl.v[i].severity != SEV_CRITICAL))
				continue;
			char *t = xasprintf("%s\n%s", text, dl.v[i].message);
			free(text);
			text = t;
		}
	}
	struct line_facts lf;
	line_facts_read(root, f->cwd, pd, &lf);
	json_t *fixes = find_fixes(cx, f, &sig, text, &lf, max_fixes, now_ms, &err);
	free(lf.shape);
	fixshape_decls_free(lf.decls);
	free(text);

	json_t *since = NULL;
	json_t *suspects = cx->db && !o->no_suspects ? find_suspects(cx, f, &dl, log, log_len,
								     max_suspects, &since, &err)
						     : json_array();
	if (!since)
		since = json_null();

	size_t errors, warnings;
	count_diags(&dl, &errors, &warnings);
	char *summary = make_summary(f, errors, warnings, pd, message, seen, fixes, suspects);
	char *red_summary = redacted(summary);
	free(summary);

	json_t *rep = json_object();
	json_t *fail = json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?}", "id", f->event_id, "type", f->type,
				 "target", f->target, "project", f->project, "cwd", f->cwd);
	if (f->seq)
		json_object_set_new(fail, "seq", json_integer(f->seq));
	/* These come from the event as its producer wrote them. */
	redact_json(fail);
	json_object_set_new(rep, "failure", fail);
	json_object_set_new(rep, "summary", json_string(red_summary));
	free(red_summary);
	if (message) {
		char *rm = redacted(message);
		json_t *sj = json_pack("{s:s,s:s,s:s,s:I}", "exact", sig.exact, "general",
				       sig.general, "message", rm, "seen", (json_int_t)seen);
		free(rm);
		if (pd) {
			json_object_set_new(sj, "tool", json_string(pd->tool));
			if (pd->file)
				json_object_set_new(sj, "file", json_string(pd->file));
			if (pd->line)
				json_object_set_new(sj, "line", json_integer(pd->line));
		}
		if (first_ms) {
			char ts[TIMEFMT_RFC3339_LEN + 1];
			timefmt_rfc3339(ts, first_ms);
			json_object_set_new(sj, "first_seen", json_string(ts));
		}
		json_object_set_new(rep, "signature", sj);
	} else {
		json_object_set_new(rep, "signature", json_null());
	}
	json_t *files = json_array();
	for (size_t i = 0; i < dl.n && json_array_size(files) < TRIAGE_SNAPSHOT_FILES; i++) {
		const char *df = dl.v[i].file;
		if (!df || (dl.v[i].severity != SEV_ERROR && dl.v[i].severity != SEV_CRITICAL &&
			    dl.v[i].severity != SEV_WARNING))
			continue;
		bool dup = false;
		size_t k;
		const json_t *fj;
		json_array_foreach(files, k, fj)
			dup |= strcmp(json_string_value(fj), df) == 0;
		if (!dup)
			json_array_append_new(files, json_string(df));
	}
	json_object_set_new(rep, "diagnostics",
			    json_pack("{s:I,s:I,s:I,s:o}", "errors", (json_int_t)errors, "warnings",
				      (json_int_t)warnings, "total", (json_int_t)dl.n, "files",
				      files));
	json_object_set_new(rep, "excerpt", excerpt_json(&ex));
	json_object_set_new(rep, "fixes", fixes);
	json_object_set_new(rep, "suspects", suspects);
	json_object_set_new(rep, "since_pass", since);
	if (!f->log)
		json_object_set_new(rep, "log_missing", json_true());
	/* Not a failure of the code: named for what it is, with no signature,
	 * fix or suspect, and not recorded for learning
	 * (triage_record_failure()). */
	char nc_why[600];
	const char *nc = triage_not_code(f, log, log_len, nc_why, sizeof nc_why);
	if (nc) {
		char *rw = redacted(nc_why);
		json_object_set_new(rep, "summary", json_string(rw));
		free(rw);
		json_object_set_new(rep, "not_code", json_string(nc));
		json_object_set_new(rep, "signature", json_null());
		json_object_set_new(rep, "fixes", json_array());
		json_object_set_new(rep, "suspects", json_array());
		json_object_set_new(rep, "since_pass", json_null());
	}

	excerpt_release(&ex);
	diag_list_release(&dl);
	free(log);
	*report = rep;
	return err;
}

/* ---- remembering the failure ---- */

static void snapshot_one(sqlite3_stmt *ins, const char *failure_id, const char *root,
			 const char *rel)
{
	if (!rel || rel[0] == '/' || strncmp(rel, "../", 3) == 0)
		return;
	char *abs = xasprintf("%s/%s", root, rel);
	size_t len;
	bool trunc;
	char *text = triage__read_file(abs, TRIAGE_SNAPSHOT_MAX + 1, &len, &trunc);
	free(abs);
	sqlite3_bind_text(ins, 1, failure_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, rel, -1, SQLITE_STATIC);
	/* A missing file is remembered as missing (NULL); one too big or
	 * binary is not remembered at all. */
	if (text && (len > TRIAGE_SNAPSHOT_MAX || memchr(text, '\0', len))) {
		free(text);
		sqlite3_reset(ins);
		return;
	}
	if (text)
		sqlite3_bind_blob(ins, 3, text, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(ins, 3);
	sqlite3_step(ins);
	sqlite3_reset(ins);
	sqlite3_clear_bindings(ins);
	free(text);
}

struct snap_ins {
	sqlite3_stmt *st;
	const char *failure_id;
};

static int snap_insert(void *ctx, const char *path, const char *content, size_t len)
{
	struct snap_ins *si = ctx;
	sqlite3_bind_text(si->st, 1, si->failure_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(si->st, 2, path, -1, SQLITE_STATIC);
	if (content)
		sqlite3_bind_blob(si->st, 3, content, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(si->st, 3);
	sqlite3_step(si->st);
	sqlite3_reset(si->st);
	sqlite3_clear_bindings(si->st);
	return 0;
}

/* Counts a use of each known fix the report offers (kb_mark_used()). A
 * failed count is not a failed triage: it is logged at debug level. */
static void mark_fixes_used(struct triage_ctx *cx, const json_t *report, int64_t when)
{
	size_t i;
	const json_t *fx;
	if (!cx->kb)
		return;
	json_array_foreach(json_object_get(report, "fixes"), i, fx) {
		json_int_t id = json_integer_value(json_object_get(fx, "id"));
		if (id > 0 && kb_mark_used(cx->kb, id, when) < 0)
			log_debug("triage: cannot count a use of knowledge entry %lld: %s",
				  (long long)id, kb_errmsg(cx->kb));
	}
}

int triage_record_failure(struct triage_ctx *cx, const struct triage_failure *f,
			  const json_t *report, const char *report_id, int64_t now_ms)
{
	if (!cx->db || !f->event_id)
		return 0;
	/* Interrupted, not found, killed: nothing to resolve or learn from. */
	if (json_object_get(report, "not_code"))
		return 0;
	sqlite3 *db = cx->db;
	const char *root = triage__scope(f->project, f->cwd);
	const json_t *sj = json_object_get(report, "signature");
	const char *sig = json_string_value(json_object_get(sj, "exact"));
	const char *gen = json_string_value(json_object_get(sj, "general"));
	const char *msg = json_string_value(json_object_get(sj, "message"));
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(
		    db,
		    "INSERT OR IGNORE INTO failures(event_id,seq,project,target,signature,"
		    "sig_general,message,time_ms,report_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
		    -1, &st, NULL) != SQLITE_OK)
		goto out_rollback;
	sqlite3_bind_text(st, 1, f->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, f->seq);
	sqlite3_bind_text(st, 3, root, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, f->target ? f->target : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, sig && *sig ? sig : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, gen && *gen ? gen : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, msg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, f->time_ms ? f->time_ms : now_ms);
	sqlite3_bind_text(st, 9, report_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	bool inserted = rc == SQLITE_DONE && sqlite3_changes(db) > 0;
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto out_rollback;
	if (!inserted) /* seen before (a redelivered event): nothing more to do */
		goto out_commit;
	/* The fixes offered are used once per failure: counted in the
	 * transaction that records it, so a rerun of the job (after a crash,
	 * a redelivered event) finds the row and counts nothing again. */
	mark_fixes_used(cx, report, f->time_ms ? f->time_ms : now_ms);
	if (root) {
		if (sqlite3_prepare_v2(db,
				       "INSERT OR IGNORE INTO snapshots(failure_id,path,content)"
				       " VALUES(?1,?2,?3)",
				       -1, &st, NULL) != SQLITE_OK)
			goto out_rollback;
		size_t slen;
		char *sdata =
			f->snapshot ? triage__read_file(f->snapshot, 64 << 20, &slen, NULL) : NULL;
		if (sdata) {
			struct snap_ins si = {.st = st, .failure_id = f->event_id};
			int pr = triage_snapshot_parse(sdata, slen, snap_insert, &si);
			free(sdata);
			if (pr == 0)
				goto out_snapshots;
			log_warn("triage: snapshot %s is damaged (%s); reading the files instead",
				 f->snapshot, err_str(pr));
		}
		size_t nsnap = 0;
		/* The files the diagnostics name, then the dirty ones. */
		size_t i;
		const json_t *dj;
		json_array_foreach(json_object_get(json_object_get(report, "diagnostics"), "files"),
				   i, dj) {
			if (nsnap >= TRIAGE_SNAPSHOT_FILES)
				break;
			char *rel = triage__rel_path(root, f->cwd, json_string_value(dj));
			snapshot_one(st, f->event_id, root, rel);
			free(rel);
			nsnap++;
		}
		json_array_foreach(f->dirty, i, dj) {
			if (nsnap >= TRIAGE_SNAPSHOT_FILES * 2)
				break;
			snapshot_one(st, f->event_id, root, json_string_value(dj));
			nsnap++;
		}
	out_snapshots:
		sqlite3_finalize(st);
		st = NULL;
	}
out_commit:
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out_rollback;
	if (inserted && cx->kb && sig && *sig &&
	    kb_note_signature(cx->kb, sig, gen && *gen ? gen : sig, msg ? msg : sig,
			      f->time_ms ? f->time_ms : now_ms) < 0)
		return CAIRN_E_STORE;
	return 0;
out_rollback:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return CAIRN_E_STORE;
}
