/* Telling systemd how the daemon is doing (sd_notify(3): READY, WATCHDOG,
 * STOPPING), through libsystemd loaded on first use (common/dl.h says why),
 * and only under systemd: when NOTIFY_SOCKET is not set there is no one to
 * tell, nothing is loaded and every call does nothing. Call from the
 * daemon's loop thread. */
#ifndef CAIRN_SDNOTIFY_H
#define CAIRN_SDNOTIFY_H

#include <stdint.h>

/* Sends state ("READY=1", "WATCHDOG=1\nSTATUS=...") as sd_notify(0, state)
 * does. When NOTIFY_SOCKET is set but libsystemd cannot be loaded, logs why
 * once (systemd will then think the daemon failed to start) and does
 * nothing. */
void sdnotify_send(const char *state);

/* The watchdog interval systemd asked for (WATCHDOG_USEC), in microseconds,
 * or 0 when none (sd_watchdog_enabled(3)). */
uint64_t sdnotify_watchdog_usec(void);

#endif
