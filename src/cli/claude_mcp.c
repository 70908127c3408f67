/* cairn's MCP server in Claude Code's .mcp.json: the JSON edits of
 * `cairn hooks install|uninstall --agent claude` there. What is cairn's is
 * in claude_mcp.h; the file handling is claude_json.c's. */
#include "cli/claude_mcp.h"
#include "cli/claude_settings.h"

#include <string.h>

#define SERVERS "mcpServers"

json_t *claude_mcp_server(const char *cairn_path)
{
	json_t *cmd = json_string(cairn_path);
	if (!cmd)
		return NULL;
	return json_pack("{s:s,s:o,s:[s],s:{}}", "type", "stdio", "command", cmd, "args", "mcp",
			 "env");
}

/* The value of s if it is a string without NUL bytes (which a C string
 * would cut short), else NULL. */
static const char *plain_string(const json_t *s)
{
	const char *v = json_string_value(s);
	return v && strlen(v) == json_string_length(s) ? v : NULL;
}

bool claude_mcp_is_ours(const json_t *server, const struct claude_mcp_ctx *ctx)
{
	if (!json_is_object(server))
		return false;
	const json_t *type = json_object_get(server, "type");
	if (type && !(plain_string(type) && strcmp(json_string_value(type), "stdio") == 0))
		return false;
	const json_t *args = json_object_get(server, "args");
	const char *arg = plain_string(json_array_get(args, 0));
	if (!json_is_array(args) || json_array_size(args) != 1 || !arg || strcmp(arg, "mcp") != 0)
		return false;
	const char *cmd = plain_string(json_object_get(server, "command"));
	if (!cmd)
		return false;
	size_t n = strlen(cmd);
	if (strcmp(cmd, "cairn") == 0 || (n >= 6 && strcmp(cmd + n - 6, "/cairn") == 0))
		return true;
	if (ctx && ctx->cairn_path && strcmp(cmd, ctx->cairn_path) == 0)
		return true;
	return ctx && ctx->settings &&
	       claude_settings_calls(claude_json_edit_was(ctx->settings), cmd);
}

static int mcp_check(const json_t *root, struct cairn_err *err)
{
	const json_t *servers = json_object_get(root, SERVERS);
	if (servers && !json_is_object(servers))
		return cairn_err_set(err, CAIRN_E_INVALID, SERVERS,
				     "its \"" SERVERS "\" is not an object");
	return 0;
}

static bool mcp_current(const json_t *root, const void *ctx)
{
	const struct claude_mcp_ctx *c = ctx;
	const json_t *have = json_object_get(json_object_get(root, SERVERS), CLAUDE_MCP_NAME);
	json_t *want = claude_mcp_server(c->cairn_path);
	bool same = have && want && json_equal(have, want);
	json_decref(want);
	return same;
}

static int mcp_blocked(const json_t *root, const void *ctx, struct cairn_err *err)
{
	const json_t *have = json_object_get(json_object_get(root, SERVERS), CLAUDE_MCP_NAME);
	if (!have || claude_mcp_is_ours(have, ctx))
		return 0;
	const char *cmd = plain_string(json_object_get(have, "command"));
	return cairn_err_set(
		err, CAIRN_E_EXISTS, SERVERS,
		"the MCP server \"" CLAUDE_MCP_NAME "\" there is not cairn's (%s%.120s%s), "
		"so it is left alone and cairn's is not registered (the hooks are installed); "
		"rename or remove that server and run 'cairn hooks install --agent claude' "
		"again, or add cairn's under another name by hand (docs/cli.md shows it)",
		cmd ? "it runs '" : "not a stdio server running 'cairn mcp'", cmd ? cmd : "",
		cmd ? "'" : "");
}

static int mcp_put(json_t *root, const void *ctx, bool *had, struct cairn_err *err)
{
	const struct claude_mcp_ctx *c = ctx;
	json_t *srv = claude_mcp_server(c->cairn_path);
	if (!srv)
		return cairn_err_set(err, CAIRN_E_INVALID, "",
				     "the path of the cairn binary, '%s', is not UTF-8, which a "
				     "JSON file cannot hold; install cairn under a UTF-8 path",
				     c->cairn_path);
	json_t *servers = json_object_get(root, SERVERS);
	*had = json_object_get(servers, CLAUDE_MCP_NAME) != NULL;
	if (!servers) {
		servers = json_object();
		json_object_set_new(root, SERVERS, servers);
	}
	/* An existing key keeps its place: a moved binary is updated in place. */
	json_object_set_new(servers, CLAUDE_MCP_NAME, srv);
	return 0;
}

static size_t mcp_strip(json_t *root, const void *ctx)
{
	json_t *servers = json_object_get(root, SERVERS);
	if (!claude_mcp_is_ours(json_object_get(servers, CLAUDE_MCP_NAME), ctx))
		return 0;
	json_object_del(servers, CLAUDE_MCP_NAME);
	if (json_object_size(servers) == 0)
		json_object_del(root, SERVERS);
	return 1;
}

/* Leaves out an empty "mcpServers" (install may have made it). */
static void mcp_prune(json_t *root)
{
	json_t *servers = json_object_get(root, SERVERS);
	if (json_is_object(servers) && json_object_size(servers) == 0)
		json_object_del(root, SERVERS);
}

const struct claude_json_kind claude_mcp_kind = {
	.label = "claude mcp",
	.part = "MCP server",
	.beside = "your other servers",
	.check = mcp_check,
	.current = mcp_current,
	.blocked = mcp_blocked,
	.put = mcp_put,
	.strip = mcp_strip,
	.prune = mcp_prune,
};
