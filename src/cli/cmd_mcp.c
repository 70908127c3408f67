/* `cairn mcp`: the MCP server over stdio (src/mcp/mcp.h, docs/mcp.md).
 * stdout carries nothing but protocol messages, one per line; everything
 * else goes to stderr. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/xalloc.h"
#include "mcp/mcp.h"
#include "tools/tools.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cli_cmd cli_mcp = {
	"mcp", "[--project DIR]",
	"Serves cairn's tools and resources to an AI agent over the Model Context Protocol\n"
	"on stdin and stdout (newline-delimited JSON-RPC; logs on stderr). Speaks the\n"
	"initialize handshake (protocol 2025-11-25, 2025-06-18) and the stateless\n"
	"2026-07-28 requests (server/discover, _meta on every request). An MCP client\n"
	"starts it; installing the Claude Code hooks registers it in .mcp.json, and\n"
	"docs/mcp.md says how to add it to other clients.\n"
	"  --project DIR   the project tools answer about when a call names none\n"
	"                  (default: the git top level of the current directory)\n",
	cmd_mcp, false};

static const struct option mcp_opts[] = {
	{"project", required_argument, NULL, 'p'},
	{NULL, 0, NULL, 0},
};

/* Writes line and a newline to stdout, and flushes: a client waits for it. */
static int put(char *line)
{
	if (!line)
		return 0;
	int r = fputs(line, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) ? -1 : 0;
	free(line);
	return r;
}

int cmd_mcp(int argc, char **argv, const struct config *cfg)
{
	const char *project_opt = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", mcp_opts, NULL)) != -1) {
		switch (c) {
		case 'p': project_opt = optarg; break;
		default: cli_usage(stderr, "mcp"); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairn mcp: unexpected '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	struct tool_ctx ctx;
	char *project = NULL;
	if (cli_tool_ctx_init(&ctx, cfg, project_opt, "cairn mcp", &project))
		return EXIT_USAGE;
	if (ctx.daemon_down)
		fprintf(stderr, "cairn mcp: the cairn daemon is not running: answers come from the "
				"log as it is; start it with 'cairn daemon'\n");
	struct mcp_server *s = mcp_new(&ctx);
	/* One message per line, at most MCP_LINE_MAX bytes; a longer line
	 * is read to its end and discarded, and answered with an error. */
	char *line = xmalloc(MCP_LINE_MAX + 1);
	size_t len = 0, over = 0;
	int rc = EXIT_OK;
	int ch;
	for (;;) {
		ch = getchar();
		if (ch == EOF || ch == '\n') {
			if (over) {
				if (put(mcp_too_long(len + over)))
					break;
			} else if (len) {
				size_t n = len;
				if (n && line[n - 1] == '\r')
					n--;
				if (n && put(mcp_handle(s, line, n)))
					break;
			}
			len = over = 0;
			if (ch == EOF)
				break;
			continue;
		}
		if (len < MCP_LINE_MAX)
			line[len++] = (char)ch;
		else
			over++;
	}
	if (ferror(stdin)) {
		fprintf(stderr, "cairn mcp: cannot read stdin: %s\n", strerror(errno));
		rc = EXIT_IO;
	}
	free(line);
	mcp_free(s);
	tool_ctx_release(&ctx);
	free(project);
	return rc;
}
