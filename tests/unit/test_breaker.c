/* The circuit breaker (src/breaker/breaker.h). The state machine is driven by
 * the scenarios in tests/data/breaker/scenarios.txt and the config rules by
 * tests/data/breaker/invalid.txt; the code below covers what a case file
 * cannot say: 64 threads racing for the half-open trial, the jitter's
 * bounds, the transition callback's content, order and locking, the status
 * snapshot, its JSON and text. Time is a test clock (clock_set_source()),
 * moved only by the tests; each test runs under alarm() so that a deadlock
 * (a callback called with the lock held) fails instead of hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "breaker/breaker.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "testdata.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_ALARM_S 20
#define MS 1000000ull
#define START_NS (1000ull * 1000 * MS) /* the test clock starts at 1000 s */

/* The case files hold at least this many cases; fewer means a file was cut
 * short or not found, not that all is well. */
#define MIN_SCENARIOS 30
#define MIN_INVALID 17
#define MIN_VALID 16

/* ---- the test clock ---- */

static uint64_t fake_now;

static uint64_t fake_mono(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static void clock_at(uint64_t ns)
{
	__atomic_store_n(&fake_now, ns, __ATOMIC_SEQ_CST);
}

static void clock_wait_ms(uint64_t ms)
{
	__atomic_add_fetch(&fake_now, ms * MS, __ATOMIC_SEQ_CST);
}

static int setup(void **state)
{
	clock_at(START_NS);
	alarm(TEST_ALARM_S);
	return 0;
}

static int teardown(void **state)
{
	alarm(0);
	return 0;
}

/* A config with exact backoffs: no jitter, a fixed seed. */
static struct breaker_config exact_config(void)
{
	struct breaker_config c = breaker_config_default();
	c.jitter_pct = 0;
	c.seed = 1;
	return c;
}

/* ---- config keys, by name, for the case files ---- */

#define KEY(f)                                                                                     \
	{                                                                                          \
#f, offsetof(struct breaker_config, f), sizeof(((struct breaker_config *)0)->f)    \
	}

static const struct {
	const char *name;
	size_t off;
	size_t size;
} config_keys[] = {
	KEY(consecutive_failures),
	KEY(window_min_calls),
	KEY(window_failure_pct),
	KEY(window_ms),
	KEY(slow_ms),
	KEY(backoff_base_ms),
	KEY(backoff_max_ms),
	KEY(jitter_pct),
	KEY(probe_interval_ms),
	KEY(half_open_timeout_ms),
	KEY(seed),
};

/* Applies "key=value" to c; false if the key is unknown or the value bad. */
static bool config_set(struct breaker_config *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(eq + 1, &end, 10);
	if (errno || *end || end == eq + 1)
		return false;
	for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
		if (strlen(config_keys[i].name) != (size_t)(eq - kv) ||
		    strncmp(config_keys[i].name, kv, (size_t)(eq - kv)) != 0)
			continue;
		char *p = (char *)c + config_keys[i].off;
		if (config_keys[i].size == sizeof(uint32_t)) {
			uint32_t u = (uint32_t)v;
			memcpy(p, &u, sizeof u);
		} else {
			uint64_t u = v;
			memcpy(p, &u, sizeof u);
		}
		return true;
	}
	return false;
}

/* ---- reading case files ---- */

struct case_file {
	char *path;
	FILE *f;
	char *line;
	size_t cap;
	int lineno;
};

static void case_open(struct case_file *cf, const char *name)
{
	memset(cf, 0, sizeof *cf);
	cf->path = xasprintf("%s/breaker/%s", testdata_dir(), name);
	cf->f = fopen(cf->path, "r");
	if (!cf->f)
		fail_msg("cannot open '%s': %s; set CAIRN_TEST_DATA to the tests/data directory",
			 cf->path, strerror(errno));
}

static void case_close(struct case_file *cf)
{
	if (cf->f)
		fclose(cf->f);
	free(cf->line);
	free(cf->path);
}

/* The next line that is not blank or a comment, with the comment and the
 * surrounding blanks cut; NULL at the end. */
static char *case_next(struct case_file *cf)
{
	while (getline(&cf->line, &cf->cap, cf->f) >= 0) {
		cf->lineno++;
		char *s = cf->line;
		char *hash = strchr(s, '#');
		if (hash)
			*hash = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		size_t n = strlen(s);
		while (n > 0 && strchr(" \t\r\n", s[n - 1]))
			s[--n] = '\0';
		if (n > 0)
			return s;
	}
	return NULL;
}

/* Splits off the first word of *s (NULL when none) and leaves *s at the
 * rest, blanks skipped. */
static char *word(char **s)
{
	char *p = *s;
	while (*p == ' ')
		p++;
	if (!*p)
		return NULL;
	char *w = p;
	while (*p && *p != ' ')
		p++;
	if (*p)
		*p++ = '\0';
	while (*p == ' ')
		p++;
	*s = p;
	return w;
}

/* ---- scenarios ---- */

#define MAX_PERMITS 8

struct scenario {
	struct case_file *cf;
	char name[128];
	struct breaker_config cfg;
	struct breaker *b;
	struct {
		char name[16];
		struct breaker_permit p;
	} permits[MAX_PERMITS];
	char log[2048]; /* "from>to " per delivered transition */
	enum breaker_state last_to;
	uint64_t last_gen;
};

#define SFAIL(sc, ...)                                                                             \
	do {                                                                                       \
		char m_[8192];                                                                     \
		snprintf(m_, sizeof m_, __VA_ARGS__);                                              \
		fail_msg("%s:%d: scenario '%s': %s", (sc)->cf->path, (sc)->cf->lineno, (sc)->name, \
			 m_);                                                                      \
	} while (0)

static void scenario_transition(void *ctx, const struct breaker_transition *t)
{
	struct scenario *sc = ctx;
	if (t->from != sc->last_to)
		SFAIL(sc, "transition from %s, but the last one went to %s",
		      breaker_state_name(t->from), breaker_state_name(sc->last_to));
	if (t->generation != sc->last_gen + 1)
		SFAIL(sc, "transition of generation %llu after %llu",
		      (unsigned long long)t->generation, (unsigned long long)sc->last_gen);
	sc->last_to = t->to;
	sc->last_gen = t->generation;
	size_t n = strlen(sc->log);
	snprintf(sc->log + n, sizeof sc->log - n, "%s>%s ", breaker_state_name(t->from),
		 breaker_state_name(t->to));
}

static struct breaker *scenario_breaker(struct scenario *sc)
{
	if (!sc->b) {
		struct cairn_err err;
		if (breaker_new("dep", &sc->cfg, scenario_transition, sc, &sc->b, &err) != 0)
			SFAIL(sc, "breaker_new: %s", err.msg);
	}
	return sc->b;
}

