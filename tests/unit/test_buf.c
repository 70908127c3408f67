/* The growable byte buffer: growth, the hard maximum, formatting, reading
 * a file descriptor, detach and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

/* The invariants buf.h promises, checked after every step. */
static void check(const struct buf *b)
{
	assert_non_null(b->data);
	assert_true(b->len <= b->max);
	assert_true(b->cap <= b->max + 1);
	assert_true(b->cap == 0 || b->len < b->cap);
	assert_int_equal(b->data[b->len], '\0');
}

static void test_empty(void **state)
{
	struct buf b;
	buf_init(&b, 100);
	check(&b);
	assert_string_equal(b.data, "");
	assert_int_equal(b.cap, 0);
	struct buf s = BUF_INIT(7);
	check(&s);
	assert_int_equal(s.max, 7);
	/* Empty adds allocate nothing. */
	assert_int_equal(buf_add(&b, NULL, 0), 0);
	assert_int_equal(buf_addstr(&b, ""), 0);
	assert_int_equal(buf_addf(&b, "%s", ""), 0);
	assert_int_equal(b.cap, 0);
	check(&b);
	buf_release(&b);
	buf_release(&s);
	check(&b);
}

static void test_growth(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	char expect[10000];
	for (size_t i = 0; i < sizeof expect; i++) {
		expect[i] = (char)('a' + i % 26);
		assert_int_equal(buf_addch(&b, expect[i]), 0);
		check(&b);
	}
	assert_int_equal(b.len, sizeof expect);
	assert_memory_equal(b.data, expect, sizeof expect);
	/* Big adds at once, bigger than twice the allocation. */
	static char big[300000];
	memset(big, 'x', sizeof big);
	assert_int_equal(buf_add(&b, big, sizeof big), 0);
	check(&b);
	assert_int_equal(b.len, sizeof expect + sizeof big);
	assert_memory_equal(b.data, expect, sizeof expect);
	assert_memory_equal(b.data + sizeof expect, big, sizeof big);
	/* Embedded NULs are content. */
	assert_int_equal(buf_add(&b, "a\0b", 3), 0);
	assert_memory_equal(b.data + b.len - 3, "a\0b", 3);
	buf_release(&b);
}

static void test_cap(void **state)
{
	for (size_t max = 0; max < 200; max += 7) {
		struct buf b;
		buf_init(&b, max);
		char *fill = malloc(max + 2);
		memset(fill, 'q', max + 2);
		/* Exactly max bytes fit, in one add or byte by byte. */
		assert_int_equal(buf_add(&b, fill, max), 0);
		check(&b);
		assert_int_equal(b.len, max);
		/* One more is refused and changes nothing. */
		assert_int_equal(buf_addch(&b, 'z'), CAIRN_E_TOOBIG);
		assert_int_equal(buf_add(&b, "z", 1), CAIRN_E_TOOBIG);
		assert_int_equal(buf_addstr(&b, "zz"), CAIRN_E_TOOBIG);
		assert_int_equal(buf_addf(&b, "%d", 5), CAIRN_E_TOOBIG);
		assert_int_equal(buf_grow(&b, 1), CAIRN_E_TOOBIG);
		check(&b);
		assert_int_equal(b.len, max);
		assert_memory_equal(b.data, fill, max);
		/* A zero-length add still fits. */
		assert_int_equal(buf_add(&b, NULL, 0), 0);
		assert_int_equal(buf_addstr(&b, ""), 0);
		assert_int_equal(buf_addf(&b, "%s", ""), 0);
		assert_int_equal(b.len, max);

		/* max + 1 in one add is refused on an empty buffer too. */
		buf_reset(&b);
		assert_int_equal(buf_add(&b, fill, max + 1), CAIRN_E_TOOBIG);
		check(&b);
		assert_int_equal(b.len, 0);
		/* Half, then a part that would overflow: content unchanged. */
		assert_int_equal(buf_add(&b, "abc", max < 3 ? max : 3), 0);
		size_t was = b.len;
		assert_int_equal(buf_add(&b, fill, max - was + 1), CAIRN_E_TOOBIG);
		check(&b);
		assert_int_equal(b.len, was);
		assert_memory_equal(b.data, "abc", was);
		free(fill);
		buf_release(&b);
	}
	/* A size that would overflow len + n is refused, not wrapped. */
	struct buf b;
	buf_init(&b, 16);
	assert_int_equal(buf_addstr(&b, "x"), 0);
	assert_int_equal(buf_grow(&b, SIZE_MAX), CAIRN_E_TOOBIG);
	assert_int_equal(buf_add(&b, "y", SIZE_MAX), CAIRN_E_TOOBIG);
	assert_string_equal(b.data, "x");
	buf_release(&b);
}

