/* The model server's reply parser (model_parse_reply(), src/model/model.h).
 * The cases are data: each file of tests/data/model/ is one reply body, and
 * tests/data/model/cases.jsonl says what parsing it must give (README.md
 * there has the format). The code below adds what a case file cannot hold
 * well: content and arguments at and past their caps (generated), a body
 * that is not NUL-terminated, and the state a failure leaves. model_chat()
 * and model_probe() are tested against a fake server in
 * tests/integration/test_model_client.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "model/model.h"
#include "testdata.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The manifest holds at least this many cases; fewer means it was cut short
 * or not found, not that all is well. */
#define MIN_CASES 50

static char *dumps(const json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS)
		 : xstrdup("(null)");
}

/* Fails with both operands when a and b are not equal JSON. */
static void json_same(const char *file, const char *what, const json_t *want, const json_t *got)
{
	if ((!want && !got) || (want && got && json_equal(want, got)))
		return;
	char *a = dumps(want), *b = dumps(got);
	print_error("%s: %s: expected %s, got %s\n", file, what, a, b);
	free(a);
	free(b);
	fail();
}

static void str_same(const char *file, const char *what, const char *want, const char *got)
{
	if ((!want && !got) || (want && got && strcmp(want, got) == 0))
		return;
	print_error("%s: %s: expected \"%s\", got \"%s\"\n", file, what, want ? want : "(null)",
		    got ? got : "(null)");
	fail();
}

/* Checks the rules every successful parse keeps, whatever the input. */
static void check_invariants(const char *file, const struct model_reply *r)
{
	assert_non_null(r->content);
	assert_non_null(r->finish_reason);
	assert_true(strlen(r->content) <= MODEL_CONTENT_MAX);
	assert_true(r->n_calls <= MODEL_CALLS_MAX);
	assert_true(json_is_object(r->assistant_message));
	for (size_t i = 0; i < r->n_calls; i++) {
		const struct model_tool_call *c = &r->calls[i];
		assert_true(c->id && c->id[0]);
		assert_true(c->name && c->name[0] && strlen(c->name) <= MODEL_NAME_MAX);
		if (c->arguments)
			assert_true(json_is_object(c->arguments) && !c->arguments_text);
		else if (!c->arguments_text) {
			print_error("%s: call %zu has neither arguments nor their text\n", file, i);
			fail();
		}
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(c->id, r->calls[j].id);
	}
}

