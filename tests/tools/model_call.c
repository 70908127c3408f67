/* Calls model_chat() or model_probe() (src/model/model.h) against a server
 * and prints one JSON line of what came back, for the integration tests
 * (tests/integration/test_model_client.py) and for poking at a real server.
 *
 * Usage: model_call [options] URL DEADLINE_MS
 *   URL          the base URL, incl. /v1 ("http://127.0.0.1:11434/v1")
 *   DEADLINE_MS  the deadline, from the start of each call (for --probe:
 *                the probe's timeout)
 * Options:
 *   --probe            model_probe() instead of model_chat()
 *   --model NAME       the model name (default "fake-model")
 *   --max-body N       model_config.max_body (default: the library's)
 *   --connect-ms N     model_config.connect_timeout_ms
 *   --messages JSON    the messages (default: one user message, "hello");
 *                      @FILE reads them from FILE
 *   --tools JSON       the tools (default: cairn's own, from the registry;
 *                      "null" sends none); @FILE reads them from FILE
 *   --repeat N         N calls in a row (URL may then be a comma-separated
 *                      list, used in turn); prints the process's open file
 *                      descriptors before and after, and a count per code
 *   --threads T        with --repeat: the calls spread over T threads
 *
 * One call prints {"rc", "code" (the wire name, or the errno name such as
 * "ETIMEDOUT"), "field", "msg", "content", "finish_reason", "calls": [{id,
 * name, arguments, arguments_text, from_content}], "assistant_message",
 * "ms"}. --repeat prints {"calls", "fds_before", "fds_after", "codes": {code:
 * count}, "ms"}. Exit status 0 unless the arguments are wrong. */
#include "common/clock.h"
#include "common/err.h"
#include "model/model.h"
#include "tools/tools.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *code_name(int rc)
{
	if (rc == 0)
		return "ok";
	if (rc <= -CAIRN_E_BASE)
		return err_wire(rc);
	const char *n = strerrorname_np(-rc);
	return n ? n : "internal";
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

static json_t *cairn_tools(void)
{
	size_t n;
	const struct tool *const *all = tools_all(&n);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:{s:s, s:s, s:O}}", "type", "function",
						     "function", "name", all[i]->name,
						     "description", all[i]->description,
						     "parameters", tool_input_schema(all[i])));
	return arr;
}

static double ms_since(uint64_t t0)
{
	return (double)(clock_mono_ns() - t0) / 1e6;
}

