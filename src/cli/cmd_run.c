/* cairn run: run a build or test command as the user would, and log it
 * (build.started, build.passed|failed; test.* for test runners, and for
 * make test and the like when their output shows one) with its git state,
 * duration, captured output and extracted diagnostics. */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/publish.h"
#include "cli/runhint.h"
#include "cli/runlog.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/gitdl.h"
#include "common/io.h"
#include "common/ulid.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "kb/redact.h"
#include "services/triage.h"
#include "sources/diag.h"
#include "sources/gitinfo.h"
#include "sources/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIRTY 200
#define MAX_DIAGS 200
#define DIAG_PASSED_MAX_BYTES (1024 * 1024)

/* Appends s to buf, single-quoted for a POSIX shell when it needs quoting. */
static void append_quoted(char **buf, size_t *len, const char *s)
{
	bool plain = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "-_./=:,+@%",
			    *p))
			plain = false;
	size_t n = strlen(s);
	*buf = xreallocarray(*buf, *len + 4 * n + 4, 1);
	char *o = *buf + *len;
	if (plain) {
		memcpy(o, s, n);
		o += n;
	} else {
		*o++ = '\'';
		for (const char *p = s; *p; p++) {
			if (*p == '\'') {
				memcpy(o, "'\\''", 4);
				o += 4;
			} else {
				*o++ = *p;
			}
		}
		*o++ = '\'';
	}
	*o = '\0';
	*len = (size_t)(o - *buf);
}

static char *command_line(char **argv)
{
	char *buf = xstrdup("");
	size_t len = 0;
	for (int i = 0; argv[i]; i++) {
		if (i) {
			buf = xreallocarray(buf, len + 2, 1);
			buf[len++] = ' ';
			buf[len] = '\0';
		}
		append_quoted(&buf, &len, argv[i]);
	}
	return buf;
}

/* "make -j4 all" -> "make all"; "npm test" -> "npm test"; "./build.sh" ->
 * "build.sh": the program's name and its first word that is not an option,
 * an assignment or a path. */
static char *derive_target(char **argv)
{
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	for (int i = 1; argv[i]; i++) {
		const char *a = argv[i];
		if (a[0] == '-' || strchr(a, '=') || strchr(a, '/') || strlen(a) > 64)
			continue;
		if ((strcmp(base, "python3") == 0 || strcmp(base, "python") == 0) && i == 1 &&
		    strcmp(a, "-m") != 0)
			break;
		return xasprintf("%s %s", base, a);
	}
	return xstrdup(base);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps the newest `keep` captured outputs in dir (names are ULIDs). */
static void prune_runs(const char *dir, size_t keep)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t n = 0, cap = 64;
	char **names = xcalloc(cap, sizeof *names);
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l != ULID_LEN + 4 || strcmp(de->d_name + ULID_LEN, ".log"))
			continue;
		if (n == cap) {
			cap *= 2;
			names = xreallocarray(names, cap, sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i + keep < n) {
			char *p = xasprintf("%s/%s", dir, names[i]);
			unlink(p);
			/* and the failure's snapshot, if it has one */
			strcpy(p + strlen(p) - 4, ".snap");
			unlink(p);
			free(p);
		}
		free(names[i]);
	}
	free(names);
}

/* Subscribes to triage reports before the failure is published, so the
 * one that answers it cannot be missed. Quiet: no daemon, no hint. */
static int triage_watch_start(struct client *cl, const struct config *cfg)
{
	if (client_connect_quiet(cl, cfg))
		return -1;
	json_t *req = json_pack("{s:s,s:s,s:s}", "op", "sub", "sub", "triage", "pattern",
				"triage.report");
	json_t *reply = NULL;
	if (client_request(cl, req, &reply) || !json_is_true(json_object_get(reply, "ok"))) {
		json_decref(reply);
		client_close(cl);
		return -1;
	}
	json_decref(reply);
	return 0;
}

/* The width of the terminal on fd: COLUMNS when it holds a number (as git
 * and ls take it), else the terminal's own, else 80. */
