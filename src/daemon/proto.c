/* Strict parsing of protocol v1 request lines and bounded line splitting. */
#include "daemon/proto.h"

#include "common/err.h"
#include "common/jfast.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "event/pattern.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void linebuf_init(struct linebuf *lb, size_t max)
{
	memset(lb, 0, sizeof *lb);
	buf_init(&lb->line, max);
}

void linebuf_release(struct linebuf *lb)
{
	buf_release(&lb->line);
	memset(lb, 0, sizeof *lb);
}

/* Appends to the line; callers have checked it stays within max. */
static void lb_append(struct linebuf *lb, const char *p, size_t n)
{
	int r = buf_add(&lb->line, p, n);
	assert(r == 0);
	(void)r;
}

size_t linebuf_feed(struct linebuf *lb, const char *data, size_t n, linebuf_fn fn, void *ctx)
{
	struct buf *line = &lb->line;
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(data + i, '\n', n - i);
		size_t chunk = nl ? (size_t)(nl - (data + i)) : n - i;
		if (lb->discarding) {
			lb->seen += chunk; /* count only */
		} else if (line->len + chunk > line->max) {
			/* Keep the line's first bytes (the request id is looked
			 * for there), count the rest. */
			size_t head = line->max < LINEBUF_HEAD ? line->max : LINEBUF_HEAD;
			lb->discarding = true;
			lb->seen = line->len + chunk;
			if (line->len > head)
				buf_setlen(line, head);
			else
				lb_append(lb, data + i,
					  chunk < head - line->len ? chunk : head - line->len);
		} else {
			lb_append(lb, data + i, chunk);
		}
		i += chunk;
		if (!nl)
			break;
		i++; /* the newline */
		int stop;
		if (lb->discarding) {
			stop = fn(ctx, line->data, lb->seen, true);
			lb->discarding = false;
			lb->seen = 0;
		} else {
			/* A trailing '\r' is tolerated (CRLF clients). */
			if (line->len && line->data[line->len - 1] == '\r')
				buf_setlen(line, line->len - 1);
			if (line->len == 0)
				stop = 0;
			else
				stop = fn(ctx, line->data, line->len, false);
		}
		if (line->cap > 64 * 1024)
			buf_release(line); /* do not keep a big buffer after one big line */
		else
			buf_reset(line);
		if (stop)
			return i;
	}
	return i;
}

json_t *proto_scan_rid(const char *head, size_t len)
{
	/* The id is whatever JSON value follows the first "rid": key; only
	 * a string or a number is taken (what clients send). */
	const char *end = head + len;
	for (const char *p = head; p && p < end; p = memchr(p + 1, '"', (size_t)(end - p - 1))) {
		if (*p != '"' || (size_t)(end - p) < 6 || memcmp(p, "\"rid\"", 5) != 0)
			continue;
		const char *q = p + 5;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q >= end || *q != ':')
			continue;
		q++;
		json_error_t je;
		json_t *v = json_loadb(q, (size_t)(end - q),
				       JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
		if (v && (json_is_string(v) || json_is_integer(v)))
			return v;
		json_decref(v);
		return NULL;
	}
	return NULL;
}

void proto_req_release(struct proto_req *req)
{
	json_decref(req->rid);
	event_free(req->ev);
	free(req->pattern);
	free(req->sub);
	free(req->project);
	free(req->action);
	free(req->path);
	free(req->question);
	json_decref(req->entry);
	memset(req, 0, sizeof *req);
}

/* Which fields each op allows (besides op and rid). */
static const char *const allowed[][8] = {
	[OP_HELLO] = {"versions", "client", NULL},
	[OP_PUB] = {"event", "ack", NULL},
	[OP_SUB] = {"pattern", "from", "sub", NULL},
	[OP_UNSUB] = {"sub", NULL},
	[OP_QUERY] = {"pattern", "since", "until", "project", "limit", "order", NULL},
	[OP_STATUS] = {NULL},
	[OP_WATCH] = {"action", "path", NULL},
	[OP_ASK] = {"question", "project", NULL},
	[OP_RECORD] = {"entry", NULL},
};
static const char *const op_names[] = {"hello",  "pub",   "sub", "unsub", "query",
				       "status", "watch", "ask", "record"};

static int bad(struct cairn_err *err, const char *field, const char *fmt, const char *a)
{
	return cairn_err_set(err, CAIRN_E_PROTO, field, fmt, a);
}

