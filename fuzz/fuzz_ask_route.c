/* libFuzzer target for the deterministic router (ask_route(),
 * src/ask/route.h): any bytes as a question. It always names a family and
 * one of the registry's tools, with arguments that pass that tool's schema
 * (what the router reads from a question must never be refused by the
 * tool it routes to). */
#include "ask/route.h"
#include "tools/schema.h"
#include "tools/tools.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *q = malloc(size + 1);
	if (!q)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';
	struct ask_route r;
	ask_route(q, 1764770000000, &r);
	const struct tool *t = tool_find(r.tool);
	if (!t || r.family >= ASK_N_FAMILIES) {
		fprintf(stderr, "routed to no tool\n");
		abort();
	}
	struct cairn_err err;
	if (schema_validate(tool_input_schema(t), r.args, &err)) {
		char *a = json_dumps(r.args, JSON_COMPACT);
		fprintf(stderr, "the arguments %s break %s's schema: %s\n", a, r.tool, err.msg);
		abort();
	}
	ask_route_release(&r);
	free(q);
	return 0;
}
