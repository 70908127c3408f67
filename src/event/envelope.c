/* Parsing, strict validation and canonical encoding of the CloudEvents 1.0
 * envelope described in envelope.h. */
#include "event/envelope.h"

#include "common/err.h"
#include "common/jfast.h"
#include "common/timefmt.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "event/pattern.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXT_NAME_MAX 20

/* Which bytes a string attribute may hold. */
enum charset {
	CH_ANY,       /* any valid UTF-8 without NUL */
	CH_PRINTABLE, /* printable ASCII, 0x20-0x7e */
	CH_NO_CTL,    /* no control characters (C0, DEL or C1) */
	CH_NO_SPACE,  /* no control characters and no spaces */
};

/* The rule for one string attribute. The sentence is the whole rule, so it
 * is said in full whichever part of it the value broke. */
struct str_rule {
	const char *name;
	size_t min, max; /* bytes */
	enum charset chars;
	const char *sentence;
};

static const struct str_rule R_SPECVERSION = {"specversion", 1, 16, CH_PRINTABLE,
					      "must be \"1.0\" (cairn speaks CloudEvents 1.0)"};
static const struct str_rule R_ID = {"id", 1, 128, CH_PRINTABLE,
				     "must be 1 to 128 printable ASCII characters"};
static const struct str_rule R_SOURCE = {
	"source", 1, 255, CH_NO_SPACE,
	"must be 1 to 255 bytes with no spaces or control characters"};
static const struct str_rule R_TYPE = {
	"type", 0, SIZE_MAX, CH_ANY,
	"must be dot-separated tokens of [a-z0-9_-] with no empty token, at most 255 bytes"};
static const struct str_rule R_SUBJECT = {"subject", 0, 4096, CH_NO_CTL,
					  "must be at most 4096 bytes with no control characters"};
static const struct str_rule R_TIME = {
	"time", 0, SIZE_MAX, CH_ANY,
	"must be an RFC 3339 timestamp such as \"2026-11-27T21:08:43.123Z\""};
static const struct str_rule R_DATACONTENTTYPE = {"datacontenttype", 0, 255, CH_ANY,
						  "must be a string of at most 255 bytes"};
static const struct str_rule R_PROJECT = {
	"project", 1, 4096, CH_ANY,
	"must be an absolute path (starting with '/') of at most 4096 bytes"};
static const struct str_rule R_SESSION = {"session", 1, 128, CH_PRINTABLE,
					  "must be 1 to 128 printable ASCII characters"};
static const struct str_rule R_CORRELATIONID = {"correlationid", 1, 128, CH_PRINTABLE,
						"must be 1 to 128 printable ASCII characters"};

/* Every attribute the envelope knows by name; all others are extensions. */
static const char *const known_attrs[] = {
	"specversion", "id",  "source",  "type",    "subject",       "time",     "datacontenttype",
	"data",        "seq", "project", "session", "correlationid", "severity",
};

static const char *const severity_names[] = {
	[SEV_UNSET] = "",
	[SEV_DEBUG] = "debug",
	[SEV_INFO] = "info",
	[SEV_NOTICE] = "notice",
	[SEV_WARNING] = "warning",
	[SEV_ERROR] = "error",
	[SEV_CRITICAL] = "critical",
};

/* Copies n bytes of s into dst (size bytes), replacing anything that is not
 * printable ASCII with '?', so that an error can always be shown or put into a
 * JSON reply whatever bytes the input held. */
static void copy_printable(char *dst, size_t size, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < size; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	dst[i] = '\0';
}

/* Fills err (if not NULL) with code, field (flen bytes) and the formatted
 * rule, as "field 'NAME': rule" (or the rule alone when field is ""), and
 * returns code. */
