/* The model server client (model.h): the reply parser first, pure and
 * fuzzed (fuzz/fuzz_model_reply.c), then the HTTP side over libcurl. */
#include "model/model.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "model/curldl.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* finish_reason is a short token; anything longer is cut to this. */
#define FINISH_MAX 64
/* How much of an untrusted string (a name, a server's message) an error
 * message quotes. */
#define QUOTE_MAX 80
#define SERVER_MSG_MAX 200
/* How much of the URL an error message shows. */
#define URL_SHOWN_MAX 160

static const char WS[] = " \t\r\n";

/* ---- small helpers ---- */

/* The largest n <= max such that s[0..n) does not end inside a UTF-8
 * sequence (s is len bytes of valid UTF-8, or at least treated as such). */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Copies at most the first n bytes of s into dst (size dstsz), cut at a
 * UTF-8 boundary, with control characters made '?', and "..." when cut: a
 * quote of untrusted text for an error message. */
static void quote(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t room = dstsz - 4; /* "..." and the NUL */
	size_t k = utf8_cut(s, n, room);
	size_t w = 0;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[w++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (k < n)
		memcpy(dst + w, "...", 3), w += 3;
	dst[w] = '\0';
}

static bool name_ok(const char *s, size_t n)
{
	if (n < 1 || n > MODEL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static bool id_ok(const json_t *v)
{
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n < 1 || n > MODEL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* s[*from..*to) with white space trimmed off both ends. */
static void trim(const char *s, size_t *from, size_t *to)
{
	while (*from < *to && strchr(WS, s[*from]) && s[*from])
		(*from)++;
	while (*to > *from && strchr(WS, s[*to - 1]) && s[*to - 1])
		(*to)--;
}

/* ---- the reply parser ---- */

void model_reply_release(struct model_reply *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_calls; i++) {
		free(r->calls[i].id);
		free(r->calls[i].name);
		json_decref(r->calls[i].arguments);
		free(r->calls[i].arguments_text);
	}
	free(r->calls);
	free(r->content);
	free(r->finish_reason);
	json_decref(r->assistant_message);
	memset(r, 0, sizeof *r);
}

/* Adds an empty call to r (the array holds MODEL_CALLS_MAX). Returns it, or
 * NULL when r already holds MODEL_CALLS_MAX calls. */
static struct model_tool_call *call_new(struct model_reply *r)
{
	if (r->n_calls >= MODEL_CALLS_MAX)
		return NULL;
	if (!r->calls)
		r->calls = xcalloc(MODEL_CALLS_MAX, sizeof *r->calls);
	return &r->calls[r->n_calls++];
}

/* A call's label for messages: "tool call 2 (search)". */
static void call_label(char *dst, size_t n, size_t i, const char *name)
{
	if (name)
		snprintf(dst, n, "tool call %zu (%s)", i + 1, name);
	else
		snprintf(dst, n, "tool call %zu", i + 1);
}

/* Fills c->arguments or c->arguments_text from a (NULL when absent).
 * Returns 0, or CAIRN_E_PROTO when the arguments are over MODEL_ARGS_MAX. */
static int take_args(const json_t *a, struct model_tool_call *c, size_t i, const char *field,
		     struct cairn_err *err)
{
	char what[MODEL_NAME_MAX + 32];
	call_label(what, sizeof what, i, c->name);

	if (!a || json_is_null(a)) {
		c->arguments = json_object();
		return 0;
	}
	if (json_is_object(a)) {
		size_t n = json_dumpb(a, NULL, 0, JSON_COMPACT);
		if (n > MODEL_ARGS_MAX)
			return cairn_err_set(
				err, CAIRN_E_PROTO, field,
				"%s has %zu bytes of arguments; at most %u are accepted", what, n,
				MODEL_ARGS_MAX);
		c->arguments = json_incref((json_t *)a);
		return 0;
	}
	if (!json_is_string(a)) {
		/* A number, an array, a boolean: not arguments, but kept as text
		 * so that the model can be told what it sent. */
		char *t = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!t || strlen(t) > MODEL_ARGS_MAX) {
			free(t);
			return cairn_err_set(err, CAIRN_E_PROTO, field,
					     "%s has arguments over %u bytes", what,
					     MODEL_ARGS_MAX);
		}
		c->arguments_text = t;
		return 0;
	}
	const char *s = json_string_value(a);
	size_t len = json_string_length(a), from = 0, to = len;
	if (len > MODEL_ARGS_MAX)
		return cairn_err_set(err, CAIRN_E_PROTO, field,
				     "%s has %zu bytes of arguments; at most %u are accepted", what,
				     len, MODEL_ARGS_MAX);
	trim(s, &from, &to);
	if (from == to) {
		/* "" is how some servers write a call without arguments. */
		c->arguments = json_object();
		return 0;
	}
	json_t *v = json_loadb(s + from, to - from, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (json_is_string(v)) {
		/* Encoded twice: "\"{\\\"q\\\": 1}\"". */
		json_t *inner = json_loadb(json_string_value(v), json_string_length(v),
					   JSON_REJECT_DUPLICATES, NULL);
		json_decref(v);
		v = inner;
	}
	if (json_is_object(v)) {
		c->arguments = v;
		return 0;
	}
	json_decref(v);
	c->arguments_text = xstrndup(s, len);
	return 0;
}

/* Makes every call's id present and unique: a server's id repeated by a
 * later call is dropped, then every call without one gets the first free
 * "call_<k>", k counting from 1. */
static void fill_ids(struct model_reply *r)
{
	for (size_t i = 0; i < r->n_calls; i++) {
		if (!r->calls[i].id)
			continue;
		for (size_t j = 0; j < i; j++)
			if (r->calls[j].id && strcmp(r->calls[j].id, r->calls[i].id) == 0) {
				free(r->calls[i].id);
				r->calls[i].id = NULL;
				break;
			}
	}
	unsigned k = 0;
	for (size_t i = 0; i < r->n_calls; i++) {
		if (r->calls[i].id)
			continue;
		char id[32];
		bool taken;
		do {
			snprintf(id, sizeof id, "call_%u", ++k);
			taken = false;
			for (size_t j = 0; j < r->n_calls && !taken; j++)
				taken = r->calls[j].id && strcmp(r->calls[j].id, id) == 0;
		} while (taken);
		r->calls[i].id = xstrdup(id);
	}
}

/* The calls of message.tool_calls. */
static int take_tool_calls(const json_t *tc, struct model_reply *r, struct cairn_err *err)
{
	char field[64];
	int ret;

	if (!tc || json_is_null(tc))
		return 0;
	if (!json_is_array(tc))
		return cairn_err_set(err, CAIRN_E_PROTO, "tool_calls",
				     "the reply's message.tool_calls is not an array");
	if (json_array_size(tc) > MODEL_CALLS_MAX)
		return cairn_err_set(err, CAIRN_E_PROTO, "tool_calls",
				     "the reply has %zu tool calls; at most %u are accepted",
				     json_array_size(tc), MODEL_CALLS_MAX);
	for (size_t i = 0; i < json_array_size(tc); i++) {
		const json_t *item = json_array_get(tc, i);
		snprintf(field, sizeof field, "tool_calls[%zu]", i);
		if (!json_is_object(item))
			return cairn_err_set(err, CAIRN_E_PROTO, field,
					     "tool call %zu of the reply is not an object", i + 1);
		/* {"function": {name, arguments}}, or tolerantly the flat
		 * {name, arguments} some servers write. */
		const json_t *fn = json_object_get(item, "function");
		if (!fn)
			fn = item;
		else if (!json_is_object(fn))
			return cairn_err_set(err, CAIRN_E_PROTO, field,
					     "tool call %zu's \"function\" is not an object",
					     i + 1);
		const json_t *name = json_object_get(fn, "name");
		snprintf(field, sizeof field, "tool_calls[%zu].function.name", i);
		if (!json_is_string(name))
			return cairn_err_set(err, CAIRN_E_PROTO, field,
					     "tool call %zu has no name (a string)", i + 1);
		if (!name_ok(json_string_value(name), json_string_length(name))) {
			char q[QUOTE_MAX];
			quote(q, sizeof q, json_string_value(name), json_string_length(name));
			return cairn_err_set(
				err, CAIRN_E_PROTO, field,
				"tool call %zu's name \"%s\" is not a tool name (1 to %u "
				"bytes of A-Z, a-z, 0-9, '_', '.' and '-')",
				i + 1, q, MODEL_NAME_MAX);
		}
		struct model_tool_call *c = call_new(r);
		assert(c); /* the count was checked above */
		c->name = xstrdup(json_string_value(name));
		const json_t *id = json_object_get(item, "id");
		if (id_ok(id))
			c->id = xstrdup(json_string_value(id));
		const json_t *args = json_object_get(fn, "arguments");
		if (!args)
			args = json_object_get(fn, "parameters");
		snprintf(field, sizeof field, "tool_calls[%zu].function.arguments", i);
		if ((ret = take_args(args, c, i, field, err)) < 0)
			return ret;
	}
	return 0;
}

/* The text of message.content: a string, null (""), or an array of parts
 * whose "text" members are joined; cut to MODEL_CONTENT_MAX. Sets *out. */
static int take_content(const json_t *c, char **out, struct cairn_err *err)
{
	if (!c || json_is_null(c)) {
		*out = xstrdup("");
		return 0;
	}
	if (json_is_string(c)) {
		size_t n = utf8_cut(json_string_value(c), json_string_length(c), MODEL_CONTENT_MAX);
		*out = xstrndup(json_string_value(c), n);
		return 0;
	}
	if (!json_is_array(c))
		return cairn_err_set(err, CAIRN_E_PROTO, "content",
				     "the reply's message.content is neither a string, null nor an "
				     "array of text parts");
	struct buf b = BUF_INIT(MODEL_CONTENT_MAX);
	size_t i;
	const json_t *part;
	json_array_foreach(c, i, part) {
		const json_t *text = json_object_get(part, "text");
		const json_t *type = json_object_get(part, "type");
		if (!json_is_string(text) ||
		    (type &&
		     !(json_is_string(type) && strcmp(json_string_value(type), "text") == 0)))
			continue;
		const char *s = json_string_value(text);
		size_t n = json_string_length(text);
		if (buf_add(&b, s, n) < 0) {
			(void)buf_add(&b, s, utf8_cut(s, n, b.max - b.len));
			break;
		}
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

/* ---- tool calls written into the content ---- */

/* A stretch of the content taken by a recovered call. */
struct span {
	size_t from, to;
};

/* Parses s[from..to), trimmed, as a JSON object (no duplicate keys); NULL
 * when it is not one. */
static json_t *parse_object(const char *s, size_t from, size_t to)
{
	trim(s, &from, &to);
	if (from == to || s[from] != '{')
		return NULL;
	json_t *v = json_loadb(s + from, to - from, JSON_REJECT_DUPLICATES, NULL);
	if (v && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* Whether every key of o is one of keys (NULL-terminated). */
static bool only_keys(const json_t *o, const char *const *keys)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		bool known = false;
		for (const char *const *p = keys; *p && !known; p++)
			known = strcmp(k, *p) == 0;
		if (!known)
			return false;
	}
	return true;
}

/* Reads a call written as JSON text into a new call of r: {"name": N,
 * "arguments"|"parameters": ...}, or the same inside {"function": {...}}.
 * strict (a bare object or a fenced block, where text that merely looks like
 * data must not become a call): the arguments must be there and no other
 * keys but "type" and "id". Returns 1 when o is such a call, 0 when it is
 * not (nothing is added), or CAIRN_E_PROTO (too many calls, arguments too
 * large). */
static int call_from_object(const json_t *o, bool strict, struct model_reply *r,
			    struct cairn_err *err)
{
	static const char *const outer_keys[] = {"function", "type", "id", NULL};
	static const char *const call_keys[] = {"name", "arguments", "parameters",
						"type", "id",        NULL};
	const json_t *fn = json_object_get(o, "function");
	if (json_is_object(fn)) {
		if (strict && !only_keys(o, outer_keys))
			return 0;
	} else {
		fn = o;
	}
	if (strict && !only_keys(fn, call_keys))
		return 0;
	const json_t *name = json_object_get(fn, "name");
	if (!json_is_string(name) || !name_ok(json_string_value(name), json_string_length(name)))
		return 0;
	const json_t *args = json_object_get(fn, "arguments");
	if (!args)
		args = json_object_get(fn, "parameters");
	if (strict && !args)
		return 0;
	if (r->n_calls >= MODEL_CALLS_MAX)
		return cairn_err_set(err, CAIRN_E_PROTO, "content",
				     "the reply's content holds more than %u tool calls",
				     MODEL_CALLS_MAX);
	struct model_tool_call *c = call_new(r);
	assert(c); /* the count was checked above */
	c->name = xstrdup(json_string_value(name));
	c->from_content = true;
	const json_t *id = json_object_get(o, "id");
	if (!id_ok(id))
		id = json_object_get(fn, "id");
	if (id_ok(id))
		c->id = xstrdup(json_string_value(id));
	int ret = take_args(args, c, r->n_calls - 1, "content", err);
	return ret < 0 ? ret : 1;
}

/* Where the search for calls starts: after a leading <think>...</think>
 * block (a reasoning model's thoughts mention tools without calling them);
 * the end of s when the block is never closed. */
static size_t after_think(const char *s, size_t len)
{
	size_t i = 0, to = len;
	trim(s, &i, &to);
	if (strncmp(s + i, "<think>", 7) != 0)
		return 0;
	const char *end = strstr(s + i + 7, "</think>");
	return end ? (size_t)(end - s) + 8 : len;
}

/* <tool_call>{...}</tool_call>, any number; the last may be unclosed. */
static int find_tagged(const char *s, size_t len, size_t pos, struct model_reply *r,
		       struct span *sp, size_t *nsp, struct cairn_err *err)
{
	static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>";
	const char *p, *q = NULL;
	bool q_known = false;

	while (pos < len && (p = strstr(s + pos, OPEN))) {
		size_t from = (size_t)(p - s), inner = from + sizeof OPEN - 1;
		/* The next closing tag, looked for again only once passed: many
		 * opening tags and no closing one cost one scan, not one each. */
		if (!q_known || (q && q < s + inner)) {
			q = strstr(s + inner, CLOSE);
			q_known = true;
		}
		size_t inner_end = q ? (size_t)(q - s) : len;
		size_t to = q ? inner_end + sizeof CLOSE - 1 : len;
		json_t *o = parse_object(s, inner, inner_end);
		int got = o ? call_from_object(o, false, r, err) : 0;
		json_decref(o);
		if (got < 0)
			return got;
		if (got) {
			sp[(*nsp)++] = (struct span){from, to};
			pos = to;
		} else {
			pos = inner;
		}
	}
	return 0;
}

/* ```json ... ``` blocks, any number. */
static int find_fenced(const char *s, size_t len, size_t pos, struct model_reply *r,
		       struct span *sp, size_t *nsp, struct cairn_err *err)
{
	static const char OPEN[] = "```json", CLOSE[] = "```";
	const char *p;

	while (pos < len && (p = strstr(s + pos, OPEN))) {
		size_t from = (size_t)(p - s), inner = from + sizeof OPEN - 1;
		if (!s[inner] || !strchr(WS, s[inner])) {
			pos = inner; /* ```jsonc, ```json5: not ours */
			continue;
		}
		const char *q = strstr(s + inner, CLOSE);
		if (!q)
			break;
		size_t inner_end = (size_t)(q - s), to = inner_end + sizeof CLOSE - 1;
		json_t *o = parse_object(s, inner, inner_end);
		int got = o ? call_from_object(o, true, r, err) : 0;
		json_decref(o);
		if (got < 0)
			return got;
		if (got)
			sp[(*nsp)++] = (struct span){from, to};
		pos = to;
	}
	return 0;
}

/* Recovers tool calls written into the content (model.h says which forms)
 * and, when there were any, cuts them out of *content. */
static int recover_calls(char **content, struct model_reply *r, struct cairn_err *err)
{
	const char *s = *content;
	size_t len = strlen(s), pos = after_think(s, len), nsp = 0;
	struct span sp[MODEL_CALLS_MAX];
	int ret;

	if ((ret = find_tagged(s, len, pos, r, sp, &nsp, err)) < 0)
		return ret;
	if (nsp == 0) {
		size_t from = pos, to = len;
		trim(s, &from, &to);
		json_t *o = parse_object(s, from, to);
		ret = o ? call_from_object(o, true, r, err) : 0;
		json_decref(o);
		if (ret < 0)
			return ret;
		if (ret)
			sp[nsp++] = (struct span){from, to};
	}
	if (nsp == 0 && (ret = find_fenced(s, len, pos, r, sp, &nsp, err)) < 0)
		return ret;
	if (nsp == 0)
		return 0;

	/* The spans are in order and apart: keep what lies between them. */
	struct buf b = BUF_INIT(len);
	size_t at = 0;
	for (size_t i = 0; i < nsp; i++) {
		(void)buf_add(&b, s + at, sp[i].from - at);
		at = sp[i].to;
	}
	(void)buf_add(&b, s + at, len - at);
	size_t from = 0, to = b.len;
	trim(b.data, &from, &to);
	char *kept = xstrndup(b.data + from, to - from);
	buf_release(&b);
	free(*content);
	*content = kept;
	return 0;
}

/* The assistant's turn to send back: model.h says what it holds. NULL only
 * when jansson cannot build it (out of memory; every string in it is valid
 * UTF-8, as jansson gave it or cut at a character boundary). */
static json_t *assistant_message(const struct model_reply *r)
{
	json_t *m = json_pack("{s:s, s:s}", "role", "assistant", "content", r->content);
	if (!m || r->n_calls == 0)
		return m;
	json_t *calls = json_array();
	for (size_t i = 0; i < r->n_calls; i++) {
		const struct model_tool_call *c = &r->calls[i];
		char *args = c->arguments ? json_dumps(c->arguments, JSON_COMPACT) : NULL;
		json_t *tc =
			json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", c->id, "type", "function",
				  "function", "name", c->name, "arguments", args ? args : "{}");
		free(args);
		if (json_array_append_new(calls, tc) < 0) {
			json_decref(calls);
			json_decref(m);
			return NULL;
		}
	}
	json_object_set_new(m, "tool_calls", calls);
	return m;
}

int model_parse_reply(const char *body, size_t len, struct model_reply *out, struct cairn_err *err)
{
	json_error_t je;
	json_t *root;
	int ret;

	memset(out, 0, sizeof *out);
	cairn_err_clear(err);
	if (!(root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)))
		return cairn_err_set(err, CAIRN_E_PROTO, "", "the reply is not JSON: %s (line %d)",
				     je.text, je.line);
	if (!json_is_object(root)) {
		ret = cairn_err_set(err, CAIRN_E_PROTO, "", "the reply is not a JSON object");
		goto out;
	}
	const json_t *choices = json_object_get(root, "choices");
	if (!json_is_array(choices) || json_array_size(choices) == 0) {
		/* An error object in a 200 (some proxies do that). */
		const json_t *e = json_object_get(root, "error");
		const json_t *m = json_is_object(e) ? json_object_get(e, "message") : e;
		if (json_is_string(m)) {
			char q[SERVER_MSG_MAX];
			quote(q, sizeof q, json_string_value(m), json_string_length(m));
			ret = cairn_err_set(err, CAIRN_E_PROTO, "error",
					    "the reply is an error: %s", q);
		} else {
			ret = cairn_err_set(err, CAIRN_E_PROTO, "choices",
					    "the reply has no choices");
		}
		goto out;
	}
	const json_t *choice = json_array_get(choices, 0);
	const json_t *msg = json_object_get(choice, "message");
	if (!json_is_object(msg)) {
		ret = cairn_err_set(err, CAIRN_E_PROTO, "choices[0].message",
				    "the reply's choices[0].message is missing or not an object");
		goto out;
	}
	const json_t *fr = json_object_get(choice, "finish_reason");
	out->finish_reason = json_is_string(fr)
				     ? xstrndup(json_string_value(fr),
						utf8_cut(json_string_value(fr),
							 json_string_length(fr), FINISH_MAX))
				     : xstrdup("");
	if ((ret = take_content(json_object_get(msg, "content"), &out->content, err)) < 0 ||
	    (ret = take_tool_calls(json_object_get(msg, "tool_calls"), out, err)) < 0)
		goto out;
	if (out->n_calls == 0 && (ret = recover_calls(&out->content, out, err)) < 0)
		goto out;
	fill_ids(out);
	if (!(out->assistant_message = assistant_message(out))) {
		ret = cairn_err_set(err, CAIRN_E_PROTO, "",
				    "the reply cannot be turned into the assistant's message");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		model_reply_release(out);
	json_decref(root);
	return ret;
}

/* ---- HTTP ---- */

/* One request's state, shared with libcurl's callbacks. */
struct xfer {
	struct buf body; /* the response body, at most max_body */
	bool toobig;     /* the body went past max_body */
	bool slow;       /* cut: too slow to finish by the deadline */
	bool cancelled;  /* cut: cfg->cancel was set */
	const atomic_int *cancel;
	uint64_t deadline_ns;
	uint64_t start_ns;
	uint64_t first_ns;   /* when body bytes were first seen; 0: not yet */
	curl_off_t first_at; /* how many there were then */
	curl_off_t got, total;
};

/* A body that has been arriving for this long is judged on its rate. */
#define DRIP_WINDOW_NS (1000ull * 1000 * 1000)
/* Without a Content-Length, the slowest rate accepted (bytes per second). */
#define DRIP_MIN_BPS 1024

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	(void)size; /* always 1 */
	if (buf_add(&x->body, p, n) < 0) {
		x->toobig = true;
		return CURL_WRITEFUNC_ERROR;
	}
	return n;
}

/* The low-speed limit: a body that has started must keep a pace that ends
 * it by the deadline. Waiting for the first byte is not judged (a model may
 * think for long before it sends anything), which is why this is not
 * CURLOPT_LOW_SPEED_LIMIT (it counts that wait as slowness). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ud;
	uint64_t now = clock_mono_ns();
	(void)ultotal, (void)ulnow;

	if (x->cancel && atomic_load(x->cancel)) {
		x->cancelled = true;
		return 1;
	}
	x->got = dlnow;
	x->total = dltotal;
	if (dlnow <= 0)
		return 0;
	if (!x->first_ns) {
		x->first_ns = now;
		x->first_at = dlnow;
		return 0;
	}
	uint64_t spent = now - x->first_ns;
	if (spent < DRIP_WINDOW_NS || now >= x->deadline_ns)
		return 0;
	double rate = (double)(dlnow - x->first_at) / ((double)spent / 1e9); /* bytes/s */
	if (dltotal > 0) {
		double left = (double)(dltotal - dlnow);
		double need_s = rate > 0 ? left / rate : 1e18;
		if ((double)now + need_s * 1e9 > (double)x->deadline_ns) {
			x->slow = true;
			return 1;
		}
	} else if (rate < DRIP_MIN_BPS) {
		x->slow = true;
		return 1;
	}
	return 0;
}

/* The parts of the configured URL a request needs. */
struct target {
	char *url;                     /* the request's URL */
	char shown[URL_SHOWN_MAX + 8]; /* for messages: no user, password, query */
	bool loopback;
};

static void target_release(struct target *t)
{
	curl_free(t->url);
	t->url = NULL;
}

/* Checks cfg->url and makes the URL of endpoint ("/chat/completions"). */
static int target_make(const struct model_config *cfg, const char *endpoint, struct target *t,
		       struct cairn_err *err)
{
	char q[URL_SHOWN_MAX];
	char *scheme = NULL, *host = NULL, *path = NULL, *shown = NULL;
	CURLU *u;
	int ret;

	memset(t, 0, sizeof *t);
	if (!cfg->url || !cfg->url[0])
		return cairn_err_set(err, CAIRN_E_INVALID, "url",
				     "no model server URL is set (e.g. http://127.0.0.1:11434/v1)");
	/* libcurl is loaded here, the first use on every path (curldl.h). */
	if ((ret = curldl_load(err)) < 0)
		return ret;
	quote(q, sizeof q, cfg->url, strlen(cfg->url));
	if (!(u = curl_url()))
		return cairn_err_set(err, -ENOMEM, "url", "out of memory");
	if (curl_url_set(u, CURLUPART_URL, cfg->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		ret = cairn_err_set(err, CAIRN_E_INVALID, "url",
				    "the model server URL '%s' is not an http:// or https:// URL "
				    "(e.g. http://127.0.0.1:11434/v1)",
				    q);
		goto out;
	}
	t->loopback = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
		      strcmp(host, "[::1]") == 0;
	/* The shown URL: without credentials, query or fragment. */
	curl_url_set(u, CURLUPART_USER, NULL, 0);
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
	char *query = NULL;
	(void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_set(u, CURLUPART_QUERY, NULL, 0);
	curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &shown, 0) == CURLUE_OK) {
		size_t n = strlen(shown);
		while (n > 0 && shown[n - 1] == '/')
			n--;
		quote(t->shown, sizeof t->shown, shown, n);
	} else {
		snprintf(t->shown, sizeof t->shown, "%s", q);
	}
	/* The request's URL: the base path, without trailing slashes, plus
	 * the endpoint; the query stays. */
	if (query)
		curl_url_set(u, CURLUPART_QUERY, query, 0);
	curl_free(query);
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		ret = cairn_err_set(err, -ENOMEM, "url", "out of memory");
		goto out;
	}
	size_t n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	char *full = xasprintf("%.*s%s", (int)n, path, endpoint);
	CURLUcode uc = curl_url_set(u, CURLUPART_PATH, full, 0);
	free(full);
	if (uc != CURLUE_OK || curl_url_get(u, CURLUPART_URL, &t->url, 0) != CURLUE_OK) {
		ret = cairn_err_set(err, CAIRN_E_INVALID, "url",
				    "the model server URL '%s' cannot be extended with '%s'", q,
				    endpoint);
		goto out;
	}
	ret = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(shown);
	curl_url_cleanup(u);
	return ret;
}

/* The server's message in an error body: error.message, error (a string),
 * message or detail, else the body's text when it is short; "" when none. */
static void server_message(const struct buf *body, char *dst, size_t n)
{
	json_t *v = json_loadb(body->data, body->len, 0, NULL);
	const json_t *m = NULL;

	dst[0] = '\0';
	if (json_is_object(v)) {
		const json_t *e = json_object_get(v, "error");
		if (json_is_object(e))
			m = json_object_get(e, "message");
		else if (json_is_string(e))
			m = e;
		if (!json_is_string(m))
			m = json_object_get(v, "message");
		if (!json_is_string(m))
			m = json_object_get(v, "detail");
		if (json_is_string(m))
			quote(dst, n, json_string_value(m), json_string_length(m));
	} else if (!v && body->len > 0) {
		size_t from = 0, to = body->len;
		trim(body->data, &from, &to);
		quote(dst, n, body->data + from, to - from);
	}
	json_decref(v);
}

/* Turns a finished transfer into 0 (HTTP 200; the body is in x->body) or an
 * error with a message. */
static int transfer_result(CURL *h, CURLcode rc, const char *errbuf, const struct target *t,
			   const struct xfer *x, size_t sent_len, uint64_t deadline_ns,
			   struct cairn_err *err)
{
	uint64_t now = clock_mono_ns();
	long status = 0, os_errno = 0;
	curl_off_t connect_us = 0, uploaded = 0;
	unsigned long long spent_ms = (now - x->start_ns) / 1000000;
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	bool connected;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded);

	switch (rc) {
	case CURLE_OK: break;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED)
			return cairn_err_set(err, CAIRN_E_DOWN, "url",
					     "the model server at %s: connection refused; is it "
					     "running? (cairn ask answers without it)",
					     t->shown);
		return cairn_err_set(err, CAIRN_E_DOWN, "url",
				     "the model server at %s cannot be reached: %s; is it running "
				     "and is the URL right? (cairn ask answers without it)",
				     t->shown, os_errno ? strerror((int)os_errno) : why);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return cairn_err_set(err, CAIRN_E_DOWN, "url",
				     "the model server at %s: its host name does not resolve; is "
				     "the URL right? (cairn ask answers without it)",
				     t->shown);
	case CURLE_OPERATION_TIMEDOUT:
		connected = connect_us > 0 || uploaded > 0 || status > 0 || x->body.len > 0;
		if (!connected && now + 20 * 1000000ull < deadline_ns)
			return cairn_err_set(
				err, CAIRN_E_DOWN, "url",
				"the model server at %s: no connection within %llu ms; "
				"is it running and is the URL right? (cairn ask "
				"answers without it)",
				t->shown, spent_ms);
		if (!connected)
			return cairn_err_set(err, -ETIMEDOUT, "url",
					     "the model server at %s: no connection before the "
					     "deadline (%llu ms)",
					     t->shown, spent_ms);
		if (status == 0 && (size_t)uploaded < sent_len)
			return cairn_err_set(
				err, -ETIMEDOUT, "",
				"the model server at %s accepted the connection but did "
				"not read the request within %llu ms; is it stuck?",
				t->shown, spent_ms);
		if (status == 0 && x->body.len == 0)
			return cairn_err_set(
				err, -ETIMEDOUT, "",
				"the model server at %s did not answer within %llu ms; "
				"is it overloaded, or the model too slow for the "
				"deadline?",
				t->shown, spent_ms);
		return cairn_err_set(err, -ETIMEDOUT, "",
				     "the model server at %s was still sending its reply at the "
				     "deadline (%zu bytes in %llu ms)",
				     t->shown, x->body.len, spent_ms);
	case CURLE_ABORTED_BY_CALLBACK:
		if (x->cancelled)
			return cairn_err_set(
				err, -ECANCELED, "",
				"the call to the model server at %s was cancelled (the "
				"daemon is stopping)",
				t->shown);
		if (x->slow) {
			if (x->total > 0)
				return cairn_err_set(
					err, -ETIMEDOUT, "",
					"the model server at %s is sending its reply too slowly to "
					"finish by the deadline (%lld of %lld bytes in %llu ms); "
					"cut",
					t->shown, (long long)x->got, (long long)x->total, spent_ms);
			return cairn_err_set(
				err, -ETIMEDOUT, "",
				"the model server at %s is sending its reply too slowly "
				"(%lld bytes in %llu ms, under %d bytes a second); cut",
				t->shown, (long long)x->got, spent_ms, DRIP_MIN_BPS);
		}
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (x->toobig || rc == CURLE_FILESIZE_EXCEEDED)
			return cairn_err_set(err, CAIRN_E_TOOBIG, "",
					     "the model server at %s sent a reply over %zu bytes; "
					     "cairn stopped reading there",
					     t->shown, x->body.max);
		break;
	case CURLE_OUT_OF_MEMORY: return cairn_err_set(err, -ENOMEM, "", "out of memory");
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return cairn_err_set(err, CAIRN_E_INVALID, "url",
				     "the model server URL %s cannot be used: %s", t->shown, why);
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		if (status == 0 && x->body.len == 0)
			return cairn_err_set(err, CAIRN_E_PROTO, "",
					     "the model server at %s closed the connection without "
					     "answering (%s)",
					     t->shown, why);
		return cairn_err_set(err, CAIRN_E_PROTO, "",
				     "the model server at %s broke off its reply after %zu bytes "
				     "(%s)",
				     t->shown, x->body.len, why);
	default: break;
	}
	if (rc != CURLE_OK)
		return cairn_err_set(err, CAIRN_E_PROTO, "",
				     "the model server at %s: %s (libcurl error %d)", t->shown, why,
				     (int)rc);
	if (status == 200)
		return 0;

	char msg[SERVER_MSG_MAX];
	server_message(&x->body, msg, sizeof msg);
	if (status == 503)
		return cairn_err_set(err, CAIRN_E_UNAVAIL, "",
				     "the model server at %s is not ready: HTTP 503 (%s); retry in "
				     "a moment",
				     t->shown, msg[0] ? msg : "no message");
	const char *hint = "";
	if (status == 404)
		hint = "; check the URL (it should end in /v1) and the model name";
	else if (status == 401 || status == 403)
		hint = "; the server wants credentials cairn does not send";
	else if (status >= 300 && status < 400)
		hint = "; cairn does not follow redirects: use the final URL";
	return cairn_err_set(err, CAIRN_E_PROTO, "",
			     "the model server at %s answered HTTP %ld (%s)%s", t->shown, status,
			     msg[0] ? msg : "no message", hint);
}

