/* cairn hook shell: run in the background by the shell hook (cairn
 * shell-init) after each command; publishes one shell.command event with the
 * command line redacted. It never prints and always exits 0, so that a
 * broken setup can never disturb the shell.
 *
 *   cairn hook shell --cmd-from stdin --status N --duration-ms N --cwd DIR
 *                    [--shell bash|zsh] [--ended-ms MS]  < CMDLINE
 *
 * The command line comes on standard input (all of it, up to end of file;
 * the hook pipes it from the shell's builtin printf), never in argv: any
 * local user can read a process's argv in /proc/PID/cmdline, and this
 * process has not redacted anything yet when it starts. "stdin" is the only
 * value --cmd-from takes. The old form "--cmd CMDLINE" is gone: it is
 * skipped like any unknown option, so a shell that still runs an older hook
 * logs nothing until it loads the new one.
 *
 * --ended-ms is the wall-clock time the command ended (ms since the epoch),
 * which becomes the event's time: hooks run in the background and may
 * reach the daemon out of order, but their times are right.
 *
 * Every option takes one value, as "--name VALUE" or "--name=VALUE"; options
 * this version does not know are skipped with their value, so an older
 * binary works with a newer hook script. */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/publish.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "kb/redact.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The stored command line is cut to this many bytes (after redaction), and
 * data.truncated says so. */
#define HOOK_CMD_MAX (16 * 1024)
/* The working directory and the subject are cut to these many bytes. */
#define HOOK_CWD_MAX 4096
#define HOOK_SUBJECT_MAX 256
/* How long to wait for the daemon before giving up; the event is sent
 * without waiting for an answer, so this only bounds connecting. */
#define HOOK_TIMEOUT_MS 50

struct shell_args {
	const char *cmd_from, *status, *duration_ms, *cwd, *shell, *ended_ms;
};

const struct cli_cmd cli_hook_shell = {
	"hook shell",
	"--cmd-from stdin --status N --duration-ms N --cwd DIR [--shell bash|zsh] [--ended-ms MS]",
	"Run in the background by the shell hook of 'cairn shell-init' after each command:\n"
	"reads the command line from standard input, redacts it and logs one shell.command\n"
	"event (spooled when no daemon runs). Never prints and always exits 0. Each option\n"
	"takes one value (OPTION VALUE or OPTION=VALUE); an option it does not know is\n"
	"skipped with its value.\n"
	"  --cmd-from stdin   read the command line from standard input (the only value;\n"
	"                     without it nothing is logged)\n"
	"  --status N         the command's exit status\n"
	"  --duration-ms N    how long it ran, in milliseconds\n"
	"  --cwd DIR          the directory it ran in\n"
	"  --shell bash|zsh   the shell it ran in\n"
	"  --ended-ms MS      when it ended, in ms since the epoch: the event's time\n"
	"                     (default: when the event is published)\n",
	hook_shell, false};

/* Fills a from argv (argv[0] is "shell"). Returns false when an option has
 * no value. */
static bool parse_args(int argc, char **argv, struct shell_args *a)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
		{"cmd-from", offsetof(struct shell_args, cmd_from)},
		{"status", offsetof(struct shell_args, status)},
		{"duration-ms", offsetof(struct shell_args, duration_ms)},
		{"cwd", offsetof(struct shell_args, cwd)},
		{"shell", offsetof(struct shell_args, shell)},
		{"ended-ms", offsetof(struct shell_args, ended_ms)},
	};
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strncmp(arg, "--", 2) != 0)
			continue;
		arg += 2;
		const char *eq = strchr(arg, '=');
		size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		const char *val;
		if (eq) {
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return false;
			val = argv[++i];
		}
		for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
			if (strlen(opts[k].name) == nlen && memcmp(opts[k].name, arg, nlen) == 0)
				*(const char **)((char *)a + opts[k].off) = val;
	}
	return true;
}

/* Reads standard input to its end, at most max bytes: returns a malloc'd,
 * NUL-terminated buffer with its length in *len and *over set when there
 * was more (then the rest is left unread), or NULL if it cannot be read. */
static char *read_stdin(size_t max, size_t *len, bool *over)
{
	/* One byte past max tells "more" from "exactly max". */
	struct buf b;
	buf_init(&b, max + 1);
	int r = buf_read_fd(&b, STDIN_FILENO);
	if (r < 0 && r != CAIRN_E_TOOBIG) {
		buf_release(&b);
		return NULL;
	}
	*over = b.len > max;
	if (*over)
		buf_setlen(&b, max);
	return buf_detach(&b, len);
}

/* Parses a decimal integer in [lo, hi]; false if s is not one. */
static bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* The length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string of s[0..n): bytes that are not UTF-8 (a terminal in another
 * encoding, a line cut in the middle of a character) become U+FFFD. With
 * no_ctl, control characters become '?' too (for the subject, which may
 * hold none). */
