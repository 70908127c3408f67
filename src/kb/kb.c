/* The knowledge base on SQLite + FTS5: validation, redaction and exact-duplicate
 * detection on the way in; ranked full-text search, fixes by error signature,
 * JSON Lines export and import on the way out. */
#include "kb/kb.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/timefmt.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "kb/redact.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Search ranks matches in windows of this many (the newest first), so that a
 * word found in half the entries costs no more than one found in a few
 * thousand. Fewer matches than this are ranked all at once. */
#define RANK_WINDOW 300
/* Query words this long or longer are prefixes. */
#define PREFIX_MIN 4
/* Document frequencies are counted up to this many (a word in more entries
 * than that is common whatever the exact count). */
#define DF_CAP 2000
/* Tier 3 of kb_fixes_for() ranks the matches of its rarest words, up to this
 * many entries. */
#define FIX_TEXT_MATCHES 1000
/* Import commits after this many lines (or CHUNK_BYTES of them). */
#define CHUNK_LINES 1000
#define CHUNK_BYTES (16u << 20)
#define WORD_MAX 64       /* bytes of one query word (longer ones are cut) */
#define EXAMPLE_MAX 4096  /* bytes of a signature's example */
#define SOURCE_ID_MAX 128 /* bytes of one event id in sources */
#define CHAIN_MAX 64      /* superseded_by hops followed before giving up */
#define LEARN_CONFIDENCE 0.4

static const char *const kinds[] = {"decision", "mistake", "pattern", "fix", "note"};
#define N_KINDS (sizeof kinds / sizeof kinds[0])
static const char *const states[] = {"active", "candidate", "rejected"};
#define N_STATES (sizeof states / sizeof states[0])

