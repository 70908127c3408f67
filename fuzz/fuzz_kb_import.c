/* libFuzzer target for kb_import(): any bytes as an import file, into an
 * in-memory database. Besides not crashing or leaking, the import must keep
 * its accounting straight and be a fixed point: exporting what was imported
 * and importing that export again reports every line unchanged and none bad
 * (so whatever an import accepts, an export can carry). The seed corpus
 * (fuzz/corpus/fuzz_kb_import/) holds valid and broken lines. */
#include "common/err.h"
#include "kb/kb.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;
static struct kb *kb;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_kb_import: %s: %s\n", what, why);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cairn_err err;
	if (!kb) {
		if (store_db_open(":memory:", false, &db, &err))
			die("store_db_open", err.msg);
		if (kb_open_db(db, 0, &kb, &err))
			die("kb_open_db", err.msg);
	}
	if (size == 0)
		return 0;
	FILE *in = fmemopen((void *)data, size, "r");
	if (!in)
		return 0;
	struct kb_import_stats st;
	int r = kb_import(kb, in, &st, NULL, NULL);
	fclose(in);
	if (r != 0 && r != CAIRN_E_PARSE)
		die("kb_import", kb_errmsg(kb));
	if ((r == 0) != (st.bad == 0) ||
	    st.imported + st.updated + st.unchanged + st.duplicates + st.bad > st.lines)
		die("kb_import", "inconsistent counts");

	char *buf = NULL;
	size_t len = 0, n = 0;
	FILE *out = open_memstream(&buf, &len);
	if (kb_export(kb, out, NULL, &n))
		die("kb_export", kb_errmsg(kb));
	fclose(out);
	if (n != st.imported)
		die("kb_export", "exported a different number of entries than were imported");
	if (len) {
		in = fmemopen(buf, len, "r");
		struct kb_import_stats again;
		r = kb_import(kb, in, &again, NULL, NULL);
		fclose(in);
		if (r || again.bad || again.unchanged != n || again.imported || again.updated) {
			fprintf(stderr, "export:\n%.*s\n", (int)(len > 4000 ? 4000 : len), buf);
			die("re-import of the export", r ? kb_errmsg(kb) : "it changed something");
		}
	}
	free(buf);
	if (sqlite3_exec(db, "DELETE FROM knowledge", NULL, NULL, NULL) != SQLITE_OK)
		die("reset", sqlite3_errmsg(db));
	return 0;
}
