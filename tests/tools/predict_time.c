/* Times predict_files(), the query behind `cairn predict files`, in process:
 * for bench/predict/files.py, which runs it on the model the daemon learned
 * from a whole history. Reads one given path per line from standard input,
 * runs the query (limit 10) for each on its own, and prints one line per
 * query: "US PATH N" (microseconds, the given path, the suggestions). The
 * first query is run twice and timed the second time, so that the page
 * cache and SQLite's schema parse are warm as in a running daemon's host.
 * Usage: predict_time DB PROJECT < GIVEN */
#include "common/clock.h"
#include "common/err.h"
#include "services/predict.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: predict_time DB PROJECT < GIVEN\n");
		return 2;
	}
	sqlite3 *db;
	struct cairn_err err;
	if (store_db_open(argv[1], true, &db, &err)) {
		fprintf(stderr, "predict_time: cannot open '%s': %s\n", argv[1], err.msg);
		return 1;
	}
	char line[4096];
	bool warm = false;
	int rc = 0;
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		const char *given[] = {line};
		struct predict_item *v;
		size_t n;
		if (!warm) {
			if (predict_files(db, argv[2], given, 1, 10, &v, &n, &err) == 0)
				predict_items_free(v, n);
			warm = true;
		}
		uint64_t t0 = clock_mono_ns();
		if (predict_files(db, argv[2], given, 1, 10, &v, &n, &err)) {
			fprintf(stderr, "predict_time: %s\n", err.msg);
			rc = 1;
			break;
		}
		uint64_t us = (clock_mono_ns() - t0) / 1000;
		printf("%llu %s %zu\n", (unsigned long long)us, line, n);
		predict_items_free(v, n);
	}
	sqlite3_close(db);
	return rc;
}
