/* cairn hook claude session-start|session-end: what the Claude Code hooks of
 * `cairn hooks install --agent claude` run. It reads the hook's input from
 * standard input (hook_claude.h), logs agent.started or agent.ended (spooled
 * when no daemon runs), and at session start prints cairn's brief, which
 * Claude Code adds to the agent's context.
 *
 * It runs in the agent's way, so whatever happens (no daemon, bad input, no
 * git repository, a brief that hangs) it exits 0 within a bounded time, and
 * when there is no brief it prints one line saying why instead. The brief is
 * `cairn brief --format markdown --project P` run as a child process (this
 * same binary), killed if it takes longer than HOOK_BRIEF_S. */
#include "cli/hook_claude.h"

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/publish.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/gitdl.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Sanitizer builds run several times slower; their budgets are larger so
 * that tests see what a release build does. */
#if defined(__SANITIZE_ADDRESS__)
#define HOOK_SLOWDOWN 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOOK_SLOWDOWN 3
#endif
#endif
#ifndef HOOK_SLOWDOWN
#define HOOK_SLOWDOWN 1
#endif

/* Time budgets: reading the input, the brief, and the whole hook (a last
 * resort for what has no budget of its own, as a connect() to a daemon
 * whose listen queue is full). All well under the timeout the settings give
 * Claude Code (CLAUDE_START_TIMEOUT_S). */
#define HOOK_STDIN_MS (HOOK_SLOWDOWN * 1000)
#define HOOK_BRIEF_S (HOOK_SLOWDOWN * 3)
#define HOOK_WATCHDOG_S (HOOK_SLOWDOWN * 6)
/* How much of the brief is passed on, and of its error output kept. */
#define HOOK_BRIEF_MAX (64u * 1024)
#define HOOK_BRIEF_ERR_MAX 4096u
/* The one line said instead of a brief is cut to this many bytes. */
#define HOOK_LINE_MAX 300

#define HOOK_SOURCE "cairn/claude"

/* ---- the input ----------------------------------------------------------- */

enum field_kind { F_ID, F_PATH, F_TOKEN };

static bool valid(const char *s, size_t n, enum field_kind kind)
{
	switch (kind) {
	case F_ID:
		if (n < 1 || n > HOOK_CLAUDE_ID_MAX)
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
				return false;
		return true;
	case F_PATH:
		if (n < 1 || n > HOOK_CLAUDE_PATH_MAX || s[0] != '/')
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return false;
		return true;
	case F_TOKEN:
		if (n < 1 || n > HOOK_CLAUDE_TOKEN_MAX)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			      s[i] == '_' || s[i] == '-'))
				return false;
		return true;
	}
	return false;
}

static const char *const KIND_RULE[] = {
	[F_ID] = "a string of 1 to 128 printable ASCII characters",
	[F_PATH] = "an absolute path of at most 4096 bytes without control characters",
	[F_TOKEN] = "a string of 1 to 64 characters of [a-z0-9_-]",
};

/* Copies obj's key into *out if it is there and follows kind's rule. */
static int take(const json_t *obj, const char *key, bool required, enum field_kind kind, char **out,
		struct cairn_err *err)
{
	const json_t *v = json_object_get(obj, key);
	if (!v) {
		if (required)
			return cairn_err_set(err, CAIRN_E_INVALID, key, "\"%s\" is missing", key);
		return 0;
	}
	if (!json_is_string(v) || !valid(json_string_value(v), json_string_length(v), kind))
		return cairn_err_set(err, CAIRN_E_INVALID, key, "\"%s\" must be %s", key,
				     KIND_RULE[kind]);
	*out = xstrdup(json_string_value(v));
	return 0;
}

void hook_claude_input_release(struct hook_claude_input *in)
{
	free(in->session_id);
	free(in->cwd);
	free(in->how);
	free(in->transcript_path);
	memset(in, 0, sizeof *in);
}

int hook_claude_parse(const char *buf, size_t len, enum hook_claude_event event,
		      struct hook_claude_input *in, struct cairn_err *err)
{
	static const char *const names[] = {"SessionStart", "SessionEnd"};
	json_error_t je;
	json_t *obj;
	int r;

