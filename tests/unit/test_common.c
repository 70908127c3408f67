/* Common helpers: ULIDs, RFC 3339 times and durations, SHA-256, error codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/sha256.h"
#include "common/timefmt.h"
#include "common/ulid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The encoder, against the bit-by-bit one it replaced. */
static void test_ulid_encode(void **state)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint8_t b[16];
	char got[ULID_LEN + 1], want[ULID_LEN + 1];
	memset(b, 0, sizeof b);
	ulid_encode(b, got);
	assert_string_equal(got, "00000000000000000000000000");
	memset(b, 0xff, sizeof b);
	ulid_encode(b, got);
	assert_string_equal(got, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
	uint32_t x = 12345;
	for (int round = 0; round < 1000; round++) {
		for (int i = 0; i < 16; i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		int bit = -2;
		for (int i = 0; i < ULID_LEN; i++) {
			unsigned v = 0;
			for (int k = 0; k < 5; k++, bit++) {
				v <<= 1;
				if (bit >= 0 && (b[bit / 8] >> (7 - bit % 8)) & 1)
					v |= 1;
			}
			want[i] = b32[v];
		}
		want[ULID_LEN] = '\0';
		ulid_encode(b, got);
		assert_string_equal(got, want);
		assert_true(ulid_valid(got));
	}
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
	const char *bad[] = {"2026-11-27",
			     "2026-13-01T00:00:00Z",
			     "2026-02-30T00:00:00Z",
			     "2026-11-27T21:08:43",
			     "2026-11-27T25:00:00Z",
			     "2026-11-27T21:08:43.Z",
			     "2026-11-27T21:08:43Zjunk",
			     "",
			     "now"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(timefmt_parse_rfc3339(bad[i], &ms), CAIRN_E_PARSE);
}

/* timefmt_rfc3339() keeps each thread's last second: whatever order the
 * times come in (the same second again, the next, an earlier one, before
 * 1970), it writes what gmtime_r() and a printf of the fields give. */
static void test_rfc3339_matches_gmtime(void **state)
{
	static const int64_t at[] = {0,
				     999,
				     1000,
				     -1,
				     -1000,
				     -1001,
				     1795727323123,
				     1795727323999,
				     1795727324000,
				     1795727323000,
				     951782400000 /* 2000-02-29 */,
				     253402300799999 /* 9999-12-31T23:59:59.999 */};
	for (size_t k = 0; k < sizeof at / sizeof at[0] + 3000; k++) {
		int64_t ms = k < sizeof at / sizeof at[0] ? at[k] : -1500000 + (int64_t)k * 997;
		char got[TIMEFMT_RFC3339_LEN + 1], want[64];
		timefmt_rfc3339(got, ms);
		time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(ms - (int64_t)secs * 1000));
		assert_string_equal(got, want);
	}
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

/* The digest as lower-case hex. */
static void hex(const unsigned char d[SHA256_LEN], char out[2 * SHA256_LEN + 1])
{
	for (int i = 0; i < SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Known answers: FIPS 180-2's "abc" (one block) and 448-bit message (its
 * padding needs a second block), the empty message, an 896-bit message (two
 * blocks, then a block of padding), and FIPS 180-2's one million 'a', fed
 * in pieces of uneven size. */
/* Moments as the CLI takes them (--since): local days, durations ago. */
static void test_when(void **state)
{
	(void)state;
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	/* 2026-12-03 15:00 in Berlin (14:00 UTC). */
	int64_t now = 1796306400000LL;
	int64_t ms;
	assert_int_equal(timefmt_parse_when("today", now, &ms), 0);
	assert_int_equal(ms, 1796252400000LL); /* 2026-12-03 00:00 in Berlin */
	assert_int_equal(timefmt_parse_when("yesterday", now, &ms), 0);
	assert_int_equal(ms, 1796252400000LL - 86400000LL);
	assert_int_equal(timefmt_parse_when("1d", now, &ms), 0);
	assert_int_equal(ms, now - 86400000LL);
	assert_int_equal(timefmt_parse_when("now", now, &ms), 0);
	assert_int_equal(ms, now);
	assert_int_equal(timefmt_parse_when("2026-12-01T00:00:00Z", now, &ms), 0);
	assert_int_equal(ms, 1796083200000LL);
	assert_int_equal(timefmt_parse_when("tomorrow", now, &ms), CAIRN_E_PARSE);
	assert_int_equal(timefmt_parse_when("", now, &ms), CAIRN_E_PARSE);
	unsetenv("TZ");
	tzset();
}

static void test_sha256_vectors(void **state)
{
	static const struct {
		const char *msg, *digest;
	} cases[] = {
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
		 "klmnopqrlmnopqrsmnopqrstnopqrstu",
		 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
	};
	unsigned char d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i].msg);
		sha256_digest(cases[i].msg, len, d);
		hex(d, h);
		assert_string_equal(h, cases[i].digest);
		/* Incremental, split at every point: the same digest. */
		for (size_t cut = 0; cut <= len; cut++) {
			struct sha256 s;
			sha256_init(&s);
			sha256_update(&s, cases[i].msg, cut);
			sha256_update(&s, cases[i].msg + cut, len - cut);
			sha256_final(&s, d);
			hex(d, h);
			assert_string_equal(h, cases[i].digest);
		}
	}
	/* One million 'a' (15625 blocks) in pieces of 1 to 199 bytes. */
	char a[199];
	memset(a, 'a', sizeof a);
	struct sha256 s;
	sha256_init(&s);
	for (size_t done = 0, k = 1; done < 1000000; k = k % sizeof a + 1) {
		size_t n = k < 1000000 - done ? k : 1000000 - done;
		sha256_update(&s, a, n);
		done += n;
	}
	sha256_final(&s, d);
	hex(d, h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every code has a wire name of its own, and the names map back. */
static void test_err_wire(void **state)
{
	const char *protocol[] = {"bad_json",      "bad_request",     "unknown_op",
				  "invalid_event", "event_too_large", "invalid_pattern",
				  "line_too_long", "version",         "not_found",
				  "exists",        "unavailable",     "disk_full",
				  "busy",          "forbidden"};
	for (size_t i = 0; i < err_ncodes; i++) {
		int c = err_codes[i];
		const char *w = err_wire(c);
		assert_string_not_equal(w, "internal");
		assert_int_equal(err_from_wire(w), c);
		assert_string_not_equal(err_str(c), "unknown error");
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(err_codes[j], c);
	}
	/* Every code from -(BASE+1) to the last is in the list. */
	assert_int_equal(err_ncodes, (size_t)(-CAIRN_E_UNAVAIL - CAIRN_E_BASE));
	for (size_t i = 0; i < sizeof protocol / sizeof protocol[0]; i++) {
		int c = err_from_wire(protocol[i]);
		assert_int_not_equal(c, 0);
		assert_string_equal(err_wire(c), protocol[i]);
	}
	assert_string_equal(err_wire(-ENOENT), "internal");
	assert_string_equal(err_wire(0), "internal");
	assert_int_equal(err_from_wire("internal"), 0);
	assert_int_equal(err_from_wire("no_such_name"), 0);
	assert_int_equal(err_from_wire(NULL), 0);

	struct cairn_err e;
	assert_int_equal(
		cairn_err_set(&e, CAIRN_E_BADEVENT, "type", "field '%s': %s", "type", "bad"),
		CAIRN_E_BADEVENT);
	assert_int_equal(e.code, CAIRN_E_BADEVENT);
	assert_string_equal(e.field, "type");
	assert_string_equal(e.msg, "field 'type': bad");
	assert_int_equal(cairn_err_set(NULL, CAIRN_E_FULL, NULL, "x"), CAIRN_E_FULL);
	cairn_err_set(&e, CAIRN_E_PROTO, NULL, "no field");
	assert_string_equal(e.field, "");
	char big[1000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	cairn_err_set(&e, CAIRN_E_PROTO, big, "%s", big);
	assert_int_equal(strlen(e.field), sizeof e.field - 1);
	assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
	cairn_err_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.field, "");
	assert_string_equal(e.msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: later ULIDs never go back in time within a process. */
		cmocka_unit_test(test_ulid_encodes_time),
		cmocka_unit_test(test_ulid_valid_and_ordered),
		cmocka_unit_test(test_ulid_encode),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_rfc3339_matches_gmtime),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_when),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_err_wire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