static struct breaker_permit *permit_named(struct scenario *sc, const char *name)
{
	if (!name)
		SFAIL(sc, "a permit name is missing");
	for (int i = 0; i < MAX_PERMITS; i++)
		if (strcmp(sc->permits[i].name, name) == 0)
			return &sc->permits[i].p;
	for (int i = 0; i < MAX_PERMITS; i++)
		if (!sc->permits[i].name[0]) {
			snprintf(sc->permits[i].name, sizeof sc->permits[i].name, "%s", name);
			return &sc->permits[i].p;
		}
	SFAIL(sc, "more than %d permit names", MAX_PERMITS);
	return NULL;
}

static uint64_t parse_u64(struct scenario *sc, const char *s)
{
	char *end;
	if (!s)
		SFAIL(sc, "a number is missing");
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s)
		SFAIL(sc, "'%s' is not a number", s);
	return v;
}

/* A call from acquisition to result. */
static void scenario_call(struct scenario *sc, bool probe, bool expect_refused,
			  struct breaker_permit *p)
{
	struct cairn_err err;
	cairn_err_clear(&err);
	int r = probe ? breaker_acquire_probe(scenario_breaker(sc), p, &err)
		      : breaker_acquire(scenario_breaker(sc), p, &err);
	if (expect_refused) {
		if (r != CAIRN_E_UNAVAIL)
			SFAIL(sc, "expected a refusal, got %d", r);
		if (p->owner || err.code != CAIRN_E_UNAVAIL || !err.msg[0] ||
		    strcmp(err.field, "breaker") != 0)
			SFAIL(sc, "a refusal without a message or with a live permit");
	} else if (r != 0) {
		SFAIL(sc, "expected a permit, got %d: %s", r, err.msg);
	}
}

static void scenario_record(struct scenario *sc, struct breaker_permit *p, char *rest)
{
	char *how = word(&rest);
	int r;
	if (how && strcmp(how, "ok") == 0) {
		uint64_t ms = *rest ? parse_u64(sc, rest) : 1;
		r = breaker_record(sc->b, p, BREAKER_OK, ms * MS, NULL);
	} else if (how && strcmp(how, "fail") == 0) {
		r = breaker_record(sc->b, p, BREAKER_FAIL, MS, rest);
	} else if (how && strcmp(how, "invalid") == 0) {
		if (breaker_record(sc->b, p, BREAKER_OK, MS, NULL) != CAIRN_E_INVALID ||
		    breaker_release(sc->b, p) != CAIRN_E_INVALID)
			SFAIL(sc, "recording a permit again was accepted");
		return;
	} else {
		SFAIL(sc, "record: ok, fail or invalid, not '%s'", how ? how : "");
		return;
	}
	if (r != 0)
		SFAIL(sc, "breaker_record: %d", r);
}

static void expect_u64(struct scenario *sc, const char *what, uint64_t got, const char *want)
{
	uint64_t w = parse_u64(sc, want);
	if (got != w)
		SFAIL(sc, "expected %s %llu, got %llu", what, (unsigned long long)w,
		      (unsigned long long)got);
}

/* A duration in ms, or "never", against an absolute time. */
static void expect_in(struct scenario *sc, const char *what, uint64_t t, uint64_t now,
		      const char *want)
{
	if (strcmp(want, "never") == 0) {
		if (t != BREAKER_NEVER)
			SFAIL(sc, "expected %s never, got %llu ms", what,
			      (unsigned long long)((t - now) / MS));
		return;
	}
	if (t == BREAKER_NEVER)
		SFAIL(sc, "expected %s %s ms, got never", what, want);
	uint64_t ms = t > now ? (t - now) / MS : 0;
	expect_u64(sc, what, ms, want);
}

static void scenario_expect(struct scenario *sc, char *rest)
{
	struct breaker *b = scenario_breaker(sc);
	char *key = word(&rest);
	struct breaker_status st;
	breaker_status(b, &st);
	if (!key)
		SFAIL(sc, "expect what?");
	if (strcmp(key, "state") == 0) {
		if (strcmp(breaker_state_name(st.state), rest) != 0)
			SFAIL(sc, "expected state %s, got %s", rest, breaker_state_name(st.state));
		if (breaker_get_state(b) != st.state)
			SFAIL(sc, "breaker_get_state() disagrees with the status");
	} else if (strcmp(key, "gen") == 0) {
		expect_u64(sc, "generation", st.generation, rest);
	} else if (strcmp(key, "consecutive") == 0) {
		expect_u64(sc, "consecutive failures", st.consecutive_failures, rest);
	} else if (strcmp(key, "window") == 0) {
		char *calls = word(&rest);
		expect_u64(sc, "window calls", st.window_calls, calls);
		expect_u64(sc, "window failures", st.window_failures, rest);
	} else if (strcmp(key, "in_flight") == 0) {
		expect_u64(sc, "in flight", st.in_flight, rest);
	} else if (strcmp(key, "calls") == 0) {
		expect_u64(sc, "total calls", st.totals.calls, rest);
	} else if (strcmp(key, "failures") == 0) {
		expect_u64(sc, "total failures", st.totals.failures, rest);
	} else if (strcmp(key, "slow") == 0) {
		expect_u64(sc, "total slow", st.totals.slow, rest);
	} else if (strcmp(key, "rejected") == 0) {
		expect_u64(sc, "total rejected", st.totals.rejected, rest);
	} else if (strcmp(key, "stale") == 0) {
		expect_u64(sc, "total stale", st.totals.stale, rest);
	} else if (strcmp(key, "released") == 0) {
		expect_u64(sc, "total released", st.totals.released, rest);
	} else if (strcmp(key, "probes") == 0) {
		expect_u64(sc, "total probes", st.totals.probes, rest);
	} else if (strcmp(key, "due") == 0) {
		bool due = breaker_probe_due(b);
		if (due != (strcmp(rest, "yes") == 0))
			SFAIL(sc, "expected due %s, got %s", rest, due ? "yes" : "no");
	} else if (strcmp(key, "next_probe_in") == 0) {
		uint64_t t = breaker_next_probe_ns(b);
		if (t != st.next_probe_ns)
			SFAIL(sc, "breaker_next_probe_ns() disagrees with the status");
		expect_in(sc, "next probe in", t, fake_mono(), rest);
	} else if (strcmp(key, "next_try_in") == 0) {
		expect_in(sc, "next try in", st.next_try_ns, st.now_ns, rest);
	} else if (strcmp(key, "reason") == 0) {
		if (strcmp(st.reason, rest) != 0)
			SFAIL(sc, "expected reason '%s', got '%s'", rest, st.reason);
	} else if (strcmp(key, "last_error") == 0) {
		if (strcmp(st.last_error, rest) != 0)
			SFAIL(sc, "expected last error '%s', got '%s'", rest, st.last_error);
	} else if (strcmp(key, "transitions") == 0) {
		char want[sizeof sc->log] = "";
		if (strcmp(rest, "none") != 0)
			snprintf(want, sizeof want, "%s ", rest);
		if (strcmp(sc->log, want) != 0)
			SFAIL(sc, "expected transitions '%s', got '%s'", want, sc->log);
		sc->log[0] = '\0';
	} else {
		SFAIL(sc, "unknown expectation '%s'", key);
	}
}