static int failv(struct cairn_err *err, int code, const char *field, size_t flen, const char *fmt,
		 va_list ap)
{
	char f[sizeof err->field];
	char rule[256];

	if (!err)
		return code;
	copy_printable(f, sizeof f, field, flen);
	vsnprintf(rule, sizeof rule, fmt, ap);
	copy_printable(rule, sizeof rule, rule, strlen(rule));
	if (f[0])
		return cairn_err_set(err, code, f, "field '%s': %s", f, rule);
	return cairn_err_set(err, code, "", "%s", rule);
}

__attribute__((format(printf, 4, 5))) static int fail(struct cairn_err *err, int code,
						      const char *field, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = failv(err, code, field, strlen(field), fmt, ap);
	va_end(ap);
	return r;
}

/* fail() for a field name that may hold NUL bytes (an object key). */
__attribute__((format(printf, 5, 6))) static int
fail_key(struct cairn_err *err, int code, const char *key, size_t klen, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = failv(err, code, key, klen, fmt, ap);
	va_end(ap);
	return r;
}

/* The out-of-memory policy of xalloc.h, for jansson: a failed constructor
 * or insertion here can only mean memory ran out. */
__attribute__((noreturn)) static void oom(const char *what)
{
	fprintf(stderr, "cairn: out of memory %s\n", what);
	abort();
}

static json_t *must(json_t *v)
{
	if (!v)
		oom("building an event");
	return v;
}

/* The kind of a JSON value, in the words an error message uses. */
static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "an unknown value";
}

/* Length of the well-formed UTF-8 sequence at s (1 for ASCII, including
 * NUL), or 0 when the bytes there are not one: overlong forms, surrogates
 * and code points above U+10FFFF are refused as the JSON decoder does. */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	uint32_t cp;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* True if the n bytes at s are well-formed UTF-8 without NUL. */
static bool utf8_clean(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		size_t k = *p ? utf8_seq_len(p) : 0;
		if (k == 0 || k > (size_t)(end - p))
			return false;
		p += k;
	}
	return true;
}

/* Checks the bytes of a string attribute against its charset. On a
 * violation returns false and writes a short description to why. The string
 * is known to be well-formed UTF-8 without NUL. */
static bool chars_ok(const char *s, size_t n, enum charset chars, char *why, size_t size)
{
	if (chars == CH_ANY)
		return true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ctl = c < 0x20 || c == 0x7f ||
			   (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0);

		switch (chars) {
		case CH_ANY: break;
		case CH_PRINTABLE:
			if (c < 0x20 || c > 0x7e) {
				snprintf(why, size, "byte %zu (0x%02x) is not printable ASCII", i,
					 c);
				return false;
			}
			break;
		case CH_NO_SPACE:
			if (c == ' ') {
				snprintf(why, size, "byte %zu is a space", i);
				return false;
			}
			/* fall through */
		case CH_NO_CTL:
			if (ctl && c == 0xc2) {
				snprintf(why, size, "byte %zu starts control character U+%04X", i,
					 (unsigned char)s[i + 1]);
				return false;
			}
			if (ctl) {
				snprintf(why, size, "byte %zu is control character 0x%02x", i, c);
				return false;
			}
			break;
		}
	}
	return true;
}

/* Looks up a string attribute and checks it against rule. Sets *out to the
 * string (borrowed from obj) or to NULL when absent and not required. */
static int get_str(const json_t *obj, const struct str_rule *rule, bool required, const char **out,
		   struct cairn_err *err)
{
	const json_t *v = json_object_get(obj, rule->name);
	char why[96];
	const char *s;
	size_t n;