const char *kb_kind_parse(const char *s)
{
	for (size_t i = 0; s && i < N_KINDS; i++)
		if (strcmp(s, kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

unsigned kb_kind_bit(const char *s)
{
	for (size_t i = 0; s && i < N_KINDS; i++)
		if (strcmp(s, kinds[i]) == 0)
			return 1u << i;
	return 0;
}

const char *kb_state_parse(const char *s)
{
	for (size_t i = 0; s && i < N_STATES; i++)
		if (strcmp(s, states[i]) == 0)
			return states[i];
	return NULL;
}

/* ---- text helpers ---- */

/* The cap of the strings built here (struct buf, common/buf.h). Everything
 * they are built from is capped before it gets here (kb.h's limits; the
 * longest input, an import line, is KB_LINE_MAX), so this generous bound
 * is never reached in use: it only stops a runaway. */
#define KB_TEXT_MAX (16u * 1024 * 1024)

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

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

/* A copy of s[0..n) with invalid UTF-8 bytes replaced by '?'. */
static char *utf8_fix(const char *s, size_t n)
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

/* The largest length <= max that does not cut a UTF-8 sequence of s. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
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
		if (is_space((unsigned char)*p)) {
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
static void hash_key(char out[33], const char *kind, const char *project, const char *title,
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

/* Redacts s in place (s is a malloc'd string), adding to *count. */
static void redact_in_place(char **s, unsigned *count)
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

/* The text of an entry as given (borrowed). */
struct raw {
	const char *kind, *title, *body, *tags, *files, *project;
	const char *signature, *sig_general, *fix_key, *sources;
};

/* The same, ready to store (owned). */
struct prep {
	const char *kind;
	char *title, *body, *tags, *files, *project;
	char *signature, *sig_general, *fix_key, *sources;
	char hash[33];
	unsigned redactions;
};

static void prep_release(struct prep *p)
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

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
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
	size_t k = utf8_cut(s, n, max), plen = strlen(REDACT_MARKER_PREFIX);
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
	while (n > 0 && is_space((unsigned char)s[n - 1]))
		n--;
	while (leading && i < n && is_space((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i);
	s[n - i] = '\0';
}

static int prep_title(const char *in, bool lenient, char **out, char *err, size_t errlen)
{
	if (!in)
		return fail(err, errlen, "title: is required");
	size_t n = strlen(in);
	if (!lenient) {
		if (n > RAW_FACTOR * KB_TITLE_MAX)
			return fail(err, errlen, "title: must be at most %d bytes (it has %zu)",
			            KB_TITLE_MAX, n);
		if (!utf8_valid(in, n))
			return fail(err, errlen, "title: is not valid UTF-8");
		if (memchr(in, '\n', n) || memchr(in, '\r', n))
			return fail(err, errlen, "title: must be one line");
		/* Blanks around the title are dropped, tabs included. */
		const char *s = in;
		size_t k = n;
		while (k > 0 && is_space((unsigned char)*s))
			s++, k--;
		while (k > 0 && is_space((unsigned char)s[k - 1]))
			k--;
		if (has_ctl(s, k, false))
			return fail(err, errlen, "title: must not contain control characters");
	}
	char *t = utf8_fix(in, utf8_cut(in, n, RAW_FACTOR * KB_TITLE_MAX));
	for (char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	trim(t, true);
	if (!*t) {
		free(t);
		return fail(err, errlen, "title: must not be empty");
	}
	*out = t;
	return 0;
}

static int prep_body(const char *in, bool lenient, char **out, char *err, size_t errlen)
{
	size_t n = in ? strlen(in) : 0;
	if (!lenient) {
		if (n > RAW_FACTOR * KB_BODY_MAX)
			return fail(err, errlen, "body: must be at most %u bytes (it has %zu)",
			            KB_BODY_MAX, n);
		if (!utf8_valid(in, n))
			return fail(err, errlen, "body: is not valid UTF-8");
		if (has_ctl(in, n, true))
			return fail(err, errlen,
			            "body: must not contain control characters other "
			            "than tab and newline");
	}
	char *b = utf8_fix(in ? in : "", utf8_cut(in ? in : "", n, RAW_FACTOR * KB_BODY_MAX));
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
 * case, checked, deduplicated; joined with single spaces. (prep_make()
 * redacts each one: a tag that held a secret becomes "redacted".) */
static int prep_tags(const char *in, char **out, char *err, size_t errlen)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	size_t count = 0;
	const char *p = in ? in : "";
	while (*p) {
		while (*p && (is_space((unsigned char)*p) || *p == ','))
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && !is_space((unsigned char)*p) && *p != ',')
			p++;
		size_t n = (size_t)(p - s);
		if (*s == '#')
			s++, n--;
		if (n == 0)
			continue;
		char tag[KB_TAG_MAX + 1];
		if (n > KB_TAG_MAX) {
			buf_release(&b);
			return fail(err, errlen, "tags: '%.*s...' is longer than %d bytes", 20, s,
			            KB_TAG_MAX);
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)tolower((unsigned char)s[i]);
			if ((unsigned char)s[i] >= 0x80 || !tag_char(c)) {
				buf_release(&b);
				return fail(err, errlen,
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
			return fail(err, errlen, "tags: at most %d tags", KB_TAGS_MAX);
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
static int prep_files(const char *in, bool lenient, bool final, char **out, char *err,
                      size_t errlen)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	size_t count = 0, max = final ? KB_FILE_MAX : RAW_FACTOR * KB_FILE_MAX;
	const char *p = in ? in : "";
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		const char *s = p;
		p = e ? e + 1 : p + n;
		while (n > 0 && is_space((unsigned char)*s))
			s++, n--;
		while (n > 0 && is_space((unsigned char)s[n - 1]))
			n--;
		if (n == 0)
			continue;
		if (n > max || !utf8_valid(s, n) || has_ctl(s, n, false)) {
			if (lenient)
				continue;
			buf_release(&b);
			if (n > max)
				return fail(err, errlen, "files: a path is longer than %d bytes%s",
				            KB_FILE_MAX, final ? " (after redacting secrets)" : "");
			return fail(err, errlen,
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
			return fail(err, errlen, "files: at most %d paths", KB_FILES_MAX);
		}
		if (b.len)
			buf_addch(&b, '\n');
		buf_add(&b, s, n);
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

static int prep_project(const char *in, char **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!in || !*in)
		return 0;
	size_t n = strlen(in);
	if (in[0] != '/' || n > 4096 || !utf8_valid(in, n) || has_ctl(in, n, false))
		return fail(err, errlen,
		            "project: must be an absolute path (starting with '/') of at most 4096 "
		            "bytes");
	while (n > 1 && in[n - 1] == '/')
		n--;
	*out = xstrndup(in, n);
	return 0;
}

/* signature, sig_general, fix_key: "" means unset. */
static int prep_opt(const char *name, const char *in, bool lenient, char **out, char *err,
                    size_t errlen)
{
	*out = NULL;
	if (!in || !*in)
		return 0;
	size_t n = strlen(in);
	if (!lenient && (n > RAW_FACTOR * KB_SIG_MAX || !utf8_valid(in, n)))
		return fail(err, errlen, "%s: must be valid UTF-8 of at most %d bytes", name,
		            KB_SIG_MAX);
	*out = utf8_fix(in, utf8_cut(in, n, RAW_FACTOR * KB_SIG_MAX));
	return 0;
}

static bool source_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SOURCE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int prep_sources(const char *in, char **out, char *err, size_t errlen)
{
	if (!in || !*in) {
		*out = xstrdup("[]");
		return 0;
	}
	json_t *a = json_loads(in, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(a) || json_array_size(a) > KB_SOURCES_MAX) {
		json_decref(a);
		return fail(err, errlen, "sources: must be a JSON array of at most %d event ids",
		            KB_SOURCES_MAX);
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);
		if (!json_is_string(v) || !source_id_ok(json_string_value(v))) {
			json_decref(a);
			return fail(err, errlen,
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
                       char *err, size_t errlen)
{
	size_t n = s ? strlen(s) : 0;
	if (n <= max)
		return 0;
	if (lenient) {
		s[safe_cut(s, n, max)] = '\0';
		return 0;
	}
	return fail(err, errlen, "%s: must be at most %zu bytes (it has %zu%s)", name, max, n,
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
		redact_in_place(f[i], count);
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
static int prep_make(const struct raw *in, bool lenient, struct prep *p, char *err, size_t errlen)
{
	int r;
	char *files = NULL;
	memset(p, 0, sizeof *p);
	if (!(p->kind = kb_kind_parse(in->kind))) {
		r = fail(err, errlen, "kind: must be decision, mistake, pattern, fix or note");
		goto out_fail;
	}
	if ((r = prep_title(in->title, lenient, &p->title, err, errlen)) ||
	    (r = prep_body(in->body, lenient, &p->body, err, errlen)) ||
	    (r = prep_tags(in->tags, &p->tags, err, errlen)) ||
	    (r = prep_files(in->files, lenient, false, &files, err, errlen)) ||
	    (r = prep_project(in->project, &p->project, err, errlen)) ||
	    (r = prep_opt("signature", in->signature, lenient, &p->signature, err, errlen)) ||
	    (r = prep_opt("sig_general", in->sig_general, lenient, &p->sig_general, err, errlen)) ||
	    (r = prep_opt("fix_key", in->fix_key, lenient, &p->fix_key, err, errlen)) ||
	    (r = prep_sources(in->sources, &p->sources, err, errlen)))
		goto out_fail;
	redact_entry(p, &files);
	/* What redaction left is normalised again, so that a second pass (an
	 * import of an export) finds nothing to change. */
	trim(p->title, true);
	trim(p->body, false);
	if ((r = prep_files(files, lenient, true, &p->files, err, errlen)) ||
	    (r = limit_field("title", p->title, KB_TITLE_MAX, lenient, p->redactions, err,
	                     errlen)) ||
	    (r = limit_field("body", p->body, KB_BODY_MAX, lenient, p->redactions, err, errlen)) ||
	    (r = limit_field("signature", p->signature, KB_SIG_MAX, lenient, p->redactions, err,
	                     errlen)) ||
	    (r = limit_field("sig_general", p->sig_general, KB_SIG_MAX, lenient, p->redactions, err,
	                     errlen)) ||
	    (r = limit_field("fix_key", p->fix_key, KB_SIG_MAX, lenient, p->redactions, err,
	                     errlen)))
		goto out_fail;
	if (lenient) {
		trim(p->title, true);
		trim(p->body, false);
		if (!*p->title) {
			r = fail(err, errlen, "title: must not be empty");
			goto out_fail;
		}
	}
	free(files);
	hash_key(p->hash, p->kind, p->project, p->title, p->body, p->signature, p->fix_key);
	return 0;
out_fail:
	free(files);
	prep_release(p);
	return r;
}

/* ---- the handle ---- */

enum stmt_id {
	S_GET_ID,
	S_GET_UID,
	S_BY_HASH,
	S_INSERT,
	S_UPDATE_CONTENT,
	S_REPLACE,
	S_SUPER_OF,
	S_SET_SUPER,
	S_SET_SUPER_QUIET,
	S_FORGET,
	S_UNFORGET,
	S_EXISTS,
	S_CONFIRM,
	S_REJECT,
	S_USED,
	S_UID_LOOKUP,
	S_PURGE_COUNT,
	S_PURGE_REWIRE,
	S_PURGE_UNLINK,
	S_PURGE_DELETE,
	S_SIG_UPSERT,
	S_LEARN_SIG,
	S_LEARN_GEN,
	S_RECUR,
	S_FIX_SIG,
	S_FIX_GEN,
	S_FIX_ELIGIBLE,
	S_DF,
	S_MAXID,
	N_STMTS
};

/* The columns every entry is read with, in the order entry_from_row() reads. */
#define COLS                                                                                       \
	"k.id,k.uid,k.kind,k.title,k.body,k.tags,k.files,k.project,k.created_ms,k.updated_ms,"     \
	"k.superseded_by,(SELECT s.uid FROM knowledge s WHERE s.id=k.superseded_by),k.uses,"       \
	"k.last_used_ms,k.confidence,k.state,k.forgotten_ms,k.signature,k.sig_general,k.fix_key,"  \
	"k.sources"
#define FIX_KINDS "k.kind IN ('fix','mistake','pattern')"
#define FIX_ELIGIBLE                                                                               \
	FIX_KINDS " AND k.state!='rejected' AND k.forgotten_ms IS NULL AND (k.project IS NULL OR " \
	          "k.project=?2)"
#define FIX_ORDER                                                                                  \
	" ORDER BY (k.superseded_by IS NOT NULL), k.confidence DESC, k.uses DESC, k.updated_ms "   \
	"DESC, k.id DESC"

static const char *const stmt_sql[N_STMTS] = {
    [S_GET_ID] = "SELECT " COLS " FROM knowledge k WHERE k.id=?1",
    [S_GET_UID] = "SELECT " COLS " FROM knowledge k WHERE k.uid=?1",
    [S_BY_HASH] = "SELECT id, forgotten_ms FROM knowledge WHERE hash=?1",
    [S_INSERT] = "INSERT INTO knowledge(uid,kind,title,body,tags,files,project,created_ms,"
                 "updated_ms,uses,last_used_ms,confidence,state,forgotten_ms,signature,"
                 "sig_general,fix_key,sources,hash)"
                 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
                 " ON CONFLICT DO NOTHING",
    [S_UPDATE_CONTENT] = "UPDATE knowledge SET kind=?2,title=?3,body=?4,tags=?5,files=?6,"
                         "project=?7,hash=?8,updated_ms=?9 WHERE id=?1",
    [S_REPLACE] = "UPDATE knowledge SET kind=?2,title=?3,body=?4,tags=?5,files=?6,project=?7,"
                  "created_ms=?8,updated_ms=?9,uses=?10,last_used_ms=?11,confidence=?12,"
                  "state=?13,forgotten_ms=?14,signature=?15,sig_general=?16,fix_key=?17,"
                  "sources=?18,hash=?19,superseded_by=NULL WHERE id=?1",
    [S_SUPER_OF] = "SELECT superseded_by FROM knowledge WHERE id=?1",
    [S_SET_SUPER] = "UPDATE knowledge SET superseded_by=?2, updated_ms=?3 WHERE id=?1",
    [S_SET_SUPER_QUIET] = "UPDATE knowledge SET superseded_by=?2 WHERE id=?1",
    [S_FORGET] = "UPDATE knowledge SET forgotten_ms=?2, updated_ms=?2 WHERE id=?1 AND "
                 "forgotten_ms IS NULL",
    [S_UNFORGET] = "UPDATE knowledge SET forgotten_ms=NULL, updated_ms=?2 WHERE id=?1 AND "
                   "forgotten_ms IS NOT NULL",
    [S_EXISTS] = "SELECT 1 FROM knowledge WHERE id=?1",
    [S_CONFIRM] = "UPDATE knowledge SET state='active', confidence=confidence+(1-confidence)*0.5,"
                  " uses=uses+1, last_used_ms=?2, updated_ms=?2 WHERE id=?1",
    [S_REJECT] = "UPDATE knowledge SET state='rejected', updated_ms=?2 WHERE id=?1 AND "
                 "state!='rejected'",
    [S_USED] = "UPDATE knowledge SET uses=uses+1, last_used_ms=?2 WHERE id=?1",
    [S_UID_LOOKUP] = "SELECT id, updated_ms FROM knowledge WHERE uid=?1",
    [S_PURGE_COUNT] = "SELECT count(*) FROM knowledge WHERE forgotten_ms IS NOT NULL AND "
                      "forgotten_ms < ?1",
    [S_PURGE_REWIRE] =
        "UPDATE knowledge SET superseded_by=(SELECT p.superseded_by FROM knowledge p WHERE "
        "p.id=knowledge.superseded_by) WHERE superseded_by IN (SELECT id FROM knowledge "
        "WHERE forgotten_ms IS NOT NULL AND forgotten_ms < ?1)",
    [S_PURGE_UNLINK] = "UPDATE knowledge SET superseded_by=NULL WHERE superseded_by=id OR "
                       "superseded_by IN (SELECT id FROM knowledge WHERE forgotten_ms IS NOT "
                       "NULL AND forgotten_ms < ?1)",
    [S_PURGE_DELETE] = "DELETE FROM knowledge WHERE forgotten_ms IS NOT NULL AND forgotten_ms "
                       "< ?1",
    [S_SIG_UPSERT] = "INSERT INTO signatures(sig,general,example,first_ms,last_ms,count)"
                     " VALUES(?1,?2,?3,?4,?4,1) ON CONFLICT(sig) DO UPDATE SET"
                     " count=count+1, last_ms=max(last_ms,excluded.last_ms)",
    [S_LEARN_SIG] = "SELECT id FROM knowledge WHERE signature=?1 AND fix_key=?2 AND project "
                    "IS ?3 AND forgotten_ms IS NULL ORDER BY (superseded_by IS NOT NULL), "
                    "updated_ms DESC, id DESC LIMIT 1",
    [S_LEARN_GEN] = "SELECT id FROM knowledge WHERE sig_general=?1 AND fix_key=?2 AND project "
                    "IS ?3 AND forgotten_ms IS NULL ORDER BY (superseded_by IS NOT NULL), "
                    "updated_ms DESC, id DESC LIMIT 1",
    [S_RECUR] = "UPDATE knowledge SET uses=uses+1, confidence=?2, sources=?3, updated_ms=?4,"
                " body=?5, hash=?6 WHERE id=?1",
    [S_FIX_SIG] =
        "SELECT k.id FROM knowledge k WHERE k.signature=?1 AND " FIX_ELIGIBLE FIX_ORDER " LIMIT ?3",
    [S_FIX_GEN] = "SELECT k.id FROM knowledge k WHERE k.sig_general=?1 AND " FIX_ELIGIBLE FIX_ORDER
                  " LIMIT ?3",
    [S_FIX_ELIGIBLE] = "SELECT 1 FROM knowledge k WHERE k.id=?1 AND " FIX_ELIGIBLE,
    [S_DF] = "SELECT count(*) FROM (SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ?1"
             " LIMIT ?2)",
    [S_MAXID] = "SELECT max(id) FROM knowledge",
};

/* The connection and its cached statements belong to the one thread using
 * the kb at a time. */
struct kb {
	sqlite3 *db;
	bool owned;    /* kb_close() closes db */
	bool tx_outer; /* the current transaction is ours (not a savepoint) */
	int64_t forget_ms;
	unsigned redactions;
	sqlite3_stmt *st[N_STMTS];
	char err[1024];
};

const char *kb_errmsg(const struct kb *kb)
{
	return kb->err;
}
unsigned kb_redactions(const struct kb *kb)
{
	return kb->redactions;
}
int64_t kb_forget_window_ms(const struct kb *kb)
{
	return kb->forget_ms;
}

static int seterr(struct kb *kb, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(struct kb *kb, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(kb->err, sizeof kb->err, fmt, ap);
	va_end(ap);
	return code;
}

static int sqlerr(struct kb *kb, const char *what)
{
	int code = sqlite3_errcode(kb->db);
	return seterr(kb, CAIRN_E_STORE, "%s: %s%s", what, sqlite3_errmsg(kb->db),
	              code == SQLITE_BUSY ? " (another process holds the database; try again)"
	                                  : "");
}

/* The cached statement i, reset and with no bindings; NULL after setting the
 * error. */
static sqlite3_stmt *stmt(struct kb *kb, enum stmt_id i)
{
	if (!kb->st[i]) {
		if (sqlite3_prepare_v3(kb->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &kb->st[i], NULL) != SQLITE_OK) {
			sqlerr(kb, "cannot prepare a knowledge base query");
			return NULL;
		}
	}
	sqlite3_reset(kb->st[i]);
	sqlite3_clear_bindings(kb->st[i]);
	return kb->st[i];
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
	if (ms)
		sqlite3_bind_int64(st, i, ms);
	else
		sqlite3_bind_null(st, i);
}

/* Steps a statement that returns no row (or whose rows are ignored) and
 * resets it. */
static int run(struct kb *kb, sqlite3_stmt *st, const char *what)
{
	if (!st)
		return CAIRN_E_STORE;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sqlerr(kb, what);
}

/* Steps a statement for one integer; returns 1 with *v set, 0 when no row,
 * or CAIRN_E_STORE. Resets it. */
static int one_int(struct kb *kb, sqlite3_stmt *st, int64_t *v, const char *what)
{
	if (!st)
		return CAIRN_E_STORE;
	int rc = sqlite3_step(st), r = 0;
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		r = 1;
	} else if (rc != SQLITE_DONE) {
		r = sqlerr(kb, what);
	}
	sqlite3_reset(st);
	return r;
}

static int exec(struct kb *kb, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(kb->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		seterr(kb, CAIRN_E_STORE, "%s: %s", sql, msg ? msg : sqlite3_errmsg(kb->db));
		sqlite3_free(msg);
		return CAIRN_E_STORE;
	}
	return 0;
}

/* A write transaction: BEGIN IMMEDIATE (so the busy timeout covers taking the
 * write lock), or a savepoint inside the owner's transaction. Not nested. */
static int tx_begin(struct kb *kb)
{
	kb->tx_outer = sqlite3_get_autocommit(kb->db) != 0;
	return exec(kb, kb->tx_outer ? "BEGIN IMMEDIATE" : "SAVEPOINT kb_tx");
}

static int tx_commit(struct kb *kb)
{
	int r = exec(kb, kb->tx_outer ? "COMMIT" : "RELEASE kb_tx");
	if (r) {
		char keep[sizeof kb->err];
		memcpy(keep, kb->err, sizeof keep);
		exec(kb, kb->tx_outer ? "ROLLBACK" : "ROLLBACK TO kb_tx; RELEASE kb_tx");
		memcpy(kb->err, keep, sizeof keep);
	}
	return r;
}

static void tx_rollback(struct kb *kb)
{
	char keep[sizeof kb->err];
	memcpy(keep, kb->err, sizeof keep);
	if (kb->tx_outer) {
		if (!sqlite3_get_autocommit(kb->db))
			exec(kb, "ROLLBACK");
	} else {
		exec(kb, "ROLLBACK TO kb_tx; RELEASE kb_tx");
	}
	memcpy(kb->err, keep, sizeof keep);
}

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

static void entry_from_row(sqlite3_stmt *st, struct kb_entry *e)
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
	sqlite3_stmt *st = stmt(kb, which);
	if (!st)
		return CAIRN_E_STORE;
	if (uid)
		bind_text(st, 1, uid);
	else
		sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st), r = 0;
	if (rc == SQLITE_ROW)
		entry_from_row(st, out);
	else if (rc == SQLITE_DONE)
		r = uid ? seterr(kb, CAIRN_E_NOTFOUND, "no entry with uid %s", uid)
		        : seterr(kb, CAIRN_E_NOTFOUND, "no entry %lld", (long long)id);
	else
		r = sqlerr(kb, "cannot read an entry");
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
	sqlite3_stmt *st = stmt(kb, S_EXISTS);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, id);
	int64_t v;
	int r = one_int(kb, st, &v, "cannot read an entry");
	if (r == 0)
		return seterr(kb, CAIRN_E_NOTFOUND, "no entry %lld", (long long)id);
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
			return seterr(kb, CAIRN_E_INVALID, "'%s' is not an entry id or uid", ref);
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
		return seterr(kb, CAIRN_E_INVALID,
		              "'%s' is not an entry id (a number) or uid (26 characters)",
		              ref ? ref : "");
	sqlite3_stmt *st = stmt(kb, S_UID_LOOKUP);
	if (!st)
		return CAIRN_E_STORE;
	bind_text(st, 1, up);
	int r = one_int(kb, st, id, "cannot look up an entry");
	if (r == 0)
		return seterr(kb, CAIRN_E_NOTFOUND, "no entry with uid %s", up);
	return r < 0 ? r : 0;
}

/* ---- ranking ---- */

/* Column weights of the ranking: title, tags, body, files (the order of
 * knowledge_fts's columns). */
static const double col_weight[4] = {10.0, 5.0, 1.0, 2.0};
#define BM25_K1 1.2
#define BM25_B 0.75

/* What kb_rank() computes once per query. */
struct rank_aux {
	int nphrase;
	double avgdl;
	double idf[KB_QUERY_WORDS];
};

/* kb_rank(knowledge_fts, df1, df2, ...): FTS5's bm25 formula (k1 1.2, b
 * 0.75, term frequency weighted by column, document length from the index),
 * higher is better, except that each phrase's document frequency is passed
 * in instead of counted by scanning its whole doclist, which is what makes
 * FTS5's own bm25() slow for common words (kb_search() passes counts capped
 * at DF_CAP; a missing count means 1). */
static void kb_rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                       int nval, sqlite3_value **val)
{
	struct rank_aux *aux = api->xGetAuxdata(fts, 0);
	if (!aux) {
		sqlite3_int64 rows = 0, total = 0;
		aux = sqlite3_malloc(sizeof *aux);
		if (!aux) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		aux->nphrase = api->xPhraseCount(fts);
		if (aux->nphrase > KB_QUERY_WORDS)
			aux->nphrase = KB_QUERY_WORDS;
		if (api->xRowCount(fts, &rows) != SQLITE_OK || rows < 1)
			rows = 1;
		if (api->xColumnTotalSize(fts, -1, &total) != SQLITE_OK)
			total = 0;
		aux->avgdl = total > 0 ? (double)total / (double)rows : 1.0;
		for (int p = 0; p < aux->nphrase; p++) {
			double df = p < nval ? sqlite3_value_double(val[p]) : 1.0;
			if (df < 1)
				df = 1;
			double idf = log(((double)rows - df + 0.5) / (df + 0.5));
			aux->idf[p] = idf > 1e-6 ? idf : 1e-6;
		}
		if (api->xSetAuxdata(fts, aux, sqlite3_free) != SQLITE_OK) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
	}
	int dl = 0;
	if (api->xColumnSize(fts, -1, &dl) != SQLITE_OK)
		dl = 0;
	double norm = BM25_K1 * (1 - BM25_B + BM25_B * (double)dl / aux->avgdl), score = 0;
	for (int p = 0; p < aux->nphrase; p++) {
		Fts5PhraseIter it;
		int col = -1, off = 0;
		double f = 0;
		if (api->xPhraseFirst(fts, p, &it, &col, &off) != SQLITE_OK)
			continue;
		while (col >= 0) {
			f += col < 4 ? col_weight[col] : 1.0;
			api->xPhraseNext(fts, &it, &col, &off);
		}
		if (f > 0)
			score += aux->idf[p] * f * (BM25_K1 + 1) / (f + norm);
	}
	sqlite3_result_double(ctx, score);
}

/* Registers kb_rank() on the connection (once per connection; a second
 * registration replaces the first). */
static int register_rank(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	if (!api || api->xCreateFunction(api, "kb_rank", NULL, kb_rank_fn, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	return 0;
}

/* ---- opening and purging ---- */

static int kb_wrap(sqlite3 *db, bool owned, int64_t forget_ms, struct kb **out, char *errbuf,
                   size_t errlen)
{
	sqlite3_stmt *st;
	bool ok = false;
	if (sqlite3_prepare_v2(
	        db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='knowledge'", -1, &st,
	        NULL) == SQLITE_OK) {
		ok = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	if (!ok) {
		snprintf(errbuf, errlen,
		         "the database has no knowledge base (schema older than migration 2); "
		         "open it once read-write with this cairn");
		return CAIRN_E_VERSION;
	}
	if (register_rank(db)) {
		snprintf(errbuf, errlen,
		         "cannot register the ranking function: this SQLite has no "
		         "FTS5");
		return CAIRN_E_STORE;
	}
	struct kb *kb = xcalloc(1, sizeof *kb);
	kb->db = db;
	kb->owned = owned;
	/* A connection of our own may use memory for speed: search touches the
	 * same index pages again and again. (Someone else's we leave alone.) */
	if (owned)
		sqlite3_exec(db, "PRAGMA cache_size=-32768; PRAGMA mmap_size=268435456;", NULL,
		             NULL, NULL);
	kb->forget_ms = forget_ms > 0 ? forget_ms : KB_FORGET_DEFAULT_MS;
	if (!sqlite3_db_readonly(db, "main")) {
		/* Best effort: a busy database only delays the purge. */
		if (kb_purge(kb, clock_wall_ms() - kb->forget_ms, NULL))
			log_debug("kb: purge skipped: %s", kb->err);
		kb->err[0] = '\0';
	}
	*out = kb;
	return 0;
}

int kb_open(const char *db_path, bool readonly, int64_t forget_ms, struct kb **out, char *errbuf,
            size_t errlen)
{
	sqlite3 *db = NULL;
	*out = NULL;
	int r = store_db_open(db_path, readonly, &db, errbuf, errlen);
	if (r)
		return r;
	if ((r = kb_wrap(db, true, forget_ms, out, errbuf, errlen)))
		sqlite3_close(db);
	return r;
}

int kb_open_db(sqlite3 *db, int64_t forget_ms, struct kb **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	return kb_wrap(db, false, forget_ms, out, errbuf, errlen);
}

void kb_close(struct kb *kb)
{
	if (!kb)
		return;
	for (int i = 0; i < N_STMTS; i++)
		sqlite3_finalize(kb->st[i]);
	if (kb->owned)
		sqlite3_close(kb->db);
	free(kb);
}

int kb_purge(struct kb *kb, int64_t older_than_ms, size_t *purged)
{
	int r;
	int64_t n = 0;
	if (purged)
		*purged = 0;
	/* Count first, so that a purge with nothing to do takes no write lock. */
	sqlite3_stmt *st = stmt(kb, S_PURGE_COUNT);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, older_than_ms);
	if ((r = one_int(kb, st, &n, "cannot count forgotten entries")) < 0)
		return r;
	if (n == 0)
		return 0;
	if ((r = tx_begin(kb)))
		return r;
	/* Whatever a purged entry superseded is re-pointed to what replaced the
	 * purged one (following chains of purged entries a few steps). */
	for (int i = 0; i < 8; i++) {
		if (!(st = stmt(kb, S_PURGE_REWIRE))) {
			r = CAIRN_E_STORE;
			goto out_rollback;
		}
		sqlite3_bind_int64(st, 1, older_than_ms);
		if ((r = run(kb, st, "cannot purge forgotten entries")))
			goto out_rollback;
		if (sqlite3_changes(kb->db) == 0)
			break;
	}
	if (!(st = stmt(kb, S_PURGE_UNLINK))) {
		r = CAIRN_E_STORE;
		goto out_rollback;
	}
	sqlite3_bind_int64(st, 1, older_than_ms);
	if ((r = run(kb, st, "cannot purge forgotten entries")))
		goto out_rollback;
	if (!(st = stmt(kb, S_PURGE_DELETE))) {
		r = CAIRN_E_STORE;
		goto out_rollback;
	}
	sqlite3_bind_int64(st, 1, older_than_ms);
	if ((r = run(kb, st, "cannot purge forgotten entries")))
		goto out_rollback;
	n = sqlite3_changes(kb->db);
	if ((r = tx_commit(kb)))
		return r;
	if (purged)
		*purged = (size_t)n;
	return 0;
out_rollback:
	tx_rollback(kb);
	return r;
}

/* ---- adding and changing ---- */

/* Looks up the entry with this hash: 1 with *id (and *forgotten), 0 if none. */
static int by_hash(struct kb *kb, const char *hash, int64_t *id, int64_t *forgotten)
{
	sqlite3_stmt *st = stmt(kb, S_BY_HASH);
	if (!st)
		return CAIRN_E_STORE;
	bind_text(st, 1, hash);
	int rc = sqlite3_step(st), r = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		if (forgotten)
			*forgotten = sqlite3_column_int64(st, 1);
		r = 1;
	} else if (rc != SQLITE_DONE) {
		r = sqlerr(kb, "cannot look up duplicates");
	}
	sqlite3_reset(st);
	return r;
}

/* What an insert stores beyond the prepared text. */
struct meta {
	const char *uid;
	int64_t created_ms, updated_ms, uses, last_used_ms, forgotten_ms;
	double confidence;
	const char *state;
};

/* Inserts an entry: 0 and *id, 1 when an entry with its uid or hash exists
 * (nothing inserted), or CAIRN_E_STORE. */
static int insert(struct kb *kb, const struct prep *p, const struct meta *m, int64_t *id)
{
	sqlite3_stmt *st = stmt(kb, S_INSERT);
	if (!st)
		return CAIRN_E_STORE;
	bind_text(st, 1, m->uid);
	bind_text(st, 2, p->kind);
	bind_text(st, 3, p->title);
	bind_text(st, 4, p->body);
	bind_text(st, 5, p->tags);
	bind_text(st, 6, p->files);
	bind_text(st, 7, p->project);
	sqlite3_bind_int64(st, 8, m->created_ms);
	sqlite3_bind_int64(st, 9, m->updated_ms);
	sqlite3_bind_int64(st, 10, m->uses);
	bind_time(st, 11, m->last_used_ms);
	sqlite3_bind_double(st, 12, m->confidence);
	bind_text(st, 13, m->state);
	bind_time(st, 14, m->forgotten_ms);
	bind_text(st, 15, p->signature);
	bind_text(st, 16, p->sig_general);
	bind_text(st, 17, p->fix_key);
	bind_text(st, 18, p->sources);
	bind_text(st, 19, p->hash);
	int r = run(kb, st, "cannot add the entry");
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
		return seterr(kb, CAIRN_E_INVALID, "state: must be active, candidate or rejected");
	if ((r = prep_make(&raw, false, &p, kb->err, sizeof kb->err)))
		return r;
	kb->redactions = p.redactions;
	if ((r = tx_begin(kb)))
		goto out_free;
	int64_t old = 0, forgotten = 0;
	if ((r = by_hash(kb, p.hash, &old, &forgotten)) < 0)
		goto out_rollback;
	if (r == 1) {
		if (forgotten) {
			sqlite3_stmt *st = stmt(kb, S_UNFORGET);
			if (!st) {
				r = CAIRN_E_STORE;
				goto out_rollback;
			}
			sqlite3_bind_int64(st, 1, old);
			sqlite3_bind_int64(st, 2, now_ms);
			if ((r = run(kb, st, "cannot restore the entry")))
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
		    .confidence = in->confidence > 0 && in->confidence <= 1 ? in->confidence : 0.5,
		    .state = state,
		};
		if ((r = insert(kb, &p, &m, id)) == 1)
			r = seterr(kb, CAIRN_E_STORE, "cannot add the entry: its uid is taken");
		if (r)
			goto out_rollback;
	}
	r = tx_commit(kb);
	if (r)
		*id = 0, *duplicate = false;
	goto out_free;
out_rollback:
	tx_rollback(kb);
out_free:
	prep_release(&p);
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
	if ((r = prep_make(&raw, false, &p, kb->err, sizeof kb->err)))
		goto out_entry;
	kb->redactions = p.redactions;
	if (p.kind == cur.kind && same(p.title, cur.title) && same(p.body, cur.body) &&
	    same(p.tags, cur.tags) && same(p.files, cur.files) && same(p.project, cur.project))
		goto out_prep;
	if ((r = tx_begin(kb)))
		goto out_prep;
	int64_t other = 0;
	if ((r = by_hash(kb, p.hash, &other, NULL)) < 0)
		goto out_rollback;
	if (r == 1 && other != id) {
		r = seterr(kb, CAIRN_E_INVALID,
		           "the edited entry would be identical to entry %lld; supersede or forget "
		           "one of them instead",
		           (long long)other);
		goto out_rollback;
	}
	sqlite3_stmt *st = stmt(kb, S_UPDATE_CONTENT);
	if (!st) {
		r = CAIRN_E_STORE;
		goto out_rollback;
	}
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, p.kind);
	bind_text(st, 3, p.title);
	bind_text(st, 4, p.body);
	bind_text(st, 5, p.tags);
	bind_text(st, 6, p.files);
	bind_text(st, 7, p.project);
	bind_text(st, 8, p.hash);
	sqlite3_bind_int64(st, 9, now_ms);
	if ((r = run(kb, st, "cannot update the entry")))
		goto out_rollback;
	if ((r = tx_commit(kb)))
		goto out_prep;
	if (changed)
		*changed = true;
	goto out_prep;
out_rollback:
	tx_rollback(kb);
out_prep:
	prep_release(&p);
out_entry:
	kb_entry_release(&cur);
	return r;
}

static int superseded_by(struct kb *kb, int64_t id, int64_t *next)
{
	sqlite3_stmt *st = stmt(kb, S_SUPER_OF);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, id);
	*next = 0;
	int r = one_int(kb, st, next, "cannot read an entry");
	return r < 0 ? r : 0;
}

/* Would pointing `from` at `to` close a cycle? 1 yes, 0 no, or an error. */
static int makes_cycle(struct kb *kb, int64_t from, int64_t to)
{
	int64_t cur = to;
	for (int i = 0; cur && i < 100000; i++) {
		if (cur == from)
			return 1;
		int r = superseded_by(kb, cur, &cur);
		if (r)
			return r;
	}
	return 0;
}

int kb_supersede(struct kb *kb, int64_t old_id, int64_t new_id, int64_t now_ms)
{
	int r;
	if (old_id == new_id)
		return seterr(kb, CAIRN_E_INVALID, "an entry cannot supersede itself");
	if ((r = tx_begin(kb)))
		return r;
	if ((r = exists(kb, old_id)) || (new_id && (r = exists(kb, new_id))))
		goto out_rollback;
	if (new_id && (r = makes_cycle(kb, old_id, new_id)) != 0) {
		if (r == 1)
			r = seterr(kb, CAIRN_E_INVALID,
			           "entry %lld is already superseded, directly or through others, "
			           "by entry %lld; that would make a cycle",
			           (long long)new_id, (long long)old_id);
		goto out_rollback;
	}
	sqlite3_stmt *st = stmt(kb, S_SET_SUPER);
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
	if ((r = run(kb, st, "cannot supersede the entry")))
		goto out_rollback;
	return tx_commit(kb);
out_rollback:
	tx_rollback(kb);
	return r;
}

/* Runs one of the single-entry updates; an update that changed no row is
 * fine if the entry exists (it was already in that state). */
static int simple_update(struct kb *kb, enum stmt_id which, int64_t id, int64_t now_ms,
                         const char *what)
{
	sqlite3_stmt *st = stmt(kb, which);
	if (!st)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_ms);
	int r = run(kb, st, what);
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
		char *fixed = utf8_fix(s, strlen(s));
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

/* The dump flags of every JSON line cairn writes for an entry: 12
 * significant digits print a confidence the same way after a round trip. */
#define KB_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

/* ---- words ---- */

/* Whether code point cp separates words for FTS5's unicode61 tokenizer, as
 * far as can be told without its tables: ASCII other than letters and
 * digits, and the common blocks of punctuation and symbols. A word made only
 * of separators the tokenizer knows and this does not would match nothing;
 * the AND stage then finds nothing and the OR stage still works. */
static bool cp_separates(uint32_t cp)
{
	if (cp < 0x80)
		return !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
		         (cp >= 'A' && cp <= 'Z'));
	if (cp <= 0xbf)
		return !(cp == 0xaa || cp == 0xb5 || cp == 0xba || cp == 0xb2 || cp == 0xb3 ||
		         cp == 0xb9 || (cp >= 0xbc && cp <= 0xbe));
	return cp == 0xd7 || cp == 0xf7 || (cp >= 0x2000 && cp <= 0x206f) ||
	       (cp >= 0x20a0 && cp <= 0x20cf) || (cp >= 0x2190 && cp <= 0x2bff) ||
	       (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
	       (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff0f) ||
	       (cp >= 0x1f000 && cp <= 0x1faff) || cp == 0xfeff;
}

/* Decodes the code point at p (n bytes left): its length, or 0 if invalid. */
static size_t cp_at(const char *p, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t k = utf8_seq(u, n);
	if (k == 1)
		*cp = u[0];
	else if (k == 2)
		*cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
	else if (k == 3)
		*cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
	else if (k == 4)
		*cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
		      (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
	return k;
}

/* The next word of s[*pos..n) into out (ASCII folded to lower case, cut at
 * WORD_MAX bytes on a character boundary), with *start (may be NULL) where
 * it begins and *pos just after it; false at the end. With placeholders,
 * "<word>" is skipped whole. */
static bool next_word(const char *s, size_t n, size_t *pos, bool placeholders,
                      char out[WORD_MAX + 1], size_t *start)
{
	size_t i = *pos, len = 0;
	uint32_t cp = 0;
	/* Skip separators. */
	while (i < n) {
		if (placeholders && s[i] == '<') {
			size_t j = i + 1;
			while (j < n && j - i <= 40 &&
			       (isalnum((unsigned char)s[j]) || strchr("_.:-", s[j])))
				j++;
			if (j < n && s[j] == '>' && j > i + 1) {
				i = j + 1;
				continue;
			}
		}
		size_t k = cp_at(s + i, n - i, &cp);
		if (k && !cp_separates(cp))
			break;
		i += k ? k : 1;
	}
	if (i >= n) {
		*pos = n;
		return false;
	}
	if (start)
		*start = i;
	while (i < n) {
		size_t k = cp_at(s + i, n - i, &cp);
		if (!k || cp_separates(cp))
			break;
		if (len + k <= WORD_MAX) {
			for (size_t j = 0; j < k; j++)
				out[len++] = (char)tolower((unsigned char)s[i + j]);
		}
		i += k;
	}
	out[len] = '\0';
	*pos = i;
	return true;
}

struct words {
	char w[KB_QUERY_WORDS][WORD_MAX + 1];
	size_t n;
};

/* Words that say nothing about a failure. */
static const char *const stop_words[] = {
    "a",     "an",    "and",  "are",   "as",      "at",    "be",     "but",    "by",    "can",
    "did",   "do",    "does", "error", "for",     "from",  "had",    "has",    "have",  "if",
    "in",    "into",  "is",   "it",    "its",     "line",  "may",    "near",   "no",    "not",
    "note",  "of",    "on",   "or",    "so",      "than",  "that",   "the",    "then",  "there",
    "these", "this",  "to",   "was",   "were",    "when",  "where",  "which",  "while", "will",
    "with",  "would", "you",  "your",  "warning", "fatal", "failed", "errors", "file",  "here",
};

static bool is_stop_word(const char *w)
{
	for (size_t i = 0; i < sizeof stop_words / sizeof stop_words[0]; i++)
		if (strcmp(w, stop_words[i]) == 0)
			return true;
	return false;
}

/* The first KB_QUERY_WORDS distinct words of text. for_fixes also drops
 * <placeholders>, stop words, numbers and one-letter words. */
static void split_words(const char *text, bool for_fixes, struct words *out)
{
	out->n = 0;
	if (!text)
		return;
	size_t n = strlen(text), pos = 0;
	char w[WORD_MAX + 1];
	while (out->n < KB_QUERY_WORDS && next_word(text, n, &pos, for_fixes, w, NULL)) {
		if (!w[0])
			continue;
		if (for_fixes) {
			bool digits = true;
			for (const char *p = w; *p && digits; p++)
				digits = *p >= '0' && *p <= '9';
			if (digits || strlen(w) < 2 || is_stop_word(w))
				continue;
		}
		bool dup = false;
		for (size_t i = 0; i < out->n && !dup; i++)
			dup = strcmp(out->w[i], w) == 0;
		if (!dup)
			memcpy(out->w[out->n++], w, sizeof w);
	}
}

/* "w1"* AND "w2"* (op " AND " or " OR "); words shorter than PREFIX_MIN
 * bytes are matched whole ("go" is not every word starting with go, and a
 * short prefix would make the query merge the doclists of thousands of
 * terms). */
static char *words_expr(const struct words *w, size_t from, size_t count, const char *op,
                        bool prefix)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	for (size_t i = from; i < from + count && i < w->n; i++) {
		if (i > from)
			buf_addstr(&b, op);
		buf_addch(&b, '"');
		for (const char *p = w->w[i]; *p; p++) {
			if (*p == '"')
				buf_addch(&b, '"');
			buf_addch(&b, *p);
		}
		buf_addch(&b, '"');
		if (prefix && strlen(w->w[i]) >= PREFIX_MIN)
			buf_addch(&b, '*');
	}
	return buf_detach(&b, NULL);
}

/* ---- search ---- */

/* Filter clauses on alias k, with numbered parameters from base on. */
struct filt {
	struct buf sql;
	int n, base;
	struct {
		bool text;
		int64_t i;
		char *s;
	} b[8];
};

static void filt_text(struct filt *f, const char *clause, char *s)
{
	char buf[160];
	snprintf(buf, sizeof buf, clause, f->base + f->n);
	buf_addstr(&f->sql, buf);
	f->b[f->n].text = true;
	f->b[f->n++].s = s;
}

static void filt_int(struct filt *f, const char *clause, int64_t v)
{
	char buf[160];
	snprintf(buf, sizeof buf, clause, f->base + f->n);
	buf_addstr(&f->sql, buf);
	f->b[f->n].text = false;
	f->b[f->n++].i = v;
}

static void filt_build(struct filt *f, const struct kb_query *q, int base)
{
	memset(f, 0, sizeof *f);
	buf_init(&f->sql, KB_TEXT_MAX);
	f->base = base;
	unsigned all = (1u << N_KINDS) - 1, kinds_set = q->kinds & all;
	if (kinds_set && kinds_set != all) {
		buf_addstr(&f->sql, " AND k.kind IN (");
		bool first = true;
		for (size_t i = 0; i < N_KINDS; i++) {
			if (!(kinds_set & (1u << i)))
				continue;
			buf_addstr(&f->sql, first ? "'" : ",'");
			buf_addstr(&f->sql, kinds[i]);
			buf_addch(&f->sql, '\'');
			first = false;
		}
		buf_addch(&f->sql, ')');
	}
	if (q->scope == KB_SCOPE_GLOBAL || (q->scope == KB_SCOPE_PROJECT && !q->project))
		buf_addstr(&f->sql, " AND k.project IS NULL");
	else if (q->scope == KB_SCOPE_PROJECT)
		filt_text(f, " AND (k.project IS NULL OR k.project=?%d)", xstrdup(q->project));
	if (q->tag && *q->tag) {
		char *t = xasprintf(" %s ", q->tag[0] == '#' ? q->tag + 1 : q->tag);
		for (char *p = t; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		filt_text(f, " AND instr(' '||k.tags||' ', ?%d) > 0", t);
	}
	if (q->since_ms)
		filt_int(f, " AND k.updated_ms>=?%d", q->since_ms);
	if (q->until_ms)
		filt_int(f, " AND k.updated_ms<?%d", q->until_ms);
	if (!q->include_forgotten)
		buf_addstr(&f->sql, " AND k.forgotten_ms IS NULL");
	if (!q->include_rejected)
		buf_addstr(&f->sql, " AND k.state!='rejected'");
}

static void filt_bind(const struct filt *f, sqlite3_stmt *st)
{
	for (int i = 0; i < f->n; i++) {
		if (f->b[i].text)
			sqlite3_bind_text(st, f->base + i, f->b[i].s, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, f->base + i, f->b[i].i);
	}
}

static void filt_release(struct filt *f)
{
	for (int i = 0; i < f->n; i++)
		if (f->b[i].text)
			free(f->b[i].s);
	buf_release(&f->sql);
	memset(f, 0, sizeof *f);
}

/* A set of ids (open addressing). */
struct idset {
	int64_t *v;
	size_t cap, n;
};

/* Adds id; false if it was there already. */
static bool idset_add(struct idset *s, int64_t id)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct idset g = {xcalloc(s->cap ? s->cap * 2 : 64, sizeof(int64_t)),
		                  s->cap ? s->cap * 2 : 64, 0};
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				idset_add(&g, s->v[i]);
		free(s->v);
		*s = g;
	}
	size_t i = (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ull >> 20) & (s->cap - 1);
	while (s->v[i]) {
		if (s->v[i] == id)
			return false;
		i = (i + 1) & (s->cap - 1);
	}
	s->v[i] = id;
	s->n++;
	return true;
}

struct cand {
	int64_t id;
	int64_t sup; /* superseded_by, or 0 */
	double score;
	int stage;
};

struct cands {
	struct cand *v;
	size_t n, cap, nonsup;
};

static void cands_push(struct cands *c, const struct cand *x)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
	}
	c->v[c->n++] = *x;
	if (!x->sup)
		c->nonsup++;
}

/* A window's row as the window query returns it. */
struct wrow {
	int64_t id, sup, updated;
	double score, confidence;
	bool ok; /* passes the filters */
};

static int wrow_cmp(const void *a, const void *b)
{
	const struct wrow *x = a, *y = b;
	if ((x->sup != 0) != (y->sup != 0))
		return x->sup ? 1 : -1;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->confidence != y->confidence)
		return x->confidence > y->confidence ? -1 : 1;
	if (x->updated != y->updated)
		return x->updated > y->updated ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

/* Ranks the matches of expr in windows of RANK_WINDOW, newest first, adding
 * the ones not seen yet to c, until c holds limit entries that are not
 * superseded or the matches run out. win is the window query: ?1 expr, ?2
 * the rowid to start below; it returns the window's RANK_WINDOW newest
 * matches (id, score, superseded_by, confidence, updated_ms, passes the
 * filters), filters bound from ?3. Returns 1 when the limit was reached, 0
 * when not, or CAIRN_E_STORE. */
static int rank_stage(struct kb *kb, sqlite3_stmt *win, const char *expr, int stage,
                      const struct filt *f, size_t limit, struct cands *c, struct idset *seen)
{
	struct wrow *v = xreallocarray(NULL, RANK_WINDOW, sizeof *v);
	int64_t hi = INT64_MAX;
	int r = 0;
	for (;;) {
		size_t n = 0;
		int64_t lowest = INT64_MAX;
		int rc;
		sqlite3_reset(win);
		sqlite3_clear_bindings(win);
		bind_text(win, 1, expr);
		sqlite3_bind_int64(win, 2, hi);
		filt_bind(f, win);
		while ((rc = sqlite3_step(win)) == SQLITE_ROW && n < RANK_WINDOW) {
			struct wrow *w = &v[n++];
			w->id = sqlite3_column_int64(win, 0);
			w->score = sqlite3_column_double(win, 1);
			w->sup = sqlite3_column_int64(win, 2);
			w->confidence = sqlite3_column_double(win, 3);
			w->updated = sqlite3_column_int64(win, 4);
			w->ok = sqlite3_column_int(win, 5) != 0;
			if (w->id < lowest)
				lowest = w->id;
		}
		sqlite3_reset(win);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			r = sqlerr(kb, "cannot search");
			break;
		}
		qsort(v, n, sizeof *v, wrow_cmp);
		for (size_t i = 0; i < n; i++) {
			if (!v[i].ok || !idset_add(seen, v[i].id))
				continue;
			struct cand x = {
			    .id = v[i].id, .score = v[i].score, .sup = v[i].sup, .stage = stage};
			cands_push(c, &x);
		}
		if (c->nonsup >= limit) {
			r = 1;
			break;
		}
		if (n < RANK_WINDOW)
			break;
		hi = lowest;
	}
	free(v);
	return r;
}

/* Puts superseded candidates after non-superseded ones (keeping the order
 * within each group), then moves any entry that still precedes its
 * replacement to just after it. */
static void order_superseded(struct cands *c)
{
	if (c->n == 0)
		return;
	struct cand *v = xreallocarray(NULL, c->n, sizeof *v);
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++)
		if (!c->v[i].sup)
			v[k++] = c->v[i];
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].sup)
			v[k++] = c->v[i];
	memcpy(c->v, v, c->n * sizeof *v);
	free(v);
	/* Chains: a superseded entry may be replaced by another superseded one. */
	size_t guard = c->n * c->n + 1;
	for (size_t i = 0; i < c->n && guard > 0; guard--) {
		size_t j = i + 1;
		while (c->v[i].sup && j < c->n && c->v[j].id != c->v[i].sup)
			j++;
		if (!c->v[i].sup || j >= c->n) {
			i++;
			continue;
		}
		struct cand moved = c->v[i];
		memmove(c->v + i, c->v + i + 1, (j - i) * sizeof *c->v);
		c->v[j] = moved;
	}
}

