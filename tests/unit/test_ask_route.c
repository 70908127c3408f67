/* The deterministic router (src/ask/route.c): the arguments it reads from a
 * question, cases in a table; and its share of right tools over
 * tests/data/ask/questions.jsonl, held to a floor so that a change that
 * breaks routing fails here (the figures per split are printed by
 * tests/tools/ask_route and docs/ask.md). */
#include "ask/route.h"
#include "common/clock.h"
#include "tools/schema.h"
#include "tools/tools.h"
#include "testdata.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

/* A fixed now: Thursday 2026-12-03 15:00 local time. */
static int64_t now_ms(void)
{
	struct tm tm = {.tm_year = 126, .tm_mon = 11, .tm_mday = 3, .tm_hour = 15, .tm_isdst = -1};
	return (int64_t)mktime(&tm) * 1000;
}

static int64_t local(int mday, int hour)
{
	struct tm tm = {
		.tm_year = 126, .tm_mon = 11, .tm_mday = mday, .tm_hour = hour, .tm_isdst = -1};
	return (int64_t)mktime(&tm) * 1000;
}

static const struct {
	const char *q;
	const char *family;
	const char *args; /* the JSON the arguments must equal; NULL: not checked */
} cases[] = {
	{"what changed since yesterday", "changed", NULL},
	{"show me the last 10 commits", "changed", "{\"pattern\":\"git.commit\"}"},
	{"explain seq 4123", "explain", "{\"seq\":4123}"},
	{"describe event 01hzkfbf5kznwj47tan9zt24mn", "explain",
	 "{\"id\":\"01HZKFBF5KZNWJ47TAN9ZT24MN\"}"},
	{"tell me about the last build.failed event", "explain", "{\"type\":\"build.failed\"}"},
	{"log a mistake: forgot to bump the schema version", "record",
	 "{\"kind\":\"mistake\",\"title\":\"forgot to bump the schema version\"}"},
	{"remember that we chose libuv because it runs on windows too", "record",
	 "{\"kind\":\"note\",\"title\":\"we chose libuv because it runs on windows too\"}"},
	{"Agent: store a note that tests/test_watch.c is flaky under load.", "record",
	 "{\"kind\":\"note\",\"title\":\"tests/test_watch.c is flaky under load\"}"},
	{"whats the error from make check", "why_failed", "{\"target\":\"make check\"}"},
	{"how did we fix the 'undefined reference to uv_run' last time", "how_fixed",
	 "{\"query\":\"undefined reference to uv_run\",\"kind\":\"fix\"}"},
	{"what did we decide about the event loop?", "decided",
	 "{\"query\":\"event loop\",\"kind\":\"decision\"}"},
	{"any gotchas with uv_close", "mistakes", "{\"query\":\"uv_close\",\"kind\":\"mistake\"}"},
	{"which files will I need to touch next", "next", "{\"what\":\"files\"}"},
	{"what command do I usually run after make", "next", "{\"what\":\"commands\"}"},
	{"is everything healthy", "health", "{}"},
	{"tl;dr of where things stand", "brief", "{}"},
	{"where did I leave off", "what_doing", "{}"},
	{"", "search", "{}"},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ask_route r;
		ask_route(cases[i].q, now_ms(), &r);
		if (strcmp(ask_family_name(r.family), cases[i].family) != 0)
			fail_msg("'%s': routed to %s, expected %s", cases[i].q,
				 ask_family_name(r.family), cases[i].family);
		if (cases[i].args) {
			json_t *want = json_loads(cases[i].args, 0, NULL);
			assert_non_null(want);
			if (!json_equal(want, r.args)) {
				char *got = json_dumps(r.args, JSON_COMPACT);
				fail_msg("'%s': arguments %s, expected %s", cases[i].q, got,
					 cases[i].args);
			}
			json_decref(want);
		}
		ask_route_release(&r);
	}
}

/* Times are local and read from the words. */
static void test_since(void **state)
{
	(void)state;
	static const struct {
		const char *q;
		int mday, hour; /* 0: now - minutes */
		int minutes;
	} t[] = {
		{"what changed since yesterday", 2, 0, 0},
		{"what files changed today", 3, 0, 0},
		{"any new CI results since lunch", 3, 12, 0},
		{"has anyone touched src/net/ since monday", 30, 0, 0}, /* Nov 30 */
		{"list the shell commands I ran in the last hour", 0, 0, 60},
		{"what happened in the past 30 minutes", 0, 0, 30},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ask_route r;
		ask_route(t[i].q, now_ms(), &r);
		assert_string_equal(ask_family_name(r.family), "changed");
		int64_t want = t[i].minutes      ? now_ms() - t[i].minutes * 60000LL
			       : t[i].mday == 30 ? (local(1, 0) - 86400000LL)
						 : local(t[i].mday, t[i].hour);
		json_int_t got = json_integer_value(json_object_get(r.args, "since"));
		if (got != want)
			fail_msg("'%s': since %lld, expected %lld", t[i].q, (long long)got,
				 (long long)want);
		ask_route_release(&r);
	}
}

