/* One error convention for all of cairn: actions return 0 or a negative code.
 * Negative errno values pass through unchanged; cairn's own codes start at
 * -CAIRN_E_BASE so they never collide with errno. */
#ifndef CAIRN_ERR_H
#define CAIRN_ERR_H

enum {
	CAIRN_E_BASE = 10000,
	CAIRN_E_PARSE = -(CAIRN_E_BASE + 1),    /* malformed input (JSON, number, time) */
	CAIRN_E_INVALID = -(CAIRN_E_BASE + 2),  /* well-formed but breaks a rule */
	CAIRN_E_TOOBIG = -(CAIRN_E_BASE + 3),   /* input over its size cap */
	CAIRN_E_NOTFOUND = -(CAIRN_E_BASE + 4), /* the thing asked for does not exist */
	CAIRN_E_STORE = -(CAIRN_E_BASE + 5),    /* the database failed */
	CAIRN_E_PROTO = -(CAIRN_E_BASE + 6),    /* the peer broke the protocol */
	CAIRN_E_DOWN = -(CAIRN_E_BASE + 7),     /* the daemon is not running */
	CAIRN_E_BUSY = -(CAIRN_E_BASE + 8),     /* another daemon holds the lock */
	CAIRN_E_CLOSED = -(CAIRN_E_BASE + 9),   /* the peer closed the connection */
	CAIRN_E_VERSION = -(CAIRN_E_BASE + 10), /* schema or protocol version unsupported */
	CAIRN_E_FULL = -(CAIRN_E_BASE + 11),    /* the disk is full */
	CAIRN_E_CORRUPT = -(CAIRN_E_BASE + 12), /* the database is damaged */
	CAIRN_E_NOTREG = -(CAIRN_E_BASE + 13),  /* a file to read is not a regular file */
	CAIRN_E_PEER = -(CAIRN_E_BASE + 14),    /* the socket or its peer is not the user's */
};

/* Returns a static, human-readable message for an error code (never NULL).
 * Any thread may call it. */
const char *err_str(int err);

#endif