static void scenario_step(struct scenario *sc, char *line)
{
	char *cmd = word(&line);
	char *rest = line;
	struct breaker_permit tmp;

	if (strcmp(cmd, "config") == 0) {
		if (sc->b)
			SFAIL(sc, "config after the first call");
		char *kv;
		while ((kv = word(&rest)))
			if (!config_set(&sc->cfg, kv))
				SFAIL(sc, "bad config '%s'", kv);
	} else if (strcmp(cmd, "wait") == 0) {
		scenario_breaker(sc);
		clock_wait_ms(parse_u64(sc, rest));
	} else if (strcmp(cmd, "ok") == 0) {
		uint64_t ms = *rest ? parse_u64(sc, rest) : 1;
		scenario_call(sc, false, false, &tmp);
		if (breaker_record(sc->b, &tmp, BREAKER_OK, ms * MS, NULL) != 0)
			SFAIL(sc, "breaker_record failed");
	} else if (strcmp(cmd, "fail") == 0) {
		scenario_call(sc, false, false, &tmp);
		if (breaker_record(sc->b, &tmp, BREAKER_FAIL, MS, rest) != 0)
			SFAIL(sc, "breaker_record failed");
	} else if (strcmp(cmd, "refused") == 0) {
		scenario_call(sc, false, true, &tmp);
	} else if (strcmp(cmd, "acquire") == 0 || strcmp(cmd, "probe") == 0) {
		struct breaker_permit *p = permit_named(sc, word(&rest));
		scenario_call(sc, cmd[0] == 'p', strcmp(rest, "refused") == 0, p);
	} else if (strcmp(cmd, "record") == 0) {
		struct breaker_permit *p = permit_named(sc, word(&rest));
		scenario_breaker(sc);
		scenario_record(sc, p, rest);
	} else if (strcmp(cmd, "release") == 0) {
		scenario_breaker(sc);
		if (breaker_release(sc->b, permit_named(sc, word(&rest))) != 0)
			SFAIL(sc, "breaker_release failed");
	} else if (strcmp(cmd, "force_open") == 0) {
		breaker_force_open(scenario_breaker(sc), rest);
	} else if (strcmp(cmd, "disable") == 0) {
		breaker_disable(scenario_breaker(sc), rest);
	} else if (strcmp(cmd, "reset") == 0) {
		breaker_reset(scenario_breaker(sc), rest);
	} else if (strcmp(cmd, "expect") == 0) {
		scenario_expect(sc, rest);
	} else {
		SFAIL(sc, "unknown command '%s'", cmd);
	}
}

static void scenario_end(struct scenario *sc)
{
	breaker_free(sc->b);
	sc->b = NULL;
}

static void scenario_start(struct scenario *sc, struct case_file *cf, const char *name)
{
	memset(sc, 0, sizeof *sc);
	sc->cf = cf;
	snprintf(sc->name, sizeof sc->name, "%s", name);
	sc->cfg = exact_config();
	sc->last_to = BREAKER_CLOSED;
	clock_at(START_NS);
}

static void test_scenarios(void **state)
{
	struct case_file cf;
	struct scenario sc = {0};
	int n = 0;
	char *line;

	case_open(&cf, "scenarios.txt");
	while ((line = case_next(&cf))) {
		if (strncmp(line, "scenario ", 9) == 0) {
			if (n > 0)
				scenario_end(&sc);
			scenario_start(&sc, &cf, line + 9);
			n++;
			continue;
		}
		if (n == 0)
			fail_msg("%s:%d: a step before the first scenario", cf.path, cf.lineno);
		scenario_step(&sc, line);
	}
	if (n > 0)
		scenario_end(&sc);
	case_close(&cf);
	if (n < MIN_SCENARIOS)
		fail_msg("only %d scenarios in scenarios.txt, expected at least %d", n,
			 MIN_SCENARIOS);
}

/* ---- config ---- */

static void test_config_cases(void **state)
{
	struct case_file cf;
	int invalid = 0, valid = 0;
	char *line;

	case_open(&cf, "invalid.txt");
	while ((line = case_next(&cf))) {
		char *field = word(&line);
		struct breaker_config c = breaker_config_default();
		char *kv;
		while ((kv = word(&line)))
			if (!config_set(&c, kv))
				fail_msg("%s:%d: bad config '%s'", cf.path, cf.lineno, kv);
		struct cairn_err err;
		cairn_err_clear(&err);
		int r = breaker_config_validate(&c, "dep", &err);
		struct breaker *b = (struct breaker *)&cf; /* must be set to NULL */
		int rn = breaker_new("dep", &c, NULL, NULL, &b, NULL);
		if (strcmp(field, "valid") == 0) {
			if (r != 0 || rn != 0 || !b)
				fail_msg("%s:%d: refused: %s", cf.path, cf.lineno, err.msg);
			breaker_free(b);
			valid++;
			continue;
		}
		if (r != CAIRN_E_INVALID || rn != CAIRN_E_INVALID || b)
			fail_msg("%s:%d: accepted (%d, %d)", cf.path, cf.lineno, r, rn);
		if (err.code != CAIRN_E_INVALID || strcmp(err.field, field) != 0 ||
		    !strstr(err.msg, field) || !strstr(err.msg, "'dep'"))
			fail_msg("%s:%d: expected field %s, got '%s': %s", cf.path, cf.lineno,
				 field, err.field, err.msg);
		invalid++;
	}
	case_close(&cf);
	if (invalid < MIN_INVALID || valid < MIN_VALID)
		fail_msg("only %d invalid and %d valid cases in invalid.txt", invalid, valid);
}

