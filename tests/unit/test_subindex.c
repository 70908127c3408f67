/* Unit tests for the subscription index, including a randomized cross-check against
 * pattern_match(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "event/pattern.h"
#include "event/subindex.h"

/* Values are pointers into this array, so a value's index is its identity. */
#define NVALUES 1500
static char values[NVALUES];

#define V(i) ((void *)&values[(i)])

/* Counts how often each value was passed to the callback. */
struct tally {
	unsigned counts[NVALUES];
	size_t calls;
};

static void tally_cb(void *value, void *ctx)
{
	struct tally *t = ctx;
	ptrdiff_t i = (char *)value - values;
	assert_true(i >= 0 && i < NVALUES);
	t->counts[i]++;
	t->calls++;
}

/* Runs subindex_match() on type into t and checks its return value. */
static void match_into(const struct subindex *idx, const char *type, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	size_t n = subindex_match(idx, type, tally_cb, t);
	assert_int_equal(n, t->calls);
}

/* The number of times value i is reported for type. */
static unsigned hits(const struct subindex *idx, const char *type, size_t i)
{
	struct tally t;
	match_into(idx, type, &t);
	return t.counts[i];
}

static void test_add_match_remove(void **state)
{
	struct subindex *idx = subindex_new();
	struct tally t;

	assert_int_equal(subindex_count(idx), 0);
	assert_int_equal(subindex_add(idx, "build.failed", V(1)), 0);
	assert_int_equal(subindex_add(idx, "build.*", V(2)), 0);
	assert_int_equal(subindex_add(idx, "build.>", V(3)), 0);
	assert_int_equal(subindex_add(idx, ">", V(4)), 0);
	assert_int_equal(subindex_add(idx, "*", V(5)), 0);
	assert_int_equal(subindex_add(idx, "ci.run.failed", V(6)), 0);
	assert_int_equal(subindex_add(idx, "*.failed", V(7)), 0);
	assert_int_equal(subindex_count(idx), 7);

	match_into(idx, "build.failed", &t);
	assert_int_equal(t.calls, 5);
	assert_int_equal(t.counts[1], 1);
	assert_int_equal(t.counts[2], 1);
	assert_int_equal(t.counts[3], 1);
	assert_int_equal(t.counts[4], 1);
	assert_int_equal(t.counts[7], 1);

	match_into(idx, "build", &t);
	assert_int_equal(t.calls, 2);
	assert_int_equal(t.counts[4], 1);
	assert_int_equal(t.counts[5], 1);

	match_into(idx, "build.x.y", &t);
	assert_int_equal(t.calls, 2);
	assert_int_equal(t.counts[3], 1);
	assert_int_equal(t.counts[4], 1);

	match_into(idx, "ci.run.failed", &t);
	assert_int_equal(t.calls, 2);
	assert_int_equal(t.counts[4], 1);
	assert_int_equal(t.counts[6], 1);

	/* An invalid type matches nothing, not even ">". */
	match_into(idx, "build..failed", &t);
	assert_int_equal(t.calls, 0);
	match_into(idx, "", &t);
	assert_int_equal(t.calls, 0);

	assert_int_equal(subindex_remove(idx, "build.*", V(2)), 0);
	assert_int_equal(hits(idx, "build.failed", 2), 0);
	assert_int_equal(hits(idx, "build.failed", 1), 1);
	assert_int_equal(subindex_remove(idx, ">", V(4)), 0);
	assert_int_equal(hits(idx, "zzz", 4), 0);
	assert_int_equal(subindex_count(idx), 5);

	assert_int_equal(subindex_remove(idx, "build.failed", V(1)), 0);
	assert_int_equal(subindex_remove(idx, "build.>", V(3)), 0);
	assert_int_equal(subindex_remove(idx, "*", V(5)), 0);
	assert_int_equal(subindex_remove(idx, "ci.run.failed", V(6)), 0);
	assert_int_equal(subindex_remove(idx, "*.failed", V(7)), 0);
	assert_int_equal(subindex_count(idx), 0);
	match_into(idx, "build.failed", &t);
	assert_int_equal(t.calls, 0);

	/* The emptied index works as new. */
	assert_int_equal(subindex_add(idx, "build.failed", V(1)), 0);
	assert_int_equal(hits(idx, "build.failed", 1), 1);
	subindex_free(idx);
}