	*out = NULL;
	if (!v) {
		if (required)
			return fail(err, CAIRN_E_INVALID, rule->name, "is required; it %s",
				    rule->sentence);
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, CAIRN_E_INVALID, rule->name, "%s; it is %s, not a string",
			    rule->sentence, json_kind(v));
	s = json_string_value(v);
	n = json_string_length(v);
	if (n != strlen(s))
		return fail(err, CAIRN_E_INVALID, rule->name, "%s; it contains a NUL character",
			    rule->sentence);
	if (!utf8_clean(s, n))
		return fail(err, CAIRN_E_INVALID, rule->name, "%s; it is not valid UTF-8",
			    rule->sentence);
	if (n < rule->min || n > rule->max)
		return fail(err, CAIRN_E_INVALID, rule->name, "%s; it is %zu bytes", rule->sentence,
			    n);
	if (!chars_ok(s, n, rule->chars, why, sizeof why))
		return fail(err, CAIRN_E_INVALID, rule->name, "%s; %s", rule->sentence, why);
	*out = s;
	return 0;
}

/* get_str() that stores a copy in *dst. */
static int take_str(const json_t *obj, const struct str_rule *rule, bool required, char **dst,
		    struct cairn_err *err)
{
	const char *s;
	int r;

	if ((r = get_str(obj, rule, required, &s, err)) < 0)
		return r;
	if (s)
		*dst = xstrdup(s);
	return 0;
}

static int take_specversion(const json_t *obj, enum event_parse_mode mode, struct event *ev,
			    struct cairn_err *err)
{
	const char *s;
	int r;

	if ((r = get_str(obj, &R_SPECVERSION, mode == EVENT_STORED, &s, err)) < 0)
		return r;
	if (!s)
		return 0;
	if (strcmp(s, "1.0") != 0)
		return fail(err, CAIRN_E_INVALID, R_SPECVERSION.name, "%s; it is \"%s\"",
			    R_SPECVERSION.sentence, s);
	ev->specversion = xstrdup(s);
	return 0;
}

static int take_type(const json_t *obj, struct event *ev, struct cairn_err *err)
{
	const char *s, *why;
	int r;

	if ((r = get_str(obj, &R_TYPE, true, &s, err)) < 0)
		return r;
	if (!type_valid(s, &why))
		return fail(err, CAIRN_E_INVALID, R_TYPE.name, "%s; %s", R_TYPE.sentence,
			    why ? why : "it breaks that rule");
	ev->type = xstrdup(s);
	return 0;
}

static int take_time(const json_t *obj, enum event_parse_mode mode, struct event *ev,
		     struct cairn_err *err)
{
	const char *s;
	int64_t ms;
	int r;

	if ((r = get_str(obj, &R_TIME, mode == EVENT_STORED, &s, err)) < 0)
		return r;
	if (!s)
		return 0;
	if (timefmt_parse_rfc3339(s, &ms) < 0)
		return fail(err, CAIRN_E_INVALID, R_TIME.name, "%s", R_TIME.sentence);
	ev->time = xstrdup(s);
	ev->time_ms = ms;
	return 0;
}

/* Checks that a data value nests no deeper than the JSON decoder accepts
 * (which also stops at a cycle in a hand-built value) and that its strings
 * and keys are NUL-free UTF-8, so that the encoded event always parses
 * again. Writes what is wrong to why. */
static bool data_ok(const json_t *v, int depth, char *why, size_t size)
{
	const char *key;
	size_t klen, i;
	json_t *m;

	if (depth > JSON_PARSER_MAX_DEPTH) {
		snprintf(why, size, "it nests deeper than %d levels", JSON_PARSER_MAX_DEPTH);
		return false;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (!utf8_clean(json_string_value(v), json_string_length(v))) {
			snprintf(why, size, "a string in it holds a NUL or invalid UTF-8");
			return false;
		}
		return true;
	case JSON_ARRAY:
		json_array_foreach(v, i, m) {
			if (!data_ok(m, depth + 1, why, size))
				return false;
		}
		return true;
	case JSON_OBJECT:
		json_object_keylen_foreach((json_t *)v, key, klen, m)
		{
			if (!utf8_clean(key, klen)) {
				snprintf(why, size, "a key in it holds a NUL or invalid UTF-8");
				return false;
			}
			if (!data_ok(m, depth + 1, why, size))
				return false;
		}
		return true;
	default: return true;
	}
}

