/* An entry's text made ready to store, without touching the database:
 * UTF-8 checks, validation and normalisation of each field (strict for what
 * a user or an import gives, lenient for learned text), redaction of
 * secrets, and the exact-duplicate key (kb.h). Pure functions: any thread
 * (kb_import() prepares lines on a thread of its own). */
#include "kb/kb_int.h"

#include "common/utf8.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/sha256.h"
#include "common/xalloc.h"
#include "kb/redact.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of one event id in sources. */
#define SOURCE_ID_MAX 128

/* ---- UTF-8 ---- */

static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

char *kb__utf8_fix(const char *s, size_t n)
{
	char *out = xstrndup(s, n);
	unsigned char *p = (unsigned char *)out;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (!k) {
			p[i++] = '?';
			continue;
		}
		i += k;
	}
	return out;
}

size_t kb__utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Hashes s with every run of ASCII whitespace as one space, without
 * leading or trailing whitespace: the duplicate key's normal form. */
static void add_normalised(struct sha256 *h, const char *s)
{
	char buf[256];
	size_t n = 0;
	bool pending = false, started = false;
	for (const char *p = s ? s : ""; *p; p++) {
		if (kb__is_space((unsigned char)*p)) {
			pending = started;
			continue;
		}
		if (n + 2 > sizeof buf) {
			sha256_update(h, buf, n);
			n = 0;
		}
		if (pending)
			buf[n++] = ' ';
		pending = false;
		started = true;
		buf[n++] = *p;
	}
	sha256_update(h, buf, n);
}

/* The exact-duplicate key (see kb.h): the first HASH_BYTES of a SHA-256, in
 * hex. 64 bits make a collision between two of a million entries a chance
 * of about 1 in 40 million, and keep the unique index on it small: an import
 * inserts into it at random places, and every index page it touches is
 * written again at each commit. */
#define HASH_BYTES 8
void kb__hash_key(char out[33], const char *kind, const char *project, const char *title,
		  const char *body, const char *sig, const char *fix_key)
{
	struct sha256 h;
	unsigned char d[SHA256_LEN];
	sha256_init(&h);
	sha256_update(&h, "cairn-kb-1", 11);
	sha256_update(&h, kind, strlen(kind) + 1);
	sha256_update(&h, project ? project : "", strlen(project ? project : "") + 1);
	add_normalised(&h, title);
	sha256_update(&h, "", 1);
	add_normalised(&h, body);
	sha256_update(&h, "", 1);
	if (strcmp(kind, "fix") == 0) {
		sha256_update(&h, sig ? sig : "", strlen(sig ? sig : "") + 1);
		sha256_update(&h, fix_key ? fix_key : "", strlen(fix_key ? fix_key : "") + 1);
	}
	sha256_final(&h, d);
	for (int i = 0; i < HASH_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void kb__redact_in_place(char **s, unsigned *count)
{
	if (!*s || !**s)
		return;
	unsigned k = 0;
	size_t len;
	char *r = redact(*s, strlen(*s), &len, &k);
	if (!r)
		return; /* over REDACT_MAX_INPUT: callers cap their text below it */
	free(*s);
	*s = r;
	*count += k;
}

/* ---- validated, normalised, redacted content ---- */

void kb__prep_release(struct prep *p)
{
	free(p->title);
	free(p->body);
	free(p->tags);
	free(p->files);
	free(p->project);
	free(p->signature);
	free(p->sig_general);
	free(p->fix_key);
	free(p->sources);
	memset(p, 0, sizeof *p);
}

static int fail(struct cairn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cairn_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->code = CAIRN_E_INVALID;
	kb__field_from_msg(err);
	return CAIRN_E_INVALID;
}

static bool has_ctl(const char *s, size_t n, bool allow_lines)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0x7f ||
		    (c < 0x20 && !(allow_lines && (c == '\n' || c == '\t' || c == '\r'))))
			return true;
	}
	return false;
}

