/* Config: defaults with no file, the INI file, environment overrides,
 * clear errors for unknown keys and bad values, and which of the config
 * file's location is cairn's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/cairn-test-config-XXXXXX";
static char file[256];

static void write_file(const char *text)
{
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	setenv("CAIRN_CONFIG", file, 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	setenv("XDG_DATA_HOME", "/home/u/.local/share", 1);
	unsetenv("CAIRN_LIMITS_EVENT_BYTES");
	unsetenv("CAIRN_STORE_RETENTION_AGE");
	unlink(file);
	return 0;
}

static void test_defaults_without_file(void **state)
{
	struct config c;
	assert_int_equal(config_load(&c, NULL), 0);
	assert_string_equal(c.socket_path, "/run/user/4242/cairn/cairn.sock");
	assert_string_equal(c.db_path, "/home/u/.local/share/cairn/cairn.db");
	assert_int_equal(c.event_bytes, 1024 * 1024);
	assert_int_equal(c.line_bytes, 1024 * 1024 + 64 * 1024);
	assert_int_equal(c.queue_events, 4096);
	assert_int_equal(c.retention_age_ms, 0);
	assert_int_equal(c.commit_delay_ms, 5);
	assert_int_equal(c.flood_rate, 5000);
	assert_int_equal(c.flood_delay_ms, 1);
	config_release(&c);
}

static void test_file_and_env_override(void **state)
{
	write_file("# comment\n[limits]\nevent_bytes = 64K\n[store]\nretention_age = 30d\n"
		   "retention_bytes = 2G\n[daemon]\nlog_level = debug\n");
	setenv("CAIRN_LIMITS_EVENT_BYTES", "128K", 1);
	struct config c;
	assert_int_equal(config_load(&c, NULL), 0);
	assert_int_equal(c.event_bytes, 128 * 1024); /* environment wins */
	assert_int_equal(c.retention_age_ms, 30LL * 86400 * 1000);
	assert_int_equal(c.retention_bytes, 2LL * 1024 * 1024 * 1024);
	assert_int_equal(c.log_level, LOG_DEBUG);
	config_release(&c);
}

static void test_errors_name_the_problem(void **state)
{
	struct config c;
	struct cairn_err err;
	write_file("[limits]\nevent_bytez = 1\n");
	assert_int_equal(config_load(&c, &err), CAIRN_E_INVALID);
	assert_int_equal(err.code, CAIRN_E_INVALID);
	assert_non_null(strstr(err.msg, "event_bytez"));
	assert_string_equal(err.field, "limits.event_bytez");
	config_release(&c);

	write_file("[store]\nretention_age = soon\n");
	assert_int_not_equal(config_load(&c, &err), 0);
	assert_non_null(strstr(err.msg, "retention_age"));
	assert_non_null(strstr(err.msg, "duration"));
	assert_string_equal(err.field, "store.retention_age");
	config_release(&c);

	/* The group-commit delay: 0 turns it off, more than a second is refused. */
	write_file("[store]\ncommit_delay_ms = 0\n");
	assert_int_equal(config_load(&c, &err), 0);
	assert_int_equal(c.commit_delay_ms, 0);
	config_release(&c);
	write_file("[store]\ncommit_delay_ms = 1001\n");
	assert_int_equal(config_load(&c, &err), CAIRN_E_INVALID);
	assert_string_equal(err.field, "store.commit_delay_ms");
	assert_non_null(strstr(err.msg, "at most 1000"));
	config_release(&c);

	/* Flood reading: 0 turns either off, a delay over 100 ms is refused. */
	write_file("[limits]\nflood_rate = 0\nflood_delay_ms = 0\n");
	assert_int_equal(config_load(&c, &err), 0);
	assert_int_equal(c.flood_rate, 0);
	assert_int_equal(c.flood_delay_ms, 0);
	config_release(&c);
	write_file("[limits]\nflood_delay_ms = 101\n");
	assert_int_equal(config_load(&c, &err), CAIRN_E_INVALID);
	assert_string_equal(err.field, "limits.flood_delay_ms");
	assert_non_null(strstr(err.msg, "at most 100"));
	config_release(&c);

	write_file("[limits]\nthis line has no equals sign\n");
	assert_int_not_equal(config_load(&c, &err), 0);
	assert_non_null(strstr(err.msg, ":2:"));
	config_release(&c);

	unlink(file);
	setenv("CAIRN_LIMITS_EVENT_BYTES", "lots", 1);
	assert_int_not_equal(config_load(&c, &err), 0);
	assert_non_null(strstr(err.msg, "CAIRN_LIMITS_EVENT_BYTES"));
	assert_string_equal(err.field, "CAIRN_LIMITS_EVENT_BYTES");
	config_release(&c);
}

/* What the file watcher leaves alone: the config file's directory when it
 * is cairn's own, else only the file. */
static void test_own_path(void **state)
{
	static const char *cases[][2] = {
		{"/home/u/.config/cairn/config", "/home/u/.config/cairn"},
		{"/etc/cairn/config", "/etc/cairn"},
		{"/home/u/cairn.ini", "/home/u/cairn.ini"}, /* not the whole home */
		{"/home/u/src/app/config", "/home/u/src/app/config"},
		{"/home/u/notcairn/config", "/home/u/notcairn/config"},
		{"/config", "/config"},
		{"config", "config"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c = {.config_path = (char *)cases[i][0]};
		char *own = config_own_path(&c);
		assert_string_equal(own, cases[i][1]);
		free(own);
	}
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(file, sizeof file, "%s/config", dir);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_without_file, setup),
		cmocka_unit_test_setup(test_file_and_env_override, setup),
		cmocka_unit_test_setup(test_errors_name_the_problem, setup),
		cmocka_unit_test(test_own_path),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(file);
	rmdir(dir);
	return r;
}
