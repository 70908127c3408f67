/* Head-and-tail reader: whatever the chunking, the kept bytes are the first
 * head_max and the last tail_max of the stream, in order, with the total
 * counted and the marker only when asked for and bytes were dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/headtail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum chunking { ONE_BYTE, RANDOM, WHOLE };

static char *make_data(size_t n, unsigned seed)
{
	char *d = malloc(n + 1);
	assert_non_null(d);
	srand(seed);
	for (size_t i = 0; i < n; i++)
		d[i] = (char)(rand() & 0xff); /* NUL bytes included */
	return d;
}

static void feed(struct headtail *h, const char *d, size_t n, enum chunking how, unsigned seed)
{
	srand(seed * 7919u + 1);
	for (size_t off = 0; off < n;) {
		size_t k = how == ONE_BYTE ? 1 : how == WHOLE ? n : (size_t)(rand() % 300) + 1;
		if (rand() % 10 == 0 && how == RANDOM)
			headtail_add(h, NULL, 0);
		if (k > n - off)
			k = n - off;
		headtail_add(h, d + off, k);
		off += k;
	}
}

/* The expected joined output for data d of n bytes. */
static void check_out(const char *out, size_t len, const char *d, size_t n, size_t hmax,
		      size_t tmax, bool mark)
{
	if (n <= hmax + tmax) {
		assert_int_equal(len, n);
		assert_memory_equal(out, d, n);
		return;
	}
	char m[96] = "";
	if (mark)
		snprintf(m, sizeof m, "\n[cairn: %zu bytes omitted]\n", n - hmax - tmax);
	size_t ml = strlen(m);
	assert_int_equal(len, hmax + ml + tmax);
	if (hmax)
		assert_memory_equal(out, d, hmax);
	if (ml)
		assert_memory_equal(out + hmax, m, ml);
	if (tmax)
		assert_memory_equal(out + hmax + ml, d + n - tmax, tmax);
	assert_int_equal(out[len], '\0');
}

static void check(size_t hmax, size_t tmax, size_t n, enum chunking how, unsigned seed)
{
	char *d = make_data(n, seed);
	for (int mark = 0; mark <= 1; mark++) {
		struct headtail h;
		headtail_init(&h, hmax, tmax);
		feed(&h, d, n, how, seed);
		assert_int_equal(headtail_total(&h), n);
		assert_int_equal(headtail_truncated(&h), n > hmax + tmax);
		unsigned fl = mark ? HEADTAIL_MARK : 0;
		size_t len1, len2;
		char *j = headtail_join(&h, fl, &len1);
		check_out(j, len1, d, n, hmax, tmax, mark);
		/* join leaves h as it was; detach gives the same bytes. */
		assert_int_equal(headtail_total(&h), n);
		char *x = headtail_detach(&h, fl, &len2);
		assert_int_equal(len1, len2);
		assert_memory_equal(j, x, len1 + 1);
		/* detach leaves h empty and usable. */
		assert_int_equal(headtail_total(&h), 0);
		assert_false(headtail_truncated(&h));
		headtail_add(&h, "ab", 2);
		char *y = headtail_join(&h, fl, NULL);
		assert_string_equal(y, "ab"); /* every size tested keeps >= 2 */
		free(y);
		free(x);
		free(j);
		headtail_release(&h);
	}
	free(d);
}

static void test_under_at_and_over_the_cap(void **state)
{
	(void)state;
	static const size_t sizes[][2] = {{10, 30}, {1, 1}, {0, 16}, {16, 0}, {7, 8}, {512, 512}};
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t hm = sizes[s][0], tm = sizes[s][1], cap = hm + tm;
		size_t ns[] = {0,        1,           cap / 2, cap ? cap - 1 : 0, cap, cap + 1,
			       cap + tm, cap * 3 + 5, 5000};
		for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
			for (unsigned seed = 0; seed < 5; seed++) {
				check(hm, tm, ns[i], ONE_BYTE, seed);
				check(hm, tm, ns[i], RANDOM, seed);
				check(hm, tm, ns[i], WHOLE, seed);
			}
	}
}