static size_t term_columns(int fd)
{
	const char *c = getenv("COLUMNS");
	char *end = NULL;
	long v = c && *c ? strtol(c, &end, 10) : 0;
	if (end && *end == '\0' && v > 0 && v < 10000)
		return (size_t)v;
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Waits up to timeout_ms for the report on failure id and prints its hint
 * (src/cli/runhint.h: one line fitted to the terminal, then where to read
 * more) on stderr; first a newline when the command's output did not end
 * with one (at_line_start false), so the hint starts a line of its own. */
static void triage_watch_finish(struct client *cl, const char *id, int timeout_ms,
				bool at_line_start)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline)
			break;
		json_t *m = NULL;
		if (client_read(cl, &m, (int)((deadline - now) / 1000000) + 1))
			break;
		const json_t *ev = json_object_get(m, "event");
		const char *corr = json_string_value(json_object_get(ev, "correlationid"));
		if (corr && strcmp(corr, id) == 0) {
			char *line, *pointer;
			runhint_format(json_object_get(ev, "data"), term_columns(STDERR_FILENO),
				       &line, &pointer);
			fprintf(stderr, "%s%s\n%s\n", at_line_start ? "" : "\n", line, pointer);
			free(line);
			free(pointer);
			json_decref(m);
			break;
		}
		json_decref(m);
	}
	client_close(cl);
}

/* Makes <data_dir>/runs (and the directories above it) and returns its
 * path, malloc'd. */
static char *runs_dir(const struct config *cfg)
{
	char *dir = xasprintf("%s/runs", cfg->data_dir);
	(void)io_mkdirs(dir, 0700); /* a failure shows when the log is opened */
	return dir;
}

/* An unnamed file in <data_dir>/runs for the run's log (O_TMPFILE), opened
 * before the command so that the log's head is written while the command
 * runs (cli/runlog.h); save_output() gives it its name. -1 where the file
 * system cannot make one: the log is then written after the command. */
static int run_log_open(const struct config *cfg)
{
	char *dir = runs_dir(cfg);
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	free(dir);
	return fd;
}

/* Saves the captured output as <data_dir>/runs/<id>.log, with secrets
 * redacted (a token the command printed stays on the user's terminal, not
 * on disk); returns its path (malloc'd) or NULL. Redaction goes line by
 * line in linear time, about 0.1 s per MiB of output on one core: rl
 * spreads it over the CPUs, and has redacted the capture's head while the
 * command ran (cli/runlog.h), into fd when that is run_log_open()'s file
 * (-1: none), which is then linked under the log's name. */
static char *save_output(const struct config *cfg, const char *id, struct runlog *rl,
			 const char *raw, size_t raw_len, int fd)
{
	char *dir = runs_dir(cfg);
	char *path = xasprintf("%s/%s.log", dir, id);
	size_t len;
	bool ok = false;
	if (fd >= 0 && runlog_save(rl, raw, raw_len, fd, &len) == 0) {
		/* An O_TMPFILE file is linked through /proc (linkat() with
		 * AT_EMPTY_PATH needs a capability). */
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
		ok = linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0;
	}
	if (!ok) {
		/* No unnamed file, or it could not be written or linked:
		 * the log again, into a file of its own. */
		char *log = runlog_redact(rl, raw, raw_len, &len);
		int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ok = out >= 0 && io_write_all(out, log, len) == 0;
		if (out >= 0)
			close(out);
		if (!ok)
			unlink(path);
		free(log);
	}
	if (!ok) {
		free(path);
		path = NULL;
	}
	prune_runs(dir, cfg->runs_keep);
	free(dir);
	return path;
}

/* The start of a run, logged while the command runs: reading the git state
 * (libgit2 loads, then walks the work tree's status) and publishing
 * build.started take a few to tens of milliseconds that the command need
 * not wait for. The main thread touches nothing here, data included, until
 * it joins. The state is read as the command starts, not before: a file the
 * command writes in its first moments may be in the dirty list. */
struct started {
	/* In, set before the thread starts. */
	const struct config *cfg;
	const char *cwd, *kind, *target;
	json_t *data; /* the run's data (a reference the thread may change) */
	char id[ULID_LEN + 1];
	/* Out, read after the join. */
	struct gitinfo gi;
	bool in_repo;
	char *subject;        /* the target, redacted */
	char git_error[512];  /* why libgit2 cannot be loaded, or "" */
	uint64_t git_load_ns; /* loading libgit2 */
	uint64_t git_ns;      /* loading libgit2 and reading the state */
	uint64_t connect_ns;  /* connecting to the daemon */
	uint64_t publish_ns;  /* all of cli_publish(), connect included */
};

/* Reads the git state into s->gi, adds it to s->data and publishes
 * build.started (or test.started): quiet and without waiting, so nothing
 * disturbs the command's output. */
