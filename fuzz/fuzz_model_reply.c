/* libFuzzer target for the model server's reply parser (model_parse_reply(),
 * src/model/model.h): any bytes either fail with a code and a message and
 * leave nothing behind, or give a reply that follows the header's rules, so
 * that the caller can run its calls and send its assistant message back
 * without checking them again. */
#include "model/model.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "broken rule: %s\n", what);
		abort();
	}
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= MODEL_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Whether s is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_ok(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s;
		int n = c < 0x80         ? 0
			: (c >> 5) == 6  ? 1
			: (c >> 4) == 14 ? 2
			: (c >> 3) == 30 ? 3
					 : -1;
		if (n < 0)
			return 0;
		unsigned cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		static const unsigned min[] = {0, 0x80, 0x800, 0x10000};
		if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_reply r;
	struct cairn_err err;

	if (model_parse_reply((const char *)data, size, &r, &err) != 0) {
		must(err.code < 0 && err.msg[0], "a failure has a code and a message");
		must(!r.content && !r.calls && r.n_calls == 0 && !r.finish_reason &&
			     !r.assistant_message,
		     "a failure leaves nothing behind");
		return 0;
	}
	must(r.content && strlen(r.content) <= MODEL_CONTENT_MAX, "content is at most the cap");
	must(utf8_ok((const unsigned char *)r.content), "content is valid UTF-8");
	must(r.finish_reason != NULL, "finish_reason is never NULL");
	must(r.n_calls <= MODEL_CALLS_MAX, "at most 16 calls");
	must(json_is_object(r.assistant_message), "the assistant message is an object");
	const json_t *tcs = json_object_get(r.assistant_message, "tool_calls");
	must(json_array_size(tcs) == r.n_calls, "the assistant message has every call");
	const char *mc = json_string_value(json_object_get(r.assistant_message, "content"));
	must(mc && strcmp(mc, r.content) == 0, "the assistant message has the content");
	for (size_t i = 0; i < r.n_calls; i++) {
		const struct model_tool_call *c = &r.calls[i];
		must(c->id && c->id[0] && strlen(c->id) <= MODEL_ID_MAX, "every call has an id");
		for (size_t j = 0; j < i; j++)
			must(strcmp(c->id, r.calls[j].id) != 0, "ids are unique");
		must(c->name && name_ok(c->name), "every name is valid");
		must(c->arguments ? json_is_object(c->arguments) && !c->arguments_text
				  : c->arguments_text != NULL,
		     "arguments are an object, or NULL with their text");
		if (c->arguments_text)
			must(strlen(c->arguments_text) <= MODEL_ARGS_MAX,
			     "arguments text is capped");
		const json_t *fn = json_object_get(json_array_get(tcs, i), "function");
		const char *args = json_string_value(json_object_get(fn, "arguments"));
		json_t *parsed = args ? json_loads(args, 0, NULL) : NULL;
		must(json_is_object(parsed), "the message's arguments are an object's text");
		json_decref(parsed);
	}
	model_reply_release(&r);
	must(!r.content && !r.calls, "release zeroes");
	return 0;
}
