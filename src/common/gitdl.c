/* The libgit2 function table (gitdl.h), filled once from dlopen(). */
#define GITDL_NO_REDIRECT
#include "common/gitdl.h"

#include "common/dl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Until gitdl_load() succeeds, each pointer leads to a guard that names the
 * function and aborts: a libgit2 call on a path that never loaded libgit2
 * is cairn's bug, and this says which call it was. (The guard's type is not
 * the function's; it takes no arguments and never returns, so calling it
 * through the function's pointer is harmless.) */
static void unloaded(const char *name)
{
	fprintf(stderr, "cairn: bug: %s called before gitdl_load()\n", name);
	abort();
}

#define GITDL_GUARD(f)                                                                             \
	static void before_load_##f(void)                                                          \
	{                                                                                          \
		unloaded(#f);                                                                      \
	}
GITDL_FUNCS(GITDL_GUARD)
#undef GITDL_GUARD

struct gitdl_fns gitdl_fns = {
#define GITDL_INIT(f) .f = (__typeof__(f) *)before_load_##f,
	GITDL_FUNCS(GITDL_INIT)
#undef GITDL_INIT
};

static struct dl_lib lib = {.soname = GITDL_SONAME, .package = GITDL_PACKAGE};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	if (!dl_open(&lib))
		return;
	/* All or nothing: the table changes only once every symbol is found. */
	struct gitdl_fns t = gitdl_fns;
	void *p;
#define GITDL_RESOLVE(f)                                                                           \
	if ((p = dl_sym(&lib, #f)))                                                                \
		t.f = (__typeof__(f) *)p;
	GITDL_FUNCS(GITDL_RESOLVE)
#undef GITDL_RESOLVE
	if (!lib.error[0])
		gitdl_fns = t;
}

int gitdl_load(struct cairn_err *err)
{
	pthread_once(&once, load);
	return dl_status(&lib, err);
}