/* parsed: obj came from the JSON parser, which refuses all data_ok()
 * refuses (invalid UTF-8, NUL, nesting past JSON_PARSER_MAX_DEPTH). */
static int take_data(const json_t *obj, bool parsed, struct event *ev, struct cairn_err *err)
{
	json_t *v = json_object_get(obj, "data");
	char why[96];

	if (!v)
		return 0;
	if (!parsed && !data_ok(v, 1, why, sizeof why))
		return fail(err, CAIRN_E_INVALID, "data", "must be JSON that can be encoded; %s",
			    why);
	ev->data = json_incref(v);
	return 0;
}

static int take_seq(const json_t *obj, enum event_parse_mode mode, struct event *ev,
		    struct cairn_err *err)
{
	const json_t *v = json_object_get(obj, "seq");

	if (mode == EVENT_PUBLISH) {
		if (v)
			return fail(err, CAIRN_E_INVALID, "seq",
				    "seq is assigned by the daemon; leave it out");
		return 0;
	}
	if (!v)
		return fail(err, CAIRN_E_INVALID, "seq",
			    "is required in a stored event; it must be an integer >= 1");
	if (!json_is_integer(v))
		return fail(err, CAIRN_E_INVALID, "seq", "must be an integer >= 1; it is %s",
			    json_kind(v));
	if (json_integer_value(v) < 1)
		return fail(err, CAIRN_E_INVALID, "seq", "must be an integer >= 1; it is %lld",
			    (long long)json_integer_value(v));
	ev->seq = json_integer_value(v);
	return 0;
}

static int take_project(const json_t *obj, struct event *ev, struct cairn_err *err)
{
	const char *s;
	int r;

	if ((r = get_str(obj, &R_PROJECT, false, &s, err)) < 0)
		return r;
	if (!s)
		return 0;
	if (s[0] != '/')
		return fail(err, CAIRN_E_INVALID, R_PROJECT.name, "%s; it is a relative path",
			    R_PROJECT.sentence);
	ev->project = xstrdup(s);
	return 0;
}

static int take_severity(const json_t *obj, struct event *ev, struct cairn_err *err)
{
	const json_t *v = json_object_get(obj, "severity");
	const char *s;

	if (!v)
		return 0;
	s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!s || json_string_length(v) != strlen(s) || event_severity_parse(s, &ev->severity) < 0)
		return fail(err, CAIRN_E_INVALID, "severity",
			    "must be one of debug, info, notice, warning, error, critical");
	return 0;
}

static bool is_known(const char *key, size_t klen)
{
	for (size_t i = 0; i < sizeof known_attrs / sizeof known_attrs[0]; i++)
		if (strlen(known_attrs[i]) == klen && memcmp(known_attrs[i], key, klen) == 0)
			return true;
	return false;
}