static json_t *json_text(const char *s, size_t n, bool no_ctl)
{
	char *buf = xmalloc(3 * n + 1);
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq(p + i, n - i);
		if (len == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		bool ctl = p[i] < 0x20 || p[i] == 0x7f ||
			   (len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0);
		if (no_ctl && ctl) {
			buf[o++] = '?';
		} else {
			memcpy(buf + o, p + i, len);
			o += len;
		}
		i += len;
	}
	json_t *j = json_stringn(buf, o);
	free(buf);
	return j;
}

/* Where to cut s (n bytes) to at most max bytes: not inside a UTF-8
 * character, and not inside a redaction marker. */
static size_t cut_point(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t cut = max;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	/* A marker is at most "[REDACTED:" + a short kind + "]"; back off to
	 * the start of one that the cut would split. */
	size_t from = cut > 64 ? cut - 64 : 0;
	for (size_t i = cut; i-- > from;) {
		if (s[i] == ']')
			break;
		if (s[i] == '[' &&
		    strncmp(s + i, REDACT_MARKER_PREFIX, sizeof REDACT_MARKER_PREFIX - 1) == 0) {
			cut = i;
			break;
		}
	}
	return cut;
}

/* The subject: the command's first word, after any leading VAR=value
 * assignments (for "CC=clang make" it is "make"). */
static json_t *first_word(const char *s, size_t n)
{
	size_t i = 0;
	for (;;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'))
			i++;
		size_t start = i;
		while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\n')
			i++;
		if (start == i)
			return NULL;
		/* An assignment: a name, then '='. */
		size_t k = start;
		if (s[k] == '_' || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z')) {
			while (k < i &&
			       (s[k] == '_' || (s[k] >= 'A' && s[k] <= 'Z') ||
				(s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9')))
				k++;
			if (k < i && s[k] == '=')
				continue;
		}
		size_t len = cut_point(s + start, i - start, HOOK_SUBJECT_MAX);
		return json_text(s + start, len, true);
	}
}

int hook_shell(int argc, char **argv, const struct config *cfg)
{
	/* The shell may hang up before we are done: finish anyway. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	struct shell_args a;
	if (!parse_args(argc, argv, &a) || !a.cmd_from || strcmp(a.cmd_from, "stdin") != 0)
		return EXIT_OK;
	size_t raw_len;
	bool over;
	char *raw = read_stdin(REDACT_MAX_INPUT, &raw_len, &over);
	if (!raw || raw_len == 0) {
		free(raw);
		return EXIT_OK;
	}

	/* Redact all of the command line first and cut it afterwards: a cut
	 * first could leave the start of a secret that no rule recognises. A
	 * line over REDACT_MAX_INPUT (1 MiB) is not kept at all, for the same
	 * reason. */
	size_t len;
	unsigned nred = 0;
	bool truncated = false;
	char *text = over ? NULL : redact(raw, raw_len, &len, &nred);
	free(raw);
	if (!text) {
		text = xstrdup("");
		len = 0;
		truncated = true;
	}
	size_t keep = cut_point(text, len, HOOK_CMD_MAX);
	if (keep < len)
		truncated = true;

	json_t *data = json_object();
	json_object_set_new(data, "command", json_text(text, keep, false));
	long long v;
	json_object_set_new(data, "exit",
			    parse_int(a.status, INT_MIN, INT_MAX, &v) ? json_integer(v)
								      : json_null());
	json_object_set_new(data, "duration_ms",
			    parse_int(a.duration_ms, LLONG_MIN, LLONG_MAX, &v)
				    ? json_integer(v < 0 ? 0 : v)
				    : json_null());
	if (a.cwd) {
		/* A directory name is no place for a secret, but nothing leaves
		 * this process unredacted. */
		size_t clen;
		unsigned cred;
		char *cwd = redact(a.cwd, strlen(a.cwd), &clen, &cred);
		if (cwd) {
			json_object_set_new(
				data, "cwd",
				json_text(cwd, cut_point(cwd, clen, HOOK_CWD_MAX), false));
			nred += cred;
			free(cwd);
		}
	}
	if (a.shell && (strcmp(a.shell, "bash") == 0 || strcmp(a.shell, "zsh") == 0))
		json_object_set_new(data, "shell", json_string(a.shell));
	json_object_set_new(data, "redactions", json_integer(nred));
	if (truncated)
		json_object_set_new(data, "truncated", json_true());

	json_t *ev = json_object();
	json_object_set_new(ev, "type", json_string("shell.command"));
	/* Up to the year 9999; otherwise cli_publish() stamps the time now. */
	if (parse_int(a.ended_ms, 1, 253402300799999LL, &v)) {
		char t[TIMEFMT_RFC3339_LEN + 1];
		timefmt_rfc3339(t, v);
		json_object_set_new(ev, "time", json_string(t));
	}
	json_object_set_new(ev, "source", json_string("cairn/shell"));
	json_t *subject = first_word(text, keep);
	if (subject)
		json_object_set_new(ev, "subject", subject);
	json_object_set_new(ev, "data", data);
	free(text);

	/* Spooled when no daemon runs; any failure is dropped silently, as the
	 * shell must never see it. */
	cli_publish(cfg, ev, PUBLISH_NONE, true, HOOK_TIMEOUT_MS, NULL, NULL);
	return EXIT_OK;
}
