/* libFuzzer target for the protocol module: the input is a byte stream from a
 * peer, split by a linebuf and fed in chunks of varying size; every complete
 * line is parsed as a request and answered the way the server answers it.
 *
 * Input layout:
 *   byte 0       bits 0-2: how many chunk sizes follow (1 to 8);
 *                bit 3: on_line asks to stop after every third line
 *   next k bytes chunk sizes, b -> b * b / 32 + 1 (1 to 2033 bytes), cycled
 *   the rest     the stream; a final '\n' is fed at the end so that the
 *                last line is parsed too
 */
#include "daemon/proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct linebuf *lb;
	bool stops;
	unsigned lines;
};

/* A reply line must be one line of JSON: an object with "ok" and, for an
 * error, a code and a message. Anything else is a bug in the encoder. */
static void check_reply(char *line, size_t len, bool ok)
{
	if (!line || len != strlen(line) || len < 2 || line[len - 1] != '\n' ||
	    memchr(line, '\n', len - 1)) {
		fprintf(stderr, "reply is not one line: %s\n", line ? line : "(null)");
		abort();
	}
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *e = json_object_get(o, "error");
	if (!json_is_object(o) || json_is_true(json_object_get(o, "ok")) != ok ||
	    (!ok && (!json_is_string(json_object_get(e, "code")) ||
		     !json_is_string(json_object_get(e, "message"))))) {
		fprintf(stderr, "bad reply: %s", line);
		abort();
	}
	json_decref(o);
	free(line);
}

/* The reply the server would send to a parsed request (its shape only). */
static json_t *ok_reply(const struct proto_req *req)
{
	switch (req->op) {
	case OP_HELLO: return json_pack("{s:i, s:s}", "version", PROTO_VERSION, "server", "fuzz");
	case OP_PUB: return json_pack("{s:i, s:o}", "seq", 1, "event", event_to_json(req->ev));
	case OP_SUB: return json_pack("{s:s, s:i}", "sub", req->sub ? req->sub : "1", "seq", 0);
	case OP_QUERY: return json_pack("{s:[], s:b}", "events", "more", req->desc);
	case OP_WATCH:
		return json_pack("{s:[{s:s}]}", "watches", "path", req->path ? req->path : "/");
	case OP_ASK:
		return json_pack("{s:{s:s,s:s,s:[]}}", "answer", "answer", req->question,
				 "reasoner", "model", "tool_calls");
	case OP_RECORD:
		return json_pack("{s:i,s:O}", "id", 1, "entry",
				 req->entry ? req->entry : json_null());
	case OP_UNSUB:
	case OP_STATUS: break;
	}
	return json_object();
}

static int on_line(void *opaque, const char *line, size_t len, bool too_long)
{
	struct ctx *c = opaque;
	struct proto_req req;
	struct cairn_err err;
	size_t n;

	if (c->lb->cap > c->lb->max + 1)
		abort();
	c->lines++;
	if (too_long) {
		/* Only the head of the line is kept, NUL-terminated. */
		if (!line || len <= LINE_MAX_BYTES || strlen(line) > LINEBUF_HEAD)
			abort();
		json_t *rid = proto_scan_rid(line, strlen(line));
		if (rid && !json_is_string(rid) && !json_is_integer(rid))
			abort();
		cairn_err_set(&err, CAIRN_E_LINE_TOOLONG, NULL, "line of %zu bytes is over %d", len,
			      LINE_MAX_BYTES);
		check_reply(proto_error_line(rid, &err, &n), n, false);
		json_decref(rid);
		return c->stops && c->lines % 3 == 0;
	}
	if (!line || len == 0 || len > LINE_MAX_BYTES || line[len] != '\0')
		abort();
	if (proto_parse(line, len, &req, &err) == 0) {
		/* A request that parsed holds what its op needs. */
		if ((req.op == OP_PUB && !req.ev) || (req.op == OP_SUB && !req.pattern) ||
		    (req.op == OP_UNSUB && !req.sub) ||
		    (req.op == OP_QUERY &&
		     (!req.pattern || req.limit < 1 || req.limit > PROTO_QUERY_LIMIT_MAX)))
			abort();
		json_t *obj = ok_reply(&req);
		if (!obj)
			abort();
		check_reply(proto_ok_line(req.rid, obj, &n), n, true);
	} else {
		if (!err.code || !err.msg[0] || strcmp(err_wire(err.code), "internal") == 0)
			abort();
		check_reply(proto_error_line(req.rid, &err, &n), n, false);
	}
	proto_req_release(&req);
	return c->stops && c->lines % 3 == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t k = (data[0] & 7u) + 1;
	bool stops = data[0] & 8u;
	if (size < 1 + k)
		return 0;
	size_t sizes[8];
	for (size_t i = 0; i < k; i++)
		sizes[i] = (size_t)data[1 + i] * data[1 + i] / 32 + 1;
	const char *p = (const char *)data + 1 + k;
	size_t left = size - 1 - k;

	struct linebuf lb;
	struct ctx c = {&lb, stops, 0};
	linebuf_init(&lb, LINE_MAX_BYTES);
	for (size_t i = 0; left > 0; i++) {
		size_t n = sizes[i % k] < left ? sizes[i % k] : left;
		/* After a stop the caller feeds the rest of the chunk again. */
		while (n > 0) {
			size_t used = linebuf_feed(&lb, p, n, on_line, &c);
			if (used == 0 || used > n)
				abort();
			p += used;
			left -= used;
			n -= used;
		}
		if (lb.cap > lb.max + 1)
			abort();
	}
	linebuf_feed(&lb, "\n", 1, on_line, &c);
	linebuf_release(&lb);
	return 0;
}
