/* Human-readable event lines and position parsing shared by CLI commands. */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Appends a short rendering of v to buf (bounded). */
static void summarize(const json_t *v, char *buf, size_t size)
{
	size_t len = strlen(buf);
	if (len + 1 >= size)
		return;
	switch (json_typeof(v)) {
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t n = strcspn(s, "\n\r\t");
		if (n > 48) {
			n = 48;
			while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
				n--; /* never cut a UTF-8 character in half */
		}
		snprintf(buf + len, size - len, "%.*s%s", (int)n, s,
			 n < json_string_length(v) ? "…" : "");
		break;
	}
	case JSON_OBJECT: {
		/* Scalars first (they say the most in the least room), then
		 * non-empty arrays as counts; nested objects are left to --json. */
		const char *k;
		const json_t *x;
		int first = 1;
		for (int pass = 0; pass < 2; pass++) {
			json_object_foreach((json_t *)v, k, x) {
				bool arr = json_is_array(x);
				if (json_is_object(x) || arr != (pass == 1) ||
				    (arr && json_array_size(x) == 0))
					continue;
				len = strlen(buf);
				if (len + 8 >= size)
					break;
				snprintf(buf + len, size - len, "%s%s=", first ? "" : " ", k);
				first = 0;
				if (arr) {
					len = strlen(buf);
					snprintf(buf + len, size - len, "[%zu]",
						 json_array_size(x));
				} else {
					summarize(x, buf, size);
				}
			}
		}
		break;
	}
	case JSON_ARRAY: snprintf(buf + len, size - len, "[%zu items]", json_array_size(v)); break;
	case JSON_INTEGER:
		snprintf(buf + len, size - len, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL: snprintf(buf + len, size - len, "%g", json_real_value(v)); break;
	case JSON_TRUE: snprintf(buf + len, size - len, "true"); break;
	case JSON_FALSE: snprintf(buf + len, size - len, "false"); break;
	case JSON_NULL: snprintf(buf + len, size - len, "null"); break;
	}
}

void cli_print_event(FILE *out, const json_t *ev)
{
	const char *t = json_string_value(json_object_get(ev, "time"));
	int64_t ms = 0;
	char when[32] = "?";
	if (t && timefmt_parse_rfc3339(t, &ms) == 0) {
		time_t secs = (time_t)(ms / 1000);
		struct tm tm;
		localtime_r(&secs, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	}
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *subject = json_string_value(json_object_get(ev, "subject"));
	const char *sev = json_string_value(json_object_get(ev, "severity"));
	char summary[200] = "";
	const json_t *data = json_object_get(ev, "data");
	if (data)
		summarize(data, summary, sizeof summary);
	int more = subject || *summary ||
		   (sev && strcmp(sev, "info") && strcmp(sev, "debug") && strcmp(sev, "notice"));
	fprintf(out, "%s %6lld  %-*s", when,
		(long long)json_integer_value(json_object_get(ev, "seq")), more ? 20 : 0,
		type ? type : "?");
	if (subject)
		fprintf(out, "  %s", subject);
	if (sev && (!strcmp(sev, "warning") || !strcmp(sev, "error") || !strcmp(sev, "critical")))
		fprintf(out, "  [%s]", sev);
	if (*summary)
		fprintf(out, "  %s", summary);
	fputc('\n', out);
}

json_t *cli_parse_position(const char *opt, const char *s)
{
	char *end;
	long long seq = strtoll(s, &end, 10);
	if (*s && *end == '\0' && seq >= 0)
		return json_integer(seq);
	int64_t ms;
	if (timefmt_parse_rfc3339(s, &ms) == 0)
		return json_string(s);
	if (timefmt_parse_when(s, clock_wall_ms(), &ms) == 0) {
		char buf[TIMEFMT_RFC3339_LEN + 1];
		timefmt_rfc3339(buf, ms);
		return json_string(buf);
	}
	fprintf(stderr,
		"cairn: %s '%s' is not a seq, an RFC 3339 time (2026-11-27T21:08:43Z), a "
		"duration ago (90s, 10m, 2h, 1d), today or yesterday\n",
		opt, s);
	return NULL;
}

/* What to do about an error, by code, unless the message already says
 * (skip: a phrase of the message that means it does). */
static const struct {
	int code;
	const char *todo, *skip;
} remedies[] = {
	{CAIRN_E_DOWN, "start it with 'cairn daemon'", "cairn daemon"},
	{CAIRN_E_CORRUPT, "run 'cairn doctor' (docs/doctor.md)", "cairn doctor"},
	{CAIRN_E_UNAVAIL, "retry later; the daemon's log says more", "retry"},
	{CAIRN_E_FULL, "free some disk space", "Free some disk space"},
	{CAIRN_E_PEER, "'cairn status' says why", "cairn status"},
	{CAIRN_E_VERSION, "use a cairn at least as new as the daemon or the database", "cairn"},
};

void cli_print_err(const char *prog, const struct cairn_err *e)
{
	const char *msg = e->msg[0] ? e->msg : err_str(e->code);
	if (e->field[0] && !strstr(msg, e->field))
		fprintf(stderr, "%s: %s (field '%s')\n", prog, msg, e->field);
	else
		fprintf(stderr, "%s: %s\n", prog, msg);
	for (size_t i = 0; i < sizeof remedies / sizeof remedies[0]; i++)
		if (remedies[i].code == e->code && !strstr(msg, remedies[i].skip))
			fprintf(stderr, "%s: %s\n", prog, remedies[i].todo);
}

int cli_project(const char *opt, const char *prog, char **out)
{
	*out = NULL;
	if (opt) {
		char *p = realpath(opt, NULL);
		if (!p && opt[0] != '/') {
			fprintf(stderr, "%s: cannot resolve --project '%s': %s\n", prog, opt,
				strerror(errno));
			return -1;
		}
		*out = p ? p : xstrdup(opt);
	} else {
		/* The nearest directory up from here that holds a .git (a
		 * directory, or the file of a linked work tree or a submodule),
		 * as libgit2's discovery finds it, but without starting libgit2:
		 * its start parses the system's certificates (~4.5 ms), which
		 * the commands that only want the project's name (an agent's
		 * brief at every session start) should not pay. */
		char dir[PATH_MAX + 8];
		struct stat sb;
		if (getcwd(dir, PATH_MAX)) {
			for (;;) {
				size_t l = strlen(dir);
				memcpy(dir + l, l > 1 ? "/.git" : ".git", l > 1 ? 6 : 5);
				bool found = stat(dir, &sb) == 0;
				dir[l] = '\0';
				if (found && (S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode))) {
					*out = realpath(dir, NULL);
					break;
				}
				char *slash = strrchr(dir, '/');
				if (!slash || l == 1)
					break;
				slash[slash == dir ? 1 : 0] = '\0';
			}
		}
	}
	size_t l = *out ? strlen(*out) : 0;
	if (l > 1 && (*out)[l - 1] == '/')
		(*out)[l - 1] = '\0';
	return 0;
}

char *cli_sh_quote(const char *s)
{
	size_t n = 2;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *out = xmalloc(n + 1), *o = out;
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
	*o = '\0';
	return out;
}