static bool ext_name_ok(const char *key, size_t klen)
{
	if (klen < 1 || klen > EXT_NAME_MAX)
		return false;
	for (size_t i = 0; i < klen; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9')))
			return false;
	return true;
}

/* Checks every attribute the envelope does not know by name and keeps the
 * valid ones in ev->extensions, in the order given. */
static int take_extensions(const json_t *obj, struct event *ev, struct cairn_err *err)
{
	const char *key;
	size_t klen;
	json_t *v;

	json_object_keylen_foreach((json_t *)obj, key, klen, v)
	{
		if (is_known(key, klen))
			continue;
		if (klen == strlen("data_base64") && memcmp(key, "data_base64", klen) == 0)
			return fail(err, CAIRN_E_INVALID, "data_base64",
				    "binary data is not supported; send JSON in \"data\" "
				    "(a base64 string inside it if you must)");
		if (klen == 0)
			return fail(err, CAIRN_E_INVALID, "",
				    "an attribute has an empty name; extension names must be 1 to "
				    "20 characters of [a-z0-9]");
		if (!ext_name_ok(key, klen))
			return fail_key(err, CAIRN_E_INVALID, key, klen,
					"is not a known attribute, and an extension name must be "
					"1 to 20 characters of [a-z0-9]");
		if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
			return fail_key(err, CAIRN_E_INVALID, key, klen,
					"an extension attribute must be a string, number or "
					"boolean; it is %s",
					json_kind(v));
		if (json_is_string(v) && !utf8_clean(json_string_value(v), json_string_length(v)))
			return fail_key(err, CAIRN_E_INVALID, key, klen,
					"must be valid UTF-8 with no NUL character");
		if (!ev->extensions)
			ev->extensions = must(json_object());
		if (json_object_set(ev->extensions, key, v) < 0)
			oom("keeping an event extension");
	}
	return 0;
}

static int from_json(const json_t *obj, enum event_parse_mode mode, bool parsed, struct event **out,
		     struct cairn_err *err)
{
	bool stored = mode == EVENT_STORED;
	struct event *ev;
	int r;

	*out = NULL;
	if (err)
		cairn_err_clear(err);
	if (!obj || !json_is_object(obj))
		return fail(err, CAIRN_E_INVALID, "", "an event must be a JSON object, not %s",
			    obj ? json_kind(obj) : "nothing");

	ev = xcalloc(1, sizeof *ev);
	/* Unknown attributes first: a misspelt name ("Type") is a better
	 * message than the "is required" its absence would cause. */
	if ((r = take_extensions(obj, ev, err)) < 0 ||
	    (r = take_specversion(obj, mode, ev, err)) < 0 ||
	    (r = take_str(obj, &R_ID, stored, &ev->id, err)) < 0 ||
	    (r = take_str(obj, &R_SOURCE, true, &ev->source, err)) < 0 ||
	    (r = take_type(obj, ev, err)) < 0 ||
	    (r = take_str(obj, &R_SUBJECT, false, &ev->subject, err)) < 0 ||
	    (r = take_time(obj, mode, ev, err)) < 0 ||
	    (r = take_str(obj, &R_DATACONTENTTYPE, false, &ev->datacontenttype, err)) < 0 ||
	    (r = take_data(obj, parsed, ev, err)) < 0 || (r = take_seq(obj, mode, ev, err)) < 0 ||
	    (r = take_project(obj, ev, err)) < 0 ||
	    (r = take_str(obj, &R_SESSION, false, &ev->session, err)) < 0 ||
	    (r = take_str(obj, &R_CORRELATIONID, false, &ev->correlationid, err)) < 0 ||
	    (r = take_severity(obj, ev, err)) < 0)
		goto out_free_event;

	*out = ev;
	return 0;

out_free_event:
	event_free(ev);
	return r;
}

int event_from_json(const json_t *obj, enum event_parse_mode mode, struct event **out,
		    struct cairn_err *err)
{
	return from_json(obj, mode, false, out, err);
}

int event_from_parsed(const json_t *obj, enum event_parse_mode mode, struct event **out,
		      struct cairn_err *err)
{
	return from_json(obj, mode, true, out, err);
}

int event_parse(const char *buf, size_t len, size_t max_bytes, enum event_parse_mode mode,
		struct event **out, struct cairn_err *err)
{
	json_error_t jerr;
	json_t *obj;
	int r;

	*out = NULL;
	if (len > max_bytes)
		return fail(err, CAIRN_E_TOOBIG, "", "the event is %zu bytes; the limit is %zu",
			    len, max_bytes);
	/* Duplicate keys and trailing bytes are refused (no
	 * JSON_DISABLE_EOF_CHECK); without JSON_ALLOW_NUL a "\u0000" is too.
	 * JSON_DECODE_ANY lets a well-formed non-object through to be refused
	 * as invalid rather than malformed. The common text takes the fast
	 * path (common/jfast.h), with the same result. */
	obj = jfast_or_jansson(buf, len, &jerr);
	if (!obj) {
		/* jansson names its own flag for a \u0000; say what the input did. */
		const char *why =
			strstr(jerr.text, "JSON_ALLOW_NUL") ? "a string holds \\u0000" : jerr.text;
		return fail(err, CAIRN_E_PARSE, "", "malformed JSON at line %d, column %d: %s",
			    jerr.line, jerr.column, why);
	}
	r = event_from_parsed(obj, mode, out, err);
	json_decref(obj);
	return r;
}

void event_fill_defaults(struct event *ev, int64_t now_ms)
{
	if (!ev->specversion)
		ev->specversion = xstrdup("1.0");
	if (!ev->id) {
		char id[ULID_LEN + 1];
		ulid_make(id, now_ms);
		ev->id = xstrdup(id);
	}
	if (!ev->time) {
		char t[TIMEFMT_RFC3339_LEN + 1];
		timefmt_rfc3339(t, now_ms);
		ev->time = xstrdup(t);
		ev->time_ms = now_ms;
	}
}

/* A copy of s with every byte that does not start well-formed UTF-8
 * replaced by U+FFFD. */
static char *utf8_scrub(const char *s)
{
	size_t n = strlen(s);
	char *out = xreallocarray(NULL, n + 1, 3), *o = out;
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t k = utf8_seq_len(p);
		if (k == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		} else {
			memcpy(o, p, k);
			o += k;
			p += k;
		}
	}
	*o = '\0';
	return out;
}