/* A short excerpt of text: whitespace runs as one space, cut at max bytes. */
static char *excerpt(const char *text, size_t max)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	bool space = false;
	for (const char *p = text ? text : ""; *p; p++) {
		if (is_space((unsigned char)*p)) {
			space = b.len > 0;
			continue;
		}
		if (space)
			buf_addch(&b, ' ');
		space = false;
		buf_addch(&b, *p);
		if (b.len > max + 8)
			break;
	}
	if (b.len > max) {
		buf_setlen(&b, utf8_cut(b.data, b.len, max));
		buf_addstr(&b, "\xe2\x80\xa6");
	}
	return buf_detach(&b, NULL);
}

/* Does token t (lower case) match query word w, as the index would? */
static bool word_hits(const char *t, const char *w)
{
	size_t wl = strlen(w);
	return strlen(w) >= PREFIX_MIN ? strncmp(t, w, wl) == 0 : strcmp(t, w) == 0;
}

#define SNIPPET_TOKENS 16

/* The stretch of text (SNIPPET_TOKENS words) with the most query words in
 * it, each hit wrapped in the caller's markers, "…" where it was cut; NULL
 * when the text holds no query word. Built here from the row already
 * loaded: FTS5's snippet() would run the full-text query again for every
 * result, which for a common word costs milliseconds each. */
