/* The fast JSON path (common/jfast.h): what it takes equals jansson's value
 * for the same text, what it leaves goes to jansson, and it never takes
 * text jansson refuses. One row per case: the text and which of the three
 * it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/jfast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum outcome {
	FAST, /* jfast takes it, and its value is jansson's */
	SLOW, /* jfast leaves it to jansson, which takes it */
	BAD,  /* jansson refuses it (and so does jfast) */
};

struct row {
	const char *text;
	size_t len; /* 0: strlen(text) */
	enum outcome want;
};

static const struct row rows[] = {
	/* What the daemon reads most: publish requests and stored events. */
	{"{\"op\":\"pub\",\"rid\":12,\"ack\":\"durable\",\"event\":{\"source\":\"cli\",\"type\":"
	 "\"build.failed\",\"data\":{\"exit\":2,\"ok\":false,\"n\":null,\"a\":[1,2,[]]}}}",
	 0, FAST},
	{"{\"seq\":1,\"id\":\"01JD\",\"time\":\"2026-11-27T21:08:43.123Z\",\"data\":{}}", 0, FAST},
	/* Scalars at the top, whitespace around and inside. */
	{"  \t\r\n 42 \n", 0, FAST},
	{"\"x\"", 0, FAST},
	{"true", 0, FAST},
	{"false", 0, FAST},
	{"null", 0, FAST},
	{"[ 1 , { } , [ ] , \"\" ]", 0, FAST},
	/* Numbers: integers up to 18 digits here, longer ones by jansson. */
	{"-0", 0, FAST},
	{"0", 0, FAST},
	{"999999999999999999", 0, FAST},
	{"-999999999999999999", 0, FAST},
	{"9223372036854775807", 0, SLOW},
	{"-9223372036854775808", 0, SLOW},
	{"9223372036854775808", 0, BAD},
	{"1.5", 0, FAST},
	{"-0.0", 0, FAST},
	{"1e5", 0, FAST},
	{"1E+5", 0, FAST},
	{"2.5e-3", 0, FAST},
	{"1e-400", 0, FAST}, /* underflow to 0: jansson takes it */
	{"1e400", 0, BAD},   /* overflow: jansson refuses */
	{"01", 0, BAD},
	{"1.", 0, BAD},
	{".5", 0, BAD},
	{"1e", 0, BAD},
	{"-", 0, BAD},
	{"+1", 0, BAD},
	{"0x10", 0, BAD},
	/* Strings: escapes, UTF-8, surrogate pairs. */
	{"\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", 0, FAST},
	{"\"\\u00e9\\u20AC\\ud83d\\ude00\"", 0, FAST},
	{"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", 0, FAST},
	{"\"\\u0000\"", 0, BAD},
	{"\"\\ud800\"", 0, BAD},
	{"\"\\udc00\"", 0, BAD},
	{"\"\\ud800\\u0041\"", 0, BAD},
	{"\"\\x41\"", 0, BAD},
	{"\"\\u12\"", 0, BAD},
	{"\"tab\there\"", 0, BAD},
	{"\"\xc3\x28\"", 0, BAD},         /* a bad continuation byte */
	{"\"\xed\xa0\x80\"", 0, BAD},     /* a surrogate in UTF-8 */
	{"\"\xc0\xaf\"", 0, BAD},         /* overlong */
	{"\"\xf4\x90\x80\x80\"", 0, BAD}, /* past U+10FFFF */
	{"\"open", 0, BAD},
	{"\"a\0b\"", 5, BAD},
	/* Objects: duplicate keys are refused, order is kept. */
	{"{\"b\":1,\"a\":2,\"c\":{\"z\":[],\"y\":{}}}", 0, FAST},
	{"{\"k\":1,\"k\":2}", 0, BAD},
	{"{\"k\":1,\"\\u006b\":2}", 0, BAD},
	{"{\"\\u0000\":1}", 0, BAD},
	{"{\"a\":1,}", 0, BAD},
	{"{\"a\" 1}", 0, BAD},
	{"{1:2}", 0, BAD},
	{"[1,]", 0, BAD},
	{"[1 2]", 0, BAD},
	{"{", 0, BAD},
	/* Literals and what may follow a value. */
	{"truex", 0, BAD},
	{"True", 0, BAD},
	{"nul", 0, BAD},
	{"[true1]", 0, BAD},
	{"1 2", 0, BAD},
	{"{} x", 0, BAD},
	{"", 0, BAD},
	{"   ", 0, BAD},
	{"\xef\xbb\xbf{}", 0, BAD}, /* a byte order mark */
	{"{}\0", 3, BAD},
};

static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 2);
	for (int i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth + 1 + i] = ']';
	}
	s[depth] = '1';
	s[2 * depth + 1] = '\0';
	return s;
}

static void check_row(const char *text, size_t len, enum outcome want)
{
	json_t *fast = jfast_loadb(text, len);
	json_error_t je;
	json_t *ref = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	enum outcome got = fast ? FAST : ref ? SLOW : BAD;
	if (got != want)
		fail_msg("%.*s: got %d, want %d (0 fast, 1 slow, 2 bad; jansson: %s)", (int)len,
			 text, got, want, ref ? "takes it" : je.text);
	if (fast) {
		assert_non_null(ref);
		assert_true(json_equal(fast, ref));
		char *a = json_dumps(fast, JSON_ENCODE_ANY | JSON_COMPACT);
		char *b = json_dumps(ref, JSON_ENCODE_ANY | JSON_COMPACT);
		assert_string_equal(a, b); /* same types, same key order */
		free(a);
		free(b);
	}
	json_t *either = jfast_or_jansson(text, len, &je);
	assert_true(!either == !ref);
	if (either)
		assert_true(json_equal(either, ref));
	json_decref(either);
	json_decref(fast);
	json_decref(ref);
}

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(rows[i].text, rows[i].len ? rows[i].len : strlen(rows[i].text),
			  rows[i].want);
}

/* Nesting up to JFAST_MAX_DEPTH is taken here, deeper is jansson's. */
static void test_depth(void **state)
{
	(void)state;
	char *ok = nested(JFAST_MAX_DEPTH), *deep = nested(JFAST_MAX_DEPTH + 1);
	check_row(ok, strlen(ok), FAST);
	check_row(deep, strlen(deep), SLOW);
	free(ok);
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_depth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
