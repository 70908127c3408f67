/* libFuzzer target for the snapshot files `cairn run` writes and the triage
 * service reads (src/services/snapshot.c): any bytes are parsed without a
 * crash or a read past the end; every file reported has a NUL-free,
 * newline-free path and a content within the caps; and a snapshot rebuilt
 * from what was reported parses to the same files. */
#include "services/triage.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct acc {
	char *buf;
	size_t len, cap;
	size_t files;
};

static void put(struct acc *a, const void *p, size_t n)
{
	if (a->len + n + 1 > a->cap) {
		a->cap = (a->len + n + 1) * 2;
		a->buf = realloc(a->buf, a->cap);
		if (!a->buf)
			abort();
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static int collect(void *ctx, const char *path, const char *content, size_t len)
{
	struct acc *a = ctx;
	size_t pl = strlen(path);
	if (pl == 0 || memchr(path, '\n', pl) || len > TRIAGE_SNAPSHOT_MAX)
		abort();
	char head[64];
	int hl = snprintf(head, sizeof head, "F %zu %lld\n", pl, content ? (long long)len : -1LL);
	put(a, head, (size_t)hl);
	put(a, path, pl);
	if (content)
		put(a, content, len);
	put(a, "\n", 1);
	a->files++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acc a = {0};
	put(&a, "cairn-snapshot 1\n", 17);
	if (triage_snapshot_parse((const char *)data, size, collect, &a) == 0) {
		/* What was accepted rebuilds to bytes that parse the same way. */
		struct acc b = {0};
		put(&b, "cairn-snapshot 1\n", 17);
		if (triage_snapshot_parse(a.buf, a.len, collect, &b) != 0 || b.files != a.files ||
		    b.len != a.len || memcmp(a.buf, b.buf, a.len) != 0)
			abort();
		free(b.buf);
	}
	free(a.buf);
	return 0;
}