/* Adds a string attribute when present. A validated event holds UTF-8
 * only, but one built by hand might not; its bad bytes are replaced rather
 * than the attribute dropped, so the encoding always says everything. */
static void put_str(json_t *obj, const char *key, const char *s)
{
	json_t *v;

	if (!s)
		return;
	v = json_string(s);
	if (!v) {
		char *clean = utf8_scrub(s);
		v = json_string(clean);
		free(clean);
	}
	if (json_object_set_new(obj, key, must(v)) < 0)
		oom("building an event");
}

json_t *event_to_json(const struct event *ev)
{
	json_t *obj = must(json_object());
	const char *key;
	json_t *v;

	put_str(obj, "specversion", ev->specversion);
	put_str(obj, "id", ev->id);
	put_str(obj, "source", ev->source);
	put_str(obj, "type", ev->type);
	put_str(obj, "subject", ev->subject);
	put_str(obj, "time", ev->time);
	put_str(obj, "datacontenttype", ev->datacontenttype);
	if (ev->data && json_object_set(obj, "data", ev->data) < 0)
		oom("building an event");
	if (ev->seq != 0 && json_object_set_new(obj, "seq", must(json_integer(ev->seq))) < 0)
		oom("building an event");
	put_str(obj, "project", ev->project);
	put_str(obj, "session", ev->session);
	put_str(obj, "correlationid", ev->correlationid);
	if (ev->severity != SEV_UNSET)
		put_str(obj, "severity", event_severity_name(ev->severity));
	if (ev->extensions) {
		json_object_foreach(ev->extensions, key, v) {
			/* A hand-built extension must not overwrite an attribute. */
			if (!json_object_get(obj, key) && json_object_set(obj, key, v) < 0)
				oom("building an event");
		}
	}
	return obj;
}

/* The encoder writes the envelope by hand, in event_to_json()'s order and
 * byte for byte what json_dumps() makes of that object, without building
 * it: the object cost ~20 allocations an event on the daemon's hot path
 * (docs/benchmarks.md). Strings of plain printable ASCII are copied; any
 * other string, data and extensions go through jansson's own dumper, so
 * escaping is never written twice. fuzz/fuzz_envelope.c checks the two
 * encodings are the same on every input it finds. */
struct enc {
	char *p;
	size_t len, cap;
};