static void *started_run(void *arg)
{
	struct started *s = arg;
	uint64_t t0 = clock_mono_ns();
	struct cairn_err e;
	/* Loaded here so that a missing libgit2 is said once, after the
	 * command, rather than over its output (gitinfo_read() would log it). */
	int lr = gitdl_load(&e);
	s->git_load_ns = clock_mono_ns() - t0;
	if (lr < 0)
		snprintf(s->git_error, sizeof s->git_error, "%s", e.msg);
	else
		s->in_repo = gitinfo_read(s->cwd, MAX_DIRTY, &s->gi) == 0;
	s->git_ns = clock_mono_ns() - t0;
	if (s->in_repo)
		json_object_set_new(s->data, "git", gitinfo_to_json(&s->gi));
	/* A command line can carry a token (curl -H, --password=): the log
	 * never gets it. */
	redact_json(s->data);
	/* The subject is the target as data.target has it: redacted too. */
	s->subject = redact(s->target, strlen(s->target), NULL, NULL);
	char type[32];
	snprintf(type, sizeof type, "%s.started", s->kind);
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:O}", "type", type, "source", "cairn/run", "id",
			       s->id, "subject", s->subject, "data", s->data);
	if (s->in_repo)
		json_object_set_new(ev, "project", json_string(s->gi.workdir));
	cli_publish(s->cfg, ev, PUBLISH_NONE, true, 0, NULL, NULL);
	cli_publish_timing(&s->connect_ns, &s->publish_ns);
	return NULL;
}

/* Starts started_run() on a thread that takes no signals (they are the
 * command's, forwarded by the runner from the main thread: see
 * sources/runner.h). Returns whether it started; if not, it ran here. The
 * thread forks nothing and opens descriptors only close-on-exec (libgit2,
 * the socket, the spool), and the runner's child does only async-signal-safe
 * work between fork and exec, so the fork it overlaps is safe. */
static bool started_start(struct started *s, pthread_t *th)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(th, NULL, started_run, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		return true;
	started_run(s);
	return false;
}

