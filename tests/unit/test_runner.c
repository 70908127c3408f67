/* Runner: the capped capture keeps exactly the head and the tail, and a run
 * passes exit status, signals and bytes through unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sources/runner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_capture(size_t cap, size_t total, unsigned seed)
{
	char *data = malloc(total + 1);
	srand(seed);
	for (size_t i = 0; i < total; i++)
		data[i] = (char)('a' + rand() % 26);
	struct capture c;
	capture_init(&c, cap);
	for (size_t off = 0; off < total;) {
		size_t n = (size_t)(rand() % 5000) + 1;
		if (n > total - off)
			n = total - off;
		capture_add(&c, data + off, n);
		off += n;
	}
	size_t len;
	char *j = capture_join(&c, &len);
	size_t h = cap / 2, t = cap - h;
	if (total <= cap) {
		assert_int_equal(len, total);
		assert_memory_equal(j, data, total);
		assert_false(capture_truncated(&c));
	} else {
		assert_true(capture_truncated(&c));
		assert_memory_equal(j, data, h);
		assert_memory_equal(j + len - t, data + total - t, t);
		char mark[64];
		snprintf(mark, sizeof mark, "[cairn: %zu bytes omitted]", total - cap);
		assert_non_null(strstr(j + h, mark));
	}
	free(j);
	capture_release(&c);
	free(data);
}

static void test_capture_head_and_tail(void **state)
{
	for (unsigned s = 0; s < 20; s++) {
		check_capture(1000, 500, s);
		check_capture(1000, 1000, s);
		check_capture(1000, 1001, s);
		check_capture(1000, 123456, s);
		check_capture(7, 100, s);
	}
}

struct head_seen {
	int calls;
	const char *p;
	size_t len;
};

static void on_head(void *arg, const char *head, size_t len)
{
	struct head_seen *h = arg;
	h->calls++;
	h->p = head;
	h->len = len;
}

/* The head callback comes once, when the head is full, with the bytes
 * capture_join() starts with; not at all when the head never fills. */
static void test_capture_on_head(void **state)
{
	char data[3000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	struct capture c;
	struct head_seen h = {0};
	capture_init(&c, 1000);
	capture_on_head(&c, on_head, &h);
	capture_add(&c, data, 499);
	assert_int_equal(h.calls, 0);
	capture_add(&c, data + 499, 2);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.len, 500);
	capture_add(&c, data + 501, sizeof data - 501);
	assert_int_equal(h.calls, 1);
	size_t len;
	char *j = capture_join(&c, &len);
	assert_memory_equal(j, h.p, h.len);
	assert_memory_equal(h.p, data, 500);
	free(j);
	capture_release(&c);

	struct head_seen none = {0};
	capture_init(&c, 1000);
	capture_on_head(&c, on_head, &none);
	capture_add(&c, data, 400);
	assert_int_equal(none.calls, 0);
	capture_release(&c);
}

static void test_exit_status_and_output(void **state)
{
	char *argv[] = {"sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 7", NULL};
	struct capture c;
	capture_init(&c, 1024);
	struct runner_result r;
	assert_int_equal(runner_run(argv, &c, &r), 0);
	assert_int_equal(r.exit_code, 7);
	assert_int_equal(r.signal, 0);
	char *j = capture_join(&c, NULL);
	assert_non_null(strstr(j, "out\n"));
	assert_non_null(strstr(j, "err\n"));
	free(j);
	capture_release(&c);
}

static void test_signal_death(void **state)
{
	char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
	struct capture c;
	capture_init(&c, 1024);
	struct runner_result r;
	assert_int_equal(runner_run(argv, &c, &r), 0);
	assert_int_equal(r.signal, SIGTERM);
	assert_int_equal(r.exit_code, 128 + SIGTERM);
	capture_release(&c);
}

static void test_missing_command(void **state)
{
	char *argv[] = {"/nonexistent/cairn-no-such-command", NULL};
	struct capture c;
	capture_init(&c, 1024);
	struct runner_result r;
	assert_int_equal(runner_run(argv, &c, &r), 0);
	assert_int_not_equal(r.spawn_errno, 0);
	assert_int_equal(r.exit_code, 127);
	capture_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_head_and_tail),
		cmocka_unit_test(test_capture_on_head),
		cmocka_unit_test(test_exit_status_and_output),
		cmocka_unit_test(test_signal_death),
		cmocka_unit_test(test_missing_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