static void check_case(const json_t *cs)
{
	const char *file = json_string_value(json_object_get(cs, "file"));
	const char *expect = json_string_value(json_object_get(cs, "expect"));
	char path[4096];
	size_t len;

	assert_non_null(file);
	assert_non_null(expect);
	snprintf(path, sizeof path, "%s/model/%s", testdata_dir(), file);
	char *body = testdata_slurp(path, &len);
	if (!body) {
		print_error("cannot read %s\n", path);
		fail();
	}
	struct model_reply r;
	struct cairn_err err;
	int rc = model_parse_reply(body, len, &r, &err);
	free(body);

	if (strcmp(expect, "ok") != 0) {
		if (rc == 0) {
			print_error("%s: parsed, but %s was expected\n", file, expect);
			model_reply_release(&r);
			fail();
		}
		str_same(file, "code", expect, err_wire(rc));
		assert_int_equal(err.code, rc);
		str_same(file, "field", json_string_value(json_object_get(cs, "field")), err.field);
		const char *has = json_string_value(json_object_get(cs, "msg_has"));
		if (has && !strstr(err.msg, has)) {
			print_error("%s: the message \"%s\" does not say \"%s\"\n", file, err.msg,
				    has);
			fail();
		}
		/* A failure leaves nothing behind. */
		assert_null(r.content);
		assert_null(r.calls);
		assert_int_equal(r.n_calls, 0);
		assert_null(r.assistant_message);
		return;
	}
	if (rc != 0) {
		print_error("%s: %s (%s, field \"%s\")\n", file, err.msg, err_wire(rc), err.field);
		fail();
	}
	check_invariants(file, &r);
	str_same(file, "content", json_string_value(json_object_get(cs, "content")), r.content);
	str_same(file, "finish_reason", json_string_value(json_object_get(cs, "finish_reason")),
		 r.finish_reason);
	const json_t *calls = json_object_get(cs, "calls");
	if (json_array_size(calls) != r.n_calls) {
		print_error("%s: expected %zu calls, got %zu\n", file, json_array_size(calls),
			    r.n_calls);
		fail();
	}
	for (size_t i = 0; i < r.n_calls; i++) {
		const json_t *want = json_array_get(calls, i);
		const struct model_tool_call *c = &r.calls[i];
		char what[64];
		snprintf(what, sizeof what, "call %zu id", i);
		str_same(file, what, json_string_value(json_object_get(want, "id")), c->id);
		snprintf(what, sizeof what, "call %zu name", i);
		str_same(file, what, json_string_value(json_object_get(want, "name")), c->name);
		snprintf(what, sizeof what, "call %zu arguments", i);
		const json_t *wa = json_object_get(want, "arguments");
		json_same(file, what, json_is_null(wa) ? NULL : wa, c->arguments);
		snprintf(what, sizeof what, "call %zu arguments_text", i);
		str_same(file, what, json_string_value(json_object_get(want, "arguments_text")),
			 c->arguments_text);
		if (json_is_true(json_object_get(want, "from_content")) != c->from_content) {
			print_error("%s: call %zu from_content is %d\n", file, i, c->from_content);
			fail();
		}
	}
	const json_t *am = json_object_get(cs, "assistant_message");
	if (am)
		json_same(file, "assistant_message", am, r.assistant_message);
	/* Every assistant message: the role, the content, ids and arguments
	 * as strings that match the calls. */
	const json_t *m = r.assistant_message;
	str_same(file, "role", "assistant", json_string_value(json_object_get(m, "role")));
	str_same(file, "message content", r.content,
		 json_string_value(json_object_get(m, "content")));
	const json_t *tcs = json_object_get(m, "tool_calls");
	assert_int_equal(json_array_size(tcs), r.n_calls);
	if (r.n_calls == 0)
		assert_null(tcs);
	for (size_t i = 0; i < r.n_calls; i++) {
		const json_t *tc = json_array_get(tcs, i);
		const json_t *fn = json_object_get(tc, "function");
		str_same(file, "message id", r.calls[i].id,
			 json_string_value(json_object_get(tc, "id")));
		str_same(file, "message type", "function",
			 json_string_value(json_object_get(tc, "type")));
		str_same(file, "message name", r.calls[i].name,
			 json_string_value(json_object_get(fn, "name")));
		const char *args = json_string_value(json_object_get(fn, "arguments"));
		assert_non_null(args);
		json_t *parsed = json_loads(args, 0, NULL);
		json_t *empty = json_object();
		json_same(file, "message arguments",
			  r.calls[i].arguments ? r.calls[i].arguments : empty, parsed);
		json_decref(parsed);
		json_decref(empty);
	}
	model_reply_release(&r);
	assert_null(r.content);
	assert_int_equal(r.n_calls, 0);
}

static void test_cases(void **state)
{
	char path[4096];
	size_t len;
	snprintf(path, sizeof path, "%s/model/cases.jsonl", testdata_dir());
	char *text = testdata_slurp(path, &len);
	if (!text) {
		print_error("cannot read %s\n", path);
		fail();
	}
	int n = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t je;
		json_t *cs = json_loads(line, 0, &je);
		if (!cs) {
			print_error("%s: a line is not JSON: %s\n", path, je.text);
			fail();
		}
		check_case(cs);
		json_decref(cs);
		n++;
	}
	free(text);
	if (n < MIN_CASES) {
		print_error("%s holds %d cases; at least %d expected\n", path, n, MIN_CASES);
		fail();
	}
}

/* A reply whose message content is the JSON string s. */
static char *reply_with_content(const char *s)
{
	json_t *b = json_pack("{s:[{s:{s:s}}]}", "choices", "message", "content", s);
	char *t = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return t;
}