/* The runner's marker, word for word, with the count of dropped bytes. */
static void test_marker_text(void **state)
{
	(void)state;
	struct headtail h;
	headtail_init(&h, 2, 3);
	headtail_add(&h, "0123456789", 10);
	char *j = headtail_join(&h, HEADTAIL_MARK, NULL);
	assert_string_equal(j, "01\n[cairn: 5 bytes omitted]\n789");
	free(j);
	j = headtail_join(&h, 0, NULL);
	assert_string_equal(j, "01789");
	free(j);
	headtail_release(&h);
}

static void check_range(size_t hmax, size_t tmax, size_t n, size_t pre, unsigned seed)
{
	char *d = make_data(n, seed);
	char path[] = "/tmp/test_headtail.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, d, n), (ssize_t)n);
	/* Bytes added before the range, then the range [pre, n). */
	struct headtail a, b;
	headtail_init(&a, hmax, tmax);
	headtail_init(&b, hmax, tmax);
	headtail_add(&a, d, pre);
	headtail_add(&b, d, pre);
	assert_int_equal(headtail_add_range(&a, fd, pre, n), 0);
	headtail_add(&b, d + pre, n - pre);
	assert_int_equal(headtail_total(&a), headtail_total(&b));
	assert_int_equal(headtail_truncated(&a), headtail_truncated(&b));
	size_t la, lb;
	char *ja = headtail_join(&a, HEADTAIL_MARK, &la);
	char *jb = headtail_join(&b, HEADTAIL_MARK, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ja, jb, la);
	/* An empty or reversed range adds nothing. */
	assert_int_equal(headtail_add_range(&a, fd, 5, 5), 0);
	assert_int_equal(headtail_add_range(&a, fd, 9, 3), 0);
	assert_int_equal(headtail_total(&a), n);
	free(ja);
	free(jb);
	headtail_release(&a);
	headtail_release(&b);
	close(fd);
	free(d);
}

static void test_range_reads_as_add_would(void **state)
{
	(void)state;
	for (unsigned seed = 0; seed < 5; seed++) {
		check_range(100, 300, 50, 0, seed);
		check_range(100, 300, 400, 0, seed);
		check_range(100, 300, 401, 0, seed);
		check_range(100, 300, 10000, 0, seed);
		check_range(100, 300, 10000, 30, seed);
		check_range(100, 300, 10000, 3000, seed);
		check_range(1 << 20, 3 << 20, (5 << 20) + 17, 0, seed); /* chunked preads */
	}
}

static long max_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 64 MiB through 4 KiB chunks into a 1 MiB + 1 MiB reader: what is kept is
 * right and memory stays near the cap, not near the input. */
static void test_huge_input_stays_bounded(void **state)
{
	(void)state;
	const size_t chunk = 4096, total = (size_t)64 << 20, hm = 1 << 20, tm = 1 << 20;
	char buf[4096];
	long before = max_rss_kib();
	struct headtail h;
	headtail_init(&h, hm, tm);
	/* Byte i is (i * 31 + i / 4093) & 0xff: cheap to recompute for checking. */
	for (size_t off = 0; off < total; off += chunk) {
		for (size_t i = 0; i < chunk; i++)
			buf[i] = (char)(((off + i) * 31 + (off + i) / 4093) & 0xff);
		headtail_add(&h, buf, chunk);
	}
	assert_int_equal(headtail_total(&h), total);
	assert_true(headtail_truncated(&h));
	size_t len;
	char *j = headtail_detach(&h, HEADTAIL_MARK, &len);
	char m[64];
	snprintf(m, sizeof m, "\n[cairn: %zu bytes omitted]\n", total - hm - tm);
	size_t ml = strlen(m);
	assert_int_equal(len, hm + ml + tm);
	for (size_t i = 0; i < hm; i++)
		assert_int_equal((unsigned char)j[i], ((i * 31 + i / 4093) & 0xff));
	assert_memory_equal(j + hm, m, ml);
	for (size_t k = 0; k < tm; k++) {
		size_t i = total - tm + k;
		assert_int_equal((unsigned char)j[hm + ml + k], ((i * 31 + i / 4093) & 0xff));
	}
	free(j);
	headtail_release(&h);
	/* Peak growth well under the 64 MiB that went through (sanitizers add
	 * their own overhead, hence the margin). */
	long grew = max_rss_kib() - before;
	assert_true(grew < 24 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_under_at_and_over_the_cap),
		cmocka_unit_test(test_marker_text),
		cmocka_unit_test(test_range_reads_as_add_would),
		cmocka_unit_test(test_huge_input_stays_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