static void test_config_defaults(void **state)
{
	struct breaker_config c = breaker_config_default();
	assert_null(c.label);
	assert_int_equal(c.consecutive_failures, 3);
	assert_int_equal(c.window_min_calls, 5);
	assert_int_equal(c.window_failure_pct, 50);
	assert_int_equal(c.window_ms, 60000);
	assert_int_equal(c.window_ms / BREAKER_BUCKETS, 5000);
	assert_int_equal(c.slow_ms, 0);
	assert_int_equal(c.backoff_base_ms, 5000);
	assert_int_equal(c.backoff_max_ms, 60000);
	assert_int_equal(c.jitter_pct, 20);
	assert_int_equal(breaker_config_validate(&c, NULL, NULL), 0);
}

static void test_names_and_labels(void **state)
{
	struct breaker *b = NULL;
	struct cairn_err err;
	const char *bad[] = {"",
			     "Model",
			     "model server",
			     "a/b",
			     "ümlaut",
			     "0123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(breaker_new(bad[i], NULL, NULL, NULL, &b, &err), CAIRN_E_INVALID);
		assert_null(b);
		assert_string_equal(err.field, "name");
	}
	assert_int_equal(breaker_new(NULL, NULL, NULL, NULL, &b, &err), CAIRN_E_INVALID);
	assert_int_equal(breaker_new("model.http-1_a", NULL, NULL, NULL, &b, &err), 0);
	breaker_free(b);

	struct breaker_config c = breaker_config_default();
	const char *bad_labels[] = {
		"", "model\nserver", "model \xff", "\x1b[31m",
		"0123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
		c.label = bad_labels[i];
		assert_int_equal(breaker_new("model", &c, NULL, NULL, &b, &err), CAIRN_E_INVALID);
		assert_null(b);
		assert_string_equal(err.field, "label");
	}
	c.label = "serveur de modèles";
	assert_int_equal(breaker_new("model", &c, NULL, NULL, &b, &err), 0);
	breaker_free(b);
	char label[BREAKER_NAME_MAX] = "model server";
	c.label = label;
	assert_int_equal(breaker_new("model", &c, NULL, NULL, &b, &err), 0);
	label[0] = 'X'; /* copied: the breaker must not see this */
	struct breaker_status st;
	breaker_status(b, &st);
	assert_string_equal(st.label, "model server");
	assert_string_equal(st.name, "model");
	breaker_free(b);
	breaker_free(NULL);
}

/* ---- permits that are not ---- */

static void test_record_needs_a_live_permit(void **state)
{
	struct breaker *a, *b;
	assert_int_equal(breaker_new("a", NULL, NULL, NULL, &a, NULL), 0);
	assert_int_equal(breaker_new("b", NULL, NULL, NULL, &b, NULL), 0);
	struct breaker_permit zero = {0}, p;
	assert_int_equal(breaker_record(a, &zero, BREAKER_FAIL, 0, "x"), CAIRN_E_INVALID);
	assert_int_equal(breaker_release(a, &zero), CAIRN_E_INVALID);
	/* Another breaker's permit changes neither. */
	assert_int_equal(breaker_acquire(a, &p, NULL), 0);
	assert_int_equal(breaker_record(b, &p, BREAKER_FAIL, 0, "x"), CAIRN_E_INVALID);
	struct breaker_status st;
	breaker_status(a, &st);
	assert_int_equal(st.in_flight, 1);
	breaker_status(b, &st);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.totals.failures, 0);
	assert_int_equal(breaker_record(a, &p, BREAKER_OK, 0, NULL), 0);
	assert_null(p.owner);
	breaker_free(a);
	breaker_free(b);
}

static void test_duration_auto_measures_from_acquisition(void **state)
{
	struct breaker_config c = exact_config();
	c.slow_ms = 2000;
	struct breaker *b;
	assert_int_equal(breaker_new("dep", &c, NULL, NULL, &b, NULL), 0);
	struct breaker_permit p, q;
	assert_int_equal(breaker_acquire(b, &p, NULL), 0);
	assert_int_equal(p.acquired_ns, START_NS);
	clock_wait_ms(1500);
	assert_int_equal(breaker_acquire(b, &q, NULL), 0);
	clock_wait_ms(1000);
	assert_int_equal(breaker_record(b, &q, BREAKER_OK, BREAKER_DURATION_AUTO, NULL), 0);
	assert_int_equal(breaker_record(b, &p, BREAKER_OK, BREAKER_DURATION_AUTO, NULL), 0);
	struct breaker_status st;
	breaker_status(b, &st);
	assert_int_equal(st.totals.calls, 2);
	assert_int_equal(st.totals.slow, 1); /* p: 2500 ms; q: 1000 ms */
	assert_string_equal(st.last_error, "slow: 2500 ms, over 2000 ms");
	breaker_free(b);
}

/* ---- the half-open race ---- */

#define RACERS 64

struct race {
	struct breaker *b;
	pthread_barrier_t start;
	int granted;
	int refused;
	struct breaker_permit permits[RACERS];
};

struct racer {
	struct race *race;
	int i;
};

