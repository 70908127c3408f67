/* The MCP server's protocol: one JSON-RPC 2.0 message in, at most one out
 * (`cairn mcp` in src/cli/cmd_mcp.c moves the lines over stdio;
 * docs/mcp.md is the user's guide).
 *
 * Dual-era, as the 2026-07-28 revision's backward-compatibility rules ask:
 *
 *   legacy    `initialize` negotiates 2025-11-25 or 2025-06-18 (a client
 *             asking for another version is answered with 2025-11-25, and
 *             may disconnect); then `notifications/initialized`, `ping`,
 *             and the methods below.
 *   stateless a request whose params._meta carries
 *             "io.modelcontextprotocol/protocolVersion" is answered on its
 *             own, with no handshake: the version must be 2026-07-28
 *             (else -32022 with the supported versions), and
 *             "io.modelcontextprotocol/clientCapabilities" must be an
 *             object (else -32602). Every result carries
 *             "resultType": "complete"; list results carry ttlMs and
 *             cacheScope. `server/discover` says what the server supports;
 *             `ping` and `initialize` are not part of this era.
 *
 * Methods: tools/list (the registry's tools in its fixed order, with
 * readOnlyHint, destructiveHint, idempotentHint), tools/call (arguments
 * checked against the tool's schema: an unknown tool or bad arguments is
 * -32602 with the message naming the tool list or the argument; a mistake
 * found while running, such as an id that matches nothing, is a result
 * with isError true), resources/list, resources/templates/list,
 * resources/read (cairn://brief, cairn://knowledge,
 * cairn://knowledge/{id}), ping, server/discover.
 *
 * A notification (a message without an id) is never answered, not even
 * with an error; responses sent to us (we send no requests) are ignored.
 * Batches (a JSON array) are refused with -32600: no version offered here
 * has them. Threading: one server per thread. */
#ifndef CAIRN_MCP_H
#define CAIRN_MCP_H

#include <stddef.h>

struct tool_ctx;

/* The longest message accepted, in bytes (the line without its newline). */
#define MCP_LINE_MAX (1024 * 1024)

#define MCP_VERSION_STATELESS "2026-07-28"

struct mcp_server;

/* A server that calls tools with ctx (borrowed; it must outlive the
 * server). */
struct mcp_server *mcp_new(struct tool_ctx *ctx);
void mcp_free(struct mcp_server *s);

/* Handles one message (len bytes, no newline; need not be NUL-terminated).
 * Returns the response as one line of compact JSON (no newline; free it),
 * or NULL when nothing is to be sent. */
char *mcp_handle(struct mcp_server *s, const char *msg, size_t len);

/* The response to a line over MCP_LINE_MAX (the reader discards it):
 * a -32600 error with id null. */
char *mcp_too_long(size_t len);

#endif
