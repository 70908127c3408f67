/* `cairn doctor`: checks the data directory, the database and the spool,
 * and with --recover salvages a damaged database into a new file. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"
#include "common/log.h"
#include "common/spool.h"
#include "common/xalloc.h"
#include "store/queries.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int problems;

static void line(bool ok, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void line(bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;
	printf("%-5s %-10s ", ok ? "ok" : "FAIL", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	problems += !ok;
}

static void check_dir(const char *what, const char *dir)
{
	struct stat sb;
	if (lstat(dir, &sb) < 0) {
		line(errno == ENOENT, what, "%s: %s", dir,
		     errno == ENOENT ? "not there yet (made at the daemon's first start)"
				     : strerror(errno));
		return;
	}
	if (S_ISLNK(sb.st_mode) || !S_ISDIR(sb.st_mode))
		line(false, what, "%s is %s; the daemon refuses it", dir,
		     S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a directory");
	else if (sb.st_uid != getuid())
		line(false, what, "%s belongs to uid %u, not to you; the daemon refuses it", dir,
		     (unsigned)sb.st_uid);
	else if (sb.st_mode & 077)
		line(false, what, "%s is open to group or others (mode %04o); fix: chmod 700 %s",
		     dir, (unsigned)(sb.st_mode & 07777), dir);
	else
		line(true, what, "%s (private)", dir);
}

/* Returns the lock's fd when no daemon holds it (the caller keeps it while
 * it works), -1 when one does (its pid in *pid), or -2 when there is no
 * lock file. */
static int try_lock(const struct config *cfg, char *pid, size_t pidlen)
{
	int fd = open(cfg->lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -2;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	ssize_t n = pread(fd, pid, pidlen - 1, 0);
	pid[n > 0 ? n : 0] = '\0';
	pid[strcspn(pid, "\n")] = '\0';
	close(fd);
	return -1;
}

static void check_spool(const struct config *cfg)
{
	char *dir = xasprintf("%s/spool", cfg->data_dir);
	char **list;
	size_t waiting = 0, bad = 0;
	if (spool_list(dir, &list) == 0) {
		for (char **p = list; *p; p++)
			waiting++;
		spool_list_free(list);
	}
	/* Files the daemon set aside (not an event, too large, not a regular
	 * file) are kept as NAME.bad for a person to look at. */
	DIR *dp = opendir(dir);
	if (dp) {
		struct dirent *de;
		while ((de = readdir(dp))) {
			size_t n = strlen(de->d_name);
			bad += n > 4 && strcmp(de->d_name + n - 4, ".bad") == 0;
		}
		closedir(dp);
	}
	if (bad)
		line(false, "spool",
		     "%zu waiting, %zu set aside as *.bad in %s: look at them, then "
		     "remove them",
		     waiting, bad, dir);
	else
		line(true, "spool", "%zu event%s waiting for the daemon", waiting,
		     waiting == 1 ? "" : "s");
	free(dir);
}

/* What the salvage lost: the holes are counted, the first five shown. */
struct lost {
	int64_t events;
	int shown;
};

static int print_gap(void *ctx, int64_t first, int64_t last)
{
	struct lost *l = ctx;
	l->events += last - first + 1;
	if (l->shown++ < 5)
		printf("  lost       seq %lld..%lld\n", (long long)first, (long long)last);
	return 0;
}

static void print_recover_report(const struct store_recover_report *rep, const char *kept,
				 const char *db_path)
{
	for (size_t i = 0; i < rep->n_tables; i++) {
		const struct store_recover_table *t = &rep->tables[i];
		if (t->expected > t->rows)
			printf("  %-10s %lld of %lld rows salvaged (%lld unreadable)\n", t->table,
			       (long long)t->rows, (long long)t->expected,
			       (long long)(t->expected - t->rows));
		else
			printf("  %-10s %lld rows salvaged%s\n", t->table, (long long)t->rows,
			       t->partial ? " (the table could not be read to its end)" : "");
	}
	/* What is missing from the log: holes between salvaged seqs, and the
	 * tail up to the high-water mark. */
	sqlite3 *db;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		struct lost lost = {0};
		(void)store_q_seq_gaps(db, print_gap, &lost);
		int64_t last = rep->tables[0].max_key;
		if (rep->high_water > last) {
			lost.events += rep->high_water - last;
			printf("  lost       seq %lld..%lld (the end of the log)\n",
			       (long long)last + 1, (long long)rep->high_water);
		}
		if (lost.events)
			printf("  %lld events could not be read; sequence numbers continue after "
			       "%lld\n",
			       (long long)lost.events, (long long)rep->high_water);
		sqlite3_close(db);
	}
	printf("the damaged file is kept as %s\n", kept);
}

