/* `cairn ask "QUESTION"`: an answer from cairn's data through its tools
 * (src/ask/ask.h), with the calls made and the sources. */
#include "cli/cli.h"
#include "cli/client.h"

#include "ask/ask.h"
#include "common/xalloc.h"
#include "tools/tools.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_cmd cli_ask = {
	"ask", "\"QUESTION\" [--json] [--no-model] [--project DIR]",
	"Answers a question about your work from cairn's log and knowledge base, through\n"
	"the same tools an AI agent gets over MCP: why did the build fail, how did we fix\n"
	"this before, what was I doing, what did we decide about X, what is next, what\n"
	"changed since yesterday, is everything healthy, or a search. Prints the answer,\n"
	"the tools it called (with their arguments and time) and its sources. Without a\n"
	"model the deterministic reasoner answers (docs/ask.md).\n"
	"  --json          {\"answer\", \"reasoner\", \"family\", \"tool_calls\": [{\"tool\",\n"
	"                  \"arguments\", \"ms\"}], \"sources\"}\n"
	"  --no-model      the deterministic reasoner (the default: no model reasoner yet)\n"
	"  --model NAME    not yet: the model reasoner is not built\n"
	"  --project DIR   the project (default: the git top level of the current directory)\n",
	cmd_ask, false};

static const struct option ask_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"no-model", no_argument, NULL, 'n'},
	{"model", required_argument, NULL, 'm'},
	{"project", required_argument, NULL, 'p'},
	{NULL, 0, NULL, 0},
};

int cmd_ask(int argc, char **argv, const struct config *cfg)
{
	bool json = false;
	const char *project_opt = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", ask_opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'n': break;
		case 'm':
			fprintf(stderr,
				"cairn ask: --model: not yet: the model reasoner is not built in "
				"this version; the deterministic reasoner answers without it (drop "
				"--model)\n");
			return EXIT_USAGE;
		case 'p': project_opt = optarg; break;
		default: cli_usage(stderr, "ask"); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "cairn ask: expected one QUESTION (quote it), e.g. cairn ask \"why "
				"did the build fail?\"\n");
		return EXIT_USAGE;
	}
	struct tool_ctx ctx;
	char *project = NULL;
	if (cli_tool_ctx_init(&ctx, cfg, project_opt, "cairn ask", &project))
		return EXIT_USAGE;
	struct ask_answer a;
	struct cairn_err err;
	int rc = EXIT_OK;
	if (ask_deterministic(&ctx, argv[optind], &a, &err)) {
		cli_print_err("cairn ask", &err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (json) {
		json_t *o = ask_answer_json(&a);
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(o);
	} else {
		bool tty = isatty(STDOUT_FILENO);
		const char *D = tty ? "\033[2m" : "", *R = tty ? "\033[0m" : "";
		fputs(a.answer, stdout);
		if (*a.answer && a.answer[strlen(a.answer) - 1] != '\n')
			putchar('\n');
		printf("%s-- %s reasoner; tools:", D, a.reasoner);
		size_t i;
		const json_t *t;
		json_array_foreach(a.tool_calls, i, t) {
			char *args = json_dumps(json_object_get(t, "arguments"),
						JSON_COMPACT | JSON_PRESERVE_ORDER);
			printf("%s %s(%s) %.1f ms", i ? "," : "",
			       json_string_value(json_object_get(t, "tool")), args ? args : "",
			       json_real_value(json_object_get(t, "ms")));
			free(args);
		}
		if (json_array_size(a.sources)) {
			printf("; sources:");
			const json_t *s;
			json_array_foreach(a.sources, i, s) {
				if (i >= 10) {
					printf(" ...");
					break;
				}
				printf(" %s", json_string_value(s));
			}
		}
		printf("%s\n", R);
	}
	ask_answer_release(&a);
out:
	tool_ctx_release(&ctx);
	free(project);
	return rc;
}