	memset(in, 0, sizeof *in);
	if (len > HOOK_CLAUDE_INPUT_MAX)
		return cairn_err_set(err, CAIRN_E_TOOBIG, "", "the input is larger than %u bytes",
				     HOOK_CLAUDE_INPUT_MAX);
	if (!(obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)))
		return cairn_err_set(err, CAIRN_E_PARSE, "",
				     "the input is not JSON: %s (line %d, column %d)", je.text,
				     je.line, je.column);
	if (!json_is_object(obj)) {
		r = cairn_err_set(err, CAIRN_E_INVALID, "", "the input is not a JSON object");
		goto out;
	}
	const json_t *name = json_object_get(obj, "hook_event_name");
	if (name && !(json_is_string(name) && strcmp(json_string_value(name), names[event]) == 0)) {
		r = cairn_err_set(err, CAIRN_E_INVALID, "hook_event_name",
				  "\"hook_event_name\" is not \"%s\": the hook is installed under "
				  "another event",
				  names[event]);
		goto out;
	}
	if ((r = take(obj, "session_id", true, F_ID, &in->session_id, err)) < 0 ||
	    (r = take(obj, "cwd", true, F_PATH, &in->cwd, err)) < 0 ||
	    (r = take(obj, event == HOOK_CLAUDE_SESSION_START ? "source" : "reason", false, F_TOKEN,
		      &in->how, err)) < 0 ||
	    (r = take(obj, "transcript_path", false, F_PATH, &in->transcript_path, err)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		hook_claude_input_release(in);
	json_decref(obj);
	return r;
}

/* Reads standard input into b (at most HOOK_CLAUDE_INPUT_MAX + 1 bytes)
 * until its end, giving up after HOOK_STDIN_MS. Returns 0, -ETIMEDOUT,
 * CAIRN_E_TOOBIG, -ENOTTY for a terminal, or -errno. */
static int read_input(struct buf *b)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)HOOK_STDIN_MS * 1000000;

	if (isatty(STDIN_FILENO))
		return -ENOTTY;
	for (;;) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;
		size_t room = b->max - b->len;
		if (room == 0)
			return CAIRN_E_TOOBIG;
		if ((r = buf_grow(b, room < 4096 ? room : 4096)) < 0)
			return r;
		ssize_t n = read(STDIN_FILENO, b->data + b->len, buf_avail(b));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		buf_setlen(b, b->len + (size_t)n);
	}
}

/* ---- saying one line ----------------------------------------------------- */

static volatile sig_atomic_t printed;  /* something went to stdout */
static volatile sig_atomic_t brief_pg; /* the brief's process group, while it runs */

static void say_raw(const char *s, size_t n)
{
	printed = 1;
	fwrite(s, 1, n, stdout);
	fflush(stdout);
}

/* Prints "cairn: " and the formatted text as one line: control characters
 * become '?', and it is cut at HOOK_LINE_MAX bytes (not inside a UTF-8
 * character). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[HOOK_LINE_MAX + 2];
	va_list ap;
	int n;

	memcpy(line, "cairn: ", 7);
	va_start(ap, fmt);
	n = vsnprintf(line + 7, HOOK_LINE_MAX + 1 - 7, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = strlen(line);
	if ((size_t)n + 7 > len) {
		/* Cut short: drop a last character whose bytes did not all fit. */
		size_t lead = len;
		while (lead > 0 && ((unsigned char)line[lead - 1] & 0xc0) == 0x80)
			lead--;
		if (lead > 0 && (unsigned char)line[lead - 1] >= 0xc0) {
			unsigned char c = (unsigned char)line[lead - 1];
			size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (len - (lead - 1) < need)
				len = lead - 1;
		}
		line[len] = '\0';
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\n';
	say_raw(line, len);
}

static volatile sig_atomic_t at_start; /* the hook is session-start's */

static void watchdog(int sig)
{
	static const char start[] = "cairn: no brief (the hook ran out of time; 'cairn status' "
				    "tells whether the daemon is well)\n";
	static const char end[] = "cairn: the hook ran out of time; 'cairn status' tells whether "
				  "the daemon is well\n";
	(void)sig;
	if (brief_pg > 0)
		kill(-(pid_t)brief_pg, SIGKILL);
	if (!printed) {
		ssize_t w = at_start ? write(STDOUT_FILENO, start, sizeof start - 1)
				     : write(STDOUT_FILENO, end, sizeof end - 1);
		(void)w; /* nothing more to do if it fails */
	}
	_exit(EXIT_OK);
}

/* ---- the event ----------------------------------------------------------- */

/* The top of the work tree around cwd, without a trailing '/', as a JSON
 * string; NULL when cwd is in no work tree, or when libgit2 cannot be
 * loaded (said on stderr: the agent's context gets nothing of it). */
static json_t *project_of(const char *cwd)
{
	git_repository *repo = NULL;
	json_t *v = NULL;
	struct cairn_err e;

	if (gitdl_load(&e) < 0) {
		fprintf(stderr, "cairn: %s; the session is logged without its project\n", e.msg);
		return NULL;
	}
	git_libgit2_init();
	if (git_repository_open_ext(&repo, cwd, 0, NULL) == 0 && git_repository_workdir(repo)) {
		const char *wd = git_repository_workdir(repo);
		size_t n = strlen(wd);
		while (n > 1 && wd[n - 1] == '/')
			n--;
		if (wd[0] == '/' && n <= HOOK_CLAUDE_PATH_MAX)
			v = json_stringn(wd, n); /* NULL unless UTF-8 */
	}
	git_repository_free(repo);
	git_libgit2_shutdown();
	return v;
}

