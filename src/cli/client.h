/* A blocking client of the daemon's socket for the CLI: connect, send one
 * JSON request per line, read replies and pushed messages. Single-threaded. */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include "common/buf.h"
#include "daemon/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit codes shared by every client command (docs/cli.md). */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* the daemon answered with an error */
	EXIT_USAGE = 2,   /* bad arguments */
	EXIT_DOWN = 3,    /* no daemon is running */
	EXIT_IO = 4,      /* the connection failed midway, a local file failed, or the
			   * socket is not the user's (CAIRN_E_PEER) */
};

#define CLIENT_LINE_MAX (256u * 1024 * 1024)

/* How long client_request() waits for its answer unless CAIRN_TIMEOUT_MS
 * says otherwise (docs/cli.md). */
#define CLIENT_TIMEOUT_MS_DEFAULT 30000

struct client {
	int fd;
	struct buf in; /* bytes read, at most CLIENT_LINE_MAX */
	size_t off;    /* in's bytes before off are taken */
	long long next_rid;
	const char *socket_path;
	int watch_fd; /* if >= 0, client_read() returns -EPIPE when it hangs up */
	/* The daemon's limits from client_hello(); 0 until then. With
	 * line_bytes set, client_send() refuses a longer line. */
	size_t line_bytes, event_bytes;
};

/* Connects to cfg->socket_path. Returns 0, or CAIRN_E_DOWN when nothing
 * listens there (after printing how to start a daemon), or another negative
 * code after printing what failed.
 *
 * It checks whom it talks to and returns CAIRN_E_PEER (commands exit with
 * EXIT_IO) without sending anything when the socket's directory is not owned
 * by the user (getuid()) or is writable by group or others, or when the
 * process listening on the socket (SO_PEERCRED) runs as another uid. */
int client_connect(struct client *cl, const struct config *cfg);
/* As client_connect() but prints nothing. */
int client_connect_quiet(struct client *cl, const struct config *cfg);
void client_close(struct client *cl);

/* Sends req (steals it) as one line, its members in insertion order.
 * Returns 0, CAIRN_E_TOOBIG (nothing sent) when the line is over the
 * daemon's cl->line_bytes, or a negative code. */
int client_send(struct client *cl, json_t *req);

/* Reads the next message. timeout_ms < 0 waits forever; on timeout returns
 * -ETIMEDOUT; if cl->watch_fd hangs up meanwhile (the reader of our output
 * went away), returns -EPIPE. Returns 0 and a new reference in *msg, CAIRN_E_CLOSED at EOF,
 * or a negative code. */
int client_read(struct client *cl, json_t **msg, int timeout_ms);

/* Sends req (steals it) with a fresh rid, first in the line so that the
 * daemon can read it even from a line too long to parse, and returns the
 * reply with that rid in *reply (a new reference). Other messages are
 * dropped, except an error reply without a rid: it is taken as the answer,
 * because the daemon answers so only a line whose rid it could not read, and
 * client_request() assumes it is the only request outstanding on cl (every
 * caller sends one and waits).
 *
 * Waits at most CAIRN_TIMEOUT_MS milliseconds from the environment (default
 * CLIENT_TIMEOUT_MS_DEFAULT; 0 waits forever). It is for requests that the
 * daemon answers at once; streams (tail, sub, why --wait) read with
 * client_read() and their own timeouts.
 *
 * Returns 0 (check "ok" in the reply) or, after printing what failed, a
 * negative code: -ETIMEDOUT when no answer came in time, CAIRN_E_TOOBIG when
 * the request is over the daemon's line limit (nothing sent). Blocks. */
int client_request(struct client *cl, json_t *req, json_t **reply);

/* Negotiates the protocol version with a `hello` and stores the daemon's
 * limits in cl->line_bytes and cl->event_bytes. Returns 0, or a negative
 * code after printing what failed (CAIRN_E_VERSION when the daemon refused
 * the hello). Blocks, as client_request(). */
int client_hello(struct client *cl);

/* The timeout client_request() uses, in ms (0: none): CAIRN_TIMEOUT_MS or
 * CLIENT_TIMEOUT_MS_DEFAULT. A bad value is reported once and ignored. */
int client_timeout_ms(void);

/* Turns an error reply back into a struct cairn_err: the wire code gives
 * the code through err_from_wire() (an unknown one: CAIRN_E_PROTO, with the
 * name kept in the message), and field and message are the daemon's.
 * Returns e->code. */
int client_reply_err(const json_t *reply, struct cairn_err *e);

/* Prints an error reply through cli_print_err() as "cairn: CODE: MESSAGE"
 * on stderr (and the field and what to do, see there). */
void client_print_error(const json_t *reply);

/* Prints the standard "no daemon" message for socket_path. */
void client_print_down(const char *socket_path);

#endif