static void *racer_run(void *arg)
{
	struct racer *r = arg;
	struct race *race = r->race;
	pthread_barrier_wait(&race->start);
	/* Half the racers are user calls, half the owner's probes. */
	int rc = r->i % 2 ? breaker_acquire(race->b, &race->permits[r->i], NULL)
			  : breaker_acquire_probe(race->b, &race->permits[r->i], NULL);
	if (rc == 0)
		__atomic_add_fetch(&race->granted, 1, __ATOMIC_SEQ_CST);
	else if (rc == CAIRN_E_UNAVAIL)
		__atomic_add_fetch(&race->refused, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int half_open_count;

static void count_half_open(void *ctx, const struct breaker_transition *t)
{
	if (t->to == BREAKER_HALF_OPEN)
		__atomic_add_fetch(&half_open_count, 1, __ATOMIC_SEQ_CST);
}

static void test_exactly_one_half_open_trial_among_64_threads(void **state)
{
	/* Several rounds: a lucky schedule should not make it pass. */
	for (int round = 0; round < 20; round++) {
		struct race race = {0};
		struct racer racers[RACERS];
		pthread_t th[RACERS];
		struct breaker_config c = exact_config();
		c.consecutive_failures = 1;
		half_open_count = 0;
		assert_int_equal(breaker_new("dep", &c, count_half_open, NULL, &race.b, NULL), 0);
		struct breaker_permit p;
		assert_int_equal(breaker_acquire(race.b, &p, NULL), 0);
		assert_int_equal(breaker_record(race.b, &p, BREAKER_FAIL, 0, "down"), 0);
		clock_wait_ms(5000);
		pthread_barrier_init(&race.start, NULL, RACERS);
		for (int i = 0; i < RACERS; i++) {
			racers[i] = (struct racer){&race, i};
			assert_int_equal(pthread_create(&th[i], NULL, racer_run, &racers[i]), 0);
		}
		for (int i = 0; i < RACERS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&race.start);
		assert_int_equal(race.granted, 1);
		assert_int_equal(race.refused, RACERS - 1);
		assert_int_equal(half_open_count, 1);
		struct breaker_status st;
		breaker_status(race.b, &st);
		assert_int_equal(st.state, BREAKER_HALF_OPEN);
		assert_int_equal(st.in_flight, 1);
		assert_true(st.trial_out);
		for (int i = 0; i < RACERS; i++)
			if (race.permits[i].owner) {
				assert_true(race.permits[i].trial);
				assert_int_equal(race.permits[i].generation, 2);
				assert_int_equal(breaker_record(race.b, &race.permits[i],
								BREAKER_OK, 0, NULL),
						 0);
			}
		assert_int_equal(breaker_get_state(race.b), BREAKER_CLOSED);
		breaker_free(race.b);
	}
}

/* Many threads calling through a closed breaker, with failures enough to
 * trip it now and then: the counts must add up and nothing may leak. */
struct churn {
	struct breaker *b;
	int granted;
};

static void *churn_run(void *arg)
{
	struct churn *c = arg;
	for (int i = 0; i < 2000; i++) {
		struct breaker_permit p;
		if (breaker_acquire(c->b, &p, NULL) != 0)
			continue;
		__atomic_add_fetch(&c->granted, 1, __ATOMIC_SEQ_CST);
		if (i % 7 == 0)
			breaker_release(c->b, &p);
		else
			breaker_record(c->b, &p, i % 3 ? BREAKER_OK : BREAKER_FAIL, 0, "x");
		if (i % 100 == 0)
			clock_wait_ms(1000);
	}
	return NULL;
}

static void test_counts_add_up_under_threads(void **state)
{
	struct churn c = {0};
	struct breaker_config cfg = exact_config();
	cfg.backoff_base_ms = 1000;
	cfg.backoff_max_ms = 1000;
	assert_int_equal(breaker_new("dep", &cfg, NULL, NULL, &c.b, NULL), 0);
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn_run, &c), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	struct breaker_status st;
	breaker_status(c.b, &st);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.totals.calls + st.totals.released + st.totals.stale,
			 (uint64_t)c.granted);
	assert_int_equal(st.totals.rejected + (uint64_t)c.granted, 8 * 2000);
	breaker_free(c.b);
}

/* ---- backoff and jitter ---- */

/* The backoffs of the first n openings (trip, then failed trials), in ms. */
static void backoffs(uint64_t seed, unsigned jitter, uint64_t *out, int n)
{
	struct breaker_config c = breaker_config_default();
	c.consecutive_failures = 1;
	c.jitter_pct = jitter;
	c.seed = seed;
	struct breaker *b;
	struct breaker_permit p;
	struct breaker_status st;
	assert_int_equal(breaker_new("dep", &c, NULL, NULL, &b, NULL), 0);
	assert_int_equal(breaker_acquire(b, &p, NULL), 0);
	assert_int_equal(breaker_record(b, &p, BREAKER_FAIL, 0, "down"), 0);
	for (int i = 0; i < n; i++) {
		breaker_status(b, &st);
		assert_int_equal(st.state, BREAKER_OPEN);
		out[i] = st.backoff_ns;
		assert_int_equal(st.next_try_ns - st.now_ns, st.backoff_ns);
		/* A nanosecond before the backoff ends it still refuses. */
		clock_at(st.next_try_ns - 1);
		assert_int_equal(breaker_acquire(b, &p, NULL), CAIRN_E_UNAVAIL);
		clock_at(st.next_try_ns);
		assert_int_equal(breaker_acquire(b, &p, NULL), 0);
		assert_int_equal(breaker_record(b, &p, BREAKER_FAIL, 0, "down"), 0);
	}
	breaker_free(b);
}

#define DRAWS 200

static void test_backoff_grows_and_is_capped_without_jitter(void **state)
{
	uint64_t d[8];
	const uint64_t want[8] = {5000, 10000, 20000, 40000, 60000, 60000, 60000, 60000};
	backoffs(1, 0, d, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(d[i], want[i] * MS);
}

static void test_jitter_stays_within_bounds(void **state)
{
	static uint64_t d[DRAWS], again[DRAWS], other[DRAWS];
	backoffs(42, 20, d, DRAWS);
	int below = 0, capped = 0;
	for (int i = 0; i < DRAWS; i++) {
		uint64_t nominal = i < 4 ? (5000ull << i) * MS : 60000 * MS;
		assert_true(d[i] >= nominal * 8 / 10);
		assert_true(d[i] <= nominal * 12 / 10);
		assert_true(d[i] <= 60000 * MS);
		below += d[i] < nominal;
		capped += d[i] == 60000 * MS;
	}
	/* Spread both ways below the cap (the first four), and at the cap the
	 * upper half is cut to the cap. */
	assert_true(below > DRAWS / 4);
	assert_true(capped > DRAWS / 4);
	uint64_t lo = UINT64_MAX;
	for (int i = 4; i < DRAWS; i++)
		lo = d[i] < lo ? d[i] : lo;
	assert_true(lo < 50000 * MS); /* the lower half really reaches down */
	/* The same seed gives the same delays; another seed others. */
	backoffs(42, 20, again, DRAWS);
	assert_memory_equal(d, again, sizeof d);
	backoffs(43, 20, other, DRAWS);
	assert_memory_not_equal(d, other, sizeof d);
}

static void test_jitter_below_the_cap_goes_both_ways(void **state)
{
	/* The first backoff, drawn again and again (a reset restarts the
	 * sequence), far below the cap: every draw is 1000 ms +- 50%, and
	 * they spread to both sides. */
	struct breaker_config c = breaker_config_default();
	c.consecutive_failures = 1;
	c.backoff_base_ms = 1000;
	c.jitter_pct = 50;
	c.seed = 7;
	struct breaker *b;
	assert_int_equal(breaker_new("dep", &c, NULL, NULL, &b, NULL), 0);
	int below = 0, above = 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < DRAWS; i++) {
		struct breaker_permit p;
		struct breaker_status st;
		assert_int_equal(breaker_acquire(b, &p, NULL), 0);
		assert_int_equal(breaker_record(b, &p, BREAKER_FAIL, 0, "down"), 0);
		breaker_status(b, &st);
		assert_true(st.backoff_ns >= 500 * MS && st.backoff_ns <= 1500 * MS);
		below += st.backoff_ns < 1000 * MS;
		above += st.backoff_ns > 1000 * MS;
		lo = st.backoff_ns < lo ? st.backoff_ns : lo;
		hi = st.backoff_ns > hi ? st.backoff_ns : hi;
		breaker_reset(b, NULL); /* the next opening is a first one again */
	}
	assert_true(below > DRAWS / 4 && above > DRAWS / 4);
	assert_true(lo < 600 * MS && hi > 1400 * MS);
	breaker_free(b);
}