/* A log position: "now" (if allow_now), an integer seq >= 0, or RFC 3339 time.
 * A negative seq gets the same message as any other bad value, which offers
 * "now" only where it is allowed. */
static int parse_pos(const json_t *v, const char *field, bool allow_now, struct proto_pos *pos,
		     struct cairn_err *err)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		pos->kind = POS_SEQ;
		pos->seq = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (allow_now && strcmp(s, "now") == 0) {
			pos->kind = POS_NOW;
			return 0;
		}
		if (timefmt_parse_rfc3339(s, &pos->ms) == 0) {
			pos->kind = POS_TIME;
			return 0;
		}
	}
	return bad(err, field,
		   allow_now ? "field '%s' must be \"now\", a seq >= 0 or an RFC 3339 time"
			     : "field '%s' must be a seq >= 0 or an RFC 3339 time",
		   field);
}

static int get_string(const json_t *obj, const char *field, size_t max, char **out,
		      struct cairn_err *err)
{
	const json_t *v = json_object_get(obj, field);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(err, field, "field '%s' must be a string", field);
	size_t len = json_string_length(v);
	if (len == 0 || len > max || strlen(json_string_value(v)) != len) {
		return cairn_err_set(err, CAIRN_E_PROTO, field,
				     "field '%s' must be a non-empty string of at most %zu bytes",
				     field, max);
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int parse_pattern(const json_t *obj, struct proto_req *req, bool required,
			 struct cairn_err *err)
{
	const json_t *v = json_object_get(obj, "pattern");
	if (!v) {
		if (required)
			return bad(err, "pattern", "field '%s' is required", "pattern");
		req->pattern = xstrdup(">");
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, "pattern", "field '%s' must be a string", "pattern");
	const char *why = NULL;
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || !pattern_valid(s, &why)) {
		return cairn_err_set(err, CAIRN_E_BADPATTERN, "pattern",
				     "invalid pattern '%.255s': %s", s,
				     why ? why : "contains a NUL byte");
	}
	req->pattern = xstrdup(s);
	return 0;
}

static int parse_body(const json_t *obj, struct proto_req *req, struct cairn_err *err)
{
	int r;
	const json_t *v;
	switch (req->op) {
	case OP_HELLO:
		v = json_object_get(obj, "versions");
		if (!v)
			return bad(err, "versions", "field '%s' is required", "versions");
		if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 16)
			return bad(err, "versions",
				   "field '%s' must be an array of 1 to 16 integers", "versions");
		for (size_t i = 0; i < json_array_size(v); i++) {
			const json_t *e = json_array_get(v, i);
			if (!json_is_integer(e) || json_integer_value(e) < 1 ||
			    json_integer_value(e) > 1000000)
				return bad(err, "versions",
					   "field '%s' must hold positive integers", "versions");
			req->versions[req->n_versions++] = (int)json_integer_value(e);
		}
		v = json_object_get(obj, "client");
		if (v && (!json_is_string(v) || json_string_length(v) > 256))
			return bad(err, "client",
				   "field '%s' must be a string of at most 256 bytes", "client");
		return 0;
	case OP_PUB: {
		v = json_object_get(obj, "event");
		if (!v)
			return bad(err, "event", "field '%s' is required", "event");
		if (!json_is_object(v))
			return bad(err, "event", "field '%s' must be an object", "event");
		if (event_from_parsed(v, EVENT_PUBLISH, &req->ev, err)) {
			/* Whatever the envelope's own code, on the wire it is
			 * an invalid event. */
			err->code = CAIRN_E_BADEVENT;
			return CAIRN_E_BADEVENT;
		}
		req->ack = ACK_ACCEPTED;
		v = json_object_get(obj, "ack");
		if (v) {
			const char *a = json_is_string(v) ? json_string_value(v) : "";
			if (strcmp(a, "none") == 0)
				req->ack = ACK_NONE;
			else if (strcmp(a, "accepted") == 0)
				req->ack = ACK_ACCEPTED;
			else if (strcmp(a, "durable") == 0)
				req->ack = ACK_DURABLE;
			else
				return bad(
					err, "ack",
					"field '%s' must be \"none\", \"accepted\" or \"durable\"",
					"ack");
		}
		return 0;
	}
	case OP_SUB:
		if ((r = parse_pattern(obj, req, true, err)))
			return r;
		if ((r = get_string(obj, "sub", PROTO_SUB_NAME_MAX, &req->sub, err)))
			return r;
		req->from.kind = POS_NOW;
		v = json_object_get(obj, "from");
		if (v && (r = parse_pos(v, "from", true, &req->from, err)))
			return r;
		return 0;
	case OP_UNSUB:
		if (!json_object_get(obj, "sub"))
			return bad(err, "sub", "field '%s' is required", "sub");
		return get_string(obj, "sub", PROTO_SUB_NAME_MAX, &req->sub, err);
	case OP_QUERY:
		if ((r = parse_pattern(obj, req, false, err)))
			return r;
		if ((v = json_object_get(obj, "since")) &&
		    (r = parse_pos(v, "since", false, &req->since, err)))
			return r;
		if ((v = json_object_get(obj, "until")) &&
		    (r = parse_pos(v, "until", false, &req->until, err)))
			return r;
		if ((r = get_string(obj, "project", 4096, &req->project, err)))
			return r;
		req->limit = PROTO_QUERY_LIMIT_DEFAULT;
		if ((v = json_object_get(obj, "limit"))) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > PROTO_QUERY_LIMIT_MAX) {
				return cairn_err_set(
					err, CAIRN_E_PROTO, "limit",
					"field 'limit' must be an integer from 1 to %d",
					PROTO_QUERY_LIMIT_MAX);
			}
			req->limit = (size_t)json_integer_value(v);
		}
		if ((v = json_object_get(obj, "order"))) {
			const char *o = json_is_string(v) ? json_string_value(v) : "";
			if (strcmp(o, "desc") == 0)
				req->desc = true;
			else if (strcmp(o, "asc") != 0)
				return bad(err, "order", "field '%s' must be \"asc\" or \"desc\"",
					   "order");
		}
		return 0;
	case OP_STATUS: return 0;
	case OP_ASK:
		if (!json_object_get(obj, "question"))
			return bad(err, "question", "field '%s' is required", "question");
		if ((r = get_string(obj, "question", PROTO_QUESTION_MAX, &req->question, err)))
			return r;
		if (!*req->question)
			return bad(err, "question", "field '%s' must not be empty", "question");
		if ((r = get_string(obj, "project", 4096, &req->project, err)))
			return r;
		if (req->project && req->project[0] != '/')
			return bad(err, "project", "field '%s' must be an absolute path",
				   "project");
		return 0;
	case OP_RECORD: {
		/* The entry's fields are checked by the knowledge base itself
		 * (kb_add()), which names the one at fault. */
		v = json_object_get(obj, "entry");
		if (!v)
			return bad(err, "entry", "field '%s' is required", "entry");
		if (!json_is_object(v))
			return bad(err, "entry", "field '%s' must be an object", "entry");
		const char *k;
		const json_t *x;
		json_object_foreach((json_t *)v, k, x) {
			if (strcmp(k, "kind") && strcmp(k, "title") && strcmp(k, "body") &&
			    strcmp(k, "tags") && strcmp(k, "files") && strcmp(k, "project"))
				return cairn_err_set(
					err, CAIRN_E_PROTO, "entry",
					"unknown field 'entry.%.64s'; an entry has kind, "
					"title, body, tags, files and project",
					k);
			if (!json_is_string(x) && !(strcmp(k, "project") == 0 && json_is_null(x)))
				return cairn_err_set(err, CAIRN_E_PROTO, "entry",
						     "field 'entry.%.64s' must be a string", k);
		}
		req->entry = json_incref((json_t *)v);
		return 0;
	}
	case OP_WATCH:
		if (!json_object_get(obj, "action"))
			return bad(err, "action", "field '%s' is required", "action");
		if ((r = get_string(obj, "action", 8, &req->action, err)))
			return r;
		if (strcmp(req->action, "add") && strcmp(req->action, "rm") &&
		    strcmp(req->action, "list"))
			return bad(err, "action", "field '%s' must be \"add\", \"rm\" or \"list\"",
				   "action");
		if ((r = get_string(obj, "path", 4096, &req->path, err)))
			return r;
		if (strcmp(req->action, "list") && (!req->path || req->path[0] != '/'))
			return bad(err, "path", "field '%s' must be an absolute path", "path");
		return 0;
	}
	return CAIRN_E_PROTO;
}

