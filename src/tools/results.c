/* Bounded pieces of the tools' results (tools.h): strings cut to a size and
 * made valid UTF-8, JSON trimmed in place, an event as one line. */
#include "common/utf8.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "event/outcome.h"
#include "store/queries.h"
#include "tools/tools.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

/* How many of s's len bytes fit in max without splitting a character. */
static size_t cut_len(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

json_t *tool_strn(const char *s, size_t len, size_t max)
{
	size_t n = cut_len(s, len, max);
	bool cut = n < len;
	char *buf = xmalloc(n + sizeof ELLIPSIS);
	memcpy(buf, s, n);
	unsigned char *p = (unsigned char *)buf;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (!k) {
			p[i++] = '?';
			continue;
		}
		i += k;
	}
	if (cut) {
		memcpy(buf + n, ELLIPSIS, sizeof ELLIPSIS - 1);
		n += sizeof ELLIPSIS - 1;
	}
	json_t *j = json_stringn(buf, n);
	free(buf);
	return j;
}

json_t *tool_str(const char *s, size_t max)
{
	return s ? tool_strn(s, strlen(s), max) : json_null();
}

bool tool_json_trim(json_t *v, size_t max_str, size_t max_items)
{
	bool cut = false;
	if (json_is_string(v)) {
		size_t len = json_string_length(v);
		if (len > max_str) {
			json_t *t = tool_strn(json_string_value(v), len, max_str);
			json_string_setn(v, json_string_value(t), json_string_length(t));
			json_decref(t);
			cut = true;
		}
	} else if (json_is_array(v)) {
		while (json_array_size(v) > max_items) {
			json_array_remove(v, json_array_size(v) - 1);
			cut = true;
		}
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			cut |= tool_json_trim(x, max_str, max_items);
	} else if (json_is_object(v)) {
		size_t n = 0;
		const char *key;
		json_t *x;
		void *tmp;
		json_object_foreach_safe(v, tmp, key, x) {
			if (n++ >= max_items) {
				json_object_del(v, key);
				cut = true;
				continue;
			}
			cut |= tool_json_trim(x, max_str, max_items);
		}
	}
	return cut;
}

/* ---- an event as one line ---- */

#define D(k) json_object_get(data, (k))
#define DS(k) json_string_value(D(k))