static char *make_snippet(const char *text, const struct words *w, const struct kb_query *q)
{
	size_t n = strlen(text), pos = 0, ntok = 0, cap = 0;
	struct tok {
		size_t start, end;
		int hit; /* index of the word + 1, or 0 */
	} *t = NULL;
	char word[WORD_MAX + 1];
	bool any = false;
	size_t start;
	while (next_word(text, n, &pos, false, word, &start)) {
		if (ntok == cap) {
			cap = cap ? 2 * cap : 64;
			t = xreallocarray(t, cap, sizeof *t);
		}
		t[ntok].start = start;
		t[ntok].end = pos;
		t[ntok].hit = 0;
		for (size_t i = 0; i < w->n && !t[ntok].hit; i++)
			if (word_hits(word, w->w[i]))
				t[ntok].hit = (int)i + 1;
		any |= t[ntok].hit != 0;
		ntok++;
	}
	if (!any) {
		free(t);
		return NULL;
	}
	/* The window with the most distinct words, then the most hits. */
	size_t best = 0, span = ntok < SNIPPET_TOKENS ? ntok : SNIPPET_TOKENS;
	int best_distinct = -1, best_hits = -1;
	for (size_t i = 0; i + span <= ntok; i++) {
		unsigned seen_words = 0;
		int hits = 0, distinct = 0;
		for (size_t j = i; j < i + span; j++) {
			if (!t[j].hit)
				continue;
			hits++;
			unsigned bit = 1u << ((t[j].hit - 1) & 31);
			if (!(seen_words & bit))
				distinct++, seen_words |= bit;
		}
		if (distinct > best_distinct || (distinct == best_distinct && hits > best_hits)) {
			best = i;
			best_distinct = distinct;
			best_hits = hits;
		}
	}
	/* Start a little before the first hit when the window allows. */
	size_t first = best;
	while (first < best + span && !t[first].hit)
		first++;
	if (first > best + 3 && best + span < ntok) {
		size_t shift = first - best - 3;
		if (shift > ntok - (best + span))
			shift = ntok - (best + span);
		best += shift;
	}
	const char *open = q->mark_open ? q->mark_open : "",
	           *close = q->mark_close ? q->mark_close : "";
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	if (best > 0)
		buf_addstr(&b, "\xe2\x80\xa6");
	size_t at = t[best].start;
	for (size_t j = best; j < best + span; j++) {
		for (size_t k = at; k < t[j].start; k++)
			buf_addch(&b, is_space((unsigned char)text[k]) ? ' ' : text[k]);
		if (t[j].hit)
			buf_addstr(&b, open);
		buf_add(&b, text + t[j].start, t[j].end - t[j].start);
		if (t[j].hit)
			buf_addstr(&b, close);
		at = t[j].end;
	}
	if (best + span < ntok)
		buf_addstr(&b, "\xe2\x80\xa6");
	free(t);
	return buf_detach(&b, NULL);
}

