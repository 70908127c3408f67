/* `cairn ask "QUESTION"`: an answer from cairn's data through its tools
 * (src/ask/ask.h), with the calls made and the sources. */
#include "cli/cli.h"
#include "cli/client.h"

#include "ask/ask.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "daemon/config.h"
#include "tools/tools.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_cmd cli_ask = {
	"ask", "\"QUESTION\" [--json] [--model NAME|--no-model] [--project DIR]",
	"Answers a question about your work from cairn's log and knowledge base, through\n"
	"the same tools an AI agent gets over MCP: why did the build fail, how did we fix\n"
	"this before, what was I doing, what did we decide about X, what is next, what\n"
	"changed since yesterday, is everything healthy, or a search. Prints the answer,\n"
	"the tools it called (with their arguments and time) and its sources. With a\n"
	"model server configured ([model] url) the daemon asks it, behind a circuit\n"
	"breaker; without one, or when it fails, the deterministic reasoner answers and\n"
	"says why (docs/ask.md).\n"
	"  --json          {\"answer\", \"reasoner\", \"family\", \"tool_calls\": [{\"tool\",\n"
	"                  \"arguments\", \"ms\"}], \"sources\", \"fallback_reason\"}\n"
	"  --no-model      the deterministic reasoner, even with a model server configured\n"
	"  --model NAME    insist on the model server of [model] url (docs/config.md); NAME\n"
	"                  must be its [model] name\n"
	"  --project DIR   the project (default: the git top level of the current directory)\n",
	cmd_ask, false};

static const struct option ask_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"no-model", no_argument, NULL, 'n'},
	{"model", required_argument, NULL, 'm'},
	{"project", required_argument, NULL, 'p'},
	{NULL, 0, NULL, 0},
};

/* Asks the daemon's model reasoner. Returns the answer object of `--json`,
 * or NULL with *why: the reason to answer without the model. */
static json_t *ask_daemon(const struct config *cfg, const char *question, const char *project,
			  char **why)
{
	struct client cl;
	if (client_connect_quiet(&cl, cfg)) {
		*why = xstrdup("the cairn daemon is not running (the model server is reached "
			       "through it; start it with 'cairn daemon')");
		return NULL;
	}
	json_t *req = json_pack("{s:s,s:s,s:s}", "rid", "ask", "op", "ask", "question", question);
	if (project)
		json_object_set_new(req, "project", json_string(project));
	json_t *answer = NULL;
	int r = client_send(&cl, req);
	/* The daemon answers by its deadline; a little more for the rest. */
	int64_t wait_ms = cfg->model_deadline_ms + 5000;
	int64_t end = clock_wall_ms() + wait_ms;
	while (r == 0) {
		json_t *msg = NULL;
		int64_t left = end - clock_wall_ms();
		if (left <= 0 || (r = client_read(&cl, &msg, (int)left))) {
			*why = xasprintf("the daemon did not answer within %lld ms",
					 (long long)wait_ms);
			break;
		}
		const char *rid = json_string_value(json_object_get(msg, "rid"));
		if (!rid || strcmp(rid, "ask") != 0) {
			json_decref(msg);
			continue;
		}
		if (!json_is_true(json_object_get(msg, "ok"))) {
			struct cairn_err e;
			client_reply_err(msg, &e);
			*why = xstrdup(e.msg);
		} else if (json_is_object(json_object_get(msg, "answer"))) {
			answer = json_incref(json_object_get(msg, "answer"));
		} else {
			const char *f = json_string_value(json_object_get(msg, "fallback"));
			*why = xstrdup(f ? f : "the model gave no answer");
		}
		json_decref(msg);
		break;
	}
	if (!answer && !*why)
		*why = xstrdup("the daemon could not be asked");
	client_close(&cl);
	return answer;
}

static void print_text(const json_t *a)
{
	bool tty = isatty(STDOUT_FILENO);
	const char *D = tty ? "\033[2m" : "", *R = tty ? "\033[0m" : "";
	const char *text = json_string_value(json_object_get(a, "answer"));
	text = text ? text : "";
	fputs(text, stdout);
	if (*text && text[strlen(text) - 1] != '\n')
		putchar('\n');
	const char *fb = json_string_value(json_object_get(a, "fallback_reason"));
	if (fb)
		printf("%s-- answered without the model: %s%s\n", D, fb, R);
	printf("%s-- %s reasoner; tools:", D, json_string_value(json_object_get(a, "reasoner")));
	size_t i;
	const json_t *t;
	json_array_foreach(json_object_get(a, "tool_calls"), i, t) {
		char *args = json_dumps(json_object_get(t, "arguments"),
					JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s %s(%s) %.1f ms", i ? "," : "",
		       json_string_value(json_object_get(t, "tool")), args ? args : "",
		       json_number_value(json_object_get(t, "ms")));
		free(args);
	}
	const json_t *src = json_object_get(a, "sources");
	if (json_array_size(src)) {
		printf("; sources:");
		const json_t *s;
		json_array_foreach(src, i, s) {
			if (i >= 10) {
				printf(" ...");
				break;
			}
			printf(" %s", json_string_value(s));
		}
	}
	printf("%s\n", R);
}

int cmd_ask(int argc, char **argv, const struct config *cfg)
{
	bool json = false, no_model = false;
	const char *project_opt = NULL, *model = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", ask_opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'n': no_model = true; break;
		case 'm': model = optarg; break;
		case 'p': project_opt = optarg; break;
		default: cli_usage(stderr, "ask"); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "cairn ask: expected one QUESTION (quote it), e.g. cairn ask \"why "
				"did the build fail?\"\n");
		return EXIT_USAGE;
	}
	if (model && (!cfg->model_url || !*cfg->model_url)) {
		fprintf(stderr,
			"cairn ask: --model %s: no model server is configured; set [model] "
			"url in the config (docs/config.md), or ask without --model\n",
			model);
		return EXIT_USAGE;
	}
	if (model && strcmp(model, cfg->model_name) != 0) {
		fprintf(stderr,
			"cairn ask: --model %s: the daemon asks the model of [model] name (%s); "
			"set it there (docs/config.md)\n",
			model, cfg->model_name);
		return EXIT_USAGE;
	}
	const char *question = argv[optind];
	struct tool_ctx ctx;
	char *project = NULL;
	if (cli_tool_ctx_init(&ctx, cfg, project_opt, "cairn ask", &project))
		return EXIT_USAGE;
	int rc = EXIT_OK;
	json_t *out = NULL;
	char *why = NULL;
	size_t ql = strlen(question);
	bool asked = !no_model && cfg->model_url && *cfg->model_url && ql &&
		     strspn(question, " \t\r\n") < ql && ql <= ASK_QUESTION_MAX;
	if (asked) {
		/* An instruction to record is the person's own: it acts at once,
		 * as typed, rather than through a model (which is never given
		 * the tool that acts). */
		struct ask_route r;
		ask_route(question, ctx.now_ms, &r);
		asked = r.family != ASK_RECORD;
		ask_route_release(&r);
	}
	if (asked)
		out = ask_daemon(cfg, question, project, &why);
	if (!out) {
		struct ask_answer a;
		struct cairn_err err;
		if (ask_deterministic(&ctx, question, &a, &err)) {
			cli_print_err("cairn ask", &err);
			rc = EXIT_USAGE;
			goto done;
		}
		a.fallback_reason = why;
		why = NULL;
		out = ask_answer_json(&a);
		ask_answer_release(&a);
	}
	if (json) {
		char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		print_text(out);
	}
done:
	json_decref(out);
	free(why);
	tool_ctx_release(&ctx);
	free(project);
	return rc;
}