static json_t *event_of(const struct hook_claude_input *in, enum hook_claude_event event,
			json_t *project)
{
	bool start = event == HOOK_CLAUDE_SESSION_START;
	json_t *data = json_object();
	json_object_set_new(data, "agent", json_string("claude"));
	json_object_set_new(data, "session_id", json_string(in->session_id));
	json_object_set_new(data, start ? "source" : "reason",
			    in->how ? json_string(in->how) : json_null());
	json_object_set_new(data, "cwd", json_string(in->cwd));
	if (in->transcript_path)
		json_object_set_new(data, "transcript_path", json_string(in->transcript_path));

	json_t *ev = json_object();
	json_object_set_new(ev, "type", json_string(start ? "agent.started" : "agent.ended"));
	json_object_set_new(ev, "source", json_string(HOOK_SOURCE));
	json_object_set_new(ev, "subject", json_string(in->session_id));
	if (project)
		json_object_set(ev, "project", project);
	json_object_set_new(ev, "data", data);
	return ev;
}

/* ---- the brief ----------------------------------------------------------- */

struct brief {
	struct buf out, err;
	bool out_over;  /* more than HOOK_BRIEF_MAX bytes came */
	bool timed_out; /* killed at HOOK_BRIEF_S */
	int status;     /* as waitpid() gives it */
};

/* Appends what fd has to b, dropping what is past b's cap (the child must
 * not block on a full pipe). Returns false at end of file. */
static bool drain(int fd, struct buf *b, bool *over)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof tmp);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	size_t room = b->max - b->len, take = (size_t)n < room ? (size_t)n : room;
	buf_add(b, tmp, take);
	if (take < (size_t)n && over)
		*over = true;
	return true;
}

/* Runs `cairn brief --format markdown --project project` in dir (when it
 * exists) with a hard time limit; fills br. Returns 0, or -errno when it
 * could not be started. */
static int run_brief(const char *project, const char *dir, struct brief *br)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	uint64_t deadline = clock_mono_ns() + (uint64_t)HOOK_BRIEF_S * 1000000000;
	pid_t pid;
	int r = 0;

	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		r = -errno;
		goto out_close;
	}
	if ((pid = fork()) < 0) {
		r = -errno;
		goto out_close;
	}
	if (pid == 0) {
		char *argv[] = {"cairn",     "brief",         "--format", "markdown",
				"--project", (char *)project, NULL};
		int null = open("/dev/null", O_RDONLY);
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL); /* ignored here, and exec keeps that */
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(po[1], STDOUT_FILENO) < 0 ||
		    dup2(pe[1], STDERR_FILENO) < 0)
			_exit(127);
		if (dir && chdir(dir) < 0) {
			/* The brief names its project; the directory is a courtesy. */
		}
		execv("/proc/self/exe", argv);
		dprintf(STDERR_FILENO, "cannot run /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* as the child does: whichever runs first */
	brief_pg = pid;
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;

	bool out_open = true, err_open = true, exited = false;
	while (!exited) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline) {
			br->timed_out = true;
			break;
		}
		int ms = (int)((deadline - now + 999999) / 1000000);
		if (out_open || err_open) {
			struct pollfd p[2] = {{.fd = out_open ? po[0] : -1, .events = POLLIN},
					      {.fd = err_open ? pe[0] : -1, .events = POLLIN}};
			int n = poll(p, 2, ms);
			if (n < 0 && errno != EINTR) {
				br->timed_out = true;
				break;
			}
			if (n > 0 && p[0].revents)
				out_open = drain(po[0], &br->out, &br->out_over);
			if (n > 0 && p[1].revents)
				err_open = drain(pe[0], &br->err, NULL);
			continue;
		}
		/* Both pipes closed: wait for its status, still within the budget. */
		pid_t w = waitpid(pid, &br->status, WNOHANG);
		if (w == pid)
			exited = true;
		else if (w < 0 && errno != EINTR)
			break;
		else
			poll(NULL, 0, ms < 10 ? ms : 10);
	}
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &br->status, 0) < 0 && errno == EINTR)
			;
	}
	brief_pg = 0;
out_close:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return r;
}