/* The body around the hits, or the start of the body when the hits are
 * elsewhere (the title is shown on its own); for an entry without a body,
 * its files around the hits. */
static char *snippet_for(const struct words *w, const struct kb_query *q, const struct kb_entry *e)
{
	char *s = make_snippet(e->body[0] ? e->body : e->files, w, q);
	return s ? s : excerpt(e->body, 120);
}

void kb_query_init(struct kb_query *q)
{
	memset(q, 0, sizeof *q);
	q->limit = 20;
}

void kb_results_release(struct kb_results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		kb_entry_release(&r->v[i].e);
		free(r->v[i].snippet);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

static int search_list(struct kb *kb, const struct kb_query *q, size_t limit, struct cands *c)
{
	struct filt f;
	filt_build(&f, q, 2);
	char *sql = xasprintf("SELECT k.id FROM knowledge k WHERE 1%s"
	                      " ORDER BY k.updated_ms DESC, k.id DESC LIMIT ?1",
	                      f.sql.data);
	sqlite3_stmt *st = NULL;
	int r = 0, rc;
	if (sqlite3_prepare_v2(kb->db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = sqlerr(kb, "cannot list entries");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (int64_t)limit);
	filt_bind(&f, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cand x = {.id = sqlite3_column_int64(st, 0)};
		cands_push(c, &x);
	}
	if (rc != SQLITE_DONE)
		r = sqlerr(kb, "cannot list entries");
out:
	sqlite3_finalize(st);
	free(sql);
	filt_release(&f);
	return r;
}

/* How many entries hold word i of w (prefix rules as in search), counted up
 * to DF_CAP. */
static int doc_freq(struct kb *kb, const struct words *w, size_t i, bool prefix, int64_t *df)
{
	char *e = words_expr(w, i, 1, "", prefix);
	sqlite3_stmt *st = stmt(kb, S_DF);
	int r = CAIRN_E_STORE;
	*df = 0;
	if (st) {
		bind_text(st, 1, e);
		sqlite3_bind_int64(st, 2, DF_CAP);
		r = one_int(kb, st, df, "cannot search");
	}
	free(e);
	return r < 0 ? r : 0;
}

/* Prepares the window query (see rank_stage()). With df, each word is
 * weighted by how rare it is (what the any-word stages need); where every
 * word must match, the counts are left out, which saves counting. */
static int prepare_window(struct kb *kb, const struct words *w, bool df, const struct filt *f,
                          sqlite3_stmt **out)
{
	struct buf rank = BUF_INIT(KB_TEXT_MAX);
	int r = 0;
	buf_addstr(&rank, "kb_rank(knowledge_fts");
	for (size_t i = 0; df && i < w->n; i++) {
		int64_t n;
		if ((r = doc_freq(kb, w, i, true, &n)))
			goto out;
		char num[32];
		snprintf(num, sizeof num, ",%lld", (long long)n);
		buf_addstr(&rank, num);
	}
	buf_addch(&rank, ')');
	/* One statement per window: the newest RANK_WINDOW matches below ?2,
	 * ranked; the filters are evaluated, not applied, so that the window's
	 * lowest rowid is known even when they drop every row. */
	char *sql = xasprintf("SELECT w.id, w.r, k.superseded_by, k.confidence, k.updated_ms,"
	                      " (1%s) FROM (SELECT rowid AS id, %s AS r FROM knowledge_fts"
	                      " WHERE knowledge_fts MATCH ?1 AND rowid<?2 ORDER BY rowid DESC"
	                      " LIMIT %d) w JOIN knowledge k ON k.id=w.id",
	                      f->sql.data, rank.data, RANK_WINDOW);
	if (sqlite3_prepare_v2(kb->db, sql, -1, out, NULL) != SQLITE_OK)
		r = sqlerr(kb, "cannot search");
	free(sql);
out:
	buf_release(&rank);
	return r;
}

int kb_search(struct kb *kb, const struct kb_query *q, struct kb_results *out)
{
	struct words w;
	struct cands c = {0};
	struct idset seen = {0};
	struct filt f = {0};
	sqlite3_stmt *win[2] = {NULL, NULL};
	char *expr[6] = {NULL};
	int r = 0;
	out->v = NULL;
	out->n = 0;
	size_t limit = q->limit ? q->limit : 20;
	if (limit > KB_LIMIT_MAX)
		limit = KB_LIMIT_MAX;
	split_words(q->text, false, &w);
	if (w.n == 0) {
		if ((r = search_list(kb, q, limit, &c)))
			goto out;
	} else {
		/* Stages, each ranked on its own and after the ones before:
		 * every word whole in title or tags; every word whole anywhere;
		 * the same with words as prefixes; then any word, whole and as a
		 * prefix. Whole words first because they are what was typed, and
		 * because a prefix query makes FTS5 merge the doclists of every
		 * term that starts with it. */
		bool any_prefix = false;
		for (size_t i = 0; i < w.n; i++)
			any_prefix |= strlen(w.w[i]) >= PREFIX_MIN;
		char *and_exact = words_expr(&w, 0, w.n, " AND ", false);
		char *and_prefix = words_expr(&w, 0, w.n, " AND ", true);
		expr[0] = xasprintf("{title tags} : (%s)", and_exact);
		expr[1] = and_exact;
		expr[2] = any_prefix ? xasprintf("{title tags} : (%s)", and_prefix) : NULL;
		expr[3] = any_prefix ? and_prefix : NULL;
		expr[4] = w.n > 1 ? words_expr(&w, 0, w.n, " OR ", false) : NULL;
		expr[5] = w.n > 1 && any_prefix ? words_expr(&w, 0, w.n, " OR ", true) : NULL;
		if (!any_prefix)
			free(and_prefix);
		filt_build(&f, q, 3);
		for (int s = 0; s < 6; s++) {
			if (!expr[s])
				continue;
			int which = s >= 4;
			if (!win[which] && (r = prepare_window(kb, &w, which, &f, &win[which])))
				goto out;
			if ((r = rank_stage(kb, win[which], expr[s], s, &f, limit, &c, &seen)) < 0)
				goto out;
			if (r == 1)
				break;
		}
		r = 0;
		order_superseded(&c);
	}
	size_t n = c.n < limit ? c.n : limit;
	out->v = xcalloc(n ? n : 1, sizeof *out->v);
	for (size_t i = 0; i < n; i++) {
		struct kb_result *res = &out->v[out->n];
		if ((r = kb_get(kb, c.v[i].id, &res->e)) == CAIRN_E_NOTFOUND)
			continue; /* deleted meanwhile by another process */
		if (r)
			goto out;
		res->score = c.v[i].score;
		res->snippet = w.n ? snippet_for(&w, q, &res->e) : excerpt(res->e.body, 120);
		out->n++;
	}
	r = 0;
out:
	if (r)
		kb_results_release(out);
	sqlite3_finalize(win[0]);
	sqlite3_finalize(win[1]);
	filt_release(&f);
	for (int s = 0; s < 6; s++)
		free(expr[s]);
	free(c.v);
	free(seen.v);
	return r;
}

/* ---- export ---- */

int kb_export(struct kb *kb, FILE *out, const struct kb_query *filter, size_t *n)
{
	struct kb_query all;
	kb_query_init(&all);
	all.include_forgotten = all.include_rejected = true;
	struct filt f;
	filt_build(&f, filter ? filter : &all, 1);
	char *sql = xasprintf("SELECT " COLS " FROM knowledge k WHERE 1%s ORDER BY k.uid",
	                      f.sql.data);
	sqlite3_stmt *st = NULL;
	size_t count = 0;
	int r = 0, rc;
	if (n)
		*n = 0;
	if (sqlite3_prepare_v2(kb->db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = sqlerr(kb, "cannot export");
		goto out;
	}
	filt_bind(&f, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kb_entry e;
		entry_from_row(st, &e);
		json_t *o = kb_entry_to_json(&e, 0);
		int wr = json_dumpf(o, out, KB_DUMP_FLAGS);
		json_decref(o);
		kb_entry_release(&e);
		if (wr || fputc('\n', out) == EOF) {
			r = errno ? -errno : -EIO;
			seterr(kb, r, "cannot write the export: %s", strerror(-r));
			goto out;
		}
		count++;
	}
	if (rc != SQLITE_DONE) {
		r = sqlerr(kb, "cannot export");
		goto out;
	}
	if (fflush(out) == EOF || ferror(out)) {
		r = errno ? -errno : -EIO;
		seterr(kb, r, "cannot write the export: %s", strerror(-r));
		goto out;
	}
	if (n)
		*n = count;
out:
	sqlite3_finalize(st);
	free(sql);
	filt_release(&f);
	return r;
}

/* ---- import ---- */

/* One line of an import file, parsed and prepared off the main thread. */
struct iline {
	size_t lineno;
	char *text;
	size_t len;
	bool toolong;
	int status; /* 0 ready, 1 blank, -1 bad (err says why) */
	char err[320];
	struct prep p;
	struct meta m;
	char uid[ULID_LEN + 1];
	char super_uid[ULID_LEN + 1]; /* "" = not superseded */
};

static const char *const import_fields[] = {
    "uid",           "kind",        "title",
    "body",          "tags",        "files",
    "project",       "created",     "updated",
    "superseded_by", "uses",        "last_used",
    "confidence",    "state",       "forgotten",
    "signature",     "sig_general", "fix_key",
    "sources",       "id",          "superseded_by_id",
};

static int bad(struct iline *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct iline *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err, sizeof L->err, fmt, ap);
	va_end(ap);
	L->status = -1;
	return -1;
}

/* The last time an export can write (9999-12-31T23:59:59.999Z). */
#define TIME_MAX_MS 253402300799999LL

/* The millisecond time of a ULID (its first 10 characters). */
static int64_t ulid_time(const char *uid)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	int64_t t = 0;
	for (int i = 0; i < 10; i++) {
		const char *p = strchr(alphabet, toupper((unsigned char)uid[i]));
		t = t * 32 + (p ? p - alphabet : 0);
	}
	return t;
}

/* Optional string field: 0 and *out (NULL when absent or null), or -1. */
static int get_str(struct iline *L, json_t *o, const char *name, bool nullable, const char **out)
{
	json_t *v = json_object_get(o, name);
	*out = NULL;
	if (!v || (nullable && json_is_null(v)))
		return 0;
	if (!json_is_string(v))
		return bad(L, "field '%s': must be a string%s", name, nullable ? " or null" : "");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(L, "field '%s': must not contain NUL characters", name);
	*out = json_string_value(v);
	return 0;
}

static int get_time(struct iline *L, json_t *o, const char *name, int64_t *ms)
{
	const char *s;
	*ms = 0;
	if (get_str(L, o, name, true, &s))
		return -1;
	if (s && (timefmt_parse_rfc3339(s, ms) || *ms <= 0 || *ms > TIME_MAX_MS))
		return bad(L,
		           "field '%s': must be an RFC 3339 time between 1970 and 9999 such as "
		           "\"2026-11-27T21:08:43.123Z\"",
		           name);
	return 0;
}

/* Joins an array of strings with sep; each element must be one item (no
 * separator characters inside). */
static int get_list(struct iline *L, json_t *o, const char *name, char sep, const char *forbid,
                    char **out)
{
	json_t *a = json_object_get(o, name);
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return bad(L, "field '%s': must be an array of strings", name);
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *v = json_array_get(a, i);
		const char *s = json_string_value(v);
		if (!s || strlen(s) != json_string_length(v)) {
			buf_release(&b);
			return bad(L, "field '%s': must be an array of strings", name);
		}
		if (strpbrk(s, forbid) || !*s) {
			buf_release(&b);
			return bad(L, "field '%s': item %zu must be one non-empty %s", name, i + 1,
			           sep == ' ' ? "tag" : "path");
		}
		if (i)
			buf_addch(&b, sep);
		buf_addstr(&b, s);
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

/* Parses and prepares one line (any thread). */
static void parse_line(struct iline *L)
{
	json_t *o = NULL;
	char *tags = NULL, *files = NULL, *sources = NULL;
	size_t n = L->len;
	while (n > 0 && is_space((unsigned char)L->text[n - 1]))
		n--;
	size_t s = 0;
	while (s < n && is_space((unsigned char)L->text[s]))
		s++;
	if (L->toolong) {
		bad(L, "longer than %u bytes", KB_LINE_MAX);
		return;
	}
	if (s == n) {
		L->status = 1;
		return;
	}
	json_error_t je;
	o = json_loadb(L->text + s, n - s, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		bad(L, "not valid JSON: %s (column %d)", je.text, je.column);
		return;
	}
	if (!json_is_object(o)) {
		bad(L, "must be a JSON object");
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(o, key, val)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof import_fields / sizeof import_fields[0] && !known;
		     i++)
			known = strcmp(key, import_fields[i]) == 0;
		if (!known) {
			bad(L, "unknown field '%.60s'", key);
			goto out;
		}
	}
	struct raw raw = {0};
	const char *uid, *sup, *state;
	if (get_str(L, o, "uid", false, &uid))
		goto out;
	if (!uid || strlen(uid) != ULID_LEN) {
		bad(L, "field 'uid': must be a ULID (26 characters of Crockford base32)");
		goto out;
	}
	for (int i = 0; i <= ULID_LEN; i++)
		L->uid[i] = (char)toupper((unsigned char)uid[i]);
	if (!ulid_valid(L->uid)) {
		bad(L, "field 'uid': must be a ULID (26 characters of Crockford base32)");
		goto out;
	}
	if (get_str(L, o, "kind", false, &raw.kind) || get_str(L, o, "title", false, &raw.title) ||
	    get_str(L, o, "body", true, &raw.body) ||
	    get_str(L, o, "project", true, &raw.project) ||
	    get_str(L, o, "signature", true, &raw.signature) ||
	    get_str(L, o, "sig_general", true, &raw.sig_general) ||
	    get_str(L, o, "fix_key", true, &raw.fix_key) ||
	    get_str(L, o, "superseded_by", true, &sup) || get_str(L, o, "state", false, &state) ||
	    get_list(L, o, "tags", ' ', " \t\n\r\v\f,", &tags) ||
	    get_list(L, o, "files", '\n', "\n", &files) ||
	    get_time(L, o, "created", &L->m.created_ms) ||
	    get_time(L, o, "updated", &L->m.updated_ms) ||
	    get_time(L, o, "last_used", &L->m.last_used_ms) ||
	    get_time(L, o, "forgotten", &L->m.forgotten_ms))
		goto out;
	if (!raw.kind) {
		bad(L, "field 'kind': is required");
		goto out;
	}
	if (!raw.title) {
		bad(L, "field 'title': is required");
		goto out;
	}
	for (int i = 0; sup && strlen(sup) == ULID_LEN && i <= ULID_LEN; i++)
		L->super_uid[i] = (char)toupper((unsigned char)sup[i]);
	if (sup && !ulid_valid(L->super_uid)) {
		bad(L, "field 'superseded_by': must be a uid or null");
		goto out;
	}
	L->m.state = state ? kb_state_parse(state) : "active";
	if (!L->m.state) {
		bad(L, "field 'state': must be active, candidate or rejected");
		goto out;
	}
	json_t *v = json_object_get(o, "uses");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		bad(L, "field 'uses': must be a whole number >= 0");
		goto out;
	}
	L->m.uses = v ? json_integer_value(v) : 0;
	v = json_object_get(o, "confidence");
	if (v && (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)) {
		bad(L, "field 'confidence': must be a number from 0 to 1");
		goto out;
	}
	L->m.confidence = v ? json_number_value(v) : 0.5;
	v = json_object_get(o, "sources");
	if (v && !json_is_null(v))
		sources = json_dumps(v, JSON_COMPACT);
	v = json_object_get(o, "id");
	if (v && !json_is_integer(v)) {
		bad(L, "field 'id': must be a whole number (it is ignored)");
		goto out;
	}
	if (!L->m.created_ms)
		L->m.created_ms = ulid_time(L->uid);
	if (L->m.created_ms <= 0 || L->m.created_ms > TIME_MAX_MS) {
		bad(L,
		    "field 'created': is needed, as the uid's time is not between 1970 and 9999");
		goto out;
	}
	if (!L->m.updated_ms)
		L->m.updated_ms = L->m.created_ms;
	raw.tags = tags;
	raw.files = files;
	raw.sources = sources;
	if (prep_make(&raw, false, &L->p, L->err, sizeof L->err)) {
		L->status = -1;
		goto out;
	}
	L->m.uid = L->uid;
	L->status = 0;
out:
	free(tags);
	free(files);
	free(sources);
	json_decref(o);
}