static void test_content_cut_at_a_character(void **state)
{
	/* "a" then 2-byte characters: the cap falls inside one. */
	size_t k = (MODEL_CONTENT_MAX + 1000) / 2;
	char *s = xmalloc(1 + 2 * k + 1);
	s[0] = 'a';
	for (size_t j = 0; j < k; j++)
		memcpy(s + 1 + 2 * j, "\xc3\xa9", 2);
	s[1 + 2 * k] = '\0';
	char *body = reply_with_content(s);
	struct model_reply r;
	struct cairn_err err;
	assert_int_equal(model_parse_reply(body, strlen(body), &r, &err), 0);
	size_t got = strlen(r.content);
	assert_int_equal(got, MODEL_CONTENT_MAX - 1); /* the 'a' and whole characters */
	assert_memory_equal(r.content, s, got);
	assert_true(((unsigned char)r.content[got - 1] & 0xc0) == 0x80);
	model_reply_release(&r);
	free(body);

	/* Exactly at the cap: kept whole. */
	memset(s, 'b', MODEL_CONTENT_MAX);
	s[MODEL_CONTENT_MAX] = '\0';
	body = reply_with_content(s);
	assert_int_equal(model_parse_reply(body, strlen(body), &r, &err), 0);
	assert_int_equal(strlen(r.content), MODEL_CONTENT_MAX);
	model_reply_release(&r);
	free(body);
	free(s);
}

/* A reply with one call whose arguments are {"q": "xxx..."} of n bytes in
 * all, as a string or as an object. */
static char *reply_with_args(size_t n, bool as_object)
{
	size_t pad = n - strlen("{\"q\":\"\"}");
	char *q = xmalloc(pad + 1);
	memset(q, 'x', pad);
	q[pad] = '\0';
	json_t *args = json_pack("{s:s}", "q", q);
	char *text = json_dumps(args, JSON_COMPACT);
	assert_int_equal(strlen(text), n);
	json_t *b = json_pack("{s:[{s:{s:[{s:s, s:{s:s, s:o}}]}}]}", "choices", "message",
			      "tool_calls", "id", "c1", "function", "name", "kb_search",
			      "arguments", as_object ? args : json_string(text));
	if (!as_object)
		json_decref(args);
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	free(text);
	free(q);
	return body;
}

static void test_arguments_cap(void **state)
{
	for (int as_object = 0; as_object <= 1; as_object++) {
		struct model_reply r;
		struct cairn_err err;
		char *body = reply_with_args(MODEL_ARGS_MAX, as_object);
		assert_int_equal(model_parse_reply(body, strlen(body), &r, &err), 0);
		assert_int_equal(r.n_calls, 1);
		assert_true(json_is_object(r.calls[0].arguments));
		model_reply_release(&r);
		free(body);

		body = reply_with_args(MODEL_ARGS_MAX + 1, as_object);
		assert_int_equal(model_parse_reply(body, strlen(body), &r, &err), CAIRN_E_PROTO);
		assert_string_equal(err.field, "tool_calls[0].function.arguments");
		assert_non_null(strstr(err.msg, "at most 65536"));
		assert_null(r.calls);
		free(body);
	}
}

static void test_length_is_respected(void **state)
{
	/* The body is len bytes: what follows is not read. */
	const char *text = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}GARBAGE";
	size_t len = strlen(text) - strlen("GARBAGE");
	char *copy = xmalloc(len); /* no NUL after it: ASan sees any overread */
	memcpy(copy, text, len);
	struct model_reply r;
	struct cairn_err err;
	assert_int_equal(model_parse_reply(copy, len, &r, &err), 0);
	assert_string_equal(r.content, "hi");
	model_reply_release(&r);
	assert_int_equal(model_parse_reply(text, strlen(text), &r, &err), CAIRN_E_PROTO);
	free(copy);
}

static void test_release_twice(void **state)
{
	struct model_reply r = {0};
	model_reply_release(&r);
	model_reply_release(&r);
	model_reply_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_content_cut_at_a_character),
		cmocka_unit_test(test_arguments_cap),
		cmocka_unit_test(test_length_is_respected),
		cmocka_unit_test(test_release_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
