/* The daemon: one libuv loop that owns the socket server, the subscriptions
 * and the fan-out, with the store's writer thread beside it. */
#ifndef CAIRN_DAEMON_H
#define CAIRN_DAEMON_H

#include "daemon/config.h"

/* Runs the daemon in the foreground until SIGINT or SIGTERM. Takes the
 * per-user lock, listens on cfg->socket_path, opens the store, and on a
 * signal stops accepting, commits everything accepted, closes the database
 * and returns 0. Returns a negative code (after printing why) if it cannot
 * start. Call from the main thread only. */
int daemon_run(const struct config *cfg);

#endif