static void enc_add(struct enc *e, const char *s, size_t n)
{
	if (n >= e->cap - e->len) {
		size_t cap = e->cap;
		while (n >= cap - e->len)
			cap *= 2;
		e->p = xreallocarray(e->p, cap, 1);
		e->cap = cap;
	}
	memcpy(e->p + e->len, s, n);
	e->len += n;
}

static int enc_cb(const char *buf, size_t size, void *data)
{
	enc_add(data, buf, size);
	return 0;
}

static void enc_json(struct enc *e, const json_t *v)
{
	if (json_dump_callback(v, enc_cb, e, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY))
		oom("encoding an event");
}

/* A string value as put_str() and json_dumps() would write it. */
static void enc_str(struct enc *e, const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
			break;
	}
	if (!s[n]) {
		enc_add(e, "\"", 1);
		enc_add(e, s, n);
		enc_add(e, "\"", 1);
		return;
	}
	json_t *v = json_string(s);
	if (!v) {
		char *clean = utf8_scrub(s);
		v = json_string(clean);
		free(clean);
	}
	if (!v)
		oom("encoding an event");
	enc_json(e, v);
	json_decref(v);
}

/* A string of len bytes that json_dumps() writes as it is, between quotes:
 * no quote, backslash or control character (UTF-8 past ASCII is written
 * unescaped; data_ok() has checked it is valid). */
static bool plain(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
			return false;
	}
	return true;
}

/* The nesting enc_value() writes itself; deeper is left to jansson. */
#define ENC_VALUE_DEPTH 32

/* v as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes it, without
 * the call for what is common in data (objects, arrays, plain strings and
 * keys, integers, literals): jansson's dumper cost a tenth of the daemon's
 * time per event. Anything else (a string to escape, a real, deep nesting)
 * goes to jansson, so escaping and number formatting are never written
 * twice; fuzz/fuzz_envelope.c checks the result against json_dumps(). */
static void enc_value(struct enc *e, const json_t *v, int depth)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		if (depth >= ENC_VALUE_DEPTH)
			break;
		const char *key;
		size_t klen;
		json_t *m;
		bool first = true;
		enc_add(e, "{", 1);
		json_object_keylen_foreach((json_t *)v, key, klen, m)
		{
			if (!first)
				enc_add(e, ",", 1);
			first = false;
			if (plain(key, klen)) {
				enc_add(e, "\"", 1);
				enc_add(e, key, klen);
				enc_add(e, "\"", 1);
			} else {
				json_t *k = json_stringn_nocheck(key, klen);
				if (!k)
					oom("encoding an event");
				enc_json(e, k);
				json_decref(k);
			}
			enc_add(e, ":", 1);
			enc_value(e, m, depth + 1);
		}
		enc_add(e, "}", 1);
		return;
	}
	case JSON_ARRAY: {
		if (depth >= ENC_VALUE_DEPTH)
			break;
		enc_add(e, "[", 1);
		for (size_t i = 0, n = json_array_size(v); i < n; i++) {
			if (i)
				enc_add(e, ",", 1);
			enc_value(e, json_array_get(v, i), depth + 1);
		}
		enc_add(e, "]", 1);
		return;
	}
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (!plain(s, n))
			break;
		enc_add(e, "\"", 1);
		enc_add(e, s, n);
		enc_add(e, "\"", 1);
		return;
	}
	case JSON_INTEGER: {
		char num[32];
		int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		enc_add(e, num, (size_t)n);
		return;
	}
	case JSON_TRUE: enc_add(e, "true", 4); return;
	case JSON_FALSE: enc_add(e, "false", 5); return;
	case JSON_NULL: enc_add(e, "null", 4); return;
	default: break;
	}
	enc_json(e, v);
}

/* The comma before a member (none before the first: only '{' is there). */
static void enc_comma(struct enc *e)
{
	if (e->len > 1)
		enc_add(e, ",", 1);
}

