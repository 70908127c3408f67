/* The socket server: the daemon's Unix socket, one connection per client,
 * the line protocol (src/daemon/proto.h) and per-connection back-pressure.
 * Its subscriptions are sinks of the bus (src/bus/bus.h): an event is
 * written as {"sub":NAME,"event":...} and counts in the subscription's
 * queue until the kernel has taken it.
 *
 * Loop thread only. */
#ifndef CAIRN_SERVER_H
#define CAIRN_SERVER_H

#include "bus/bus.h"
#include "daemon/config.h"
#include "daemon/proto.h"

#include <jansson.h>
#include <uv.h>

struct server;

/* What the server asks of the daemon. All optional. */
struct server_hooks {
	void *ctx;
	/* A `watch` request: returns 0 with *reply (the whole "ok" object's
	 * members), or a negative code with e filled. */
	int (*watch)(void *ctx, const struct proto_req *req, json_t **reply, struct cairn_err *e);
	/* Adds the daemon's own members (services, spool, ...) to a status
	 * reply. */
	void (*status)(void *ctx, json_t *reply);
	/* An `ask` request (req->question, req->project): answered later, on
	 * the loop thread, by done(token, reply, e) with either reply (the
	 * "ok" object's members, stolen) or e. NULL: asking is unavailable. */
	void (*ask)(void *ctx, const struct proto_req *req,
		    void (*done)(void *token, json_t *reply, const struct cairn_err *e),
		    void *token);
	/* A `record` request (req->entry): the entry added to the knowledge
	 * base by the daemon, answered later as ask is. */
	void (*record)(void *ctx, const struct proto_req *req,
		       void (*done)(void *token, json_t *reply, const struct cairn_err *e),
		       void *token);
};

/* Listens on cfg->socket_path (a stale socket file is removed: the caller
 * holds the lock). Returns 0, or a negative code after logging why. */
int server_new(uv_loop_t *loop, const struct config *cfg, struct bus *bus,
	       const struct server_hooks *hooks, struct server **out);

/* After the writer's results were taken (struct bus_hooks.drained): writes
 * gathered acks, starts queries that waited for a commit, reads again from
 * publishers paused for the writer. */
void server_drained(struct server *s);

/* The store's health changed (struct bus_hooks.health). */
void server_health(struct server *s, int err);

/* Stops accepting and reading; requests already read are answered. */
void server_stop(struct server *s);

/* Closes every connection and the server's handles. */
void server_close(struct server *s);

/* Frees the server after the loop has run to completion. NULL is a no-op. */
void server_free(struct server *s);

#endif
