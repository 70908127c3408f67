/* libFuzzer target for the MCP server's messages (mcp_handle(),
 * src/mcp/mcp.h): any bytes as one message. Whatever comes back is one line
 * of JSON-RPC 2.0 (a result or an error, with an id that is a string, an
 * integer or null), and a message without an id is never answered. Tools
 * run against an empty database in memory; the writing tool fails (its
 * database path does not exist), which must come back as a result or an
 * error like any other. */
#include "mcp/mcp.h"
#include "tools/tools.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "broken rule: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tool_ctx ctx = {
		.db_path = "/nonexistent/cairn-fuzz/cairn.db",
		.project = "/nonexistent/cairn-fuzz/project",
		.now_ms = 1764770000000,
		.daemon_down = true,
	};
	struct mcp_server *s = mcp_new(&ctx);
	char *out = mcp_handle(s, (const char *)data, size);
	json_t *msg = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (out) {
		must(strchr(out, '\n') == NULL, "one line");
		json_t *r = json_loads(out, 0, NULL);
		must(r != NULL, "the response is JSON");
		must(json_is_string(json_object_get(r, "jsonrpc")), "jsonrpc");
		const json_t *id = json_object_get(r, "id");
		must(id && (json_is_string(id) || json_is_integer(id) || json_is_null(id)),
		     "the id is a string, an integer or null");
		must(!json_object_get(r, "result") != !json_object_get(r, "error"),
		     "exactly one of result and error");
		const json_t *e = json_object_get(r, "error");
		if (e)
			must(json_is_integer(json_object_get(e, "code")) &&
				     json_is_string(json_object_get(e, "message")),
			     "an error has a code and a message");
		json_decref(r);
	} else if (msg) {
		/* Nothing back: a notification or a response sent to us. */
		must((json_is_object(msg) && !json_object_get(msg, "id")) ||
			     (json_is_object(msg) && !json_object_get(msg, "method")),
		     "only notifications and responses go unanswered");
	}
	json_decref(msg);
	free(out);
	mcp_free(s);
	return 0;
}