/* ,"key": for an attribute's name (plain ASCII). */
static void enc_key(struct enc *e, const char *key)
{
	enc_comma(e);
	enc_add(e, "\"", 1);
	enc_add(e, key, strlen(key));
	enc_add(e, "\":", 2);
}

static void enc_attr(struct enc *e, const char *key, const char *s)
{
	if (!s)
		return;
	enc_key(e, key);
	enc_str(e, s);
}

/* Whether event_to_json() would already have put key in the object when
 * it comes to the extensions. */
static bool attr_present(const struct event *ev, const char *key)
{
	const struct {
		const char *name;
		bool set;
	} attrs[] = {
		{"specversion", ev->specversion},
		{"id", ev->id},
		{"source", ev->source},
		{"type", ev->type},
		{"subject", ev->subject},
		{"time", ev->time},
		{"datacontenttype", ev->datacontenttype},
		{"data", ev->data},
		{"seq", ev->seq != 0},
		{"project", ev->project},
		{"session", ev->session},
		{"correlationid", ev->correlationid},
		{"severity", ev->severity != SEV_UNSET},
	};
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
		if (attrs[i].set && strcmp(attrs[i].name, key) == 0)
			return true;
	return false;
}

char *event_encode(const struct event *ev, size_t *len)
{
	struct enc e = {.p = xmalloc(512), .len = 0, .cap = 512};
	enc_add(&e, "{", 1);
	enc_attr(&e, "specversion", ev->specversion);
	enc_attr(&e, "id", ev->id);
	enc_attr(&e, "source", ev->source);
	enc_attr(&e, "type", ev->type);
	enc_attr(&e, "subject", ev->subject);
	enc_attr(&e, "time", ev->time);
	enc_attr(&e, "datacontenttype", ev->datacontenttype);
	if (ev->data) {
		enc_key(&e, "data");
		enc_value(&e, ev->data, 0);
	}
	if (ev->seq != 0) {
		char num[32];
		int n = snprintf(num, sizeof num, "%lld", (long long)ev->seq);
		enc_key(&e, "seq");
		enc_add(&e, num, (size_t)n);
	}
	enc_attr(&e, "project", ev->project);
	enc_attr(&e, "session", ev->session);
	enc_attr(&e, "correlationid", ev->correlationid);
	if (ev->severity != SEV_UNSET)
		enc_attr(&e, "severity", event_severity_name(ev->severity));
	if (ev->extensions) {
		const char *key;
		json_t *v;
		json_object_foreach(ev->extensions, key, v) {
			if (attr_present(ev, key))
				continue;
			enc_comma(&e);
			enc_str(&e, key);
			enc_add(&e, ":", 1);
			enc_json(&e, v);
		}
	}
	enc_add(&e, "}", 1);
	e.p[e.len] = '\0'; /* enc_add() always leaves a byte free */
	if (len)
		*len = e.len;
	return e.p;
}

const char *event_severity_name(enum event_severity s)
{
	if ((unsigned)s >= sizeof severity_names / sizeof severity_names[0])
		return "";
	return severity_names[s];
}

int event_severity_parse(const char *s, enum event_severity *out)
{
	if (!s)
		return CAIRN_E_PARSE;
	for (int i = SEV_DEBUG; i <= SEV_CRITICAL; i++) {
		if (strcmp(s, severity_names[i]) == 0) {
			*out = (enum event_severity)i;
			return 0;
		}
	}
	return CAIRN_E_PARSE;
}

void event_free(struct event *ev)
{
	if (!ev)
		return;
	free(ev->specversion);
	free(ev->id);
	free(ev->source);
	free(ev->type);
	free(ev->subject);
	free(ev->time);
	free(ev->datacontenttype);
	json_decref(ev->data);
	free(ev->project);
	free(ev->session);
	free(ev->correlationid);
	json_decref(ev->extensions);
	free(ev);
}
