/* The libcurl function table (curldl.h), filled once from dlopen(). */
#define CURLDL_NO_REDIRECT
#include "model/curldl.h"

#include "common/dl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Until curldl_load() succeeds, each pointer leads to a guard that names the
 * function and aborts (see the same in common/gitdl.c). */
static void unloaded(const char *name)
{
	fprintf(stderr, "cairn: bug: %s called before curldl_load()\n", name);
	abort();
}

#define CURLDL_GUARD(f)                                                                            \
	static void before_load_##f(void)                                                          \
	{                                                                                          \
		unloaded(#f);                                                                      \
	}
CURLDL_FUNCS(CURLDL_GUARD)
#undef CURLDL_GUARD

struct curldl_fns curldl_fns = {
#define CURLDL_INIT(f) .f = (__typeof__(f) *)before_load_##f,
	CURLDL_FUNCS(CURLDL_INIT)
#undef CURLDL_INIT
};

static struct dl_lib lib = {.soname = CURLDL_SONAME, .package = CURLDL_PACKAGE};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_result = CURLE_FAILED_INIT;

static void load(void)
{
	if (!dl_open(&lib))
		return;
	struct curldl_fns t = curldl_fns;
	void *p;
#define CURLDL_RESOLVE(f)                                                                          \
	if ((p = dl_sym(&lib, #f)))                                                                \
		t.f = (__typeof__(f) *)p;
	CURLDL_FUNCS(CURLDL_RESOLVE)
#undef CURLDL_RESOLVE
	if (lib.error[0])
		return;
	curldl_fns = t;
	init_result = curldl_fns.curl_global_init(CURL_GLOBAL_DEFAULT);
}

int curldl_load(struct cairn_err *err)
{
	int r;
	pthread_once(&once, load);
	if ((r = dl_status(&lib, err)) < 0)
		return r;
	if (init_result != CURLE_OK)
		return cairn_err_set(err, -ENOMEM, "", "cannot initialise libcurl: %s",
				     curldl_fns.curl_easy_strerror(init_result));
	return 0;
}
