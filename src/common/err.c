/* Messages and wire names for cairn's error codes. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cairn_err_set(struct cairn_err *e, int code, const char *field, const char *fmt, ...)
{
	if (!e)
		return code;
	e->code = code;
	snprintf(e->field, sizeof e->field, "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return code;
}

void cairn_err_clear(struct cairn_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->field[0] = '\0';
	e->msg[0] = '\0';
}

const char *err_str(int err)
{
	switch (err) {
	case 0: return "success";
	case CAIRN_E_PARSE: return "malformed input";
	case CAIRN_E_INVALID: return "invalid input";
	case CAIRN_E_TOOBIG: return "input too large";
	case CAIRN_E_NOTFOUND: return "not found";
	case CAIRN_E_STORE: return "database error";
	case CAIRN_E_PROTO: return "protocol error";
	case CAIRN_E_DOWN: return "the daemon is not running";
	case CAIRN_E_BUSY: return "another daemon is already running";
	case CAIRN_E_CLOSED: return "connection closed";
	case CAIRN_E_VERSION: return "unsupported version";
	case CAIRN_E_FULL: return "the disk is full";
	case CAIRN_E_CORRUPT: return "the database is damaged";
	case CAIRN_E_PEER: return "the daemon's socket or the process behind it is not yours";
	case CAIRN_E_NOTREG:
		return "not a regular file (a symlink, FIFO, socket, device or directory)";
	case CAIRN_E_UNKNOWN_OP: return "unknown operation";
	case CAIRN_E_BADEVENT: return "invalid event";
	case CAIRN_E_EVENT_TOOBIG: return "event too large";
	case CAIRN_E_BADPATTERN: return "invalid pattern";
	case CAIRN_E_LINE_TOOLONG: return "request line too long";
	case CAIRN_E_EXISTS: return "already exists";
	case CAIRN_E_UNAVAIL: return "the daemon cannot serve this now; retry later";
	default:
		if (err < 0 && err > -CAIRN_E_BASE)
			return strerror(-err);
		return "unknown error";
	}
}

/* The one table of wire names: one name per code, one code per name. The
 * protocol's names (docs/protocol.md "Error codes") must not change; HTTP
 * and MCP layers map from here. */
static const struct {
	int code;
	const char *wire;
} wire_table[] = {
	{CAIRN_E_PARSE, "bad_json"},
	{CAIRN_E_PROTO, "bad_request"},
	{CAIRN_E_UNKNOWN_OP, "unknown_op"},
	{CAIRN_E_BADEVENT, "invalid_event"},
	{CAIRN_E_EVENT_TOOBIG, "event_too_large"},
	{CAIRN_E_BADPATTERN, "invalid_pattern"},
	{CAIRN_E_LINE_TOOLONG, "line_too_long"},
	{CAIRN_E_VERSION, "version"},
	{CAIRN_E_NOTFOUND, "not_found"},
	{CAIRN_E_EXISTS, "exists"},
	{CAIRN_E_UNAVAIL, "unavailable"},
	{CAIRN_E_FULL, "disk_full"},
	{CAIRN_E_BUSY, "busy"},
	{CAIRN_E_PEER, "forbidden"},
	/* Not sent by protocol v1. */
	{CAIRN_E_INVALID, "invalid"},
	{CAIRN_E_TOOBIG, "too_large"},
	{CAIRN_E_STORE, "store_error"},
	{CAIRN_E_DOWN, "daemon_down"},
	{CAIRN_E_CLOSED, "closed"},
	{CAIRN_E_CORRUPT, "corrupt"},
	{CAIRN_E_NOTREG, "not_regular"},
};

#define N_WIRE (sizeof wire_table / sizeof wire_table[0])

const int err_codes[] = {
	CAIRN_E_PARSE,        CAIRN_E_INVALID,    CAIRN_E_TOOBIG,       CAIRN_E_NOTFOUND,
	CAIRN_E_STORE,        CAIRN_E_PROTO,      CAIRN_E_DOWN,         CAIRN_E_BUSY,
	CAIRN_E_CLOSED,       CAIRN_E_VERSION,    CAIRN_E_FULL,         CAIRN_E_CORRUPT,
	CAIRN_E_NOTREG,       CAIRN_E_PEER,       CAIRN_E_UNKNOWN_OP,   CAIRN_E_BADEVENT,
	CAIRN_E_EVENT_TOOBIG, CAIRN_E_BADPATTERN, CAIRN_E_LINE_TOOLONG, CAIRN_E_EXISTS,
	CAIRN_E_UNAVAIL,
};
const size_t err_ncodes = sizeof err_codes / sizeof err_codes[0];

const char *err_wire(int code)
{
	for (size_t i = 0; i < N_WIRE; i++)
		if (wire_table[i].code == code)
			return wire_table[i].wire;
	return "internal";
}

int err_from_wire(const char *name)
{
	if (!name)
		return 0;
	for (size_t i = 0; i < N_WIRE; i++)
		if (strcmp(wire_table[i].wire, name) == 0)
			return wire_table[i].code;
	return 0;
}
