/* The deterministic reasoner; ask.h is the manual. */
#include "ask/ask.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "tools/tools.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANSWER_MAX (32 * 1024)
#define LIST_SHOWN 5

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void add_source(json_t *sources, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_source(json_t *sources, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	size_t i;
	const json_t *v;
	json_array_foreach(sources, i, v)
		if (strcmp(json_string_value(v), buf) == 0)
			return;
	json_array_append_new(sources, json_string(buf));
}

/* Runs tool name with args (stolen), records the call. Returns the result
 * (a new reference) or NULL with err filled. */
static json_t *call(struct tool_ctx *c, struct ask_answer *a, const char *name, json_t *args,
		    struct cairn_err *err)
{
	const struct tool *t = tool_find(name);
	json_t *res = NULL;
	uint64_t t0 = clock_mono_ns();
	int r = t ? tool_call(c, t, args, &res, err)
		  : cairn_err_set(err, CAIRN_E_NOTFOUND, "", "no tool %s", name);
	/* Milliseconds, to the hundredth. */
	double ms = (double)((clock_mono_ns() - t0) / 10000) / 100.0;
	json_array_append_new(a->tool_calls, json_pack("{s:s,s:O,s:f,s:b}", "tool", name,
						       "arguments", args, "ms", ms, "ok", r == 0));
	json_decref(args);
	return r ? NULL : res;
}

/* ---- composing: one function per tool's result ---- */

static void say_generic(struct buf *b, const json_t *v, int depth, const char *key);
static void collect_sources(const json_t *v, json_t *sources, int depth);

static void say_entries(struct buf *b, const json_t *res, json_t *sources, const char *what)
{
	const json_t *entries = json_object_get(res, "entries");
	size_t i;
	const json_t *e;
	buf_addf(b, "%s:\n", what);
	json_array_foreach(entries, i, e) {
		if (i >= LIST_SHOWN)
			break;
		json_int_t id = json_integer_value(json_object_get(e, "id"));
		buf_addf(b, "  #%lld %s: %s", (long long)id, str(e, "kind"), str(e, "title"));
		const char *snip = str(e, "snippet");
		if (*snip && strcmp(snip, str(e, "title")) != 0)
			buf_addf(b, "\n      %.240s", snip);
		if (json_integer_value(json_object_get(e, "superseded_by")))
			buf_addf(
				b, "\n      (superseded by #%lld)",
				(long long)json_integer_value(json_object_get(e, "superseded_by")));
		buf_addch(b, '\n');
		add_source(sources, "kb:%lld", (long long)id);
	}
	if (json_array_size(entries) > LIST_SHOWN)
		buf_addf(b, "  (%zu more: cairn kb search)\n",
			 json_array_size(entries) - LIST_SHOWN);
}

static void say_failure(struct buf *b, const json_t *res, json_t *sources)
{
	if (!json_is_true(json_object_get(res, "found"))) {
		buf_addf(b, "%s.\n",
			 *str(res, "message") ? str(res, "message")
					      : "No failure is logged in this project");
		return;
	}
	const json_t *f = json_object_get(res, "failure");
	const json_t *rep = json_object_get(res, "report");
	add_source(sources, "event:%s", str(f, "id"));
	buf_addf(b, "%s %s failed at %s", str(f, "type"), *str(f, "target") ? str(f, "target") : "",
		 str(f, "time"));
	if (json_is_integer(json_object_get(f, "exit_code")))
		buf_addf(b, " (exit %lld)",
			 (long long)json_integer_value(json_object_get(f, "exit_code")));
	buf_addf(b, "%s.\n", json_is_true(json_object_get(res, "open")) ? ", still failing" : "");
	if (!json_is_object(rep)) {
		buf_addf(b, "%s\n", str(res, "note"));
		return;
	}
	buf_addf(b, "%s\n", str(rep, "summary"));
	const json_t *lines = json_object_get(rep, "excerpt");
	size_t i;
	const json_t *l;
	if (json_array_size(lines)) {
		buf_addstr(b, "The lines that explain it:\n");
		json_array_foreach(lines, i, l) {
			if (i >= 8)
				break;
			buf_addf(b, "  %5lld | %s\n",
				 (long long)json_integer_value(json_object_get(l, "line")),
				 str(l, "text"));
		}
	}
	const json_t *fx;
	json_array_foreach(json_object_get(rep, "fixes"), i, fx) {
		if (i >= 2)
			break;
		json_int_t id = json_integer_value(json_object_get(fx, "id"));
		buf_addf(b, "Known fix #%lld: %s (%s)\n", (long long)id, str(fx, "title"),
			 str(fx, "reason"));
		add_source(sources, "kb:%lld", (long long)id);
	}
	const json_t *s;
	json_array_foreach(json_object_get(rep, "suspects"), i, s) {
		if (i >= 3)
			break;
		buf_addf(b, "%s %s (%s)\n", i ? "  also:" : "Most likely cause:", str(s, "path"),
			 str(s, "relation"));
	}
}

static void say_predictions(struct buf *b, const json_t *res)
{
	size_t i;
	const json_t *p;
	const json_t *files = json_object_get(res, "files");
	if (json_array_size(files)) {
		buf_addf(b, "Likely next files (from %s):\n", str(res, "given_from"));
		json_array_foreach(files, i, p)
			buf_addf(b, "  %s: %s\n", str(p, "path"), str(p, "reason"));
	} else if (json_object_get(res, "files")) {
		buf_addstr(b,
			   "No file prediction yet: no file of this project has changed together "
			   "with the files in focus (it learns from commits).\n");
	}
	const json_t *cmds = json_object_get(res, "commands");
	if (json_array_size(cmds)) {
		buf_addstr(b, "Likely next commands:\n");
		json_array_foreach(cmds, i, p)
			buf_addf(b, "  %s: %s\n", str(p, "command"), str(p, "reason"));
	} else if (json_object_get(res, "commands")) {
		buf_addstr(b, "No command prediction yet: it learns from the shell hook's commands "
			      "('cairn shell-init').\n");
	}
}

/* "2026-12-03T16:05:02.320Z" as "2026-12-03 16:05" (UTC, as stored). */
static void short_time(char *out, size_t n, const char *iso)
{
	if (strlen(iso) >= 16)
		snprintf(out, n, "%.10s %.5s", iso, iso + 11);
	else
		snprintf(out, n, "%s", iso);
}

static void say_session(struct buf *b, const json_t *res, json_t *sources)
{
	char t0[32], t1[32];
	short_time(t0, sizeof t0, str(res, "start"));
	short_time(t1, sizeof t1, str(res, "last_activity"));
	bool open = json_is_true(json_object_get(res, "open"));
	buf_addf(b, "%s session in %s: %s to %s UTC, %lld events%s.\n",
		 open ? "Your current" : "Your last", str(res, "project"), t0, t1,
		 (long long)json_integer_value(json_object_get(res, "events")),
		 *str(res, "agent") ? " (an agent's)" : "");
	if (*str(res, "note"))
		buf_addf(b, "Note: %s\n", str(res, "note"));
	size_t i;
	const json_t *x;
	if (json_array_size(json_object_get(res, "files"))) {
		buf_addstr(b, "Files you worked on most:");
		json_array_foreach(json_object_get(res, "files"), i, x)
			buf_addf(b, "%s %s (%lld)", i ? "," : "", str(x, "path"),
				 (long long)json_integer_value(json_object_get(x, "n")));
		buf_addch(b, '\n');
	}
	if (json_array_size(json_object_get(res, "branches"))) {
		buf_addstr(b, "Branch:");
		json_array_foreach(json_object_get(res, "branches"), i, x)
			buf_addf(b, "%s %s", i ? "," : "",
				 json_string_value(x) ? json_string_value(x) : "");
		buf_addch(b, '\n');
	}
	json_array_foreach(json_object_get(res, "targets"), i, x) {
		if (i >= LIST_SHOWN)
			break;
		buf_addf(b, "Built: %s, %s\n", str(x, "target"), str(x, "state"));
	}
	json_array_foreach(json_object_get(res, "failing"), i, x) {
		buf_addf(b, "Still failing: %s%s%s\n",
			 json_is_string(x) ? json_string_value(x) : str(x, "target"),
			 *str(x, "gist") ? ": " : "", str(x, "gist"));
	}
	json_array_foreach(json_object_get(res, "commits"), i, x) {
		if (i >= 3)
			break;
		buf_addf(b, "Commit %.10s %s\n", str(x, "hash"), str(x, "subject"));
	}
	json_array_foreach(json_object_get(res, "knowledge"), i, x) {
		if (i >= 3)
			break;
		buf_addf(b, "Knowledge %s: %s\n", str(x, "what"), str(x, "title"));
	}
	json_array_foreach(json_object_get(res, "commands"), i, x) {
		if (i >= 3)
			break;
		buf_addf(b, "Ran: %s\n",
			 json_is_string(x) ? json_string_value(x) : str(x, "command"));
	}
	collect_sources(res, sources, 0);
}

static void say_project(struct buf *b, const json_t *res, json_t *sources)
{
	const json_t *git = json_object_get(res, "git");
	if (json_is_object(git)) {
		json_int_t dirty = json_integer_value(json_object_get(git, "dirty_count"));
		buf_addf(b, "On branch %s at %.10s (%s); %s.\n", str(git, "branch"),
			 str(git, "head"), str(git, "head_subject"),
			 dirty ? "uncommitted changes" : "the work tree is clean");
		size_t i;
		const json_t *f;
		if (dirty) {
			buf_addstr(b, "Uncommitted:");
			json_array_foreach(json_object_get(git, "dirty"), i, f) {
				if (i >= 8)
					break;
				buf_addf(b, "%s %s", i ? "," : "",
					 json_is_string(f) ? json_string_value(f) : str(f, "path"));
			}
			if (dirty > 8)
				buf_addf(b, " (%lld in all)", (long long)dirty);
			buf_addch(b, '\n');
		}
	} else if (*str(res, "git_note")) {
		buf_addf(b, "%s\n", str(res, "git_note"));
	}
	json_int_t open = json_integer_value(json_object_get(res, "open_failures"));
	if (open)
		buf_addf(b, "%lld failure%s still open:\n", (long long)open, open == 1 ? "" : "s");
	else
		buf_addstr(b, "Nothing is failing.\n");
	size_t i;
	const json_t *x;
	json_array_foreach(json_object_get(res, "failing"), i, x)
		buf_addf(b, "  %s: %s\n", str(x, "target"),
			 *str(x, "gist") ? str(x, "gist") : str(x, "message"));
	json_array_foreach(json_object_get(res, "targets"), i, x) {
		if (i >= 8)
			break;
		char t[32];
		short_time(t, sizeof t, str(x, "time"));
		buf_addf(b, "  %s: %s (%s UTC)\n", str(x, "target"), str(x, "state"), t);
	}
	buf_addf(b, "The cairn daemon is %s.\n",
		 json_is_true(json_object_get(res, "daemon_running"))
			 ? "running"
			 : "not running: nothing new is recorded (start it with 'cairn daemon')");
	json_array_foreach(json_object_get(res, "breakers"), i, x)
		buf_addf(b, "Breaker %s: %s%s%s\n", str(x, "name"), str(x, "state"),
			 *str(x, "last_error") ? ", last error: " : "", str(x, "last_error"));
	collect_sources(res, sources, 0);
}

static void say_activity(struct buf *b, const json_t *res, json_t *sources)
{
	const json_t *evs = json_object_get(res, "events");
	if (!json_array_size(evs)) {
		buf_addstr(b, "Nothing was recorded in that time.\n");
		return;
	}
	size_t i;
	const json_t *e;
	json_array_foreach(evs, i, e) {
		if (i >= 15) {
			buf_addf(b, "  (and more: cairn log)\n");
			break;
		}
		char t[32];
		short_time(t, sizeof t, str(e, "time"));
		buf_addf(b, "  %s  %-14s %s\n", t, str(e, "type"), str(e, "summary"));
		add_source(sources, "seq:%lld",
			   (long long)json_integer_value(json_object_get(e, "seq")));
	}
	if (json_is_true(json_object_get(res, "more")) && json_array_size(evs) <= 15)
		buf_addstr(b, "  (and more: cairn log)\n");
}

static void say_event(struct buf *b, const json_t *res, json_t *sources)
{
	const json_t *ev = json_object_get(res, "event");
	char t[32];
	short_time(t, sizeof t, str(ev, "time"));
	buf_addf(b, "Event %lld, %s from %s at %s UTC%s%s.\n",
		 (long long)json_integer_value(json_object_get(ev, "seq")), str(ev, "type"),
		 str(ev, "source"), t, *str(ev, "project") ? " in " : "", str(ev, "project"));
	add_source(sources, "event:%s", str(ev, "id"));
	const json_t *data = json_object_get(ev, "data");
	if (json_is_object(data)) {
		buf_addstr(b, "Data:\n");
		say_generic(b, data, 1, NULL);
	}
	const json_t *f = json_object_get(res, "failure");
	if (json_is_object(f)) {
		const json_t *rep = json_object_get(f, "report");
		if (json_is_object(rep) && *str(rep, "summary"))
			buf_addf(b, "Triage: %s\n", str(rep, "summary"));
		buf_addf(b, "%s\n",
			 json_is_true(json_object_get(f, "resolved"))
				 ? "It was resolved by a later pass."
				 : "It is not resolved yet.");
	}
	size_t i;
	const json_t *k;
	json_array_foreach(json_object_get(res, "knowledge"), i, k) {
		buf_addf(b, "Knowledge from it: #%lld %s\n",
			 (long long)json_integer_value(json_object_get(k, "id")), str(k, "title"));
		add_source(sources, "kb:%lld",
			   (long long)json_integer_value(json_object_get(k, "id")));
	}
	if (json_array_size(json_object_get(res, "related")))
		buf_addf(b, "%zu related events (the same correlation id).\n",
			 json_array_size(json_object_get(res, "related")));
}

/* A generic rendering of any result: its scalar fields, then the first
 * items of its lists, one line each. For tools without a composer of their
 * own, so an answer is never empty. */
static void say_generic(struct buf *b, const json_t *v, int depth, const char *key)
{
	if (depth > 3 || b->len > ANSWER_MAX / 2)
		return;
	if (json_is_object(v)) {
		const char *k;
		const json_t *x;
		json_object_foreach((json_t *)v, k, x) {
			if (json_is_object(x) || json_is_array(x)) {
				if (json_is_array(x) && !json_array_size(x))
					continue;
				buf_addf(b, "%*s%s:\n", depth * 2, "", k);
				say_generic(b, x, depth + 1, k);
			} else {
				char *s = json_dumps(x, JSON_ENCODE_ANY);
				buf_addf(b, "%*s%s: %.200s\n", depth * 2, "", k,
					 json_is_string(x) ? json_string_value(x)
					 : s               ? s
							   : "");
				free(s);
			}
		}
	} else if (json_is_array(v)) {
		size_t i;
		const json_t *x;
		json_array_foreach(v, i, x) {
			if (i >= 8) {
				buf_addf(b, "%*s(%zu more)\n", depth * 2, "",
					 json_array_size(v) - 8);
				break;
			}
			if (json_is_object(x) || json_is_array(x)) {
				char *s = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
				buf_addf(b, "%*s- %.300s\n", depth * 2, "", s ? s : "");
				free(s);
			} else {
				char *s = json_dumps(x, JSON_ENCODE_ANY);
				buf_addf(b, "%*s- %.200s\n", depth * 2, "",
					 json_is_string(x) ? json_string_value(x)
					 : s               ? s
							   : "");
				free(s);
			}
		}
	}
	(void)key;
}

/* Sources any result names: event ids and seqs, entry ids. */
static void collect_sources(const json_t *v, json_t *sources, int depth)
{
	if (depth > 4)
		return;
	if (json_is_object(v)) {
		const char *k;
		const json_t *x;
		json_object_foreach((json_t *)v, k, x) {
			if (strcmp(k, "seq") == 0 && json_is_integer(x))
				add_source(sources, "seq:%lld", (long long)json_integer_value(x));
			else
				collect_sources(x, sources, depth + 1);
		}
	} else if (json_is_array(v)) {
		size_t i;
		const json_t *x;
		json_array_foreach(v, i, x) {
			if (json_array_size(sources) > 40)
				return;
			collect_sources(x, sources, depth + 1);
		}
	}
}

/* ---- the reasoner ---- */

int ask_deterministic(struct tool_ctx *c, const char *question, struct ask_answer *out,
		      struct cairn_err *err)
{
	memset(out, 0, sizeof *out);
	size_t ql = question ? strlen(question) : 0;
	size_t blank = question ? strspn(question, " \t\r\n") : 0;
	if (!ql || blank == ql)
		return cairn_err_set(err, CAIRN_E_INVALID, "question",
				     "the question is empty; ask e.g. \"why did the build fail?\"");
	if (ql > ASK_QUESTION_MAX)
		return cairn_err_set(err, CAIRN_E_INVALID, "question",
				     "the question is %zu bytes, over the %d allowed", ql,
				     ASK_QUESTION_MAX);
	out->reasoner = "deterministic";
	out->tool_calls = json_array();
	out->sources = json_array();
	struct ask_route r;
	ask_route(question, c->now_ms, &r);
	out->family = r.family;
	struct buf b = BUF_INIT(ANSWER_MAX);
	struct cairn_err te;
	json_t *res = call(c, out, r.tool, json_incref(r.args), &te);
	/* Nothing of the kind asked: search every kind once more. */
	if (res &&
	    (r.family == ASK_HOW_FIXED || r.family == ASK_DECIDED || r.family == ASK_MISTAKES) &&
	    !json_array_size(json_object_get(res, "entries"))) {
		json_t *wider = json_deep_copy(r.args);
		json_object_del(wider, "kind");
		json_t *res2 = call(c, out, "search_knowledge", wider, &te);
		if (res2 && json_array_size(json_object_get(res2, "entries"))) {
			buf_addf(&b, "No %s is recorded for that; other entries match:\n",
				 str(r.args, "kind"));
			json_decref(res);
			res = res2;
		} else {
			json_decref(res2);
		}
	}
	if (!res) {
		buf_addf(&b, "I could not answer with %s: %s\n", r.tool, te.msg);
	} else {
		switch (r.family) {
		case ASK_WHY_FAILED: say_failure(&b, res, out->sources); break;
		case ASK_HOW_FIXED:
		case ASK_DECIDED:
		case ASK_MISTAKES:
		case ASK_SEARCH: {
			const char *q = str(r.args, "query");
			if (!json_array_size(json_object_get(res, "entries"))) {
				buf_addf(&b,
					 "Nothing in the knowledge base matches%s%s%s. Record it "
					 "when you know: cairn kb add KIND TITLE.\n",
					 *q ? " '" : "", q, *q ? "'" : "");
			} else {
				char what[300];
				snprintf(what, sizeof what, "From the knowledge base%s%.200s%s",
					 *q ? " (" : "", q, *q ? ")" : "");
				say_entries(&b, res, out->sources, what);
			}
			break;
		}
		case ASK_NEXT: say_predictions(&b, res); break;
		case ASK_RECORD: {
			json_int_t id = json_integer_value(json_object_get(res, "id"));
			buf_addf(&b, "%s %s #%lld: %s\n",
				 json_is_true(json_object_get(res, "duplicate"))
					 ? "Already recorded as"
					 : "Recorded",
				 str(res, "kind"), (long long)id, str(res, "title"));
			buf_addf(&b,
				 "(Change it with 'cairn kb edit %lld', undo with 'cairn kb forget "
				 "%lld'.)\n",
				 (long long)id, (long long)id);
			add_source(out->sources, "kb:%lld", (long long)id);
			break;
		}
		case ASK_BRIEF: buf_addstr(&b, str(res, "brief")); break;
		case ASK_WHAT_DOING: say_session(&b, res, out->sources); break;
		case ASK_HEALTH: say_project(&b, res, out->sources); break;
		case ASK_CHANGED: say_activity(&b, res, out->sources); break;
		case ASK_EXPLAIN: say_event(&b, res, out->sources); break;
		default:
			say_generic(&b, res, 0, NULL);
			collect_sources(res, out->sources, 0);
			break;
		}
	}
	json_decref(res);
	ask_route_release(&r);
	out->answer = buf_detach(&b, NULL);
	return 0;
}

json_t *ask_answer_json(const struct ask_answer *a)
{
	bool det = !a->reasoner || strcmp(a->reasoner, "deterministic") == 0;
	json_t *o = json_pack("{s:s,s:s}", "answer", a->answer ? a->answer : "", "reasoner",
			      det ? "deterministic" : a->reasoner);
	/* The family is the router's: only the deterministic reasoner has one. */
	if (det)
		json_object_set_new(o, "family", json_string(ask_family_name(a->family)));
	json_object_set(o, "tool_calls", a->tool_calls ? a->tool_calls : json_array());
	json_object_set(o, "sources", a->sources ? a->sources : json_array());
	if (a->fallback_reason)
		json_object_set_new(o, "fallback_reason", json_string(a->fallback_reason));
	return o;
}

void ask_answer_release(struct ask_answer *a)
{
	free(a->answer);
	free(a->fallback_reason);
	json_decref(a->tool_calls);
	json_decref(a->sources);
	memset(a, 0, sizeof *a);
}