/* Reads one line (without its newline) into b, keeping at most KB_LINE_MAX
 * bytes (*toolong when more were discarded). Returns 1, 0 at the end, or
 * -errno. */
static int read_line(FILE *in, struct buf *b, bool *toolong)
{
	int c;
	bool any = false;
	buf_reset(b);
	*toolong = false;
	while ((c = getc_unlocked(in)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (buf_addch(b, (char)c) < 0) /* b's max is KB_LINE_MAX */
			*toolong = true;
	}
	if (c == EOF && ferror(in))
		return errno ? -errno : -EIO;
	return any ? 1 : 0;
}
struct pending {
	int64_t id;
	size_t lineno;
	char uid[ULID_LEN + 1];
};

struct pendings {
	struct pending *v;
	size_t n, cap;
};

static void pending_add(struct pendings *p, int64_t id, const struct iline *L)
{
	if (!L->super_uid[0])
		return;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = xreallocarray(p->v, p->cap, sizeof *p->v);
	}
	p->v[p->n].id = id;
	p->v[p->n].lineno = L->lineno;
	memcpy(p->v[p->n].uid, L->super_uid, sizeof L->super_uid);
	p->n++;
}

static int replace(struct kb *kb, int64_t id, const struct iline *L)
{
	sqlite3_stmt *st = stmt(kb, S_REPLACE);
	if (!st)
		return CAIRN_E_STORE;
	const struct prep *p = &L->p;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, p->kind);
	bind_text(st, 3, p->title);
	bind_text(st, 4, p->body);
	bind_text(st, 5, p->tags);
	bind_text(st, 6, p->files);
	bind_text(st, 7, p->project);
	sqlite3_bind_int64(st, 8, L->m.created_ms);
	sqlite3_bind_int64(st, 9, L->m.updated_ms);
	sqlite3_bind_int64(st, 10, L->m.uses);
	bind_time(st, 11, L->m.last_used_ms);
	sqlite3_bind_double(st, 12, L->m.confidence);
	bind_text(st, 13, L->m.state);
	bind_time(st, 14, L->m.forgotten_ms);
	bind_text(st, 15, p->signature);
	bind_text(st, 16, p->sig_general);
	bind_text(st, 17, p->fix_key);
	bind_text(st, 18, p->sources);
	bind_text(st, 19, p->hash);
	return run(kb, st, "cannot update an entry");
}