static void test_invalid_pattern(void **state)
{
	struct subindex *idx = subindex_new();

	assert_int_equal(subindex_add(idx, "", V(1)), CAIRN_E_INVALID);
	assert_int_equal(subindex_add(idx, "a..b", V(1)), CAIRN_E_INVALID);
	assert_int_equal(subindex_add(idx, "a.>.b", V(1)), CAIRN_E_INVALID);
	assert_int_equal(subindex_add(idx, "a>", V(1)), CAIRN_E_INVALID);
	assert_int_equal(subindex_add(idx, "A", V(1)), CAIRN_E_INVALID);
	assert_int_equal(subindex_count(idx), 0);
	assert_int_equal(subindex_remove(idx, "a..b", V(1)), CAIRN_E_NOTFOUND);
	subindex_free(idx);
	subindex_free(NULL);
}

/* The same pair added twice is held twice: reported twice, removed twice. */
static void test_duplicates(void **state)
{
	struct subindex *idx = subindex_new();

	assert_int_equal(subindex_add(idx, "a.*", V(1)), 0);
	assert_int_equal(subindex_add(idx, "a.*", V(1)), 0);
	assert_int_equal(subindex_add(idx, "a.*", V(2)), 0);
	assert_int_equal(subindex_count(idx), 3);
	assert_int_equal(hits(idx, "a.b", 1), 2);
	assert_int_equal(hits(idx, "a.b", 2), 1);

	assert_int_equal(subindex_remove(idx, "a.*", V(1)), 0);
	assert_int_equal(hits(idx, "a.b", 1), 1);
	assert_int_equal(hits(idx, "a.b", 2), 1);
	assert_int_equal(subindex_remove(idx, "a.*", V(1)), 0);
	assert_int_equal(hits(idx, "a.b", 1), 0);
	assert_int_equal(subindex_remove(idx, "a.*", V(1)), CAIRN_E_NOTFOUND);
	assert_int_equal(hits(idx, "a.b", 2), 1);
	assert_int_equal(subindex_count(idx), 1);
	subindex_free(idx);
}

/* One value under two patterns is reported once per matching pattern. */
static void test_value_under_two_patterns(void **state)
{
	struct subindex *idx = subindex_new();

	assert_int_equal(subindex_add(idx, "a.b", V(9)), 0);
	assert_int_equal(subindex_add(idx, "a.>", V(9)), 0);
	assert_int_equal(hits(idx, "a.b", 9), 2);
	assert_int_equal(hits(idx, "a.c", 9), 1);
	assert_int_equal(hits(idx, "a", 9), 0);

	assert_int_equal(subindex_remove(idx, "a.>", V(9)), 0);
	assert_int_equal(hits(idx, "a.b", 9), 1);
	assert_int_equal(hits(idx, "a.c", 9), 0);
	assert_int_equal(subindex_count(idx), 1);
	subindex_free(idx);
}

static void test_remove_missing(void **state)
{
	struct subindex *idx = subindex_new();

	assert_int_equal(subindex_remove(idx, "a.b", V(1)), CAIRN_E_NOTFOUND);
	assert_int_equal(subindex_add(idx, "a.b.c", V(1)), 0);
	assert_int_equal(subindex_add(idx, "a.*", V(1)), 0);
	/* A prefix of a stored pattern, a wrong value, a '>' never added. */
	assert_int_equal(subindex_remove(idx, "a.b", V(1)), CAIRN_E_NOTFOUND);
	assert_int_equal(subindex_remove(idx, "a.b.c", V(2)), CAIRN_E_NOTFOUND);
	assert_int_equal(subindex_remove(idx, "a.>", V(1)), CAIRN_E_NOTFOUND);
	assert_int_equal(subindex_remove(idx, "a.b.c.d", V(1)), CAIRN_E_NOTFOUND);
	assert_int_equal(subindex_remove(idx, "*.*", V(1)), CAIRN_E_NOTFOUND);
	assert_int_equal(subindex_count(idx), 2);
	/* Failed removals changed nothing. */
	assert_int_equal(hits(idx, "a.b.c", 1), 1);
	assert_int_equal(hits(idx, "a.b", 1), 1);
	subindex_free(idx);
}

/* Many literal siblings force the per-node maps to grow and then shrink. */
static void test_many_siblings(void **state)
{
	struct subindex *idx = subindex_new();
	char buf[32];
	const size_t n = 1000;

	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "t%zu.x", i);
		assert_int_equal(subindex_add(idx, buf, V(i)), 0);
	}
	assert_int_equal(subindex_count(idx), n);
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "t%zu.x", i);
		struct tally t;
		match_into(idx, buf, &t);
		assert_int_equal(t.calls, 1);
		assert_int_equal(t.counts[i], 1);
	}
	for (size_t i = 0; i < n; i += 2) {
		snprintf(buf, sizeof(buf), "t%zu.x", i);
		assert_int_equal(subindex_remove(idx, buf, V(i)), 0);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "t%zu.x", i);
		assert_int_equal(hits(idx, buf, i), i % 2);
	}
	subindex_free(idx);
}