/* ---- transitions ---- */

struct seen {
	struct breaker *b;
	int n;
	struct {
		char name[BREAKER_NAME_MAX];
		char label[BREAKER_NAME_MAX];
		enum breaker_state from, to;
		char reason[BREAKER_REASON_MAX];
		uint64_t generation, at_ns, next_try_in_ns, dropped_before;
		enum breaker_state state_inside; /* breaker_get_state() in the callback */
	} t[32];
	bool force_on_open; /* the callback forces the breaker open on opened */
	sem_t *block;       /* the first call waits on it */
	sem_t *entered;     /* posted when the first call starts */
};

static void seen_transition(void *ctx, const struct breaker_transition *t)
{
	struct seen *s = ctx;
	if (s->n == 0 && s->block) {
		sem_post(s->entered);
		sem_wait(s->block);
	}
	if (s->n >= 32)
		return;
	int i = s->n++;
	snprintf(s->t[i].name, sizeof s->t[i].name, "%s", t->name);
	snprintf(s->t[i].label, sizeof s->t[i].label, "%s", t->label);
	s->t[i].from = t->from;
	s->t[i].to = t->to;
	snprintf(s->t[i].reason, sizeof s->t[i].reason, "%s", t->reason);
	s->t[i].generation = t->generation;
	s->t[i].at_ns = t->at_ns;
	s->t[i].next_try_in_ns = t->next_try_in_ns;
	s->t[i].dropped_before = t->dropped_before;
	/* Deadlocks (and the alarm fails the test) if the lock is held. */
	s->t[i].state_inside = breaker_get_state(s->b);
	if (s->force_on_open && t->to == BREAKER_OPEN)
		breaker_force_open(s->b, "from the callback");
}

static void fail_once(struct breaker *b, const char *why)
{
	struct breaker_permit p;
	assert_int_equal(breaker_acquire(b, &p, NULL), 0);
	assert_int_equal(breaker_record(b, &p, BREAKER_FAIL, 0, why), 0);
}

static void test_transition_content(void **state)
{
	struct seen s = {0};
	struct breaker_config c = exact_config();
	c.label = "model server";
	assert_int_equal(breaker_new("model", &c, seen_transition, &s, &s.b, NULL), 0);
	fail_once(s.b, "connection refused");
	fail_once(s.b, "connection refused");
	assert_int_equal(s.n, 0);
	clock_wait_ms(250);
	fail_once(s.b, "connection refused");
	assert_int_equal(s.n, 1); /* delivered before breaker_record() returned */
	assert_string_equal(s.t[0].name, "model");
	assert_string_equal(s.t[0].label, "model server");
	assert_int_equal(s.t[0].from, BREAKER_CLOSED);
	assert_int_equal(s.t[0].to, BREAKER_OPEN);
	assert_string_equal(s.t[0].reason, "3 consecutive failures (connection refused)");
	assert_int_equal(s.t[0].generation, 1);
	assert_int_equal(s.t[0].at_ns, START_NS + 250 * MS);
	assert_int_equal(s.t[0].next_try_in_ns, 5000 * MS);
	assert_int_equal(s.t[0].dropped_before, 0);
	assert_int_equal(s.t[0].state_inside, BREAKER_OPEN);
	assert_string_equal(breaker_event_subject(s.t[0].to), "breaker.opened");

	clock_wait_ms(5000);
	struct breaker_permit p;
	assert_int_equal(breaker_acquire_probe(s.b, &p, NULL), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.t[1].to, BREAKER_HALF_OPEN);
	assert_string_equal(s.t[1].reason, "backoff of 5 s elapsed");
	assert_int_equal(s.t[1].next_try_in_ns, 0);
	assert_int_equal(s.t[1].generation, 2);
	assert_string_equal(breaker_event_subject(s.t[1].to), "breaker.half_open");
	assert_int_equal(breaker_record(s.b, &p, BREAKER_OK, 0, NULL), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.t[2].from, BREAKER_HALF_OPEN);
	assert_int_equal(s.t[2].to, BREAKER_CLOSED);
	assert_string_equal(s.t[2].reason, "trial call succeeded");
	assert_string_equal(breaker_event_subject(s.t[2].to), "breaker.closed");

	breaker_force_open(s.b, "maintenance\nwindow");
	assert_int_equal(s.n, 4);
	assert_string_equal(s.t[3].reason, "forced open by the operator (maintenance window)");
	assert_int_equal(s.t[3].next_try_in_ns, BREAKER_NEVER);
	assert_string_equal(breaker_event_subject(s.t[3].to), "breaker.forced_open");
	breaker_disable(s.b, NULL);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.t[4].reason, "disabled by the operator");
	assert_int_equal(s.t[4].next_try_in_ns, 0);
	assert_string_equal(breaker_event_subject(s.t[4].to), "breaker.disabled");
	breaker_reset(s.b, "fixed");
	assert_int_equal(s.n, 6);
	assert_string_equal(s.t[5].reason, "reset by the operator (fixed)");
	assert_int_equal(s.t[5].generation, 6);
	breaker_free(s.b);
}

static void test_callback_may_call_back_and_order_holds(void **state)
{
	struct seen s = {.force_on_open = true};
	struct breaker_config c = exact_config();
	c.consecutive_failures = 1;
	assert_int_equal(breaker_new("dep", &c, seen_transition, &s, &s.b, NULL), 0);
	fail_once(s.b, "down");
	/* The callback forced it open; that transition came after, not inside. */
	assert_int_equal(s.n, 2);
	assert_int_equal(s.t[0].to, BREAKER_OPEN);
	assert_int_equal(s.t[1].from, BREAKER_OPEN);
	assert_int_equal(s.t[1].to, BREAKER_FORCED_OPEN);
	assert_int_equal(s.t[1].generation, 2);
	assert_string_equal(s.t[1].reason, "forced open by the operator (from the callback)");
	breaker_free(s.b);
}

static void *force_open_thread(void *arg)
{
	breaker_force_open(arg, "first");
	return NULL;
}