/* Any bytes: never a crash, always a tool. */
static void test_hostile(void **state)
{
	(void)state;
	char big[ASK_QUESTION_MAX * 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	/* Text of two-byte sequences that every length limit (a title's 200
	 * bytes, a word's, the question's) cuts inside a sequence. */
	char wide[ASK_QUESTION_MAX + 1] = "x";
	for (size_t k = 1; k + 2 < sizeof wide; k += 2)
		memcpy(wide + k, "\xc3\xa9", 3);
	char note[ASK_QUESTION_MAX * 2], tail[ASK_QUESTION_MAX * 2], topic[ASK_QUESTION_MAX * 2];
	snprintf(note, sizeof note, "note: %s", wide);
	snprintf(tail, sizeof tail, "%.301s, write that down", wide);
	snprintf(topic, sizeof topic, "what did we decide about %s", wide);
	/* Some found by fuzz_ask_route: a record with nothing before the
	 * instruction, invalid UTF-8 in a title, seq 0. */
	const char *qs[] = {big,
			    "\"",
			    "'''",
			    "`",
			    "#",
			    "seq",
			    "event 99999999999999999999",
			    "note:",
			    "remember",
			    ":::",
			    "\xff\xfe",
			    "last",
			    "past 999999999 days",
			    ", write that down",
			    "add a mistake: I pushed \xff\xff with -Werror",
			    "what does event 0 mean",
			    "explain #0",
			    "note: \x01\x02",
			    wide,
			    note,
			    tail,
			    topic};
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		struct ask_route r;
		ask_route(qs[i], now_ms(), &r);
		assert_non_null(r.tool);
		assert_true(json_is_object(r.args));
		/* What the router reads must be what its tool accepts. */
		const struct tool *t = tool_find(r.tool);
		assert_non_null(t);
		struct cairn_err e;
		if (schema_validate(tool_input_schema(t), r.args, &e)) {
			char *a = json_dumps(r.args, JSON_COMPACT);
			fail_msg("question %zu: %s %s: %s", i, r.tool, a, e.msg);
		}
		ask_route_release(&r);
	}
}

/* Routes every question of FILE (tests/data/ask/) and returns the share
 * (percent) routed to the right tool. */
static int share_right(const char *file, int min_questions)
{
	char path[512];
	snprintf(path, sizeof path, "%s/ask/%s", testdata_dir(), file);
	size_t len;
	char *text = testdata_slurp(path, &len);
	assert_non_null(text);
	int n = 0, ok = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *o = json_loads(line, 0, NULL);
		assert_non_null(o);
		struct ask_route r;
		ask_route(json_string_value(json_object_get(o, "q")), now_ms(), &r);
		n++;
		ok += strcmp(r.tool, json_string_value(json_object_get(o, "tool"))) == 0;
		ask_route_release(&r);
		json_decref(o);
	}
	free(text);
	assert_true(n >= min_questions);
	return ok * 100 / n;
}

/* Floors on the question sets, so that a change that breaks routing fails
 * here. Measured with the learned model (route_model.h): questions.jsonl
 * 98.0% over both splits (dev 100%, test 95.9%), questions_dev2.jsonl
 * 99.7% and questions_dev3.jsonl 98.3% (development sets). */
static void test_question_set(void **state)
{
	(void)state;
	int a = share_right("questions.jsonl", 260);
	if (a < 96)
		fail_msg("questions.jsonl: %d%% routed to the right tool, under the 96%% floor", a);
	int b = share_right("questions_dev2.jsonl", 290);
	if (b < 98)
		fail_msg(
			"questions_dev2.jsonl: %d%% routed to the right tool, under the 98%% floor",
			b);
	int c = share_right("questions_dev3.jsonl", 230);
	if (c < 96)
		fail_msg(
			"questions_dev3.jsonl: %d%% routed to the right tool, under the 96%% floor",
			c);
}

int main(void)
{
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_question_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