int proto_parse(const char *line, size_t len, struct proto_req *req, struct cairn_err *err)
{
	memset(req, 0, sizeof *req);
	cairn_err_clear(err);
	json_error_t je;
	json_t *obj = jfast_or_jansson(line, len, &je);
	int r = CAIRN_E_PROTO;
	if (!obj)
		return cairn_err_set(err, CAIRN_E_PARSE, "", "malformed JSON at column %d: %s",
				     je.column, je.text);
	if (!json_is_object(obj)) {
		cairn_err_set(err, CAIRN_E_PROTO, "", "a request must be a JSON object");
		goto out_free;
	}
	const json_t *rid = json_object_get(obj, "rid");
	if (rid) {
		if (!(json_is_integer(rid) ||
		      (json_is_string(rid) && json_string_length(rid) <= 128))) {
			cairn_err_set(
				err, CAIRN_E_PROTO, "rid",
				"field 'rid' must be an integer or a string of at most 128 bytes");
			goto out_free;
		}
		req->rid = json_incref((json_t *)rid);
	}
	const json_t *op = json_object_get(obj, "op");
	if (!op) {
		cairn_err_set(err, CAIRN_E_PROTO, "op", "field 'op' is required");
		goto out_free;
	}
	if (!json_is_string(op)) {
		cairn_err_set(err, CAIRN_E_PROTO, "op", "field 'op' must be a string");
		goto out_free;
	}
	size_t i;
	for (i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (strcmp(json_string_value(op), op_names[i]) == 0)
			break;
	if (i == sizeof op_names / sizeof op_names[0]) {
		r = cairn_err_set(
			err, CAIRN_E_UNKNOWN_OP, "op",
			"unknown op '%.64s'; expected hello, pub, sub, unsub, query, status, "
			"watch, ask or record",
			json_string_value(op));
		goto out_free;
	}
	req->op = (enum proto_op)i;
	const char *key;
	const json_t *val;
	json_object_foreach((json_t *)obj, key, val) {
		if (strcmp(key, "op") == 0 || strcmp(key, "rid") == 0)
			continue;
		bool ok = false;
		for (const char *const *a = allowed[req->op]; *a; a++)
			if (strcmp(key, *a) == 0)
				ok = true;
		if (!ok) {
			char field[sizeof err->field];
			snprintf(field, sizeof field, "%.63s", key);
			cairn_err_set(err, CAIRN_E_PROTO, field,
				      "unknown field '%.64s' for op '%s'", key, op_names[req->op]);
			goto out_free;
		}
	}
	r = parse_body(obj, req, err);
out_free:
	json_decref(obj);
	return r;
}

/* Length of the UTF-8 sequence at s if it is one JSON may carry, else 0. */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing over U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Error text quotes what the peer sent, cut to fit a buffer, so the cut may
 * split a multi-byte character. json_string() refuses that, which would drop
 * the message or field from the reply; such bytes become '?' instead. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char *t = xstrdup(s);
	for (size_t i = 0; t[i];) {
		size_t n = utf8_seq_len((const unsigned char *)t + i);
		if (n == 0) {
			t[i] = '?';
			n = 1;
		}
		i += n;
	}
	j = json_string(t);
	free(t);
	return j;
}

char *proto_json_line(json_t *o, size_t *len)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	size_t n = strlen(s);
	char *line = xmalloc(n + 2);
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	free(s);
	if (len)
		*len = n + 1;
	return line;
}

char *proto_error_line(const json_t *rid, const struct cairn_err *err, size_t *len)
{
	json_t *e = json_object();
	json_object_set_new(e, "code",
			    json_string(err->code ? err_wire(err->code) : "bad_request"));
	if (err->field[0])
		json_object_set_new(e, "field", json_text(err->field));
	json_object_set_new(e, "message", json_text(err->msg));
	json_t *o = json_object();
	if (rid)
		json_object_set(o, "rid", (json_t *)rid);
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", e);
	return proto_json_line(o, len);
}

char *proto_ok_line(const json_t *rid, json_t *obj, size_t *len)
{
	json_t *o = json_object();
	if (rid)
		json_object_set(o, "rid", (json_t *)rid);
	json_object_set_new(o, "ok", json_true());
	json_object_update(o, obj);
	json_decref(obj);
	return proto_json_line(o, len);
}
