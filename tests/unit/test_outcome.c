/* The outcome types: the C predicates and the SQL lists say the same thing. */
#include "event/outcome.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Calls fn for every quoted type in an SQL list "('a','b')"; returns how many. */
static int each_in_sql(const char *sql, bool (*pred)(const char *), bool want)
{
	int n = 0;
	for (const char *p = strchr(sql, '\''); p; p = strchr(p + 1, '\'')) {
		const char *end = strchr(p + 1, '\'');
		assert_non_null(end);
		char type[64];
		size_t len = (size_t)(end - p - 1);
		assert_true(len < sizeof type);
		memcpy(type, p + 1, len);
		type[len] = '\0';
		if (pred(type) != want)
			fail_msg("'%s' from the SQL list: predicate says %d", type, !want);
		n++;
		p = end;
	}
	return n;
}

static void test_sql_and_c_agree(void **state)
{
	assert_int_equal(each_in_sql(OUTCOME_FAILED_SQL, outcome_is_failure, true), 3);
	assert_int_equal(each_in_sql(OUTCOME_PASSED_SQL, outcome_is_pass, true), 3);
	assert_int_equal(each_in_sql(OUTCOME_FAILED_SQL, outcome_is_pass, false), 3);
	assert_int_equal(each_in_sql(OUTCOME_PASSED_SQL, outcome_is_failure, false), 3);
}

static void test_other_types(void **state)
{
	static const char *const no[] = {"build.failedx",  "build",         "failed", "lint.failed",
					 "build.failed.x", "triage.report", ""};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		assert_false(outcome_is_failure(no[i]));
		assert_false(outcome_is_pass(no[i]));
	}
	assert_false(outcome_is_failure(NULL));
	assert_false(outcome_is_pass(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sql_and_c_agree),
		cmocka_unit_test(test_other_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
