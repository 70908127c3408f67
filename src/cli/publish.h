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

/* Holds back cli_publish()'s "events are lost" message (see above) from now
 * on, in every thread, until cli_publish_release_lost(), which prints it if
 * one was held, on a line of its own (after a newline unless at_line_start)
 * and returns whether it did. For `cairn run`, whose command's output the
 * message must not interrupt. Call both from the main thread while no other
 * thread publishes (before starting the thread, after joining it). */
void cli_publish_hold_lost(void);
bool cli_publish_release_lost(bool at_line_start);

/* How long the calling thread's last cli_publish() took: *connect_ns in
 * connecting to the daemon (0 if it did not get that far), *total_ns in all
 * (validation, connect, send and the wait for the ack, or the spool).
 * For `cairn run`'s CAIRN_RUN_TIMING. */
void cli_publish_timing(uint64_t *connect_ns, uint64_t *total_ns);

#endif