/* One request: POST post (post_len bytes, JSON) or, with post NULL, a GET,
 * to t->url, all done by deadline_ns. Returns 0 with the body of a 200 in
 * x->body (the caller releases it either way), or a negative code with
 * err. */
static int http_request(const struct model_config *cfg, const struct target *t, const char *post,
			size_t post_len, uint64_t deadline_ns, struct xfer *x,
			struct cairn_err *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers = NULL;
	CURL *h;
	int ret;

	x->start_ns = clock_mono_ns();
	x->deadline_ns = deadline_ns;
	x->cancel = cfg->cancel;
	if (x->start_ns >= deadline_ns)
		return cairn_err_set(err, -ETIMEDOUT, "",
				     "the deadline passed before the request to the model server "
				     "at %s was sent",
				     t->shown);
	long left_ms = (long)((deadline_ns - x->start_ns) / 1000000);
	if (left_ms < 1)
		left_ms = 1;
	long connect_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
						      : MODEL_CONNECT_TIMEOUT_DEFAULT_MS;
	if (connect_ms > left_ms)
		connect_ms = left_ms;

	if (!(h = curl_easy_init()))
		return cairn_err_set(err, -ENOMEM, "", "cannot start a libcurl handle");
	errbuf[0] = '\0';
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	/* No 100-continue round trip: a server that does not answer it would
	 * cost a second of waiting. */
	headers = curl_slist_append(headers, "Expect:");
	if (!headers) {
		ret = cairn_err_set(err, -ENOMEM, "", "out of memory");
		goto out_cleanup;
	}
	CURLcode sc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (sc == CURLE_OK)                                                                \
			sc = curl_easy_setopt(h, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, t->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	SET(CURLOPT_TIMEOUT_MS, left_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->body.max);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
	if (t->loopback)
		SET(CURLOPT_PROXY, ""); /* a local server is never behind a proxy */
	if (post) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, post);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post_len);
	} else {
		SET(CURLOPT_HTTPGET, 1L);
	}