/* Redaction may lengthen text a little (a short secret becomes a longer
 * marker), and the limits apply to what is stored, so that whatever is
 * stored can be exported and imported again. Text much longer than a limit
 * is refused (or, for learned text, cut) before redaction, which keeps the
 * work bounded and every input under REDACT_MAX_INPUT. */
#define RAW_FACTOR 4

/* A length <= max that cuts s neither inside a UTF-8 sequence nor inside a
 * redaction marker (a cut marker would be taken for text on the next pass). */
static size_t safe_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t k = kb__utf8_cut(s, n, max), plen = strlen(REDACT_MARKER_PREFIX);
	const char *m = s;
	while ((m = memmem(m, n - (size_t)(m - s), REDACT_MARKER_PREFIX, plen)) &&
	       (size_t)(m - s) < k) {
		const char *close = memchr(m, ']', n - (size_t)(m - s));
		size_t end = close ? (size_t)(close - s) + 1 : n;
		if (end > k)
			return (size_t)(m - s);
		m = s + end;
	}
	return k;
}

static void trim(char *s, bool leading)
{
	size_t n = strlen(s), i = 0;
	while (n > 0 && kb__is_space((unsigned char)s[n - 1]))
		n--;
	while (leading && i < n && kb__is_space((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i);
	s[n - i] = '\0';
}

static int prep_title(const char *in, bool lenient, char **out, struct cairn_err *err)
{
	if (!in)
		return fail(err, "title: is required");
	size_t n = strlen(in);
	if (!lenient) {
		if (n > RAW_FACTOR * KB_TITLE_MAX)
			return fail(err, "title: must be at most %d bytes (it has %zu)",
				    KB_TITLE_MAX, n);
		if (!utf8_valid(in, n))
			return fail(err, "title: is not valid UTF-8");
		if (memchr(in, '\n', n) || memchr(in, '\r', n))
			return fail(err, "title: must be one line");
		/* Blanks around the title are dropped, tabs included. */
		const char *s = in;
		size_t k = n;
		while (k > 0 && kb__is_space((unsigned char)*s))
			s++, k--;
		while (k > 0 && kb__is_space((unsigned char)s[k - 1]))
			k--;
		if (has_ctl(s, k, false))
			return fail(err, "title: must not contain control characters");
	}
	char *t = kb__utf8_fix(in, kb__utf8_cut(in, n, RAW_FACTOR * KB_TITLE_MAX));
	for (char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	trim(t, true);
	if (!*t) {
		free(t);
		return fail(err, "title: must not be empty");
	}
	*out = t;
	return 0;
}

static int prep_body(const char *in, bool lenient, char **out, struct cairn_err *err)
{
	size_t n = in ? strlen(in) : 0;
	if (!lenient) {
		if (n > RAW_FACTOR * KB_BODY_MAX)
			return fail(err, "body: must be at most %u bytes (it has %zu)", KB_BODY_MAX,
				    n);
		if (!utf8_valid(in, n))
			return fail(err, "body: is not valid UTF-8");
		if (has_ctl(in, n, true))
			return fail(err, "body: must not contain control characters other "
					 "than tab and newline");
	}
	char *b =
		kb__utf8_fix(in ? in : "", kb__utf8_cut(in ? in : "", n, RAW_FACTOR * KB_BODY_MAX));
	/* Learned text comes from logs: drop the ESC of colour sequences and
	 * other control bytes. */
	char *w = b;
	for (char *p = b; *p; p++)
		if ((unsigned char)*p >= 0x20 || *p == '\n' || *p == '\t' || *p == '\r')
			*w++ = *p;
	*w = '\0';
	trim(b, false);
	*out = b;
	return 0;
}

static bool tag_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Tags: split on blanks and commas, '#' prefix dropped, folded to lower
 * case, checked, deduplicated; joined with single spaces. (redact_entry()
 * then redacts each one: a tag that held a secret becomes "redacted".) */
static int prep_tags(const char *in, char **out, struct cairn_err *err)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	size_t count = 0;
	const char *p = in ? in : "";
	while (*p) {
		while (*p && (kb__is_space((unsigned char)*p) || *p == ','))
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && !kb__is_space((unsigned char)*p) && *p != ',')
			p++;
		size_t n = (size_t)(p - s);
		if (*s == '#')
			s++, n--;
		if (n == 0)
			continue;
		char tag[KB_TAG_MAX + 1];
		if (n > KB_TAG_MAX) {
			buf_release(&b);
			return fail(err, "tags: '%.*s...' is longer than %d bytes", 20, s,
				    KB_TAG_MAX);
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)tolower((unsigned char)s[i]);
			if ((unsigned char)s[i] >= 0x80 || !tag_char(c)) {
				buf_release(&b);
				return fail(err,
					    "tags: '%.*s' may only hold a-z, 0-9, '.', '_' and '-'",
					    (int)n, s);
			}
			tag[i] = (char)c;
		}
		tag[n] = '\0';
		const char *t = tag;
		/* Deduplicate: b holds " tag1 tag2" with a leading space. */
		char probe[KB_TAG_MAX + 3];
		snprintf(probe, sizeof probe, " %s ", t);
		char *hay = xasprintf("%s ", b.data);
		bool dup = strstr(hay, probe) != NULL;
		free(hay);
		if (dup)
			continue;
		if (++count > KB_TAGS_MAX) {
			buf_release(&b);
			return fail(err, "tags: at most %d tags", KB_TAGS_MAX);
		}
		buf_addch(&b, ' ');
		buf_addstr(&b, t);
	}
	char *all = buf_detach(&b, NULL);
	*out = xstrdup(all[0] == ' ' ? all + 1 : all);
	free(all);
	return 0;
}

