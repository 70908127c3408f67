/* libFuzzer target for `cairn doctor` (src/store/recover.c): any bytes as a
 * database file are checked and salvaged without a crash, a hang or a leak;
 * when the salvage reports success, the new file checks clean and its
 * high-water mark is at least every seq it holds. The seed corpus holds a
 * small cairn database (page size 512) for the fuzzer to damage. */
#include "common/log.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[64];
	if (!*dir) {
		snprintf(dir, sizeof dir, "/tmp/cairn-fuzz-recover-%d", (int)getpid());
		log_set_level(LOG_ERROR);
	}
	char in[128], out[128], cmd[160];
	mkdir(dir, 0700);
	snprintf(in, sizeof in, "%s/in.db", dir);
	snprintf(out, sizeof out, "%s/out.db", dir);
	unlink(out);
	FILE *f = fopen(in, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);

	struct store_check chk;
	struct cairn_err err;
	store_check_file(in, &chk, &err);
	struct store_recover_report rep;
	if (store_recover(in, out, &rep, &err) == 0) {
		struct store_check after;
		if (store_check_file(out, &after, &err) || !after.ok)
			abort();
		if (after.events > 0 && after.last_seq > after.high_water)
			abort();
		if (rep.n_tables == 0 || rep.tables[0].rows != after.events)
			abort();
	}
	char *sfx[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(cmd, sizeof cmd, "%s%s", in, sfx[i]);
		unlink(cmd);
		snprintf(cmd, sizeof cmd, "%s%s", out, sfx[i]);
		unlink(cmd);
	}
	return 0;
}