#undef SET
	if (sc != CURLE_OK) {
		ret = cairn_err_set(err, CAIRN_E_INVALID, "", "cannot set up the request to %s: %s",
				    t->shown, curl_easy_strerror(sc));
		goto out_cleanup;
	}
	CURLcode rc = curl_easy_perform(h);
	ret = transfer_result(h, rc, errbuf, t, x, post ? post_len : 0, deadline_ns, err);
out_cleanup:
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	return ret;
}

static size_t body_max(const struct model_config *cfg)
{
	return cfg->max_body ? cfg->max_body : MODEL_BODY_MAX_DEFAULT;
}

int model_chat(const struct model_config *cfg, const json_t *messages, const json_t *tools,
	       uint64_t deadline_ns, struct model_reply *out, struct cairn_err *err)
{
	struct target t;
	struct xfer x = {0};
	json_t *req = NULL;
	char *post = NULL;
	int ret;

	memset(out, 0, sizeof *out);
	cairn_err_clear(err);
	if (!cfg->name || !cfg->name[0])
		return cairn_err_set(err, CAIRN_E_INVALID, "name", "no model name is set");
	if (!json_is_array(messages))
		return cairn_err_set(err, CAIRN_E_INVALID, "messages",
				     "the messages to send are not a JSON array");
	if (tools && !json_is_array(tools))
		return cairn_err_set(err, CAIRN_E_INVALID, "tools",
				     "the tools to send are not a JSON array");
	if ((ret = target_make(cfg, "/chat/completions", &t, err)) < 0)
		return ret;

	/* json_pack's "O" takes a reference (the refcount is the only thing
	 * that changes in the caller's values; jansson counts atomically). */
	req = json_pack("{s:s, s:O, s:b, s:i}", "model", cfg->name, "messages", messages, "stream",
			0, "temperature", 0);
	if (!req) {
		ret = cairn_err_set(err, -ENOMEM, "", "out of memory");
		goto out;
	}
	if (tools && json_array_size(tools) > 0) {
		json_object_set(req, "tools", (json_t *)tools);
		json_object_set_new(req, "tool_choice", json_string("auto"));
	}
	if (!(post = json_dumps(req, JSON_COMPACT))) {
		ret = cairn_err_set(err, CAIRN_E_INVALID, "messages",
				    "the request cannot be written as JSON (a NaN or infinite "
				    "number?)");
		goto out;
	}
	buf_init(&x.body, body_max(cfg));
	if ((ret = http_request(cfg, &t, post, strlen(post), deadline_ns, &x, err)) < 0)
		goto out;
	if ((ret = model_parse_reply(x.body.data, x.body.len, out, err)) < 0) {
		char why[sizeof err->msg], field[sizeof err->field];
		snprintf(why, sizeof why, "%s", err->msg);
		snprintf(field, sizeof field, "%s", err->field);
		cairn_err_set(err, ret, field,
			      "the model server at %s sent a reply cairn cannot use: %s", t.shown,
			      why);
		goto out;
	}
	ret = 0;
out:
	buf_release(&x.body);
	free(post);
	json_decref(req);
	target_release(&t);
	return ret;
}

int model_probe(const struct model_config *cfg, long timeout_ms, struct cairn_err *err)
{
	struct target t;
	struct xfer x = {0};
	int ret;

	cairn_err_clear(err);
	if (timeout_ms <= 0)
		timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
							 : MODEL_CONNECT_TIMEOUT_DEFAULT_MS;
	if ((ret = target_make(cfg, "/models", &t, err)) < 0)
		return ret;
	buf_init(&x.body, body_max(cfg));
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000;
	if ((ret = http_request(cfg, &t, NULL, 0, deadline, &x, err)) < 0)
		goto out;
	json_t *v = json_loadb(x.body.data, x.body.len, 0, NULL);
	bool ok = json_is_object(v);
	json_decref(v);
	if (!ok) {
		ret = cairn_err_set(err, CAIRN_E_PROTO, "",
				    "the model server at %s answered GET /models with something "
				    "that is not a JSON object; is it an OpenAI-compatible server?",
				    t.shown);
		goto out;
	}
	ret = 0;
out:
	buf_release(&x.body);
	target_release(&t);
	return ret;
}