/* capture_on_head()'s callback: the head is final, redact it now. */
static void head_ready(void *arg, const char *head, size_t len)
{
	runlog_start(arg, head, len);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* The CPU time this process has used so far, in nanoseconds: at the start
 * of cmd_run(), that of starting it (the end of the parent's fork, exec,
 * the dynamic loader, main() and the config). */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const struct cli_cmd cli_run = {
	"run", "[--target NAME] -- CMD [ARGS...]",
	"Runs a build or test command exactly as you would (same terminal, same output, same\n"
	"exit status) and logs build.started and build.passed|failed (test.* for test\n"
	"runners) with duration, git state and the diagnostics found in its output.\n"
	"  --target NAME   name the target (default: derived from the command)\n",
	cmd_run, false};

int cmd_run(int argc, char **argv, const struct config *cfg)
{
	const char *target_opt = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) {
			target_opt = argv[++i];
		} else if (strncmp(argv[i], "--target=", 9) == 0) {
			target_opt = argv[i] + 9;
		} else if (argv[i][0] == '-') {
			fprintf(stderr,
				"cairn run: unknown option '%s'; put the command after --\n",
				argv[i]);
			cli_usage(stderr, "run");
			return EXIT_USAGE;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "cairn run: no command given\n");
		cli_usage(stderr, "run");
		return EXIT_USAGE;
	}
	/* CAIRN_RUN_TIMING=1: a line on stderr at the end saying where cairn's
	 * own time went (bench/run/overhead.py reads it). */
	const char *timing_env = getenv("CAIRN_RUN_TIMING");
	bool timing = timing_env && strcmp(timing_env, "1") == 0;
	uint64_t cpu0 = timing ? cpu_ns() : 0, t0 = clock_mono_ns();
	char **cmd = argv + i;
	char *cmdline = command_line(cmd);
	char *target = target_opt ? xstrdup(target_opt) : derive_target(cmd);
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, "%s", ".");
	/* A runner the command names makes a test run; so does a command
	 * that runs the project's tests some other way (make test), if its
	 * output shows a runner in the end (see below). */
	const char *runner = diag_detect_runner(cmdline, NULL, 0);
	bool wrapper = !runner && diag_is_test_wrapper(cmdline);
	const char *kind = runner || wrapper ? "test" : "build";

	json_t *argv_json = json_array();
	for (int k = 0; cmd[k]; k++)
		json_array_append_new(argv_json, json_string(cmd[k]));
	json_t *data = json_pack("{s:s,s:s,s:o,s:s}", "target", target, "command", cmdline, "argv",
				 argv_json, "cwd", cwd);
	if (runner)
		json_object_set_new(data, "runner", json_string(runner));
	/* The git state and build.started, while the command runs; joined
	 * before anything else is published, so build.started comes first. */
	struct started st = {.cfg = cfg, .cwd = cwd, .kind = kind, .target = target, .data = data};
	ulid_new(st.id);
	cli_publish_hold_lost();
	pthread_t th;
	bool threaded = started_start(&st, &th);

	struct capture cap;
	capture_init(&cap, cfg->capture_bytes);
	struct runlog rl;
	runlog_init(&rl);
	int log_fd = run_log_open(cfg);
	if (log_fd >= 0)
		runlog_write_to(&rl, log_fd);
	capture_on_head(&cap, head_ready, &rl);
	struct runner_result res;
	/* When the command started, as a wall time: the end event's time
	 * minus the duration is later by whatever cairn did after the
	 * command (joining the git thread, saving the output), and what the
	 * command wrote in its first moments must count as written by it. */
	int64_t started_wall = clock_wall_ms();
	uint64_t t_spawn = clock_mono_ns();
	int r = runner_run(cmd, &cap, &res);
	uint64_t t_ran = clock_mono_ns();
	if (threaded)
		pthread_join(th, NULL);
	uint64_t t_joined = clock_mono_ns();
	struct gitinfo gi = st.gi;
	bool in_repo = st.in_repo;
	char *subject = st.subject;
	const char *started_id = st.id;
	if (r) {
		fprintf(stderr, "cairn run: cannot run '%s': %s\n", cmd[0], err_str(r));
		res.exit_code = 127;
	} else if (res.spawn_errno) {
		fprintf(stderr, "cairn run: cannot run '%s': %s\n", cmd[0],
			strerror(res.spawn_errno));
		res.exit_code = res.spawn_errno == ENOENT ? 127 : 126;
	}

	size_t log_len;
	char *log = capture_join(&cap, &log_len);
	/* What cairn has to say goes under the command's output, on lines of
	 * its own. */
	bool at_line_start = log_len == 0 || log[log_len - 1] == '\n';
	if (st.git_error[0]) {
		fprintf(stderr, "%scairn run: %s; the run is logged without its git state\n",
			at_line_start ? "" : "\n", st.git_error);
		at_line_start = true;
	}
	if (cli_publish_release_lost(at_line_start))
		at_line_start = true;
	char end_id[ULID_LEN + 1];
	ulid_new(end_id);
	uint64_t t_save = clock_mono_ns();
	char *out_path = save_output(cfg, end_id, &rl, log, log_len, log_fd);
	uint64_t save_ns = clock_mono_ns() - t_save;
	struct diag_list dl = {0};
	bool passed = r == 0 && res.spawn_errno == 0 && res.signal == 0 && res.exit_code == 0;
	/* A failure is always analysed. A pass is analysed for its warnings
	 * only when its output is small: reading megabytes of a green build's
	 * output would hold up the prompt for nothing urgent. */
	bool analyse = !passed || log_len <= DIAG_PASSED_MAX_BYTES;
	if (analyse)
		diag_extract(log, log_len, cmdline, &dl);
	if (!runner && (runner = diag_detect_runner(cmdline, log, log_len)))
		json_object_set_new(data, "runner", json_string(runner));
	/* make test whose output shows no test runner cairn knows: what
	 * failed (or passed) was a build step, as when the code did not
	 * compile and no test ran. The end event then says build.*, after a
	 * test.started: the correlationid pairs them. */
	if (wrapper && !runner)
		kind = "build";

	/* The files the errors name, as they are now: the "before" side of
	 * the fix the learner will record, even if the user fixes them before
	 * the daemon gets to this failure. */
	char *snap_path = NULL;
	if (!passed && out_path) {
		snap_path = xasprintf("%.*s.snap", (int)strlen(out_path) - 4, out_path);
		if (triage_snapshot_write(snap_path, in_repo ? gi.workdir : cwd, cwd, &dl,
					  in_repo ? gi.dirty : NULL,
					  in_repo ? gi.n_dirty : 0) < 0) {
			free(snap_path);
			snap_path = NULL;
		}
	}

	char type[32];
	snprintf(type, sizeof type, "%s.%s", kind, passed ? "passed" : "failed");
	json_object_set_new(data, "exit", json_integer(res.exit_code));
	if (res.signal) {
		json_object_set_new(data, "signal", json_string(sigabbrev_np(res.signal)));
		json_object_set_new(data, "core_dumped", json_boolean(res.core_dumped));
	}
	if (res.spawn_errno)
		json_object_set_new(data, "error", json_string(strerror(res.spawn_errno)));
	json_object_set_new(data, "duration_ms", json_integer(res.duration_ms));
	char started_ts[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(started_ts, started_wall);
	json_object_set_new(data, "started", json_string(started_ts));
	json_object_set_new(data, "pty", json_boolean(res.used_pty));
	json_object_set_new(data, "output",
			    json_pack("{s:s?,s:I,s:I,s:b,s:s*}", "path", out_path, "bytes",
				      (json_int_t)capture_total(&cap), "kept_bytes",
				      (json_int_t)log_len, "truncated", capture_truncated(&cap),
				      "snapshot", snap_path));
	free(snap_path);
	json_t *diags = diag_list_to_json(&dl, MAX_DIAGS);
	redact_json(diags);
	json_object_set_new(data, "diagnostics", diags);
	json_object_set_new(data, "diagnostics_total", json_integer((json_int_t)dl.n));
	if (!analyse)
		json_object_set_new(data, "diagnostics_skipped", json_true());
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O}", "type", type, "source", "cairn/run",
			       "id", end_id, "subject", subject, "correlationid", started_id,
			       "severity", passed ? "info" : "error", "data", data);
	if (in_repo)
		json_object_set_new(ev, "project", json_string(gi.workdir));
	/* A person at a terminal gets a one-line hint from the triage report right
	 * under the failure; scripts and pipes get nothing extra. */
	struct client watch = {.fd = -1};
	bool show = !passed && cfg->show_triage && isatty(STDERR_FILENO) &&
		    triage_watch_start(&watch, cfg) == 0;
	uint64_t t_end = clock_mono_ns();
	int pr = cli_publish(cfg, ev, PUBLISH_ACCEPTED, true, 1000, NULL, NULL);
	uint64_t end_connect_ns = 0, end_publish_ns = 0;
	cli_publish_timing(&end_connect_ns, &end_publish_ns);
	if (show)
		triage_watch_finish(&watch, end_id, 2000, at_line_start);
	else if (!passed && pr == PUBLISH_SPOOLED)
		/* Said once, so nobody waits for a report that is not coming:
		 * triage runs when the daemon starts and takes in the spool. */
		fprintf(stderr,
			"%scairn: no daemon is running: the failure was spooled, not triaged; "
			"start 'cairn daemon' and 'cairn why' will show the report\n",
			at_line_start ? "" : "\n");

	if (timing)
		fprintf(stderr,
			"cairn run timing: start_cpu_ms=%.3f before_ms=%.3f git_load_ms=%.3f "
			"git_ms=%.3f "
			"started_connect_ms=%.3f started_publish_ms=%.3f command_ms=%.3f "
			"join_wait_ms=%.3f after_ms=%.3f save_ms=%.3f end_connect_ms=%.3f "
			"end_publish_ms=%.3f total_ms=%.3f threaded=%d\n",
			ms(cpu0), ms(t_spawn - t0), ms(st.git_load_ns), ms(st.git_ns),
			ms(st.connect_ns), ms(st.publish_ns), ms(t_ran - t_spawn),
			ms(t_joined - t_ran), ms(t_end - t_joined), ms(save_ns), ms(end_connect_ns),
			ms(end_publish_ns), ms(clock_mono_ns() - t0), threaded);
	diag_list_release(&dl);
	free(out_path);
	free(log);
	runlog_release(&rl);
	if (log_fd >= 0)
		close(log_fd);
	capture_release(&cap);
	json_decref(data);
	gitinfo_release(&gi);
	free(target);
	free(subject);
	free(cmdline);
	if (res.signal) {
		/* Die the same way, so whoever runs us sees a signal death. */
		struct rlimit nocore = {0, 0};
		setrlimit(RLIMIT_CORE, &nocore);
		signal(res.signal, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, res.signal);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(res.signal);
	}
	return res.exit_code;
}
