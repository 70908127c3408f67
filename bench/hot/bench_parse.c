/* Micro-benchmark of jfast_loadb() (src/common/jfast.c), the fast path in
 * front of jansson's parser on the daemon's per-event path, against
 * json_loadb() with the daemon's flags in the same run, on the publish
 * request every `make bench` figure sends (bench/common.c's 200-byte
 * event). Both must give the same value; the program stops if they do not.
 *
 * usage: bench_parse [LINES]   (default 200000)
 * Prints "R key value" lines (µs per line) and a readable line. */
#include "common/jfast.h"

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

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	if (n <= 0) {
		fprintf(stderr, "usage: bench_parse [LINES]\n");
		return 2;
	}
	char pad[160], line[512];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	int len = snprintf(
		line, sizeof line,
		"{\"op\":\"pub\",\"rid\":123456,\"event\":{\"source\":\"bench\",\"type\":"
		"\"bench.stall\",\"data\":{\"t\":\"1796402670918267123\",\"p\":\"%.*s\"}}}",
		138, pad);
	json_error_t je;
	json_t *a = jfast_loadb(line, (size_t)len);
	json_t *b = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!a || !b || !json_equal(a, b)) {
		fprintf(stderr, "bench_parse: the parsers differ on %s\n", line);
		return 1;
	}
	json_decref(a);
	json_decref(b);
	double best_fast = 1e30, best_jansson = 1e30;
	size_t total = 0;
	for (int round = 0; round < 5; round++) {
		double t0 = now_us();
		for (long i = 0; i < n; i++) {
			json_t *v = jfast_loadb(line, (size_t)len);
			total += json_object_size(v);
			json_decref(v);
		}
		double t1 = now_us();
		for (long i = 0; i < n; i++) {
			json_t *v = json_loadb(line, (size_t)len,
					       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
			total += json_object_size(v);
			json_decref(v);
		}
		double t2 = now_us();
		if ((t1 - t0) / (double)n < best_fast)
			best_fast = (t1 - t0) / (double)n;
		if ((t2 - t1) / (double)n < best_jansson)
			best_jansson = (t2 - t1) / (double)n;
	}
	printf("R parse.jfast_us %.3f\nR parse.jansson_us %.3f\n", best_fast, best_jansson);
	printf("jfast_loadb() of a %d-byte publish request (best of 5 rounds of %ld; %zu keys): "
	       "%.3f µs; json_loadb() (before): %.3f µs\n",
	       len, n, total / (size_t)(10 * n), best_fast, best_jansson);
	return 0;
}
