/* sd_notify() through a libsystemd loaded on first use (sdnotify.h). */
#include "daemon/sdnotify.h"

#include "common/dl.h"
#include "common/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

static struct {
	__typeof__(sd_notify) *notify;
	__typeof__(sd_watchdog_enabled) *watchdog_enabled;
} fns;

static struct dl_lib lib = {.soname = "libsystemd.so.0", .package = "libsystemd0"};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool ready; /* under systemd, with every function resolved */

static void load(void)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	if (!sock || !*sock)
		return;
	if (dl_open(&lib)) {
		fns.notify = (__typeof__(sd_notify) *)dl_sym(&lib, "sd_notify");
		fns.watchdog_enabled =
			(__typeof__(sd_watchdog_enabled) *)dl_sym(&lib, "sd_watchdog_enabled");
	}
	if (lib.error[0])
		log_error("%s; systemd will not hear from the daemon (NOTIFY_SOCKET is set)",
			  lib.error);
	else
		ready = true;
}

void sdnotify_send(const char *state)
{
	pthread_once(&once, load);
	if (ready)
		(void)fns.notify(0, state);
}

uint64_t sdnotify_watchdog_usec(void)
{
	uint64_t usec = 0;
	pthread_once(&once, load);
	if (ready && fns.watchdog_enabled(0, &usec) > 0)
		return usec;
	return 0;
}