/* Files: one per line, trimmed, blank lines dropped, deduplicated. With
 * final (the text after redaction) each path is held to KB_FILE_MAX;
 * before, to RAW_FACTOR times that. */
static int prep_files(const char *in, bool lenient, bool final, char **out, struct cairn_err *err)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	size_t count = 0, max = final ? KB_FILE_MAX : RAW_FACTOR * KB_FILE_MAX;
	const char *p = in ? in : "";
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		const char *s = p;
		p = e ? e + 1 : p + n;
		while (n > 0 && kb__is_space((unsigned char)*s))
			s++, n--;
		while (n > 0 && kb__is_space((unsigned char)s[n - 1]))
			n--;
		if (n == 0)
			continue;
		if (n > max || !utf8_valid(s, n) || has_ctl(s, n, false)) {
			if (lenient)
				continue;
			buf_release(&b);
			if (n > max)
				return fail(err, "files: a path is longer than %d bytes%s",
					    KB_FILE_MAX, final ? " (after redacting secrets)" : "");
			return fail(err,
				    "files: '%.*s' is not valid UTF-8 without control characters",
				    (int)(n > 40 ? 40 : n), s);
		}
		bool dup = false;
		for (const char *q = b.data; *q && !dup;) {
			const char *qe = strchr(q, '\n');
			size_t qn = qe ? (size_t)(qe - q) : strlen(q);
			dup = qn == n && memcmp(q, s, n) == 0;
			q = qe ? qe + 1 : q + qn;
		}
		if (dup)
			continue;
		if (++count > KB_FILES_MAX) {
			if (lenient)
				break;
			buf_release(&b);
			return fail(err, "files: at most %d paths", KB_FILES_MAX);
		}
		if (b.len)
			buf_addch(&b, '\n');
		buf_add(&b, s, n);
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

static int prep_project(const char *in, char **out, struct cairn_err *err)
{
	*out = NULL;
	if (!in || !*in)
		return 0;
	size_t n = strlen(in);
	if (in[0] != '/' || n > 4096 || !utf8_valid(in, n) || has_ctl(in, n, false))
		return fail(err,
			    "project: must be an absolute path (starting with '/') of at most 4096 "
			    "bytes");
	while (n > 1 && in[n - 1] == '/')
		n--;
	*out = xstrndup(in, n);
	return 0;
}

