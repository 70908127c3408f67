/* Loading a shared library on first use, with a message that says how to
 * get it when it is missing (dl.h). */
#include "common/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool dl_open(struct dl_lib *lib)
{
	lib->error[0] = '\0';
	lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (lib->handle)
		return true;
	const char *why = dlerror();
	size_t n = strlen(lib->soname);
	if (!why)
		why = "unknown error";
	/* dlerror() starts with the name we gave it: say it once. */
	else if (strncmp(why, lib->soname, n) == 0 && strncmp(why + n, ": ", 2) == 0)
		why += n + 2;
	snprintf(lib->error, sizeof lib->error, "cannot load %s: %s; install %s", lib->soname, why,
		 lib->package);
	return false;
}

void *dl_sym(struct dl_lib *lib, const char *name)
{
	if (!lib->handle)
		return NULL;
	void *p = dlsym(lib->handle, name);
	if (!p && !lib->error[0])
		snprintf(lib->error, sizeof lib->error,
			 "%s has no %s: it is not the version cairn was built for; install %s",
			 lib->soname, name, lib->package);
	return p;
}

int dl_status(const struct dl_lib *lib, struct cairn_err *err)
{
	if (lib->handle && !lib->error[0])
		return 0;
	return cairn_err_set(err, -ELIBACC, "", "%s",
			     lib->error[0] ? lib->error : "the library was not loaded");
}
