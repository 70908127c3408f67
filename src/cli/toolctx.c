/* The struct tool_ctx of a command that calls tools (`cairn mcp`,
 * `cairn ask`, `cairn tool`): the project of the current directory, whether
 * the daemon answers, and publishing through it. */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/publish.h"

#include "common/clock.h"
#include "tools/tools.h"

#include <stdlib.h>
#include <string.h>

#define TOOL_PUBLISH_TIMEOUT_MS 1000

static int publish(void *pctx, json_t *event)
{
	const struct config *cfg = pctx;
	/* Quiet: stdout belongs to the protocol in `cairn mcp`; a lost event
	 * is still said on stderr by cli_publish(). */
	int r = cli_publish(cfg, event, PUBLISH_ACCEPTED, true, TOOL_PUBLISH_TIMEOUT_MS, NULL,
			    NULL);
	return r < 0 ? r : 0;
}

/* The breakers' states from the daemon's status (project_state). */
static json_t *get_breakers(void *pctx)
{
	const struct config *cfg = pctx;
	struct client cl;
	if (client_connect_quiet(&cl, cfg))
		return NULL;
	json_t *reply = NULL, *out = NULL;
	if (client_request(&cl, json_pack("{s:s}", "op", "status"), &reply) == 0 &&
	    json_is_array(json_object_get(reply, "breakers")))
		out = json_incref(json_object_get(reply, "breakers"));
	json_decref(reply);
	client_close(&cl);
	return out;
}

int cli_tool_ctx_init(struct tool_ctx *c, const struct config *cfg, const char *project_opt,
		      const char *prog, char **project_out)
{
	memset(c, 0, sizeof *c);
	*project_out = NULL;
	if (cli_project(project_opt, prog, project_out))
		return -1;
	c->cfg = cfg;
	c->project = *project_out;
	c->now_ms = clock_wall_ms();
	struct client cl;
	if (client_connect_quiet(&cl, cfg) == 0)
		client_close(&cl);
	else
		c->daemon_down = true;
	c->get_breakers = get_breakers;
	c->publish = publish;
	c->pctx = (void *)cfg;
	return 0;
}