/* signature, sig_general, fix_key: "" means unset. */
static int prep_opt(const char *name, const char *in, bool lenient, char **out,
		    struct cairn_err *err)
{
	*out = NULL;
	if (!in || !*in)
		return 0;
	size_t n = strlen(in);
	if (!lenient && (n > RAW_FACTOR * KB_SIG_MAX || !utf8_valid(in, n)))
		return fail(err, "%s: must be valid UTF-8 of at most %d bytes", name, KB_SIG_MAX);
	*out = kb__utf8_fix(in, kb__utf8_cut(in, n, RAW_FACTOR * KB_SIG_MAX));
	return 0;
}

bool kb__source_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SOURCE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int prep_sources(const char *in, char **out, struct cairn_err *err)
{
	if (!in || !*in) {
		*out = xstrdup("[]");
		return 0;
	}
	json_t *a = json_loads(in, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(a) || json_array_size(a) > KB_SOURCES_MAX) {
		json_decref(a);
		return fail(err, "sources: must be a JSON array of at most %d event ids",
			    KB_SOURCES_MAX);
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);
		if (!json_is_string(v) || !kb__source_id_ok(json_string_value(v))) {
			json_decref(a);
			return fail(err,
				    "sources: each must be an event id of 1 to %d printable ASCII "
				    "characters",
				    SOURCE_ID_MAX);
		}
	}
	*out = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return 0;
}

/* Holds a redacted field to its limit: refuses (strict) or cuts (lenient). */
static int limit_field(const char *name, char *s, size_t max, bool lenient, unsigned redactions,
		       struct cairn_err *err)
{
	size_t n = s ? strlen(s) : 0;
	if (n <= max)
		return 0;
	if (lenient) {
		s[safe_cut(s, n, max)] = '\0';
		return 0;
	}
	return fail(err, "%s: must be at most %zu bytes (it has %zu%s)", name, max, n,
		    redactions ? " after redacting secrets" : "");
}

/* Separates fields joined for one redact() call: a line holding only the
 * unit separator, which no field can contain (control characters are
 * refused or dropped first) and which ends any command line a rule looks
 * back into, as a newline does. */
#define FIELD_SEP "\n\x1f\n"

/* Redacts the non-NULL strings *f[0..n) (malloc'd, replaced in place) in one
 * redact() call: its cost for short text is mostly per call and rule, not
 * per byte, and an entry has up to six fields and many tags. If a field
 * holds the separator or a match swallowed one, each field is redacted on
 * its own instead. */
static void redact_fields(char **f[], size_t n, unsigned *count)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	size_t parts = 0;
	for (size_t i = 0; i < n; i++) {
		if (!*f[i])
			continue;
		if (strchr(*f[i], '\x1f'))
			goto one_by_one;
		if (parts++)
			buf_addstr(&b, FIELD_SEP);
		buf_addstr(&b, *f[i]);
	}
	if (!parts || b.len > REDACT_MAX_INPUT)
		goto one_by_one;
	unsigned k = 0;
	size_t len;
	char *r = redact(b.data, b.len, &len, &k);
	if (!r)
		goto one_by_one;
	if (k == 0) {
		free(r);
		buf_release(&b);
		return;
	}
	/* Split back; every field must come out. */
	char *piece[KB_TAGS_MAX + 8];
	size_t np = 0;
	for (char *q = r;; np++) {
		char *e = strstr(q, FIELD_SEP);
		if (np >= sizeof piece / sizeof piece[0])
			break;
		piece[np] = q;
		if (!e) {
			np++;
			break;
		}
		*e = '\0';
		q = e + strlen(FIELD_SEP);
	}
	if (np != parts) {
		free(r);
		goto one_by_one;
	}
	for (size_t i = 0, j = 0; i < n; i++) {
		if (!*f[i])
			continue;
		free(*f[i]);
		*f[i] = xstrdup(piece[j++]);
	}
	*count += k;
	free(r);
	buf_release(&b);
	return;
one_by_one:
	buf_release(&b);
	for (size_t i = 0; i < n; i++)
		kb__redact_in_place(f[i], count);
}

/* Redacts every text field of p and the files (not yet normalised) in one
 * call; a tag that held a secret becomes "redacted". */