static int do_recover(const struct config *cfg)
{
	char pid[32] = "";
	int lock = try_lock(cfg, pid, sizeof pid);
	if (lock == -1) {
		fprintf(stderr,
			"cairn: a daemon is running (pid %s); stop it first (it must not write the "
			"database while it is rebuilt), then run 'cairn doctor --recover' again\n",
			*pid ? pid : "unknown");
		return EXIT_REFUSED;
	}
	struct store_check chk;
	struct cairn_err err;
	struct stat sb;
	int rc = EXIT_OK;
	if (stat(cfg->db_path, &sb) < 0) {
		fprintf(stderr, "cairn: no database at %s; nothing to recover\n", cfg->db_path);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (store_check_file(cfg->db_path, &chk, &err) == 0 && chk.ok) {
		printf("the database %s is healthy; nothing to recover\n", cfg->db_path);
		goto out;
	}
	char stamp[32];
	time_t now = time(NULL);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", gmtime(&now));
	char *fresh = xasprintf("%s.recovered-%s", cfg->db_path, stamp);
	char *kept = xasprintf("%s.damaged-%s", cfg->db_path, stamp);
	struct store_recover_report rep;
	printf("salvaging %s ...\n", cfg->db_path);
	log_set_level(LOG_WARN); /* the new file's migrations are not news */
	if (store_recover(cfg->db_path, fresh, &rep, &err)) {
		fprintf(stderr, "cairn: recovery failed: %s; the database was left as it was\n",
			err.msg);
		unlink(fresh);
		rc = EXIT_IO;
		goto out_free;
	}
	/* Swap the files: the damaged one (with its WAL) is kept aside. */
	static const char *const sfx[] = {"-wal", "-shm"};
	if (rename(cfg->db_path, kept) < 0) {
		fprintf(stderr, "cairn: cannot move %s aside: %s; the salvaged copy is %s\n",
			cfg->db_path, strerror(errno), fresh);
		rc = EXIT_IO;
		goto out_free;
	}
	for (size_t i = 0; i < 2; i++) {
		char *a = xasprintf("%s%s", cfg->db_path, sfx[i]);
		char *b = xasprintf("%s%s", kept, sfx[i]);
		if (rename(a, b) < 0 && errno != ENOENT)
			fprintf(stderr, "cairn: warning: cannot move %s aside: %s\n", a,
				strerror(errno));
		free(a);
		free(b);
	}
	if (rename(fresh, cfg->db_path) < 0) {
		fprintf(stderr, "cairn: cannot put the salvaged copy in place: %s; it is %s\n",
			strerror(errno), fresh);
		rc = EXIT_IO;
		goto out_free;
	}
	printf("recovered into %s:\n", cfg->db_path);
	print_recover_report(&rep, kept, cfg->db_path);
	if (store_check_file(cfg->db_path, &chk, &err) || !chk.ok) {
		fprintf(stderr, "cairn: the salvaged database does not check clean (%s)\n",
			chk.integrity);
		rc = EXIT_IO;
	} else {
		printf("integrity ok; the daemon can start again\n");
	}
out_free:
	free(fresh);
	free(kept);
out:
	if (lock >= 0)
		close(lock);
	return rc;
}

const struct cli_cmd cli_doctor = {
	"doctor", "[--recover]",
	"Checks cairn's directories (private, yours), the database (a full integrity check,\n"
	"the log's seq range and high-water mark, the knowledge base) and the spool. Safe\n"
	"while the daemon runs. Exit status 1 when something is wrong, with the fix.\n"
	"  --recover   with the daemon stopped: salvage every readable row of a damaged\n"
	"              database into a new file, put it in place, keep the damaged one as\n"
	"              cairn.db.damaged-TIME, and say which seqs were lost. Seq numbers\n"
	"              continue after the highest one the damaged file still knew.\n",
	cmd_doctor, false};

static const struct option doctor_opts[] = {{"recover", no_argument, NULL, 'r'},
					    {NULL, 0, NULL, 0}};

int cmd_doctor(int argc, char **argv, const struct config *cfg)
{
	bool recover = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", doctor_opts, NULL)) != -1) {
		switch (c) {
		case 'r': recover = true; break;
		default: cli_usage(stderr, "doctor"); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_usage(stderr, "doctor");
		return EXIT_USAGE;
	}
	if (recover)
		return do_recover(cfg);

	problems = 0;
	check_dir("runtime", cfg->runtime_dir);
	check_dir("data", cfg->data_dir);
	char pid[32] = "";
	int lock = try_lock(cfg, pid, sizeof pid);
	if (lock >= 0)
		close(lock);
	line(true, "daemon", lock == -1 ? "running (pid %s)" : "not running%s",
	     lock == -1 ? pid : "");
	struct stat sb;
	if (stat(cfg->db_path, &sb) < 0) {
		line(true, "database", "%s: not there yet (made at the daemon's first start)",
		     cfg->db_path);
	} else {
		struct store_check chk;
		struct cairn_err err;
		if (store_check_file(cfg->db_path, &chk, &err)) {
			line(false, "database", "%s", err.msg);
		} else if (!chk.ok) {
			line(false, "database", "%s is damaged: %s", cfg->db_path, chk.integrity);
			printf("      fix: stop the daemon, then run 'cairn doctor --recover' (it "
			       "keeps "
			       "the damaged file and salvages every readable row)\n");
		} else {
			line(true, "database", "%s: integrity ok, schema %lld", cfg->db_path,
			     (long long)chk.schema);
			line(true, "events", "%lld (seq %lld..%lld), next seq after %lld%s",
			     (long long)chk.events, (long long)chk.first_seq,
			     (long long)chk.last_seq,
			     (long long)(chk.high_water > chk.last_seq ? chk.high_water
								       : chk.last_seq),
			     chk.gaps ? "; the log has holes (events lost in an earlier recovery)"
				      : "");
			line(true, "knowledge", "%lld entries", (long long)chk.knowledge);
		}
	}
	check_spool(cfg);
	if (problems)
		printf("%d problem%s found\n", problems, problems == 1 ? "" : "s");
	return problems ? EXIT_REFUSED : EXIT_OK;
}
