/* cairn daemon: runs the daemon in the foreground. */
#include "cli/cli.h"
#include "cli/client.h"

#include "daemon/daemon.h"

#include <stdio.h>
#include <string.h>

const struct cli_cmd cli_daemon = {
	"daemon", "[--print-config]",
	"Runs the daemon in the foreground: listens on $XDG_RUNTIME_DIR/cairn/cairn.sock and\n"
	"keeps the event log in $XDG_DATA_HOME/cairn/cairn.db. Stops cleanly on SIGINT or\n"
	"SIGTERM. Under systemd it reports READY, WATCHDOG and STOPPING (contrib/cairn.service).\n"
	"  --print-config   print the settings in force and exit\n",
	cmd_daemon, false};

int cmd_daemon(int argc, char **argv, const struct config *cfg)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--print-config") == 0) {
			config_print(cfg, stdout);
			return EXIT_OK;
		}
		fprintf(stderr, "cairn daemon: unknown argument '%s'\n", argv[i]);
		cli_usage(stderr, "daemon");
		return EXIT_USAGE;
	}
	return daemon_run(cfg) == 0 ? EXIT_OK : EXIT_REFUSED;
}
