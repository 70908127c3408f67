/* A service for the tests only (registered in the test build, see
 * registry.c): it counts counter.tick events and publishes one
 * counter.counted per tick, with the tick's seq, so that a test can check
 * that every tick was handled exactly once and in order. Off unless
 * CAIRN_TEST_COUNTER is set: "ok" counts, "fail" fails every call,
 * "fail-start" cannot start, "big" returns outputs of 16 KiB (over a small
 * [limits] event_bytes: they cannot be logged). CAIRN_TEST_SLOW=counter:MS slows it down
 * (host.c). */
#ifdef CAIRN_TEST_BUILD
#include "services/service.h"

#include "common/err.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct counter {
	bool fail, big;
	uint64_t count; /* atomic: handle() writes, status() reads */
};

static const char *const counter_patterns[] = {"counter.tick", NULL};

static int counter_start(const struct service_env *env, void **state, struct cairn_err *err)
{
	const char *mode = getenv("CAIRN_TEST_COUNTER");
	if (!mode)
		return 1;
	if (strcmp(mode, "fail-start") == 0) {
		return cairn_err_set(err, CAIRN_E_INVALID, "",
				     "told not to start (CAIRN_TEST_COUNTER=fail-start)");
	}
	struct counter *c = xcalloc(1, sizeof *c);
	c->fail = strcmp(mode, "fail") == 0;
	c->big = strcmp(mode, "big") == 0;
	*state = c;
	return 0;
}

static int counter_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			  struct cairn_err *err)
{
	struct counter *c = state;
	if (c->fail) {
		return cairn_err_set(err, CAIRN_E_INVALID, "",
				     "failing on purpose (CAIRN_TEST_COUNTER=fail)");
	}
	uint64_t n = __atomic_add_fetch(&c->count, 1, __ATOMIC_RELAXED);
	json_t *o = json_pack("{s:s,s:{s:I,s:I}}", "type", "counter.counted", "data", "seq",
			      (json_int_t)seq, "n", (json_int_t)n);
	if (c->big) {
		static char pad[16 * 1024 + 1];
		memset(pad, 'x', sizeof pad - 1);
		json_object_set_new(json_object_get(o, "data"), "pad", json_string(pad));
	}
	json_array_append_new(out, o);
	return 0;
}

static void counter_status(void *state, json_t *o)
{
	struct counter *c = state;
	json_object_set_new(o, "count",
			    json_integer((json_int_t)__atomic_load_n(&c->count, __ATOMIC_RELAXED)));
}

static void counter_free(void *state)
{
	free(state);
}

const struct service_def counter_service = {
	.name = "counter",
	.patterns = counter_patterns,
	.start = counter_start,
	.handle = counter_handle,
	.status = counter_status,
	.free = counter_free,
};
#endif