/* Prints the brief, or the one line that says why there is none. */
static void print_brief(const char *project, const char *cwd)
{
	struct brief br = {.status = 0};
	buf_init(&br.out, HOOK_BRIEF_MAX);
	buf_init(&br.err, HOOK_BRIEF_ERR_MAX);
	int r = run_brief(project, cwd, &br);

	if (r < 0) {
		say("no brief (cannot start 'cairn brief': %s)", strerror(-r));
	} else if (br.timed_out) {
		say("no brief ('cairn brief' did not finish within %d s and was stopped; 'cairn "
		    "status' tells whether the daemon is well)",
		    HOOK_BRIEF_S);
	} else if (WIFEXITED(br.status) && WEXITSTATUS(br.status) == 0) {
		size_t n = br.out.len;
		if (br.out_over) {
			/* Cut on a line boundary, and say so. */
			const char *nl = memrchr(br.out.data, '\n', n);
			n = nl ? (size_t)(nl - br.out.data) + 1 : 0;
		}
		say_raw(br.out.data, n);
		if (br.out_over)
			say("the brief was cut at %u KiB", HOOK_BRIEF_MAX / 1024);
	} else {
		/* The child's first line of complaint, without its "cairn: ". */
		char *line = br.err.data;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "cairn: ", 7) == 0)
			line += 7;
		if (*line)
			say("no brief (%s)", line);
		else if (WIFEXITED(br.status))
			say("no brief ('cairn brief' exited with status %d)",
			    WEXITSTATUS(br.status));
		else
			say("no brief ('cairn brief' was killed by signal %d)",
			    WIFSIGNALED(br.status) ? WTERMSIG(br.status) : 0);
	}
	buf_release(&br.out);
	buf_release(&br.err);
}

/* ---- the command --------------------------------------------------------- */

const struct cli_cmd cli_hook_claude = {
	"hook claude", "session-start|session-end",
	"Run by the Claude Code hooks of 'cairn hooks install --agent claude', with the hook's\n"
	"input (JSON) on standard input. session-start logs agent.started and prints cairn's\n"
	"brief for the agent's context, or one line saying why there is none; session-end\n"
	"logs agent.ended. Events are spooled when no daemon runs. Always exits 0, within a\n"
	"few seconds. No options.\n",
	hook_claude, false};

int hook_claude(int argc, char **argv, const struct config *cfg)
{
	struct buf input;
	struct hook_claude_input in = {0};
	struct cairn_err err;
	enum hook_claude_event event;
	json_t *project = NULL;
	int r;

	/* argv[0] is "claude". */
	if (argc >= 2 && strcmp(argv[1], "session-start") == 0) {
		event = HOOK_CLAUDE_SESSION_START;
	} else if (argc >= 2 && strcmp(argv[1], "session-end") == 0) {
		event = HOOK_CLAUDE_SESSION_END;
	} else {
		fprintf(stderr,
			"cairn hook claude: expected 'session-start' or 'session-end' (this is "
			"run by the hooks of 'cairn hooks install --agent claude')\n");
		return EXIT_OK;
	}
	bool start = event == HOOK_CLAUDE_SESSION_START;
	at_start = start;
	/* Claude Code may stop reading our output; that must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	alarm(HOOK_WATCHDOG_S);

	buf_init(&input, HOOK_CLAUDE_INPUT_MAX + 1);
	r = read_input(&input);
	if (r == 0)
		r = hook_claude_parse(input.data, input.len, event, &in, &err);
	else if (r == -ENOTTY)
		cairn_err_set(&err, r, "",
			      "standard input is a terminal, not Claude Code's hook input");
	else if (r == -ETIMEDOUT)
		cairn_err_set(&err, r, "", "standard input did not end within %d ms",
			      HOOK_STDIN_MS);
	else if (r == CAIRN_E_TOOBIG)
		cairn_err_set(&err, r, "", "the input is larger than %u bytes",
			      HOOK_CLAUDE_INPUT_MAX);
	else
		cairn_err_set(&err, r, "", "cannot read standard input: %s", err_str(r));
	buf_release(&input);
	if (r < 0) {
		say("%s (cannot read Claude Code's hook input: %s)",
		    start ? "no brief" : "the session's end is not logged", err.msg);
		goto out;
	}

	project = project_of(in.cwd);
	/* Without waiting for an answer: the event is validated here, and
	 * the agent should not wait for the daemon's disk. */
	r = cli_publish(cfg, event_of(&in, event, project), PUBLISH_NONE, true, 0, NULL, NULL);
	if (r == PUBLISH_SPOOLED) {
		say("%sthe daemon is not running (start it with 'cairn daemon'); this session's "
		    "%s is spooled and will be logged when it runs",
		    start ? "no brief: " : "", start ? "start" : "end");
		goto out;
	}
	if (r < 0 && !start) {
		say("the session's end is not logged: %s", err_str(r));
		goto out;
	}
	if (start)
		print_brief(project ? json_string_value(project) : in.cwd, in.cwd);
out:
	alarm(0);
	json_decref(project);
	hook_claude_input_release(&in);
	return EXIT_OK;
}
