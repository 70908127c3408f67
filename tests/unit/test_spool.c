/* The spool: what spool_list() returns and what spool_read() refuses. A FIFO
 * under a spool file's name used to block the reader in open() for good;
 * each test runs under alarm() so that a regression fails instead of hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/spool.h"
#include "common/ulid.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_ALARM_S 10

struct fixture {
	char dir[64];
	char *regular; /* written by spool_write() */
	char *fifo;
	char *symlink; /* to the regular file */
	char *subdir;
};

/* A spool path with a fresh ULID name. */
static char *spool_name(const char *dir)
{
	char id[ULID_LEN + 1];
	ulid_new(id);
	return xasprintf("%s/%s.json", dir, id);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/cairn-test-spool-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (spool_write(f->dir, "{\"type\":\"a.b\"}", 14) != 0)
		return -1;
	char **list;
	if (spool_list(f->dir, &list) != 0 || !list[0])
		return -1;
	f->regular = xstrdup(list[0]);
	spool_list_free(list);
	f->fifo = spool_name(f->dir);
	f->symlink = spool_name(f->dir);
	f->subdir = spool_name(f->dir);
	if (mkfifo(f->fifo, 0600) < 0 || symlink(f->regular, f->symlink) < 0 ||
	    mkdir(f->subdir, 0700) < 0)
		return -1;
	*state = f;
	alarm(TEST_ALARM_S);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	alarm(0);
	unlink(f->regular);
	unlink(f->fifo);
	unlink(f->symlink);
	rmdir(f->subdir);
	rmdir(f->dir);
	free(f->regular);
	free(f->fifo);
	free(f->symlink);
	free(f->subdir);
	free(f);
	return 0;
}

static bool listed(char **list, const char *path)
{
	for (char **p = list; *p; p++)
		if (strcmp(*p, path) == 0)
			return true;
	return false;
}

static void test_list_skips_symlinks_and_directories(void **state)
{
	struct fixture *f = *state;
	char **list;
	assert_int_equal(spool_list(f->dir, &list), 0);
	assert_true(listed(list, f->regular));
	/* Listed so that the daemon sees it, fails to read it and sets it aside. */
	assert_true(listed(list, f->fifo));
	assert_false(listed(list, f->symlink));
	assert_false(listed(list, f->subdir));
	size_t n = 0;
	while (list[n])
		n++;
	assert_int_equal(n, 2);
	spool_list_free(list);
}

static void test_read_regular_file(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len;
	assert_int_equal(spool_read(f->regular, 1024, &buf, &len), 0);
	assert_int_equal(len, 14);
	assert_string_equal(buf, "{\"type\":\"a.b\"}");
	free(buf);
	assert_int_equal(spool_read(f->regular, 10, &buf, &len), CAIRN_E_TOOBIG);
	assert_null(buf);
}

static void test_read_refuses_a_fifo_without_blocking(void **state)
{
	struct fixture *f = *state;
	char *buf = (char *)1;
	size_t len = 1;
	/* Before the fix this blocked in open() until a writer came. */
	assert_int_equal(spool_read(f->fifo, 1024, &buf, &len), CAIRN_E_NOTREG);
	assert_null(buf);
	assert_int_equal(len, 0);
}

static void test_read_refuses_a_symlink(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len;
	/* Even one to a valid spool file: a link may point anywhere. */
	assert_int_equal(spool_read(f->symlink, 1024, &buf, &len), CAIRN_E_NOTREG);
	assert_null(buf);
}

static void test_read_refuses_a_directory(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len;
	assert_int_equal(spool_read(f->subdir, 1024, &buf, &len), CAIRN_E_NOTREG);
	assert_null(buf);
}

static void test_missing_file_is_enoent(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len;
	char *gone = spool_name(f->dir);
	assert_int_equal(spool_read(gone, 1024, &buf, &len), -ENOENT);
	free(gone);
}

static void test_err_str_explains_notreg(void **state)
{
	assert_non_null(strstr(err_str(CAIRN_E_NOTREG), "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_skips_symlinks_and_directories, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_regular_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_a_fifo_without_blocking, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_a_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_a_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_is_enoent, setup, teardown),
		cmocka_unit_test(test_err_str_explains_notreg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
