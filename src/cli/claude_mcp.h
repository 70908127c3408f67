/* cairn's MCP server in Claude Code's project-scoped MCP configuration
 * (<project>/.mcp.json, next to .claude/), for `cairn hooks
 * install|uninstall --agent claude`. This is what cairn's part of the file
 * is (claude_mcp_kind); reading, writing, the records kept beside the file
 * for uninstall and the layout are claude_json.h's, as for the settings.
 *
 * What cairn adds, and nothing else (other servers and other keys are kept
 * as they are, in their order):
 *
 *   "mcpServers": {
 *     ...,
 *     "cairn": {"type": "stdio", "command": "/abs/cairn", "args": ["mcp"],
 *               "env": {}}
 *   }
 *
 * The server named "cairn" is cairn's (claude_mcp_is_ours()) when it is an
 * object whose "type" is "stdio" or absent, whose "args" are exactly
 * ["mcp"], and whose "command" is "cairn" or ends with "/cairn", or is the
 * binary that is installing (or uninstalling), or is a binary that cairn's
 * hooks in .claude/settings.json call (a cairn binary under another name).
 * Install then updates it in place (a moved binary: the entry keeps its
 * place among the servers) and uninstall removes it. Any other server named
 * "cairn" is someone else's: install leaves the file alone and says so
 * (blocked()), and uninstall leaves it too.
 *
 * All functions run in the CLI's one thread; none blocks. */
#ifndef CAIRN_CLAUDE_MCP_H
#define CAIRN_CLAUDE_MCP_H

#include "cli/claude_json.h"

#include <jansson.h>
#include <stdbool.h>

/* The name of cairn's server under "mcpServers". */
#define CLAUDE_MCP_NAME "cairn"

/* The ctx of claude_mcp_kind's operations. */
struct claude_mcp_ctx {
	const char *cairn_path; /* the binary installing (or uninstalling) */
	/* The edit of .claude/settings.json, read before this file (so its
	 * claude_json_edit_was() tells which binary cairn's hooks call); NULL
	 * when there is none. */
	const struct claude_json_edit *settings;
};

/* The .mcp.json file for claude_json.h, with a struct claude_mcp_ctx.
 * check() wants "mcpServers", if present, to be an object. */
extern const struct claude_json_kind claude_mcp_kind;

/* cairn's server entry (above), calling the binary at cairn_path; NULL when
 * cairn_path is not UTF-8 (a JSON string cannot hold it). New reference. */
json_t *claude_mcp_server(const char *cairn_path);

/* True if server (the value of "mcpServers"."cairn") is cairn's, as above;
 * ctx may be NULL (then only the first two rules for "command" apply). */
bool claude_mcp_is_ours(const json_t *server, const struct claude_mcp_ctx *ctx);

#endif
