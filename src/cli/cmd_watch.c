/* cairn watch: register projects for the daemon's file watcher. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"
#include "sources/gitinfo.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The default project: the git top level of the current directory, else the
 * current directory itself. */
static char *default_path(void)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	struct gitinfo gi;
	char *out = NULL;
	if (gitinfo_read(cwd, 0, &gi) == 0)
		out = realpath(gi.workdir, NULL);
	gitinfo_release(&gi);
	return out ? out : realpath(cwd, NULL);
}

static bool is_adding(const json_t *w)
{
	const char *st = json_string_value(json_object_get(w, "state"));
	return st && strcmp(st, "adding") == 0;
}

/* What `watch add` did, in one line. */
static void print_added(const char *path, const json_t *reply)
{
	const json_t *w = json_object_get(reply, "watch");
	const char *root = json_string_value(json_object_get(w, "path"));
	const char *note = json_string_value(json_object_get(reply, "note"));
	if (!root)
		root = path;
	long long dirs = (long long)json_integer_value(json_object_get(w, "dirs"));
	if (json_is_true(json_object_get(reply, "already")))
		printf("%s is %s\n", path, note ? note : "already watched");
	else if (is_adding(w))
		printf("adding %s: walking its directories in the background (%lld so far); "
		       "'cairn watch list' says when it is done\n",
		       root, dirs);
	else {
		long long files = (long long)json_integer_value(json_object_get(w, "files"));
		printf("watching %s (%lld director%s, %lld file%s)\n", root, dirs,
		       dirs == 1 ? "y" : "ies", files, files == 1 ? "" : "s");
	}
}

const struct cli_cmd cli_watch = {
	"watch", "add|rm|list [PATH] [--json]",
	"Asks the daemon to watch a project's files and log file.created|changed|deleted|\n"
	"renamed events. Ignores what git ignores and cairn's own directories. The list\n"
	"survives daemon restarts.\n"
	"  add [PATH]   watch PATH (default: the git top level of the current directory,\n"
	"               else the current directory); a big tree is added in the background\n"
	"               ('watch list' says 'adding' until it is done)\n"
	"  rm [PATH]    stop watching PATH (same default)\n"
	"  list         the watched trees\n"
	"  --json       print the list of watches as JSON\n",
	cmd_watch, false};

int cmd_watch(int argc, char **argv, const struct config *cfg)
{
	int json = 0;
	const char *action = NULL, *path_arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (!action)
			action = argv[i];
		else if (!path_arg)
			path_arg = argv[i];
		else {
			fprintf(stderr, "cairn watch: too many arguments\n");
			cli_usage(stderr, "watch");
			return EXIT_USAGE;
		}
	}
	if (!action || (strcmp(action, "add") && strcmp(action, "rm") && strcmp(action, "list"))) {
		fprintf(stderr, "cairn watch: expected add, rm or list\n");
		cli_usage(stderr, "watch");
		return EXIT_USAGE;
	}
	char *path = NULL;
	if (strcmp(action, "list")) {
		path = path_arg ? realpath(path_arg, NULL) : default_path();
		if (!path) {
			fprintf(stderr, "cairn watch: cannot resolve '%s': %m\n",
				path_arg ? path_arg : ".");
			return EXIT_USAGE;
		}
	}
	struct client cl;
	int r = client_connect(&cl, cfg);
	if (r) {
		free(path);
		return r == CAIRN_E_DOWN ? EXIT_DOWN : EXIT_IO;
	}
	json_t *req = json_pack("{s:s,s:s}", "op", "watch", "action", action);
	if (path)
		json_object_set_new(req, "path", json_string(path));
	json_t *reply = NULL;
	int rc = EXIT_IO;
	if (client_request(&cl, req, &reply) == 0) {
		if (!json_is_true(json_object_get(reply, "ok"))) {
			client_print_error(reply);
			rc = EXIT_REFUSED;
		} else {
			rc = EXIT_OK;
			const json_t *ws = json_object_get(reply, "watches");
			if (json) {
				char *s = json_dumps(ws, JSON_INDENT(2));
				puts(s);
				free(s);
			} else if (strcmp(action, "list") == 0) {
				size_t i;
				json_t *w;
				if (json_array_size(ws) == 0)
					printf("no projects are watched; add one with 'cairn watch "
					       "add "
					       "[PATH]'\n");
				json_array_foreach(ws, i, w) {
					printf("%s  (%s%lld directories, %lld files%s%s)\n",
					       json_string_value(json_object_get(w, "path")),
					       is_adding(w) ? "adding: " : "",
					       (long long)json_integer_value(
						       json_object_get(w, "dirs")),
					       (long long)json_integer_value(
						       json_object_get(w, "files")),
					       json_integer_value(
						       json_object_get(w, "unwatched_dirs"))
						       ? ", some only rescanned: watch limit"
						       : "",
					       json_integer_value(
						       json_object_get(w, "skipped_dirs"))
						       ? ", some not watched at all: watch limit"
						       : "");
				}
			} else if (strcmp(action, "add") == 0) {
				print_added(path, reply);
			} else {
				printf("stopped watching %s\n", path);
			}
		}
	}
	json_decref(reply);
	client_close(&cl);
	free(path);
	return rc;
}
