/* Protocol v1 on the socket (docs/protocol.md): the bounded line splitter
 * and the strict request parser. Pure code, no I/O: the server feeds bytes
 * in and gets requests or errors out, which is also what the fuzz target and
 * the unit tests drive. Any thread, on distinct objects. */
#ifndef CAIRN_PROTO_H
#define CAIRN_PROTO_H

#include "common/buf.h"
#include "common/err.h"
#include "event/envelope.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_QUERY_LIMIT_MAX 10000
#define PROTO_QUERY_LIMIT_DEFAULT 100
#define PROTO_SUB_NAME_MAX 64

/* ---- line splitting ---- */

/* Splits a byte stream into lines of at most max bytes (without the '\n').
 * A longer line is discarded as it streams in: only max bytes are ever
 * buffered, and on_line is called once with too_long set when its end
 * arrives. Empty lines are skipped. */
/* Bytes of an over-long line kept for its error reply (the request id). */
#define LINEBUF_HEAD 512

struct linebuf {
	/* The line so far, at most max bytes. The union only names its
	 * fields: lb.cap and lb.max are lb.line.cap and lb.line.max (the unit
	 * tests and fuzz_proto check cap <= max + 1 through them). */
	union {
		struct buf line;
		struct {
			char *buf;
			size_t len, cap, max;
		};
	};
	size_t seen; /* length so far of a line being discarded */
	bool discarding;
};

void linebuf_init(struct linebuf *lb, size_t max);
void linebuf_release(struct linebuf *lb);

/* Called per complete line; line is NUL-terminated and valid only during the
 * call. When too_long, line holds only the first (at most LINEBUF_HEAD)
 * bytes and len is the whole line's length. Return non-zero to stop
 * feeding (the caller keeps the rest of the chunk for the next
 * linebuf_feed()). */
typedef int (*linebuf_fn)(void *ctx, const char *line, size_t len, bool too_long);

/* Feeds n bytes. Returns the number of bytes consumed (n unless on_line
 * asked to stop). */
size_t linebuf_feed(struct linebuf *lb, const char *data, size_t n, linebuf_fn fn, void *ctx);

/* Looks for a request id ("rid": a string or an integer) in the first len
 * bytes of a line that could not be parsed or was too long, so that even
 * that error reply can carry the id. Returns a new reference or NULL. */
json_t *proto_scan_rid(const char *head, size_t len);

/* ---- requests ---- */

enum proto_op {
	OP_HELLO,
	OP_PUB,
	OP_SUB,
	OP_UNSUB,
	OP_QUERY,
	OP_STATUS,
	OP_WATCH,
	OP_ASK,
	OP_RECORD
};
enum proto_ack { ACK_NONE, ACK_ACCEPTED, ACK_DURABLE };
/* A position in the log: "now", a seq, or a time. */
enum proto_pos_kind { POS_NONE, POS_NOW, POS_SEQ, POS_TIME };

struct proto_pos {
	enum proto_pos_kind kind;
	int64_t seq;
	int64_t ms;
};

struct proto_req {
	enum proto_op op;
	json_t *rid; /* owned reference, or NULL */
	/* hello */
	int versions[16];
	int n_versions;
	/* pub */
	struct event *ev; /* owned */
	enum proto_ack ack;
	/* sub, unsub, query */
	char *pattern;                 /* owned; ">" by default for query */
	char *sub;                     /* sub/unsub: the subscription's name */
	struct proto_pos from;         /* sub */
	struct proto_pos since, until; /* query */
	char *project;                 /* query */
	size_t limit;                  /* query */
	bool desc;                     /* query */
	char *action;                  /* watch: "add", "rm" or "list" */
	char *path;                    /* watch: an absolute directory */
	char *question;                /* ask: 1 .. PROTO_QUESTION_MAX bytes */
	json_t *entry;                 /* record: an object (owned) */
};

/* The longest question of an `ask` request, in bytes. */
#define PROTO_QUESTION_MAX 4000

/* A request that could not be accepted is a struct cairn_err
 * (common/err.h): its code goes on the wire as err_wire(code), one of the
 * table in docs/protocol.md, with the field at fault ("" if none) and the
 * message. */

/* Parses one request line. On success returns 0 and fills req (release it
 * with proto_req_release()). On failure returns a negative code (err->code),
 * fills err,
 * and sets req->rid when the line was an object with a valid rid, so the
 * error reply can carry it. req must be released in both cases. */
int proto_parse(const char *line, size_t len, struct proto_req *req, struct cairn_err *err);
void proto_req_release(struct proto_req *req);

/* Encodes o (stolen) as one compact line with a trailing '\n'; the caller
 * frees the result. */
char *proto_json_line(json_t *o, size_t *len);
/* Encodes an error reply line (with trailing '\n'); rid may be NULL. The
 * caller frees the result. */
char *proto_error_line(const json_t *rid, const struct cairn_err *err, size_t *len);
/* Encodes obj (adding "rid" if rid is not NULL and "ok": true) as one line
 * with a trailing '\n'; steals obj. The caller frees the result. */
char *proto_ok_line(const json_t *rid, json_t *obj, size_t *len);

#endif