static void print_one(int rc, const struct cairn_err *err, const struct model_reply *r, double ms)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:f}", "rc", rc, "code", code_name(rc), "field",
			      err->field, "msg", err->msg, "ms", ms);
	if (rc == 0 && r) {
		json_t *calls = json_array();
		for (size_t i = 0; i < r->n_calls; i++) {
			const struct model_tool_call *c = &r->calls[i];
			json_array_append_new(calls,
					      json_pack("{s:s, s:s, s:O?, s:s?, s:b}", "id", c->id,
							"name", c->name, "arguments", c->arguments,
							"arguments_text", c->arguments_text,
							"from_content", c->from_content));
		}
		json_object_set_new(o, "content", json_string(r->content));
		json_object_set_new(o, "finish_reason", json_string(r->finish_reason));
		json_object_set_new(o, "calls", calls);
		json_object_set(o, "assistant_message", r->assistant_message);
	}
	char *s = json_dumps(o, JSON_COMPACT);
	puts(s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

struct run {
	struct model_config cfg;
	char **urls;
	size_t n_urls;
	long deadline_ms;
	bool probe;
	json_t *messages, *tools;
	/* --repeat */
	long first, step, count; /* this thread's calls: first, first+step, ... */
	long codes[64];          /* per code: the index in code_names */
	const char *code_names[64];
	size_t n_codes;
};

static int one_call(struct run *r, const char *url, struct model_reply *reply,
		    struct cairn_err *err)
{
	struct model_config cfg = r->cfg;
	cfg.url = url;
	if (r->probe)
		return model_probe(&cfg, r->deadline_ms, err);
	uint64_t deadline = clock_mono_ns() + (uint64_t)r->deadline_ms * 1000000;
	return model_chat(&cfg, r->messages, r->tools, deadline, reply, err);
}

static void *repeat_thread(void *arg)
{
	struct run *r = arg;
	for (long i = r->first; i < r->count; i += r->step) {
		struct model_reply reply;
		struct cairn_err err;
		int rc = one_call(r, r->urls[(size_t)i % r->n_urls], &reply, &err);
		if (rc == 0 && !r->probe)
			model_reply_release(&reply);
		const char *name = code_name(rc);
		size_t k;
		for (k = 0; k < r->n_codes && strcmp(r->code_names[k], name) != 0; k++)
			;
		if (k == r->n_codes && k < 64)
			r->code_names[r->n_codes++] = name;
		if (k < 64)
			r->codes[k]++;
	}
	return NULL;
}

static char **split(const char *s, size_t *n)
{
	char *copy = strdup(s), *save = NULL;
	char **out = calloc(strlen(s) + 1, sizeof *out);
	*n = 0;
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
		out[(*n)++] = strdup(p);
	free(copy);
	return out;
}

/* A JSON option's value: the text, or with a leading '@' a file's. */
static json_t *parse_json_arg(const char *what, const char *s)
{
	json_error_t je;
	json_t *v = s[0] == '@' ? json_load_file(s + 1, JSON_DECODE_ANY, &je)
				: json_loads(s, JSON_DECODE_ANY, &je);
	if (!v) {
		fprintf(stderr, "model_call: %s is not JSON: %s\n", what, je.text);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct run run = {.cfg = {.name = "fake-model"}};
	long repeat = 0, threads = 1;
	const char *pos[2];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--probe") == 0) {
			run.probe = true;
		} else if (strcmp(a, "--model") == 0 && v) {
			run.cfg.name = v, i++;
		} else if (strcmp(a, "--max-body") == 0 && v) {
			run.cfg.max_body = strtoul(v, NULL, 10), i++;
		} else if (strcmp(a, "--connect-ms") == 0 && v) {
			run.cfg.connect_timeout_ms = strtol(v, NULL, 10), i++;
		} else if (strcmp(a, "--messages") == 0 && v) {
			run.messages = parse_json_arg("--messages", v), i++;
		} else if (strcmp(a, "--tools") == 0 && v) {
			run.tools = parse_json_arg("--tools", v), i++;
			if (json_is_null(run.tools)) {
				json_decref(run.tools);
				run.tools = json_array();
			}
		} else if (strcmp(a, "--repeat") == 0 && v) {
			repeat = strtol(v, NULL, 10), i++;
		} else if (strcmp(a, "--threads") == 0 && v) {
			threads = strtol(v, NULL, 10), i++;
		} else if (a[0] != '-' && npos < 2) {
			pos[npos++] = a;
		} else {
			npos = -1;
			break;
		}
	}
	if (npos != 2 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: model_call [--probe] [--model NAME] [--max-body N] "
				"[--connect-ms N] [--messages JSON] [--tools JSON] [--repeat N "
				"[--threads T]] URL DEADLINE_MS\n");
		return 2;
	}
	run.urls = split(pos[0], &run.n_urls);
	run.deadline_ms = strtol(pos[1], NULL, 10);
	if (!run.messages)
		run.messages = json_pack("[{s:s, s:s}]", "role", "user", "content", "hello");
	if (!run.tools)
		run.tools = cairn_tools();

	if (repeat <= 0) {
		struct model_reply reply = {0};
		struct cairn_err err;
		uint64_t t0 = clock_mono_ns();
		int rc = one_call(&run, run.urls[0], &reply, &err);
		print_one(rc, &err, run.probe ? NULL : &reply, ms_since(t0));
		if (rc == 0 && !run.probe)
			model_reply_release(&reply);
	} else {
		struct run *per = calloc((size_t)threads, sizeof *per);
		pthread_t tid[64];
		int before = count_fds();
		uint64_t t0 = clock_mono_ns();
		for (long t = 0; t < threads; t++) {
			per[t] = run;
			per[t].first = t;
			per[t].step = threads;
			per[t].count = repeat;
			pthread_create(&tid[t], NULL, repeat_thread, &per[t]);
		}
		json_t *codes = json_object();
		for (long t = 0; t < threads; t++) {
			pthread_join(tid[t], NULL);
			for (size_t k = 0; k < per[t].n_codes; k++) {
				const char *name = per[t].code_names[k];
				json_int_t was = json_integer_value(json_object_get(codes, name));
				json_object_set_new(codes, name,
						    json_integer(was + per[t].codes[k]));
			}
		}
		int after = count_fds();
		json_t *o = json_pack("{s:I, s:i, s:i, s:o, s:f}", "calls", (json_int_t)repeat,
				      "fds_before", before, "fds_after", after, "codes", codes,
				      "ms", ms_since(t0));
		char *s = json_dumps(o, JSON_COMPACT);
		puts(s);
		free(s);
		json_decref(o);
		free(per);
	}
	for (size_t i = 0; i < run.n_urls; i++)
		free(run.urls[i]);
	free(run.urls);
	json_decref(run.messages);
	json_decref(run.tools);
	return 0;
}
