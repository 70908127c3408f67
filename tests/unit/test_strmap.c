/* strmap: agrees with a brute-force model through random puts and deletes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 3000

static void test_random_against_model(void **state)
{
	static intptr_t model[N]; /* 0 = absent, else value */
	struct strmap m;
	strmap_init(&m);
	srand(7);
	char key[32];
	for (int step = 0; step < 200000; step++) {
		int k = rand() % N;
		snprintf(key, sizeof key, "k/%d/x", k);
		if (rand() % 3) {
			intptr_t v = step + 1;
			void *old = strmap_put(&m, key, (void *)v);
			assert_int_equal((intptr_t)old, model[k]);
			model[k] = v;
		} else {
			void *old = strmap_del(&m, key);
			assert_int_equal((intptr_t)old, model[k]);
			model[k] = 0;
		}
	}
	size_t live = 0;
	for (int k = 0; k < N; k++) {
		snprintf(key, sizeof key, "k/%d/x", k);
		assert_int_equal((intptr_t)strmap_get(&m, key), model[k]);
		live += model[k] != 0;
	}
	assert_int_equal(strmap_len(&m), live);
	size_t it = 0, seen = 0;
	const char *kk;
	void *vv;
	while (strmap_next(&m, &it, &kk, &vv))
		seen++;
	assert_int_equal(seen, live);
	strmap_release(&m, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_against_model)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