static void test_addf(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_addf(&b, "%s=%d;", "n", 42), 0);
	assert_string_equal(b.data, "n=42;");
	/* Output far longer than the allocation: grows and formats again. */
	char *longs = malloc(100001);
	memset(longs, 'L', 100000);
	longs[100000] = '\0';
	assert_int_equal(buf_addf(&b, "[%s]%zu", longs, (size_t)7), 0);
	check(&b);
	assert_int_equal(b.len, 5 + 1 + 100000 + 1 + 1);
	assert_memory_equal(b.data, "n=42;[L", 7);
	assert_string_equal(b.data + b.len - 2, "]7");
	/* Output that fits exactly the room left. */
	buf_release(&b);
	assert_int_equal(buf_grow(&b, 10), 0);
	size_t room = buf_avail(&b);
	memset(longs, 'k', room);
	longs[room] = '\0';
	assert_int_equal(buf_addf(&b, "%s", longs), 0);
	assert_int_equal(b.len, room);
	check(&b);
	/* Over the cap: refused, content and its NUL unchanged. */
	struct buf s;
	buf_init(&s, 10);
	assert_int_equal(buf_addf(&s, "%s", "0123456"), 0);
	assert_int_equal(buf_addf(&s, "%s", "7890"), CAIRN_E_TOOBIG);
	check(&s);
	assert_string_equal(s.data, "0123456");
	assert_int_equal(buf_addf(&s, "%s", "789"), 0);
	assert_string_equal(s.data, "0123456789");
	free(longs);
	buf_release(&s);
	buf_release(&b);
}

static void test_detach_reset(void **state)
{
	struct buf b;
	buf_init(&b, 64);
	size_t len = 99;
	char *p = buf_detach(&b, &len); /* nothing allocated yet */
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
	assert_int_equal(buf_addstr(&b, "hello"), 0);
	p = buf_detach(&b, &len);
	assert_string_equal(p, "hello");
	assert_int_equal(len, 5);
	/* b is empty and usable again, with its max. */
	check(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 64);
	assert_int_equal(buf_addstr(&b, "again"), 0);
	free(p);
	p = buf_detach(&b, NULL);
	assert_string_equal(p, "again");
	free(p);

	assert_int_equal(buf_addstr(&b, "some text"), 0);
	size_t cap = b.cap;
	char *data = b.data;
	buf_reset(&b);
	check(&b);
	assert_string_equal(b.data, "");
	assert_int_equal(b.cap, cap); /* the allocation is kept */
	assert_ptr_equal(b.data, data);
	buf_reset(&b);
	assert_int_equal(buf_addstr(&b, "x"), 0);
	assert_string_equal(b.data, "x");
	buf_release(&b);
	buf_reset(&b); /* on an unallocated buffer */
	check(&b);
}

static void test_setlen(void **state)
{
	struct buf b;
	buf_init(&b, 100);
	assert_int_equal(buf_grow(&b, 20), 0);
	assert_true(buf_avail(&b) >= 20);
	memcpy(b.data, "direct", 6);
	buf_setlen(&b, 6);
	assert_string_equal(b.data, "direct");
	buf_setlen(&b, 3);
	assert_string_equal(b.data, "dir");
	check(&b);
	buf_release(&b);
}

static void test_read_fd(void **state)
{
	static char data[200000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)(i * 7);
	for (int over = 0; over < 2; over++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		/* A pipe holds 64 KiB: write from a child. */
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			size_t off = 0;
			while (off < sizeof data) {
				ssize_t w = write(p[1], data + off, sizeof data - off);
				if (w <= 0)
					_exit(0); /* the reader stopped */
				off += (size_t)w;
			}
			_exit(0);
		}
		close(p[1]);
		struct buf b;
		/* Full before the end is TOOBIG even when the end would have
		 * come next: hence max = size + 1 to read all of it. */
		buf_init(&b, over ? sizeof data : sizeof data + 1);
		int r = buf_read_fd(&b, p[0]);
		check(&b);
		if (over) {
			assert_int_equal(r, CAIRN_E_TOOBIG);
			assert_int_equal(b.len, sizeof data);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(b.len, sizeof data);
		}
		assert_memory_equal(b.data, data, b.len);
		close(p[0]);
		buf_release(&b);
		int st;
		waitpid(pid, &st, 0);
	}
	struct buf b;
	buf_init(&b, 10);
	assert_true(buf_read_fd(&b, -1) == -EBADF);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),        cmocka_unit_test(test_growth),
		cmocka_unit_test(test_cap),          cmocka_unit_test(test_addf),
		cmocka_unit_test(test_detach_reset), cmocka_unit_test(test_setlen),
		cmocka_unit_test(test_read_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