struct line {
	char buf[512];
	size_t len;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct line *l, const char *fmt, ...)
{
	if (l->len >= sizeof l->buf - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->len +=
			(size_t)k < sizeof l->buf - l->len ? (size_t)k : sizeof l->buf - 1 - l->len;
}

static size_t file_count(const json_t *data)
{
	const json_t *t = D("files_total");
	return json_is_integer(t) ? (size_t)json_integer_value(t) : json_array_size(D("files"));
}

/* The first few scalar members of data, "k=v", for types without a line
 * of their own. */
static void generic(struct line *l, const json_t *data)
{
	const char *key;
	const json_t *x;
	int n = 0;
	json_object_foreach((json_t *)data, key, x) {
		if (n == 4)
			break;
		const char *sep = l->len ? ", " : "";
		if (json_is_string(x))
			put(l, "%s%s=%.100s", sep, key, json_string_value(x));
		else if (json_is_integer(x))
			put(l, "%s%s=%lld", sep, key, (long long)json_integer_value(x));
		else if (json_is_real(x))
			put(l, "%s%s=%g", sep, key, json_real_value(x));
		else if (json_is_boolean(x))
			put(l, "%s%s=%s", sep, key, json_is_true(x) ? "true" : "false");
		else
			continue;
		n++;
	}
}

static void outcome(struct line *l, const char *type, const json_t *env, const json_t *data)
{
	const char *target = DS("target");
	if (!target)
		target = json_string_value(json_object_get(env, "subject"));
	bool failed = outcome_is_failure(type);
	put(l, "%s %s", target ? target : type, failed ? "failed" : "passed");
	const json_t *ex = D("exit");
	if (json_is_integer(ex) && (failed || json_integer_value(ex) != 0))
		put(l, " (exit %lld)", (long long)json_integer_value(ex));
	if (DS("signal"))
		put(l, " (signal %s)", DS("signal"));
	if (json_is_integer(D("duration_ms")))
		put(l, " after %.1fs", (double)json_integer_value(D("duration_ms")) / 1000.0);
	if (json_is_integer(D("diagnostics_total")) && json_integer_value(D("diagnostics_total")))
		put(l, ", %lld diagnostics", (long long)json_integer_value(D("diagnostics_total")));
	if (DS("error"))
		put(l, ": %s", DS("error"));
}

json_t *tool_event_summary(const json_t *env)
{
	const char *type = json_string_value(json_object_get(env, "type"));
	const json_t *data = json_object_get(env, "data");
	const char *subject = json_string_value(json_object_get(env, "subject"));
	struct line l = {.len = 0};
	l.buf[0] = '\0';
	if (!type)
		type = "";
	if (strcmp(type, "git.commit") == 0) {
		put(&l, "%.10s %s (%zu files", DS("hash") ? DS("hash") : "?",
		    DS("subject") ? DS("subject") : "", file_count(data));
		put(&l, "%s%s)", DS("branch") ? ", on " : "", DS("branch") ? DS("branch") : "");
	} else if (strcmp(type, "git.checkout") == 0) {
		put(&l, "checked out %s", DS("branch") ? DS("branch") : DS("to") ? DS("to") : "?");
		if (file_count(data))
			put(&l, " (%zu files changed)", file_count(data));
	} else if (strcmp(type, "git.merge") == 0) {
		put(&l, "merged into %s (%zu files)", DS("branch") ? DS("branch") : "HEAD",
		    file_count(data));
	} else if (strcmp(type, "git.rewrite") == 0) {
		put(&l, "%s on %s", DS("command") ? DS("command") : "rewrite",
		    DS("branch") ? DS("branch") : "HEAD");
	} else if (outcome_is_failure(type) || outcome_is_pass(type)) {
		outcome(&l, type, env, data);
	} else if (strcmp(type, "build.started") == 0 || strcmp(type, "test.started") == 0) {
		put(&l, "%s started: %s", DS("target") ? DS("target") : "?",
		    DS("command") ? DS("command") : "");
	} else if (strcmp(type, "shell.command") == 0) {
		put(&l, "%s", DS("command") ? DS("command") : "?");
		if (json_is_integer(D("exit")))
			put(&l, " (exit %lld)", (long long)json_integer_value(D("exit")));
	} else if (strcmp(type, "file.renamed") == 0) {
		put(&l, "%s -> %s", DS("from") ? DS("from") : "?",
		    DS("path") ? DS("path")
		    : subject  ? subject
			       : "?");
	} else if (strncmp(type, "file.", 5) == 0 && (DS("path") || subject)) {
		put(&l, "%s", DS("path") ? DS("path") : subject);
	} else if (strcmp(type, "triage.report") == 0 && DS("summary")) {
		put(&l, "%s", DS("summary"));
	} else if (strncmp(type, "kb.", 3) == 0 && DS("title")) {
		put(&l, "%s #%lld: %s", DS("kind") ? DS("kind") : "entry",
		    (long long)json_integer_value(D("id")), DS("title"));
	} else if (strcmp(type, "session.started") == 0) {
		put(&l, "session %lld started (%s)", (long long)json_integer_value(D("id")),
		    DS("reason") ? DS("reason") : "?");
	} else if (strcmp(type, "session.ended") == 0) {
		put(&l, "session %lld ended by %s after %lld events",
		    (long long)json_integer_value(D("id")), DS("ended_by") ? DS("ended_by") : "?",
		    (long long)json_integer_value(D("events")));
	} else if (strncmp(type, "agent.", 6) == 0 && DS("agent")) {
		put(&l, "%s session %.12s", DS("agent"), DS("session_id") ? DS("session_id") : "?");
		if (DS("source") || DS("reason"))
			put(&l, " (%s)", DS("source") ? DS("source") : DS("reason"));
	} else if (strncmp(type, "service.", 8) == 0 && DS("service")) {
		put(&l, "%s", DS("service"));
		if (DS("error"))
			put(&l, ": %s", DS("error"));
	} else {
		if (subject)
			put(&l, "%s", subject);
		if (json_is_object(data)) {
			if (l.len)
				put(&l, ": ");
			size_t before = l.len;
			generic(&l, data);
			if (l.len == before && before >= 2)
				l.buf[l.len -= 2] = '\0';
		}
	}
	/* One line: a multi-line command or summary is joined with spaces. */
	for (size_t i = 0; i < l.len; i++)
		if ((unsigned char)l.buf[i] < 0x20 || l.buf[i] == 0x7f)
			l.buf[i] = ' ';
	return tool_strn(l.buf, l.len, TOOL_SUMMARY_MAX);
}

json_t *tool_event_item(const struct store_q_event *ev)
{
	json_t *env = ev->envelope ? json_loadb(ev->envelope, ev->envelope_len, 0, NULL) : NULL;
	if (!env)
		return NULL;
	char when[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(when, ev->time_ms);
	const char *source = json_string_value(json_object_get(env, "source"));
	const char *project = json_string_value(json_object_get(env, "project"));
	json_t *o =
		json_pack("{s:I,s:o,s:s,s:s,s:o}", "seq", (json_int_t)ev->seq, "id",
			  tool_str(ev->id ? ev->id : "", 128), "time", when, "type",
			  ev->type ? ev->type : "", "source", tool_str(source ? source : "", 255));
	if (project)
		json_object_set_new(o, "project", tool_str(project, 1024));
	json_object_set_new(o, "summary", tool_event_summary(env));
	json_decref(env);
	return o;
}