static void test_transitions_queue_behind_a_slow_callback(void **state)
{
	sem_t block, entered;
	sem_init(&block, 0, 0);
	sem_init(&entered, 0, 0);
	struct seen s = {.block = &block, .entered = &entered};
	assert_int_equal(breaker_new("dep", NULL, seen_transition, &s, &s.b, NULL), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, force_open_thread, s.b), 0);
	sem_wait(&entered);
	/* The other thread is in the callback: these calls queue their
	 * transitions and return without waiting. 20 changes, 16 queued. */
	for (int i = 0; i < 10; i++) {
		breaker_reset(s.b, NULL);
		breaker_force_open(s.b, NULL);
	}
	assert_int_equal(s.n, 0);
	struct breaker_status st;
	breaker_status(s.b, &st);
	assert_int_equal(st.generation, 21);
	assert_int_equal(st.totals.dropped, 4);
	sem_post(&block);
	pthread_join(th, NULL);
	/* The delivering thread delivered the first and then all it found. */
	assert_int_equal(s.n, 17);
	for (int i = 0; i < 17; i++) {
		assert_int_equal(s.t[i].generation, (uint64_t)i + 1);
		assert_int_equal(s.t[i].dropped_before, 0);
	}
	/* The next one says what was lost before it. */
	breaker_reset(s.b, NULL);
	assert_int_equal(s.n, 18);
	assert_int_equal(s.t[17].generation, 22);
	assert_int_equal(s.t[17].dropped_before, 4);
	breaker_free(s.b);
	sem_destroy(&block);
	sem_destroy(&entered);
}

static void test_state_names_and_subjects(void **state)
{
	assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
	assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
	assert_string_equal(breaker_state_name(BREAKER_FORCED_OPEN), "forced_open");
	assert_string_equal(breaker_state_name(BREAKER_DISABLED), "disabled");
	assert_string_equal(breaker_state_name((enum breaker_state)42), "unknown");
	assert_string_equal(breaker_event_subject(BREAKER_CLOSED), "breaker.closed");
	assert_string_equal(breaker_event_subject(BREAKER_OPEN), "breaker.opened");
	assert_string_equal(breaker_event_subject(BREAKER_HALF_OPEN), "breaker.half_open");
	assert_string_equal(breaker_event_subject(BREAKER_FORCED_OPEN), "breaker.forced_open");
	assert_string_equal(breaker_event_subject(BREAKER_DISABLED), "breaker.disabled");
	assert_null(breaker_event_subject((enum breaker_state)42));
}

/* ---- refusals, status, JSON, text ---- */

static void test_refusal_messages(void **state)
{
	struct breaker_config c = exact_config();
	c.label = "model server";
	struct breaker *b;
	struct breaker_permit p;
	struct cairn_err err;
	assert_int_equal(breaker_new("model", &c, NULL, NULL, &b, NULL), 0);
	for (int i = 0; i < 3; i++)
		fail_once(b, "connection refused");
	clock_wait_ms(2500);
	assert_int_equal(breaker_acquire(b, &p, &err), CAIRN_E_UNAVAIL);
	assert_int_equal(err.code, CAIRN_E_UNAVAIL);
	assert_string_equal(err.field, "breaker");
	assert_string_equal(err.msg, "model server breaker is open: 3 consecutive failures "
				     "(connection refused); next try in 3 s");
	assert_null(p.owner);
	clock_wait_ms(2500);
	assert_int_equal(breaker_acquire(b, &p, &err), 0);
	struct breaker_permit q;
	assert_int_equal(breaker_acquire(b, &q, &err), CAIRN_E_UNAVAIL);
	assert_string_equal(err.msg,
			    "model server breaker is half-open: one trial call is testing whether "
			    "it recovered from 3 consecutive failures (connection refused); try "
			    "again in a few seconds");
	assert_int_equal(breaker_release(b, &p), 0);
	breaker_force_open(b, "maintenance");
	assert_int_equal(breaker_acquire(b, &q, &err), CAIRN_E_UNAVAIL);
	assert_string_equal(err.msg, "model server breaker is forced open by the operator "
				     "(maintenance); it stays open until it is reset");
	/* err may be NULL. */
	assert_int_equal(breaker_acquire(b, &q, NULL), CAIRN_E_UNAVAIL);
	breaker_free(b);
}

static void test_error_text_is_bounded_and_clean(void **state)
{
	struct breaker *b;
	assert_int_equal(breaker_new("dep", NULL, NULL, NULL, &b, NULL), 0);
	char long_text[1000];
	/* 'é' is two bytes: a cut must not split one. */
	for (size_t i = 0; i + 2 < sizeof long_text; i += 2)
		memcpy(long_text + i, "\xc3\xa9", 2);
	long_text[sizeof long_text - 2] = '\0';
	fail_once(b, long_text);
	struct breaker_status st;
	breaker_status(b, &st);
	assert_true(strlen(st.last_error) <= BREAKER_ERROR_MAX - 1);
	assert_true(strlen(st.last_error) >= BREAKER_ERROR_MAX - 2);
	assert_int_equal(strlen(st.last_error) % 2, 0);
	json_t *j = breaker_status_json(&st);
	assert_non_null(j);
	json_decref(j);

	fail_once(b, "bad\x01\x1b[31m\nbyte \xff\xfe end\x7f");
	breaker_status(b, &st);
	assert_string_equal(st.last_error, "bad  [31m byte ?? end ");
	j = breaker_status_json(&st);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "last_error")),
			    "bad  [31m byte ?? end ");
	json_decref(j);

	fail_once(b, NULL);
	breaker_status(b, &st);
	assert_string_equal(st.last_error, "failed");
	assert_int_equal(st.state, BREAKER_OPEN);
	breaker_free(b);
}

static const char *const json_keys[] = {
	"name",
	"label",
	"state",
	"generation",
	"consecutive_failures",
	"window",
	"last_error",
	"reason",
	"changed_ago_ms",
	"next_try_in_ms",
	"next_probe_in_ms",
	"in_flight",
	"totals",
};

static const char *const json_totals[] = {"calls",    "failures",    "slow",
					  "rejected", "stale",       "released",
					  "probes",   "transitions", "dropped"};

static json_int_t jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", k);
	return json_integer_value(v);
}