static int apply_line(struct kb *kb, struct iline *L, struct kb_import_stats *st,
                      struct pendings *pend)
{
	int r;
	int64_t id = 0, updated = 0, other = 0;
	/* Most lines of an import are new: try that first, and look up what
	 * is in the way only when something is. */
	if ((r = insert(kb, &L->p, &L->m, &id)) < 0)
		return r;
	if (r == 0) {
		st->imported++;
		pending_add(pend, id, L);
		return 0;
	}
	sqlite3_stmt *s = stmt(kb, S_UID_LOOKUP);
	if (!s)
		return CAIRN_E_STORE;
	bind_text(s, 1, L->uid);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(s, 0);
		updated = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlerr(kb, "cannot look up an entry");
	if (!id) {
		/* Not the uid: the same content is there under another one. */
		st->duplicates++;
		return 0;
	}
	if (L->m.updated_ms <= updated) {
		st->unchanged++;
		return 0;
	}
	if ((r = by_hash(kb, L->p.hash, &other, NULL)) < 0)
		return r;
	if (r == 1 && other != id) {
		st->duplicates++;
		return 0;
	}
	if ((r = replace(kb, id, L)))
		return r;
	st->updated++;
	pending_add(pend, id, L);
	return 0;
}

static void report_line(kb_import_report_fn report, void *ctx, size_t line, bool skipped,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report_line(kb_import_report_fn report, void *ctx, size_t line, bool skipped,
                        const char *fmt, ...)
{
	if (!report)
		return;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	report(ctx, line, skipped, msg);
}

/* Sets superseded_by of the imported entries once every line is in. */
static int resolve_pending(struct kb *kb, struct pendings *pend, struct kb_import_stats *st,
                           kb_import_report_fn report, void *ctx)
{
	int r = 0;
	for (size_t i = 0; i < pend->n; i++) {
		if (i % CHUNK_LINES == 0) {
			if (i && (r = tx_commit(kb)))
				return r;
			if ((r = tx_begin(kb)))
				return r;
		}
		struct pending *p = &pend->v[i];
		int64_t target = 0;
		sqlite3_stmt *s = stmt(kb, S_UID_LOOKUP);
		if (!s) {
			r = CAIRN_E_STORE;
			goto out_rollback;
		}
		bind_text(s, 1, p->uid);
		if ((r = one_int(kb, s, &target, "cannot look up an entry")) < 0)
			goto out_rollback;
		if (r == 0) {
			st->unresolved++;
			report_line(report, ctx, p->lineno, false,
			            "superseded_by: no entry has uid %s; left unset", p->uid);
			continue;
		}
		if (target == p->id || (r = makes_cycle(kb, p->id, target)) == 1) {
			st->unresolved++;
			report_line(report, ctx, p->lineno, false,
			            "superseded_by: %s would make a cycle; left unset", p->uid);
			continue;
		}
		if (r < 0)
			goto out_rollback;
		if (!(s = stmt(kb, S_SET_SUPER_QUIET))) {
			r = CAIRN_E_STORE;
			goto out_rollback;
		}
		sqlite3_bind_int64(s, 1, p->id);
		sqlite3_bind_int64(s, 2, target);
		if ((r = run(kb, s, "cannot set superseded_by")))
			goto out_rollback;
	}
	return pend->n ? tx_commit(kb) : 0;
out_rollback:
	tx_rollback(kb);
	return r;
}

/* Import runs as a pipeline of two threads: a reader that reads, parses,
 * validates and redacts one chunk of lines while the caller's thread writes
 * the previous one in a transaction. One reader, not more: glibc's regexec()
 * holds a lock per compiled expression, so several threads redacting at once
 * mostly wait on each other.
 *
 *   reader:  fill slot 0 | fill slot 1 | fill slot 0 | ...
 *   caller:              | write 0     | write 1     | ...
 *
 * Slots are handed over under mu; a slot is EMPTY (the reader's), READY
 * (the writer's) or, at the end, READY with last set. */
enum slot_state { SLOT_EMPTY, SLOT_READY };

struct slot {
	struct iline *v;
	size_t n;
	enum slot_state state;
	bool last;    /* no chunk follows (end of input or a read error) */
	int read_err; /* -errno from reading, with last */
};

/* Guarded by mu: slots[].state, last, read_err and stop. */
struct pipeline {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	FILE *in;
	struct slot slots[2];
	bool stop;     /* the writer gave up: the reader stops */
	size_t lineno; /* the reader's */
	struct buf line;
};

static void free_chunk(struct iline *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].text);
		prep_release(&v[i].p);
	}
}

/* Reads and prepares up to CHUNK_LINES lines into slot s (the reader's). */
static void fill_slot(struct pipeline *pl, struct slot *s)
{
	size_t bytes = 0;
	s->n = 0;
	s->last = false;
	s->read_err = 0;
	while (s->n < CHUNK_LINES && bytes < CHUNK_BYTES) {
		bool toolong;
		int rr = read_line(pl->in, &pl->line, &toolong);
		if (rr <= 0) {
			s->last = true;
			s->read_err = rr;
			break;
		}
		struct iline *L = &s->v[s->n++];
		memset(L, 0, sizeof *L);
		L->lineno = ++pl->lineno;
		L->toolong = toolong;
		L->len = pl->line.len;
		L->text = xreallocarray(NULL, pl->line.len + 1, 1);
		memcpy(L->text, pl->line.data, pl->line.len);
		L->text[pl->line.len] = '\0';
		bytes += pl->line.len;
		parse_line(L);
	}
}

static void *reader_main(void *arg)
{
	struct pipeline *pl = arg;
	for (int i = 0;; i ^= 1) {
		struct slot *s = &pl->slots[i];
		pthread_mutex_lock(&pl->mu);
		while (s->state != SLOT_EMPTY && !pl->stop)
			pthread_cond_wait(&pl->cond, &pl->mu);
		bool stop = pl->stop;
		pthread_mutex_unlock(&pl->mu);
		if (stop)
			return NULL;
		fill_slot(pl, s);
		pthread_mutex_lock(&pl->mu);
		s->state = SLOT_READY;
		pthread_cond_broadcast(&pl->cond);
		pthread_mutex_unlock(&pl->mu);
		if (s->last)
			return NULL;
	}
}

