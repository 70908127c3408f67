/* libFuzzer target for memory_import() (`cairn import`): any bytes as a
 * memory file, into a fresh in-memory database. Besides not crashing or
 * leaking: the accounting holds (nothing is imported without a header), and
 * importing the same bytes again adds no session (a session already there
 * is skipped). memory_check_line() must agree with the import on the first
 * line. The seed corpus (fuzz/corpus/fuzz_memory_import/) holds valid and
 * broken files. */
#include "common/err.h"
#include "kb/kb.h"
#include "services/memory.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_memory_import: %s: %s\n", what, why);
	abort();
}

static int import(sqlite3 *db, struct kb *kb, const uint8_t *data, size_t size,
		  struct memory_stats *st)
{
	FILE *in = fmemopen((void *)data, size, "r");
	if (!in)
		die("fmemopen", "failed");
	struct cairn_err err;
	int r = memory_import(db, kb, in, NULL, st, NULL, NULL, &err);
	fclose(in);
	if (r == CAIRN_E_STORE)
		die("memory_import", err.msg);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	sqlite3 *db;
	struct kb *kb;
	struct cairn_err err;
	if (store_db_open(":memory:", false, &db, &err))
		die("store_db_open", err.msg);
	if (kb_open_db(db, 0, &kb, &err))
		die("kb_open_db", err.msg);
	struct memory_stats a, b;
	int r = import(db, kb, data, size, &a);
	if (r == CAIRN_E_INVALID && (a.sessions || a.rows || a.knowledge))
		die("accounting", "a refused file imported something");
	const uint8_t *nl = memchr(data, '\n', size);
	size_t first = nl ? (size_t)(nl - data) : size;
	if (r != CAIRN_E_INVALID && memory_check_line((const char *)data, first, &err) != 0 &&
	    first > 0)
		die("memory_check_line", "refused the header the import took");
	if (r != CAIRN_E_INVALID) {
		import(db, kb, data, size, &b);
		if (b.sessions)
			die("idempotence", "a second import added sessions");
	}
	kb_close(kb);
	sqlite3_close(db);
	return 0;
}
