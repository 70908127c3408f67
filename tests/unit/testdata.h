/* Helpers shared by the unit tests that read their cases from tests/data/:
 * where the data is, reading a whole file, and the escapes case files use.
 * Header-only (static inline) so each test stays one source file. */
#ifndef CAIRN_TESTDATA_H
#define CAIRN_TESTDATA_H

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>

/* The data directory: $CAIRN_TEST_DATA, else tests/data (tests run from the
 * repository's root). */
static inline const char *testdata_dir(void)
{
	const char *dir = getenv("CAIRN_TEST_DATA");
	return dir && *dir ? dir : "tests/data";
}

/* Reads a whole file, NUL-terminated; NULL (and *len 0) when it cannot be
 * opened. The caller frees it. */
static inline char *testdata_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Decodes \n, \t and \\ in place; any other backslash stays. Returns the
 * decoded length. */
static inline size_t testdata_unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && (r[1] == 'n' || r[1] == 't' || r[1] == '\\')) {
			*w++ = r[1] == 'n' ? '\n' : r[1] == 't' ? '\t' : '\\';
			r++;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

#endif
