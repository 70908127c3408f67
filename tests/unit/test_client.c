/* The CLI's socket client over a socketpair: the rid goes first, an error
 * without a rid answers the request in flight, a silent peer times out, and
 * a line over the daemon's limit is not sent. Each test runs under alarm()
 * so that a regression (waiting forever) fails instead of hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/client.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_ALARM_S 20

struct pair {
	struct client cl;
	int peer; /* the daemon's end */
};

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof *p);
	int sv[2];
	if (!p || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	p->cl.fd = sv[0];
	p->cl.watch_fd = -1;
	p->peer = sv[1];
	*state = p;
	unsetenv("CAIRN_TIMEOUT_MS");
	alarm(TEST_ALARM_S);
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	alarm(0);
	client_close(&p->cl);
	close(p->peer);
	free(p);
	unsetenv("CAIRN_TIMEOUT_MS");
	return 0;
}

/* What the client sent so far (one read; the requests here are small). */
static char *sent(int peer)
{
	static char buf[4096];
	ssize_t n = recv(peer, buf, sizeof buf - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void answer(int peer, const char *line)
{
	size_t n = strlen(line);
	assert_int_equal(send(peer, line, n, 0), (ssize_t)n);
}

static void test_rid_goes_first(void **state)
{
	struct pair *p = *state;
	/* The answer is there before the request: a peer that replies fast. */
	answer(p->peer, "{\"ok\":true,\"rid\":1}\n");
	json_t *reply;
	assert_int_equal(client_request(&p->cl, json_pack("{s:s,s:i}", "op", "x", "n", 5), &reply),
			 0);
	json_decref(reply);
	assert_string_equal(sent(p->peer), "{\"rid\":1,\"op\":\"x\",\"n\":5}\n");
}

static void test_error_without_rid_is_the_answer(void **state)
{
	struct pair *p = *state;
	/* A reply to another request and a push are skipped; the rid-less
	 * error is ours. */
	answer(p->peer,
	       "{\"ok\":true,\"rid\":99}\n"
	       "{\"sub\":\"1\",\"event\":{}}\n"
	       "{\"ok\":false,\"error\":{\"code\":\"line_too_long\",\"message\":\"m\"}}\n");
	json_t *reply = NULL;
	assert_int_equal(client_request(&p->cl, json_pack("{s:s}", "op", "status"), &reply), 0);
	assert_non_null(reply);
	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(reply, "error"), "code")),
		"line_too_long");
	json_decref(reply);
}

static void test_silent_peer_times_out(void **state)
{
	struct pair *p = *state;
	setenv("CAIRN_TIMEOUT_MS", "200", 1);
	json_t *reply = (json_t *)1;
	assert_int_equal(client_request(&p->cl, json_pack("{s:s}", "op", "status"), &reply),
			 -ETIMEDOUT);
	assert_null(reply);
}

static void test_timeout_setting(void **state)
{
	assert_int_equal(client_timeout_ms(), CLIENT_TIMEOUT_MS_DEFAULT);
	setenv("CAIRN_TIMEOUT_MS", "1500", 1);
	assert_int_equal(client_timeout_ms(), 1500);
	setenv("CAIRN_TIMEOUT_MS", "0", 1);
	assert_int_equal(client_timeout_ms(), 0);
	const char *bad[] = {"-1", "10s", "99999999999999", "x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("CAIRN_TIMEOUT_MS", bad[i], 1);
		assert_int_equal(client_timeout_ms(), CLIENT_TIMEOUT_MS_DEFAULT);
	}
}

static void test_line_over_limit_is_not_sent(void **state)
{
	struct pair *p = *state;
	p->cl.line_bytes = 64;
	char big[100];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	json_t *reply = (json_t *)1;
	assert_int_equal(
		client_request(&p->cl, json_pack("{s:s,s:s}", "op", "pub", "data", big), &reply),
		CAIRN_E_TOOBIG);
	assert_null(reply);
	assert_string_equal(sent(p->peer), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rid_goes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_without_rid_is_the_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_silent_peer_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_over_limit_is_not_sent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
