/* Publishing from short-lived CLI processes (cairn emit, cairn run, the git
 * and shell hooks): one event, to the daemon if it runs, else to the spool
 * (src/common/spool.h) so that nothing is lost while it is down. */
#ifndef CAIRN_PUBLISH_H
#define CAIRN_PUBLISH_H

#include "daemon/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum publish_ack { PUBLISH_NONE, PUBLISH_ACCEPTED, PUBLISH_DURABLE };

enum publish_result {
	PUBLISH_SENT = 0,    /* the daemon took it; *seq is set unless ack was none */
	PUBLISH_SPOOLED = 1, /* no daemon: written to the spool */
};

/* Publishes event (a JSON object with at least "type"; "source" defaults to
 * "cli"; "id" and "time" are filled in here, so a spooled event keeps the
 * time it happened and dedups on redelivery). Steals event. With quiet, it
 * prints nothing (for hooks and cairn run), with one exception: when no
 * daemon runs and the spool cannot be written (the data directory cannot be
 * made or written, or the spool is full), the event is lost, and that is said
 * on stderr once per process whatever quiet says. Otherwise, without quiet,
 * failures are explained on stderr.
 * When the socket is refused as not the user's (CAIRN_E_PEER, see
 * client_connect()), the event is spooled as when no daemon runs.
 * Waits for the daemon at most timeout_ms for connect and ack (hooks pass a
 * few ms so they never stall the shell or git). Returns PUBLISH_SENT,
 * PUBLISH_SPOOLED, or a negative code (the daemon refused it: then reply, if
 * not NULL, holds the error reply). */
int cli_publish(const struct config *cfg, json_t *event, enum publish_ack ack, bool quiet,
		int timeout_ms, int64_t *seq, json_t **reply);

#endif