static void test_status_snapshot_and_json(void **state)
{
	struct breaker_config c = exact_config();
	c.slow_ms = 1000;
	struct breaker *b;
	assert_int_equal(breaker_new("model", &c, NULL, NULL, &b, NULL), 0);

	/* A fresh breaker. */
	struct breaker_status st;
	breaker_status(b, &st);
	json_t *j = breaker_status_json(&st);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), sizeof json_keys / sizeof json_keys[0]);
	for (size_t i = 0; i < sizeof json_keys / sizeof json_keys[0]; i++)
		if (!json_object_get(j, json_keys[i]))
			fail_msg("no key '%s'", json_keys[i]);
	json_t *totals = json_object_get(j, "totals");
	assert_int_equal(json_object_size(totals), sizeof json_totals / sizeof json_totals[0]);
	for (size_t i = 0; i < sizeof json_totals / sizeof json_totals[0]; i++)
		assert_int_equal(jint(totals, json_totals[i]), 0);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "model");
	assert_string_equal(json_string_value(json_object_get(j, "label")), "model");
	assert_string_equal(json_string_value(json_object_get(j, "state")), "closed");
	assert_true(json_is_null(json_object_get(j, "last_error")));
	assert_true(json_is_null(json_object_get(j, "reason")));
	assert_true(json_is_null(json_object_get(j, "next_try_in_ms")));
	assert_int_equal(jint(j, "next_probe_in_ms"), 30000);
	json_t *w = json_object_get(j, "window");
	assert_int_equal(json_object_size(w), 3);
	assert_int_equal(jint(w, "seconds"), 60);
	json_decref(j);
	char text[BREAKER_TEXT_MAX];
	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text, "model: closed, 0 of 0 calls failed in the last 60 s");

	/* Some traffic, then open. */
	struct breaker_permit held, p;
	assert_int_equal(breaker_acquire(b, &held, NULL), 0);
	assert_int_equal(breaker_acquire(b, &p, NULL), 0);
	assert_int_equal(breaker_record(b, &p, BREAKER_OK, 1500 * MS, NULL), 0);
	assert_int_equal(breaker_acquire(b, &p, NULL), 0);
	assert_int_equal(breaker_record(b, &p, BREAKER_OK, 10 * MS, NULL), 0);
	fail_once(b, "connection refused");
	breaker_status(b, &st);
	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text, "model: closed, 2 of 3 calls failed in the last 60 s, 1 in a "
				  "row (connection refused)");
	fail_once(b, "connection refused");
	clock_wait_ms(700);
	fail_once(b, "connection refused");
	clock_wait_ms(2100);
	assert_int_equal(breaker_acquire(b, &p, NULL), CAIRN_E_UNAVAIL);

	breaker_status(b, &st);
	assert_string_equal(st.name, "model");
	assert_int_equal(st.state, BREAKER_OPEN);
	assert_int_equal(st.generation, 1);
	assert_int_equal(st.consecutive_failures, 3);
	assert_int_equal(st.window_calls, 5);
	assert_int_equal(st.window_failures, 4);
	assert_string_equal(st.last_error, "connection refused");
	assert_string_equal(st.reason, "3 consecutive failures (connection refused)");
	assert_int_equal(st.now_ns - st.changed_ns, 2100 * MS);
	assert_int_equal(st.next_try_ns - st.now_ns, 2900 * MS);
	assert_int_equal(st.next_probe_ns, st.next_try_ns);
	assert_int_equal(st.in_flight, 1);
	assert_int_equal(st.totals.calls, 5);
	assert_int_equal(st.totals.failures, 4);
	assert_int_equal(st.totals.slow, 1);
	assert_int_equal(st.totals.rejected, 1);
	assert_int_equal(st.totals.transitions, 1);

	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text,
			    "model: open, 3 consecutive failures (connection refused), next try "
			    "in 3 s");
	j = breaker_status_json(&st);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "open");
	assert_int_equal(jint(j, "generation"), 1);
	assert_int_equal(jint(j, "consecutive_failures"), 3);
	w = json_object_get(j, "window");
	assert_int_equal(jint(w, "calls"), 5);
	assert_int_equal(jint(w, "failures"), 4);
	assert_string_equal(json_string_value(json_object_get(j, "last_error")),
			    "connection refused");
	assert_string_equal(json_string_value(json_object_get(j, "reason")),
			    "3 consecutive failures (connection refused)");
	assert_int_equal(jint(j, "changed_ago_ms"), 2100);
	assert_int_equal(jint(j, "next_try_in_ms"), 2900);
	assert_int_equal(jint(j, "next_probe_in_ms"), 2900);
	assert_int_equal(jint(j, "in_flight"), 1);
	totals = json_object_get(j, "totals");
	assert_int_equal(jint(totals, "calls"), 5);
	assert_int_equal(jint(totals, "failures"), 4);
	assert_int_equal(jint(totals, "slow"), 1);
	assert_int_equal(jint(totals, "rejected"), 1);
	assert_int_equal(jint(totals, "transitions"), 1);
	json_decref(j);

	/* Due: "next try now". Then half-open, forced open, disabled. */
	clock_wait_ms(2900);
	breaker_status(b, &st);
	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text,
			    "model: open, 3 consecutive failures (connection refused), next try "
			    "now");
	assert_int_equal(breaker_acquire(b, &p, NULL), 0);
	breaker_status(b, &st);
	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text, "model: half-open, a trial call is testing it");
	assert_int_equal(breaker_release(b, &p), 0);
	breaker_status(b, &st);
	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text, "model: half-open, waiting for a trial call");
	breaker_force_open(b, "maintenance");
	breaker_status(b, &st);
	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text, "model: forced open by the operator (maintenance), refusing "
				  "every call until reset");
	j = breaker_status_json(&st);
	assert_true(json_is_null(json_object_get(j, "next_try_in_ms")));
	assert_true(json_is_null(json_object_get(j, "next_probe_in_ms")));
	json_decref(j);
	breaker_disable(b, NULL);
	breaker_status(b, &st);
	breaker_status_text(&st, text, sizeof text);
	assert_string_equal(text, "model: disabled by the operator, every call passes unchecked");

	/* A short buffer is cut, NUL-terminated. */
	char small[8];
	breaker_status_text(&st, small, sizeof small);
	assert_string_equal(small, "model: ");
	assert_int_equal(breaker_release(b, &held), 0);
	breaker_free(b);
}

int main(void)
{
	clock_set_source(fake_mono, NULL);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_scenarios),
		T(test_config_cases),
		T(test_config_defaults),
		T(test_names_and_labels),
		T(test_record_needs_a_live_permit),
		T(test_duration_auto_measures_from_acquisition),
		T(test_exactly_one_half_open_trial_among_64_threads),
		T(test_counts_add_up_under_threads),
		T(test_backoff_grows_and_is_capped_without_jitter),
		T(test_jitter_stays_within_bounds),
		T(test_jitter_below_the_cap_goes_both_ways),
		T(test_transition_content),
		T(test_callback_may_call_back_and_order_holds),
		T(test_transitions_queue_behind_a_slow_callback),
		T(test_state_names_and_subjects),
		T(test_refusal_messages),
		T(test_error_text_is_bounded_and_clean),
		T(test_status_snapshot_and_json),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
