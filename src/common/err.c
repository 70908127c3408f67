/* Messages for cairn's error codes. */
#include "common/err.h"

#include <string.h>

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
	case CAIRN_E_NOTREG: return "not a regular file (a symlink, FIFO, socket, device or directory)";
	default:
		if (err < 0 && err > -CAIRN_E_BASE)
			return strerror(-err);
		return "unknown error";
	}
}
