/* libcurl, loaded on first use (common/dl.h says why): the model client
 * (model.c) is its only user, and most cairn processes never talk to a model
 * server. Include this instead of <curl/curl.h>: it includes <curl/curl.h>
 * for the types and turns each libcurl function model.c calls into a call
 * through a pointer declared with __typeof__ of the function, so the
 * compiler checks every call against libcurl's own prototype.
 *
 * One check is lost: with GCC, <curl/curl.h> wraps curl_easy_setopt() and
 * curl_easy_getinfo() in macros (typecheck-gcc.h) that check the type of
 * the option's value; those macros end in a direct call of the function,
 * which cairn no longer links, so they are replaced here by the plain
 * pointer call. model.c passes each value with its exact type (long,
 * curl_off_t, a pointer) as curl_easy_setopt(3) asks.
 *
 * To call another libcurl function, add it to CURLDL_FUNCS and to the
 * #define list below (the build fails when the lists disagree). */
#ifndef CAIRN_CURLDL_H
#define CAIRN_CURLDL_H

#include "common/err.h"

#include <curl/curl.h>

/* libcurl's soname since 7.16 (2006); Debian's package libcurl4. */
#define CURLDL_SONAME "libcurl.so.4"
#define CURLDL_PACKAGE "libcurl4"

#define CURLDL_FUNCS(X)                                                                            \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_init)                                                                          \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_strerror)                                                                      \
	X(curl_free)                                                                               \
	X(curl_global_init)                                                                        \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)                                                                     \
	X(curl_url)                                                                                \
	X(curl_url_cleanup)                                                                        \
	X(curl_url_get)                                                                            \
	X(curl_url_set)

/* One pointer per function, named as the function. (No typecheck-gcc
 * macro is in force yet where this is expanded: a macro name not followed
 * by '(' is left alone.) */
struct curldl_fns {
#define CURLDL_MEMBER(f) __typeof__(f) *f;
	CURLDL_FUNCS(CURLDL_MEMBER)
#undef CURLDL_MEMBER
};

/* Filled by curldl_load(); read-only afterwards. */
extern struct curldl_fns curldl_fns;

/* Loads libcurl (CURLDL_SONAME), resolves CURLDL_FUNCS and calls
 * curl_global_init(CURL_GLOBAL_DEFAULT), once per process; later calls
 * return the first call's outcome. Returns 0, or -ELIBACC (the library or
 * one of its functions is missing) or -ENOMEM (curl_global_init() failed)
 * with err (if not NULL) saying what and, for a missing library, which
 * package to install. Any thread; blocks while another thread loads. */
int curldl_load(struct cairn_err *err);

#ifndef CURLDL_NO_REDIRECT
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_cleanup (*curldl_fns.curl_easy_cleanup)
#define curl_easy_getinfo (*curldl_fns.curl_easy_getinfo)
#define curl_easy_init (*curldl_fns.curl_easy_init)
#define curl_easy_perform (*curldl_fns.curl_easy_perform)
#define curl_easy_setopt (*curldl_fns.curl_easy_setopt)
#define curl_easy_strerror (*curldl_fns.curl_easy_strerror)
#define curl_free (*curldl_fns.curl_free)
#define curl_global_init (*curldl_fns.curl_global_init)
#define curl_slist_append (*curldl_fns.curl_slist_append)
#define curl_slist_free_all (*curldl_fns.curl_slist_free_all)
#define curl_url (*curldl_fns.curl_url)
#define curl_url_cleanup (*curldl_fns.curl_url_cleanup)
#define curl_url_get (*curldl_fns.curl_url_get)
#define curl_url_set (*curldl_fns.curl_url_set)
#endif

#endif
