/* Shared libraries that cairn loads when it first needs them rather than at
 * exec: libgit2 (common/gitdl.h), libcurl (common/curldl.h) and libsystemd
 * (daemon/sdnotify.h). Linked, they made every cairn process, even
 * `cairn --version` or a git hook, pay for loading them and the ~50 libraries
 * they pull in (TLS, Kerberos, LDAP, ssh...): about 10-30 ms per exec. See
 * docs/design.md "Libraries loaded on first use".
 *
 * Each user keeps one struct dl_lib and a table of typed function pointers,
 * and fills them once (pthread_once) with dl_open() and dl_sym(). */
#ifndef CAIRN_DL_H
#define CAIRN_DL_H

#include "common/err.h"

#include <stdbool.h>

/* One library's loading state. soname and package are set by the user;
 * handle and error by dl_open() and dl_sym(). */
struct dl_lib {
	const char *soname;  /* what dlopen() is given: "libcurl.so.4" */
	const char *package; /* the Debian package that ships it: "libcurl4" */
	void *handle;        /* NULL until loaded, and when loading failed */
	char error[400];     /* why the library cannot be used; "" when it can */
};

/* dlopen()s lib->soname (RTLD_NOW | RTLD_LOCAL; never closed). Returns true
 * when it is loaded; otherwise lib->error says what failed and how to fix it
 * ("cannot load libcurl.so.4: cannot open shared object file: No such file
 * or directory; install libcurl4"). Call once per library (pthread_once):
 * it is not thread-safe on its own. */
bool dl_open(struct dl_lib *lib);

/* The address of symbol name in lib (loaded by dl_open()), or NULL; on the
 * first symbol missing, lib->error names it (the library is some other
 * version than the one cairn was built against). Same thread rules as
 * dl_open(). */
void *dl_sym(struct dl_lib *lib, const char *name);

/* 0 when lib is loaded with every symbol asked for; otherwise fills err
 * with lib->error and returns -ELIBACC. Any thread, once the loading is
 * done (after the pthread_once that did it). */
int dl_status(const struct dl_lib *lib, struct cairn_err *err);

#endif