/* Writes one prepared chunk in one transaction. */
static int write_chunk(struct kb *kb, struct slot *s, struct kb_import_stats *st,
                       struct pendings *pend, kb_import_report_fn report, void *ctx)
{
	int r;
	st->lines += s->n;
	if ((r = tx_begin(kb)))
		return r;
	for (size_t i = 0; i < s->n; i++) {
		struct iline *L = &s->v[i];
		if (L->status == 1)
			continue;
		if (L->status < 0) {
			st->bad++;
			report_line(report, ctx, L->lineno, true, "%s", L->err);
			continue;
		}
		kb->redactions += L->p.redactions;
		if ((r = apply_line(kb, L, st, pend))) {
			tx_rollback(kb);
			return r;
		}
	}
	return tx_commit(kb);
}

#ifdef __GLIBC__
/* Every transaction of an import builds FTS5's pending index in memory (a
 * megabyte or so) and frees it at commit. With glibc's default trim
 * threshold the heap is then shrunk and grown again each time, and with two
 * threads every shrink flushes the other CPU's TLB: a fifth of the import's
 * time. 64 MiB of slack stops that. */
static void raise_trim_threshold(void)
{
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}
#endif

int kb_import(struct kb *kb, FILE *in, struct kb_import_stats *st, kb_import_report_fn report,
              void *ctx)
{
#ifdef __GLIBC__
	static pthread_once_t trim_once = PTHREAD_ONCE_INIT;
	pthread_once(&trim_once, raise_trim_threshold);
#endif
	struct pipeline pl = {.in = in, .line = BUF_INIT(KB_LINE_MAX)};
	struct pendings pend = {0};
	pthread_t reader;
	bool threaded;
	int r = 0;
	memset(st, 0, sizeof *st);
	kb->redactions = 0;
	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.cond, NULL);
	for (int i = 0; i < 2; i++)
		pl.slots[i].v = xcalloc(CHUNK_LINES, sizeof *pl.slots[i].v);
	/* Without a thread (none could be made) the same steps run in turn. */
	threaded = pthread_create(&reader, NULL, reader_main, &pl) == 0;
	for (int i = 0;; i ^= 1) {
		struct slot *s = &pl.slots[i];
		if (threaded) {
			pthread_mutex_lock(&pl.mu);
			while (s->state != SLOT_READY)
				pthread_cond_wait(&pl.cond, &pl.mu);
			pthread_mutex_unlock(&pl.mu);
		} else {
			fill_slot(&pl, s);
		}
		bool last = s->last;
		int read_err = s->read_err;
		if (s->n)
			r = write_chunk(kb, s, st, &pend, report, ctx);
		free_chunk(s->v, s->n);
		s->n = 0;
		pthread_mutex_lock(&pl.mu);
		s->state = SLOT_EMPTY;
		if (r)
			pl.stop = true;
		pthread_cond_broadcast(&pl.cond);
		pthread_mutex_unlock(&pl.mu);
		if (r)
			break;
		if (read_err) {
			r = seterr(kb, read_err, "cannot read line %zu: %s", st->lines + 1,
			           strerror(-read_err));
			break;
		}
		if (last)
			break;
	}
	if (threaded)
		pthread_join(reader, NULL);
	/* A chunk the reader finished after the writer stopped. */
	for (int i = 0; i < 2; i++) {
		if (pl.slots[i].state == SLOT_READY)
			free_chunk(pl.slots[i].v, pl.slots[i].n);
		free(pl.slots[i].v);
	}
	buf_release(&pl.line);
	pthread_cond_destroy(&pl.cond);
	pthread_mutex_destroy(&pl.mu);
	if (r)
		goto out;
	if ((r = resolve_pending(kb, &pend, st, report, ctx)))
		goto out;
	r = st->bad ? CAIRN_E_PARSE : 0;
	if (r)
		seterr(kb, r, "%zu line%s could not be imported", st->bad, st->bad == 1 ? "" : "s");
out:
	free(pend.v);
	return r;
}

/* ---- fixes for the triage service ---- */

static const char *const reasons[] = {"same error", "same error, other names", "similar text"};

struct hits {
	struct kb_fix_hit *v;
	int *tier; /* 0, 1, 2 per hit */
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
		if (h->n >= limit || !idset_add(seen, id))
			continue;
		hits_push(h, h->n, tier);
		h->v[h->n - 1].e.id = id;
		if (tier == 2)
			h->v[h->n - 1].score = sqlite3_column_double(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sqlerr(kb, "cannot look up fixes");
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
		while (next_word(s, n, &pos, false, word, NULL))
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

static int fix_cmp(const void *a, const void *b)
{
	const struct kb_entry *x = &((const struct kb_fix_hit *)a)->e;
	const struct kb_entry *y = &((const struct kb_fix_hit *)b)->e;
	if ((x->superseded_by != 0) != (y->superseded_by != 0))
		return x->superseded_by ? 1 : -1;
	if (x->confidence != y->confidence)
		return x->confidence > y->confidence ? -1 : 1;
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
	split_words(text, true, &all);
	if (!all.n)
		return 0;
	sqlite3_stmt *st = stmt(kb, S_MAXID);
	if (!st)
		return CAIRN_E_STORE;
	if ((r = one_int(kb, st, &maxid, "cannot look up fixes")) < 0)
		return r;
	dfmax = maxid / 20 > 50 ? maxid / 20 : 50;
	if (dfmax > FIX_TEXT_MATCHES)
		dfmax = FIX_TEXT_MATCHES;
	for (size_t i = 0; i < all.n; i++) {
		char *e = words_expr(&all, i, 1, "", false);
		if (!(st = stmt(kb, S_DF))) {
			free(e);
			return CAIRN_E_STORE;
		}
		bind_text(st, 1, e);
		sqlite3_bind_int64(st, 2, dfmax + 1);
		r = one_int(kb, st, &df[i], "cannot look up fixes");
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
	char *expr = words_expr(kept, 0, kept->n, " OR ", false);
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
		return sqlerr(kb, "cannot look up fixes");
	}
	bind_text(st, 1, expr);
	bind_text(st, 2, project);
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
		int r = superseded_by(kb, cur, &next);
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
                 const char *project, size_t limit, struct kb_fix_hit **out, size_t *n)
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
	/* Stored signatures are redacted: compare like with like. */
	if (sig && *sig && strlen(sig) <= KB_SIG_MAX) {
		rsig = xstrdup(sig);
		redact_in_place(&rsig, &ignored);
	}
	if (general && *general && strlen(general) <= KB_SIG_MAX) {
		rgen = xstrdup(general);
		redact_in_place(&rgen, &ignored);
	}
	const enum stmt_id which[2] = {S_FIX_SIG, S_FIX_GEN};
	const char *keys[2] = {rsig, rgen};
	for (int t = 0; t < 2; t++) {
		if (!keys[t] || h.n >= limit)
			continue;
		sqlite3_stmt *st = stmt(kb, which[t]);
		if (!st) {
			r = CAIRN_E_STORE;
			goto out;
		}
		bind_text(st, 1, keys[t]);
		bind_text(st, 2, project);
		sqlite3_bind_int64(st, 3, (int64_t)(limit + seen.n));
		if ((r = tier_ids(kb, st, t, &h, &seen, limit)))
			goto out;
	}
	size_t first_text = h.n;
	if (text && *text && h.n < limit &&
	    (r = tier_text(kb, text, project, limit, &h, &seen, &kept)))
		goto out;
	for (size_t i = 0; i < h.n; i++) {
		int64_t id = h.v[i].e.id;
		double rel = h.v[i].score;
		if ((r = kb_get(kb, id, &h.v[i].e)))
			goto out;
		if (h.tier[i] == 2) {
			size_t cnt = 0;
			h.v[i].matched = matched_words(&h.v[i].e, &kept, &cnt);
			h.v[i].score = h.v[i].e.confidence * (kept.n ? (double)cnt / kept.n : 0);
			(void)rel;
		} else {
			h.v[i].score = (h.tier[i] == 0 ? 2.0 : 1.0) + h.v[i].e.confidence;
		}
	}
	/* Tier 3 came ranked by bm25; within the tier the contract orders it
	 * like the others. */
	if (h.n > first_text) {
		struct kb_fix_hit *tmp = xreallocarray(NULL, h.n - first_text, sizeof *tmp);
		memcpy(tmp, h.v + first_text, (h.n - first_text) * sizeof *tmp);
		qsort(tmp, h.n - first_text, sizeof *tmp, fix_cmp);
		memcpy(h.v + first_text, tmp, (h.n - first_text) * sizeof *tmp);
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
		sqlite3_stmt *st = stmt(kb, S_FIX_ELIGIBLE);
		int64_t ok = 0;
		if (!st) {
			r = CAIRN_E_STORE;
			goto out;
		}
		sqlite3_bind_int64(st, 1, head);
		bind_text(st, 2, project);
		if ((r = one_int(kb, st, &ok, "cannot look up fixes")) < 0)
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
		if (!add[i] || !source_id_ok(add[i]))
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
	sqlite3_stmt *st = stmt(kb, which);
	if (!st)
		return CAIRN_E_STORE;
	bind_text(st, 1, key);
	bind_text(st, 2, p->fix_key);
	bind_text(st, 3, p->project);
	return one_int(kb, st, id, "cannot look up learned fixes");
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
	/* The newer body, unless that makes the entry a copy of another one. */
	char hash[33];
	const char *body = p->body;
	hash_key(hash, cur.kind, cur.project, cur.title, body, cur.signature, cur.fix_key);
	int64_t other = 0;
	if ((r = by_hash(kb, hash, &other, NULL)) < 0)
		goto out;
	if (r == 1 && other != id) {
		body = cur.body;
		hash_key(hash, cur.kind, cur.project, cur.title, body, cur.signature, cur.fix_key);
	}
	sqlite3_stmt *st = stmt(kb, S_RECUR);
	if (!st) {
		r = CAIRN_E_STORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_double(st, 2, c);
	bind_text(st, 3, sources);
	sqlite3_bind_int64(st, 4, now_ms);
	bind_text(st, 5, body);
	bind_text(st, 6, hash);
	r = run(kb, st, "cannot record the recurrence");
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
	r = prep_make(&raw, true, &p, kb->err, sizeof kb->err);
	free(sources);
	if (r)
		return r;
	kb->redactions = p.redactions;
	if ((r = tx_begin(kb)))
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
		if ((r = by_hash(kb, p.hash, &dup, NULL)) < 0)
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
			    .confidence = LEARN_CONFIDENCE,
			    .state = "candidate",
			};
			if ((r = insert(kb, &p, &m, id)) == 1)
				r = seterr(kb, CAIRN_E_STORE,
				           "cannot record the fix: its uid is taken");
			if (r)
				goto out_rollback;
		}
	}
	if ((r = tx_commit(kb)))
		*id = 0, *recurred = false;
	goto out_free;
out_rollback:
	tx_rollback(kb);
	*id = 0;
	*recurred = false;
out_free:
	prep_release(&p);
	return r;
}

int kb_note_signature(struct kb *kb, const char *sig, const char *general, const char *example,
                      int64_t now_ms)
{
	if (!sig || !*sig)
		return seterr(kb, CAIRN_E_INVALID, "signature: must not be empty");
	unsigned k = 0;
	char *s = utf8_fix(sig, utf8_cut(sig, strlen(sig), KB_SIG_MAX));
	const char *g0 = general && *general ? general : sig;
	char *g = utf8_fix(g0, utf8_cut(g0, strlen(g0), KB_SIG_MAX));
	const char *e0 = example ? example : "";
	char *e = utf8_fix(e0, utf8_cut(e0, strlen(e0), EXAMPLE_MAX));
	redact_in_place(&s, &k);
	redact_in_place(&g, &k);
	redact_in_place(&e, &k);
	sqlite3_stmt *st = stmt(kb, S_SIG_UPSERT);
	int r = CAIRN_E_STORE;
	if (st) {
		bind_text(st, 1, s);
		bind_text(st, 2, g);
		bind_text(st, 3, e);
		sqlite3_bind_int64(st, 4, now_ms);
		r = run(kb, st, "cannot record the signature");
	}
	free(s);
	free(g);
	free(e);
	return r;
}
