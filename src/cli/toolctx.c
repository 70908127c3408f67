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

/* record_knowledge through the daemon's `record` op. */
static int record(void *pctx, const json_t *entry, json_t **result, struct cairn_err *err)
{
	const struct config *cfg = pctx;
	struct client cl;
	if (client_connect_quiet(&cl, cfg))
		return CAIRN_E_DOWN;
	json_t *reply = NULL;
	int r = client_request(&cl, json_pack("{s:s,s:O}", "op", "record", "entry", entry), &reply);
	if (r == 0 && json_is_true(json_object_get(reply, "ok"))) {
		json_object_del(reply, "ok");
		json_object_del(reply, "rid");
		*result = json_incref(reply);
	} else if (r == 0) {
		r = client_reply_err(reply, err);
	} else {
		r = cairn_err_set(err, r, "", "the daemon did not answer the record request (%s)",
				  err_str(r));
	}
	json_decref(reply);
	client_close(&cl);
	return r;
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
	c->record = record;
	c->publish = publish;
	c->pctx = (void *)cfg;
	return 0;
}
