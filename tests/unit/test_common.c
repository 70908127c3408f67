/* Common helpers: ULIDs, RFC 3339 times and durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/timefmt.h"
#include "common/ulid.h"

#include <string.h>

static void test_ulid_valid_and_ordered(void **state)
{
	char prev[ULID_LEN + 1] = "", cur[ULID_LEN + 1];
	for (int i = 0; i < 10000; i++) {
		ulid_make(cur, 1700000000000 + i / 100); /* 100 per millisecond */
		assert_true(ulid_valid(cur));
		assert_true(strcmp(prev, cur) < 0);
		memcpy(prev, cur, sizeof cur);
	}
	assert_false(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAI")); /* I is not Crockford */
	assert_false(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FA"));
	assert_false(ulid_valid("81ARZ3NDEKTSV4RRFFQ69G5FAV")); /* overflows 128 bits */
	assert_true(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
}

static void test_ulid_encodes_time(void **state)
{
	char u[ULID_LEN + 1];
	ulid_make(u, 1469918176385); /* the ULID spec's example time */
	assert_memory_equal(u, "01ARYZ6S41", 10);
}

static void test_rfc3339(void **state)
{
	int64_t ms;
	char buf[TIMEFMT_RFC3339_LEN + 1];
	assert_int_equal(timefmt_parse_rfc3339("2026-11-27T21:08:43.123Z", &ms), 0);
	timefmt_rfc3339(buf, ms);
	assert_string_equal(buf, "2026-11-27T21:08:43.123Z");
	assert_int_equal(timefmt_parse_rfc3339("2026-11-27T22:08:43.123+01:00", &ms), 0);
	timefmt_rfc3339(buf, ms);
	assert_string_equal(buf, "2026-11-27T21:08:43.123Z");
	assert_int_equal(timefmt_parse_rfc3339("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	const char *bad[] = {"2026-11-27", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
			     "2026-11-27T21:08:43", "2026-11-27T25:00:00Z", "2026-11-27T21:08:43.Z",
			     "2026-11-27T21:08:43Zjunk", "", "now"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(timefmt_parse_rfc3339(bad[i], &ms), CAIRN_E_PARSE);
}

static void test_durations(void **state)
{
	int64_t ms;
	assert_int_equal(timefmt_parse_duration("90s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(timefmt_parse_duration("10m", &ms), 0);
	assert_int_equal(ms, 600000);
	assert_int_equal(timefmt_parse_duration("1w", &ms), 0);
	assert_int_equal(ms, 7 * 86400000LL);
	assert_int_equal(timefmt_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(timefmt_parse_duration("10", &ms), CAIRN_E_PARSE);
	assert_int_equal(timefmt_parse_duration("m", &ms), CAIRN_E_PARSE);
	assert_int_equal(timefmt_parse_duration("5y", &ms), CAIRN_E_PARSE);
	assert_int_equal(timefmt_parse_duration("-5m", &ms), CAIRN_E_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: later ULIDs never go back in time within a process. */
		cmocka_unit_test(test_ulid_encodes_time),
		cmocka_unit_test(test_ulid_valid_and_ordered),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
