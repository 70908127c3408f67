/* One error convention for all of cairn: actions return 0 or a negative code.
 * Negative errno values pass through unchanged; cairn's own codes start at
 * -CAIRN_E_BASE so they never collide with errno.
 *
 * When there is more to say than the code, a struct cairn_err carries it
 * from where the error is found (the store, the knowledge base, the config,
 * the envelope, the protocol parser) to where it is shown (the CLI, a reply
 * on the socket): the code, the field at fault and a message for a human.
 *
 * Each code has one wire name (err_wire(), the table in err.c), and each
 * wire name one code (err_from_wire()). The names the socket protocol sends
 * are those of docs/protocol.md "Error codes" (marked "protocol" below); the
 * others are not sent by protocol v1 but are just as stable. A reply on the
 * socket, and any future HTTP or MCP layer, maps a struct cairn_err to what
 * it sends (an error code string, a status) from this table and nowhere
 * else; the CLI maps a daemon's reply back through the same table. */
#ifndef CAIRN_ERR_H
#define CAIRN_ERR_H

#include <stddef.h>

enum {
	CAIRN_E_BASE = 10000,
	/* malformed input (JSON, number, time). Wire: bad_json (protocol) */
	CAIRN_E_PARSE = -(CAIRN_E_BASE + 1),
	/* well-formed but breaks a rule (a kb entry, a config value). Wire: invalid */
	CAIRN_E_INVALID = -(CAIRN_E_BASE + 2),
	/* input over its size cap. Wire: too_large */
	CAIRN_E_TOOBIG = -(CAIRN_E_BASE + 3),
	/* the thing asked for does not exist. Wire: not_found (protocol) */
	CAIRN_E_NOTFOUND = -(CAIRN_E_BASE + 4),
	/* the database failed. Wire: store_error */
	CAIRN_E_STORE = -(CAIRN_E_BASE + 5),
	/* the peer broke the protocol (a request missing a field, of the wrong
	 * type, or unknown). Wire: bad_request (protocol) */
	CAIRN_E_PROTO = -(CAIRN_E_BASE + 6),
	/* the daemon is not running. Wire: daemon_down */
	CAIRN_E_DOWN = -(CAIRN_E_BASE + 7),
	/* taken, or at its limit: another daemon holds the lock, or a
	 * connection asked for a 17th replaying subscription. Wire: busy
	 * (protocol) */
	CAIRN_E_BUSY = -(CAIRN_E_BASE + 8),
	/* the peer closed the connection. Wire: closed */
	CAIRN_E_CLOSED = -(CAIRN_E_BASE + 9),
	/* schema or protocol version unsupported. Wire: version (protocol) */
	CAIRN_E_VERSION = -(CAIRN_E_BASE + 10),
	/* the disk is full. Wire: disk_full (protocol) */
	CAIRN_E_FULL = -(CAIRN_E_BASE + 11),
	/* the database is damaged. Wire: corrupt (the socket says unavailable,
	 * with a message naming cairn doctor) */
	CAIRN_E_CORRUPT = -(CAIRN_E_BASE + 12),
	/* a file to read is not a regular file. Wire: not_regular */
	CAIRN_E_NOTREG = -(CAIRN_E_BASE + 13),
	/* the socket or its peer is not the user's. Wire: forbidden (protocol) */
	CAIRN_E_PEER = -(CAIRN_E_BASE + 14),
	/* a request's op is not one cairn knows. Wire: unknown_op (protocol) */
	CAIRN_E_UNKNOWN_OP = -(CAIRN_E_BASE + 15),
	/* an event breaks an envelope rule; field names the attribute. Wire:
	 * invalid_event (protocol) */
	CAIRN_E_BADEVENT = -(CAIRN_E_BASE + 16),
	/* an encoded event is over limits.event_bytes. Wire: event_too_large
	 * (protocol) */
	CAIRN_E_EVENT_TOOBIG = -(CAIRN_E_BASE + 17),
	/* a subject pattern breaks the grammar. Wire: invalid_pattern (protocol) */
	CAIRN_E_BADPATTERN = -(CAIRN_E_BASE + 18),
	/* a request line over limits.line_bytes (discarded). Wire:
	 * line_too_long (protocol) */
	CAIRN_E_LINE_TOOLONG = -(CAIRN_E_BASE + 19),
	/* the name is already taken (a subscription on the connection). Wire:
	 * exists (protocol) */
	CAIRN_E_EXISTS = -(CAIRN_E_BASE + 20),
	/* the daemon cannot serve this now (its store failed, it is shutting
	 * down, or a dependency's circuit breaker is open: src/breaker/
	 * breaker.h); retry later. Wire: unavailable (protocol) */
	CAIRN_E_UNAVAIL = -(CAIRN_E_BASE + 21),
};

/* An error with what a human needs to act on it. code is 0 or a negative
 * code above (or -errno); field names what was at fault ("" when nothing in
 * particular: a JSON attribute, a request field, a config key); msg is a
 * complete message that stands on its own (it may name the field itself). */
struct cairn_err {
	int code;
	char field[64];
	char msg[512];
};

/* Fills e (if not NULL) with code, field (NULL: "") and the formatted
 * message, cut to fit. Returns code, so that `return cairn_err_set(...)`
 * both reports and fails. */
int cairn_err_set(struct cairn_err *e, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Empties e (if not NULL): code 0, no field, no message. */
void cairn_err_clear(struct cairn_err *e);

/* Returns a static, human-readable message for an error code (never NULL).
 * Any thread may call it. */
const char *err_str(int err);

/* The wire name of code (never NULL): the table in err.c. A code outside
 * the table (an errno value, 0) is "internal", which has no code. */
const char *err_wire(int code);

/* The code of a wire name, or 0 if the name is not in the table. */
int err_from_wire(const char *name);

/* The table, for tests: err_codes[0..err_ncodes) are every code above. */
extern const int err_codes[];
extern const size_t err_ncodes;

#endif