/* xorshift64*: a fixed seed makes every run check the same cases. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rng_below(size_t n)
{
	return (size_t)(rng_next() % n);
}

/* A small alphabet so that random patterns and types overlap a lot. */
static const char *const alphabet[] = {"a", "b", "c", "dd"};
#define NALPHA (sizeof(alphabet) / sizeof(alphabet[0]))

static char *random_pattern(void)
{
	char buf[64] = "";
	size_t ntok = 1 + rng_below(4);
	for (size_t i = 0; i < ntok; i++) {
		const char *tok;
		size_t r = rng_below(10);
		if (r < 2)
			tok = "*";
		else if (r < 3 && i == ntok - 1)
			tok = ">";
		else
			tok = alphabet[rng_below(NALPHA)];
		if (i)
			strcat(buf, ".");
		strcat(buf, tok);
	}
	return xstrdup(buf);
}

static char *random_type(void)
{
	char buf[64] = "";
	size_t ntok = 1 + rng_below(5);
	for (size_t i = 0; i < ntok; i++) {
		if (i)
			strcat(buf, ".");
		strcat(buf, alphabet[rng_below(NALPHA)]);
	}
	return xstrdup(buf);
}

#define NPATTERNS 2000
#define NTYPES 2000

struct sub {
	char *pattern;
	size_t value;
	bool live;
};

/* For every type, the index reports exactly the values that a scan over all
 * live subscriptions with pattern_match() finds, each as often. Returns the
 * total number of matches so the caller can check the test is not vacuous. */
static size_t cross_check(const struct subindex *idx, const struct sub *subs, char **types)
{
	static struct tally got;
	static unsigned want[NVALUES];
	size_t total = 0;

	for (size_t t = 0; t < NTYPES; t++) {
		memset(want, 0, sizeof(want));
		for (size_t i = 0; i < NPATTERNS; i++) {
			if (subs[i].live && pattern_match(subs[i].pattern, types[t]))
				want[subs[i].value]++;
		}
		match_into(idx, types[t], &got);
		for (size_t v = 0; v < NVALUES; v++) {
			if (got.counts[v] != want[v])
				fail_msg("type '%s': value %zu reported %u times, want %u",
					 types[t], v, got.counts[v], want[v]);
		}
		total += got.calls;
	}
	return total;
}

static void test_random_cross_check(void **state)
{
	static struct sub subs[NPATTERNS];
	static char *types[NTYPES];
	static size_t order[NPATTERNS];
	struct subindex *idx = subindex_new();

	rng_state = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < NPATTERNS; i++) {
		subs[i].pattern = random_pattern();
		/* Fewer values than patterns: some values sit under several
		 * patterns, and some (pattern, value) pairs repeat. */
		subs[i].value = rng_below(NVALUES);
		subs[i].live = true;
		assert_true(pattern_valid(subs[i].pattern, NULL));
		assert_int_equal(subindex_add(idx, subs[i].pattern, V(subs[i].value)), 0);
	}
	for (size_t t = 0; t < NTYPES; t++)
		types[t] = random_type();
	assert_int_equal(subindex_count(idx), NPATTERNS);

	size_t before = cross_check(idx, subs, types);
	assert_true(before > NTYPES);

	/* Remove a random half (a Fisher-Yates shuffle picks which). */
	for (size_t i = 0; i < NPATTERNS; i++)
		order[i] = i;
	for (size_t i = NPATTERNS - 1; i > 0; i--) {
		size_t j = rng_below(i + 1), tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (size_t k = 0; k < NPATTERNS / 2; k++) {
		struct sub *s = &subs[order[k]];
		assert_int_equal(subindex_remove(idx, s->pattern, V(s->value)), 0);
		s->live = false;
	}
	assert_int_equal(subindex_count(idx), NPATTERNS - NPATTERNS / 2);

	size_t after = cross_check(idx, subs, types);
	assert_true(after > 0 && after < before);

	/* The rest stay in the index: subindex_free() must release them. */
	subindex_free(idx);
	for (size_t i = 0; i < NPATTERNS; i++)
		free(subs[i].pattern);
	for (size_t t = 0; t < NTYPES; t++)
		free(types[t]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_match_remove),
		cmocka_unit_test(test_invalid_pattern),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_value_under_two_patterns),
		cmocka_unit_test(test_remove_missing),
		cmocka_unit_test(test_many_siblings),
		cmocka_unit_test(test_random_cross_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
