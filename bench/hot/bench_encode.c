/* Micro-benchmark of event_encode() (src/event/envelope.c), the encoder on
 * the daemon's per-event path, against what it replaced in the same run:
 * building the jansson object (event_to_json()) and dumping it. Both must
 * give the same bytes; the program stops if they do not.
 *
 * usage: bench_encode [EVENTS]   (default 200000)
 * Prints "R key value" lines (µs per event) and a readable line. */
#include "event/envelope.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The benchmark's event: the 200-byte envelope every `make bench` figure
 * uses (bench/common.c), parsed and filled as the daemon would. */
static struct event *make_event(void)
{
	char text[512];
	char pad[160];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	snprintf(text, sizeof text,
		 "{\"source\":\"bench\",\"type\":\"bench.event\",\"data\":{\"t\":"
		 "\"0001795727323123456\",\"p\":\"%.*s\"},\"subject\":\"src/a.c\"}",
		 110, pad);
	struct event *ev;
	struct cairn_err err;
	if (event_parse(text, strlen(text), 1 << 20, EVENT_PUBLISH, &ev, &err)) {
		fprintf(stderr, "bench_encode: %s\n", err.msg);
		exit(1);
	}
	event_fill_defaults(ev, 1795727323123);
	ev->seq = 123456;
	return ev;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	if (n <= 0) {
		fprintf(stderr, "usage: bench_encode [EVENTS]\n");
		return 2;
	}
	struct event *ev = make_event();
	size_t len, total = 0;
	/* Same bytes first. */
	char *a = event_encode(ev, &len);
	json_t *o = event_to_json(ev);
	char *b = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!b || strcmp(a, b) != 0) {
		fprintf(stderr, "bench_encode: the encoders differ:\n%s\n%s\n", a, b);
		return 1;
	}
	free(a);
	free(b);
	double best_hand = 1e30, best_jansson = 1e30;
	for (int round = 0; round < 5; round++) {
		double t0 = now_us();
		for (long i = 0; i < n; i++) {
			char *s = event_encode(ev, &len);
			total += len;
			free(s);
		}
		double t1 = now_us();
		for (long i = 0; i < n; i++) {
			json_t *obj = event_to_json(ev);
			char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
			total += strlen(s);
			json_decref(obj);
			free(s);
		}
		double t2 = now_us();
		if ((t1 - t0) / (double)n < best_hand)
			best_hand = (t1 - t0) / (double)n;
		if ((t2 - t1) / (double)n < best_jansson)
			best_jansson = (t2 - t1) / (double)n;
	}
	event_free(ev);
	printf("R encode.hand_us %.3f\nR encode.jansson_us %.3f\n", best_hand, best_jansson);
	printf("event_encode() of a %zu-byte envelope (best of 5 rounds of %ld): %.3f µs; "
	       "jansson object + json_dumps() (before): %.3f µs\n",
	       total / (size_t)(10 * n), n, best_hand, best_jansson);
	return 0;
}