static void redact_entry(struct prep *p, char **files)
{
	char *tag[KB_TAGS_MAX], *orig[KB_TAGS_MAX];
	size_t nt = 0;
	for (char *q = p->tags, *e; q && *q && nt < KB_TAGS_MAX; q = e + (*e ? 1 : 0)) {
		e = strchr(q, ' ');
		if (!e)
			e = q + strlen(q);
		orig[nt] = xstrndup(q, (size_t)(e - q));
		tag[nt] = xstrdup(orig[nt]);
		nt++;
	}
	char **f[6 + KB_TAGS_MAX] = {&p->title,     &p->body,        files,
				     &p->signature, &p->sig_general, &p->fix_key};
	for (size_t i = 0; i < nt; i++)
		f[6 + i] = &tag[i];
	redact_fields(f, 6 + nt, &p->redactions);
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	for (size_t i = 0; i < nt; i++) {
		const char *t = strcmp(tag[i], orig[i]) == 0 ? tag[i] : "redacted";
		char probe[KB_TAG_MAX + 3];
		snprintf(probe, sizeof probe, " %s ", t);
		char *hay = xasprintf(" %s ", b.data);
		if (!strstr(hay, probe)) {
			if (b.len)
				buf_addch(&b, ' ');
			buf_addstr(&b, t);
		}
		free(hay);
		free(tag[i]);
		free(orig[i]);
	}
	if (nt) {
		free(p->tags);
		p->tags = buf_detach(&b, NULL);
	}
}

/* Validates and normalises in, then redacts and hashes it. lenient (learned
 * text) cuts and cleans instead of refusing. Pure: any thread. On failure
 * returns CAIRN_E_INVALID with the reason in err; p is then empty. */
int kb__prep_make(const struct raw *in, bool lenient, struct prep *p, struct cairn_err *err)
{
	int r;
	char *files = NULL;
	memset(p, 0, sizeof *p);
	if (!(p->kind = kb_kind_parse(in->kind))) {
		r = fail(err, "kind: must be decision, mistake, pattern, fix or note");
		goto out_fail;
	}
	if ((r = prep_title(in->title, lenient, &p->title, err)) ||
	    (r = prep_body(in->body, lenient, &p->body, err)) ||
	    (r = prep_tags(in->tags, &p->tags, err)) ||
	    (r = prep_files(in->files, lenient, false, &files, err)) ||
	    (r = prep_project(in->project, &p->project, err)) ||
	    (r = prep_opt("signature", in->signature, lenient, &p->signature, err)) ||
	    (r = prep_opt("sig_general", in->sig_general, lenient, &p->sig_general, err)) ||
	    (r = prep_opt("fix_key", in->fix_key, lenient, &p->fix_key, err)) ||
	    (r = prep_sources(in->sources, &p->sources, err)))
		goto out_fail;
	redact_entry(p, &files);
	/* What redaction left is normalised again, so that a second pass (an
	 * import of an export) finds nothing to change. */
	trim(p->title, true);
	trim(p->body, false);
	if ((r = prep_files(files, lenient, true, &p->files, err)) ||
	    (r = limit_field("title", p->title, KB_TITLE_MAX, lenient, p->redactions, err)) ||
	    (r = limit_field("body", p->body, KB_BODY_MAX, lenient, p->redactions, err)) ||
	    (r = limit_field("signature", p->signature, KB_SIG_MAX, lenient, p->redactions, err)) ||
	    (r = limit_field("sig_general", p->sig_general, KB_SIG_MAX, lenient, p->redactions,
			     err)) ||
	    (r = limit_field("fix_key", p->fix_key, KB_SIG_MAX, lenient, p->redactions, err)))
		goto out_fail;
	if (lenient) {
		trim(p->title, true);
		trim(p->body, false);
		if (!*p->title) {
			r = fail(err, "title: must not be empty");
			goto out_fail;
		}
	}
	free(files);
	kb__hash_key(p->hash, p->kind, p->project, p->title, p->body, p->signature, p->fix_key);
	return 0;
out_fail:
	free(files);
	kb__prep_release(p);
	return r;
}
