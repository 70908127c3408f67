/* Unit tests for the event envelope: the data-driven cases under
 * tests/data/envelope/ plus defaults, limits, encoding order and errors.
 *
 * Data layout ($CAIRN_TEST_DATA, default "tests/data"):
 *   envelope/valid/NAME.json     must parse in publish mode; encode -> parse
 *                                -> encode must give the same bytes
 *   envelope/invalid/NAME.json   must be refused
 *   envelope/invalid/NAME.expect one line "<mode> <field> [<code>]": mode is
 *                                publish or stored; field is the attribute the
 *                                error must name, or "-" for the envelope as a
 *                                whole; code is invalid (the default) or parse
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/timefmt.h"
#include "common/ulid.h"
#include "event/envelope.h"
#include "testdata.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_VALID_CASES 6
#define MIN_INVALID_CASES 15

/* Reads a whole file; the result is NUL-terminated and *len excludes the
 * NUL. Fails the test if the file cannot be read. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open '%s'", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int json_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* Lists the *.json files of envelope/<sub> in name order. */
static int list_cases(const char *sub, struct dirent ***names, char *dir, size_t size)
{
	int n;

	snprintf(dir, size, "%s/envelope/%s", testdata_dir(), sub);
	n = scandir(dir, names, json_name, alphasort);
	if (n < 0)
		fail_msg("cannot list '%s'; set CAIRN_TEST_DATA to the tests/data directory", dir);
	return n;
}

static void free_list(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Parses text in mode, failing the test with the file name and the error if
 * it is refused. */
static struct event *must_parse(const char *what, const char *text, size_t len,
				enum event_parse_mode mode)
{
	struct event *ev = NULL;
	struct cairn_err err;
	int r;

	r = event_parse(text, len, SIZE_MAX, mode, &ev, &err);
	if (r != 0)
		fail_msg("%s: refused (%s): %s", what, err_str(r), err.msg);
	assert_non_null(ev);
	return ev;
}

static void test_valid_files(void **state)
{
	struct dirent **names;
	char dir[512], path[1024];
	int n = list_cases("valid", &names, dir, sizeof dir);

	assert_true(n >= MIN_VALID_CASES);
	for (int i = 0; i < n; i++) {
		size_t len, len1, len2;
		char *text, *enc1, *enc2, *enc3;
		struct event *ev, *ev2, *ev3;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		text = read_file(path, &len);

		ev = must_parse(path, text, len, EVENT_PUBLISH);
		enc1 = event_encode(ev, &len1);
		assert_int_equal(len1, strlen(enc1));
		ev2 = must_parse(enc1, enc1, len1, EVENT_PUBLISH);
		enc2 = event_encode(ev2, &len2);
		if (strcmp(enc1, enc2) != 0)
			fail_msg("%s: round trip changed the encoding:\n  %s\n  %s", path, enc1,
				 enc2);

		/* As the daemon stores it: defaults filled, seq assigned; the
		 * stored form must parse in stored mode to the same bytes. */
		event_fill_defaults(ev2, 1795727323123);
		ev2->seq = 42;
		free(enc2);
		enc2 = event_encode(ev2, NULL);
		ev3 = must_parse(path, enc2, strlen(enc2), EVENT_STORED);
		assert_int_equal(ev3->seq, 42);
		enc3 = event_encode(ev3, NULL);
		assert_string_equal(enc2, enc3);

		free(enc3);
		free(enc2);
		free(enc1);
		event_free(ev3);
		event_free(ev2);
		event_free(ev);
		free(text);
	}
	free_list(names, n);
}

static void test_invalid_files(void **state)
{
	struct dirent **names;
	char dir[512], path[1024], mode_s[16], field[80], code_s[16];
	int n = list_cases("invalid", &names, dir, sizeof dir);

	assert_true(n >= MIN_INVALID_CASES);
	for (int i = 0; i < n; i++) {
		struct event *ev = (struct event *)&ev; /* must be cleared */
		enum event_parse_mode mode = EVENT_PUBLISH;
		struct cairn_err err;
		size_t len, elen;
		char *text, *expect;
		int r, want = CAIRN_E_INVALID, k;

		snprintf(path, sizeof path, "%s/%.*s.expect", dir,
			 (int)strlen(names[i]->d_name) - 5, names[i]->d_name);
		expect = read_file(path, &elen);
		code_s[0] = '\0';
		k = sscanf(expect, "%15s %79s %15s", mode_s, field, code_s);
		if (k < 2)
			fail_msg("%s: expected \"<mode> <field> [<code>]\"", path);
		if (strcmp(mode_s, "publish") == 0)
			mode = EVENT_PUBLISH;
		else if (strcmp(mode_s, "stored") == 0)
			mode = EVENT_STORED;
		else
			fail_msg("%s: mode must be publish or stored, not '%s'", path, mode_s);
		if (strcmp(field, "-") == 0)
			field[0] = '\0';
		if (code_s[0] == '\0' || strcmp(code_s, "invalid") == 0)
			want = CAIRN_E_INVALID;
		else if (strcmp(code_s, "parse") == 0)
			want = CAIRN_E_PARSE;
		else
			fail_msg("%s: code must be invalid or parse, not '%s'", path, code_s);

		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		text = read_file(path, &len);
		memset(&err, 0, sizeof err);
		r = event_parse(text, len, EVENT_DEFAULT_MAX_BYTES, mode, &ev, &err);
		if (r != want)
			fail_msg("%s: got %d (%s), want %d; %s", path, r, err_str(r), want,
				 err.msg);
		assert_null(ev);
		if (strcmp(err.field, field) != 0)
			fail_msg("%s: error names field '%s', want '%s'; %s", path, err.field,
				 field, err.msg);
		if (err.msg[0] == '\0')
			fail_msg("%s: error has no rule", path);
		if (err.code != r)
			fail_msg("%s: err.code %d, returned %d", path, err.code, r);
		free(text);
		free(expect);
	}
	free_list(names, n);
}

static void test_fill_defaults(void **state)
{
	static const char text[] = "{\"source\":\"me\",\"type\":\"a\"}";
	struct event *ev = must_parse("minimal", text, strlen(text), EVENT_PUBLISH);
	char want_id[ULID_LEN + 1];
	int64_t now;

	assert_null(ev->specversion);
	assert_null(ev->id);
	assert_null(ev->time);
	assert_int_equal(ev->time_ms, 0);
	assert_int_equal(timefmt_parse_rfc3339("2026-11-27T21:08:43.123Z", &now), 0);

	event_fill_defaults(ev, now);
	assert_string_equal(ev->specversion, "1.0");
	assert_non_null(ev->id);
	assert_true(ulid_valid(ev->id));
	/* The ULID carries now_ms in its first 10 characters. */
	ulid_make(want_id, now);
	assert_memory_equal(ev->id, want_id, 10);
	assert_string_equal(ev->time, "2026-11-27T21:08:43.123Z");
	assert_int_equal(ev->time_ms, now);

	/* What the publisher gave is kept. */
	char *id = ev->id, *tm = ev->time;
	event_fill_defaults(ev, now + 5000);
	assert_ptr_equal(ev->id, id);
	assert_ptr_equal(ev->time, tm);
	assert_int_equal(ev->time_ms, now);

	/* Filled and given a seq, the event is a valid stored event. */
	ev->seq = 1;
	char *enc = event_encode(ev, NULL);
	struct event *back = must_parse(enc, enc, strlen(enc), EVENT_STORED);
	assert_string_equal(back->id, ev->id);
	assert_int_equal(back->time_ms, now);
	event_free(back);
	free(enc);
	event_free(ev);
}

static void test_time_ms(void **state)
{
	static const char text[] =
		"{\"source\":\"me\",\"type\":\"a\",\"time\":\"1970-01-01T01:00:01.5+01:00\"}";
	struct event *ev = must_parse("time", text, strlen(text), EVENT_PUBLISH);

	assert_string_equal(ev->time, "1970-01-01T01:00:01.5+01:00");
	assert_int_equal(ev->time_ms, 1500);
	event_free(ev);
}

static void test_max_bytes(void **state)
{
	static const char text[] = "{\"source\":\"me\",\"type\":\"a\"}";
	size_t len = strlen(text);
	struct event *ev = (struct event *)&ev;
	struct cairn_err err;

	assert_int_equal(event_parse(text, len, len - 1, EVENT_PUBLISH, &ev, &err), CAIRN_E_TOOBIG);
	assert_null(ev);
	assert_string_equal(err.field, "");
	assert_non_null(strstr(err.msg, "limit"));

	/* Exactly at the limit is fine. */
	assert_int_equal(event_parse(text, len, len, EVENT_PUBLISH, &ev, &err), 0);
	event_free(ev);

	/* Refused before parsing: over the limit, even garbage is "too big". */
	assert_int_equal(event_parse("{{{{", 4, 3, EVENT_PUBLISH, &ev, &err), CAIRN_E_TOOBIG);
}

static void test_malformed(void **state)
{
	static const char *const cases[] = {
		"",
		"   ",
		"{",
		"}",
		"{\"source\":}",
		"{\"source\":\"me\",}",
		"{} x",
		"{'a':1}",
		"{\"source\":\"me\",\"type\":\"a\"}}",
		"nul",
		"{\"a\":1e99999}",
		"{\"a\":99999999999999999999}",
	};
	struct event *ev;
	struct cairn_err err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ev = (struct event *)&ev;
		int r = event_parse(cases[i], strlen(cases[i]), 1024, EVENT_PUBLISH, &ev, &err);
		if (r != CAIRN_E_PARSE)
			fail_msg("'%s': got %d (%s), want CAIRN_E_PARSE", cases[i], r, err_str(r));
		assert_null(ev);
		assert_string_equal(err.field, "");
		assert_non_null(strstr(err.msg, "malformed JSON"));
	}

	/* A NUL byte outside a string is malformed too. */
	static const char nul[] = "{\"source\":\"me\",\"type\":\"a\"}\0";
	assert_int_equal(event_parse(nul, sizeof nul - 1, 1024, EVENT_PUBLISH, &ev, &err),
			 CAIRN_E_PARSE);
}

/* The buffer need not be NUL-terminated: only len bytes are read. */
static void test_parse_uses_len(void **state)
{
	static const char text[] = "{\"source\":\"me\",\"type\":\"a\"}GARBAGE";
	size_t len = strlen("{\"source\":\"me\",\"type\":\"a\"}");
	char *buf = malloc(len);
	struct event *ev;
	struct cairn_err err;

	assert_non_null(buf);
	memcpy(buf, text, len); /* no NUL: ASan catches a read past len */
	assert_int_equal(event_parse(buf, len, 1024, EVENT_PUBLISH, &ev, &err), 0);
	assert_string_equal(ev->type, "a");
	event_free(ev);
	assert_int_equal(event_parse(text, len + 1, 1024, EVENT_PUBLISH, &ev, &err), CAIRN_E_PARSE);
	free(buf);
}

static void test_error_names_the_field(void **state)
{
	struct cairn_err err;

	/* A real error reads as one line naming the field. */
	static const char text[] = "{\"source\":\"me\",\"type\":\"Build\"}";
	struct event *ev;
	assert_int_equal(event_parse(text, strlen(text), 1024, EVENT_PUBLISH, &ev, &err),
			 CAIRN_E_INVALID);
	const char *line = err.msg;
	assert_string_equal(err.field, "type");
	assert_int_equal(err.code, CAIRN_E_INVALID);
	assert_non_null(strstr(line, "field 'type': must be dot-separated tokens of [a-z0-9_-]"));
	assert_null(strchr(line, '\n'));
}

static void test_rule_sentences(void **state)
{
	static const struct {
		const char *text;
		enum event_parse_mode mode;
		const char *field, *rule;
	} cases[] = {
		{"{\"source\":\"me\",\"type\":\"a\",\"seq\":1}", EVENT_PUBLISH, "seq",
		 "seq is assigned by the daemon; leave it out"},
		{"{\"source\":\"me\",\"type\":\"a\",\"data_base64\":\"\"}", EVENT_PUBLISH,
		 "data_base64", "binary data is not supported"},
		{"{\"source\":\"me\",\"type\":\"a..b\"}", EVENT_PUBLISH, "type", "no empty token"},
		{"{\"source\":\"me\",\"type\":\"a\",\"specversion\":\"0.3\"}", EVENT_PUBLISH,
		 "specversion", "must be \"1.0\""},
		{"{\"source\":\"me\",\"type\":\"a\",\"x\":{}}", EVENT_PUBLISH, "x",
		 "must be a string, number or boolean"},
		{"{\"source\":\"me\"}", EVENT_PUBLISH, "type", "is required"},
		{"[]", EVENT_PUBLISH, "", "must be a JSON object"},
	};
	struct event *ev;
	struct cairn_err err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int r = event_parse(cases[i].text, strlen(cases[i].text), 1024, cases[i].mode, &ev,
				    &err);
		assert_int_equal(r, CAIRN_E_INVALID);
		assert_string_equal(err.field, cases[i].field);
		if (!strstr(err.msg, cases[i].rule))
			fail_msg("%s: rule '%s' does not say '%s'", cases[i].text, err.msg,
				 cases[i].rule);
	}
}

/* Strings built by a caller may hold NUL bytes, which the JSON decoder
 * never produces; each must be refused, naming where it is. */
static void test_embedded_nul(void **state)
{
	/* Each value is valid up to its NUL, so only the NUL can be refused. */
	static const struct {
		const char *name, *value;
	} attrs[] = {
		{"id", "i"},
		{"source", "me"},
		{"type", "a.b"},
		{"subject", "s"},
		{"time", "2026-11-27T21:08:43Z"},
		{"project", "/p"},
		{"session", "s"},
		{"correlationid", "c"},
		{"specversion", "1.0"},
		{"severity", "error"},
		{"datacontenttype", "text/plain"},
	};
	struct event *ev;
	struct cairn_err err;
	char buf[64];

	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
		json_t *obj = json_pack("{s:s, s:s}", "source", "me", "type", "a");
		size_t n = strlen(attrs[i].value);

		/* Valid without the NUL ... */
		json_object_set_new(obj, attrs[i].name, json_string(attrs[i].value));
		assert_int_equal(event_from_json(obj, EVENT_PUBLISH, &ev, &err), 0);
		event_free(ev);
		/* ... refused with it. */
		memcpy(buf, attrs[i].value, n);
		memcpy(buf + n, "\0x", 2);
		json_object_set_new(obj, attrs[i].name, json_stringn(buf, n + 2));
		ev = (struct event *)&ev;
		assert_int_equal(event_from_json(obj, EVENT_PUBLISH, &ev, &err), CAIRN_E_INVALID);
		assert_null(ev);
		assert_string_equal(err.field, attrs[i].name);
		json_decref(obj);
	}

	json_t *obj = json_pack("{s:s, s:s}", "source", "me", "type", "a");
	json_object_set_new(obj, "ext", json_stringn("a\0b", 3));
	assert_int_equal(event_from_json(obj, EVENT_PUBLISH, &ev, &err), CAIRN_E_INVALID);
	assert_string_equal(err.field, "ext");
	json_object_del(obj, "ext");

	json_object_set_new(obj, "data", json_pack("{s:[o]}", "k", json_stringn("a\0b", 3)));
	assert_int_equal(event_from_json(obj, EVENT_PUBLISH, &ev, &err), CAIRN_E_INVALID);
	assert_string_equal(err.field, "data");
	json_object_set_new(obj, "data", json_pack("[{s:i}]", "ok", 1));
	json_object_set_new(json_array_get(json_object_get(obj, "data"), 0), "ok", json_true());
	json_object_setn_new(json_array_get(json_object_get(obj, "data"), 0), "a\0b", 3,
			     json_null());
	assert_int_equal(event_from_json(obj, EVENT_PUBLISH, &ev, &err), CAIRN_E_INVALID);
	assert_string_equal(err.field, "data");
	json_object_del(obj, "data");

	/* A key "type\0x" is not the attribute "type". */
	json_object_setn_new(obj, "type\0x", 6, json_string("b"));
	assert_int_equal(event_from_json(obj, EVENT_PUBLISH, &ev, &err), CAIRN_E_INVALID);
	assert_string_equal(err.field, "type?x");
	json_decref(obj);
}

static void test_from_json_leaves_obj(void **state)
{
	json_t *obj = json_pack("{s:s, s:s, s:{s:i}, s:b}", "source", "me", "type", "a", "data",
				"k", 1, "flag", 1);
	json_t *copy = json_deep_copy(obj);
	struct event *ev;
	struct cairn_err err;

	assert_int_equal(event_from_json(obj, EVENT_PUBLISH, &ev, &err), 0);
	assert_true(json_equal(obj, copy));
	assert_int_equal(obj->refcount, 1);
	event_free(ev);
	assert_int_equal(json_object_get(obj, "data")->refcount, 1);

	assert_int_equal(event_from_json(NULL, EVENT_PUBLISH, &ev, &err), CAIRN_E_INVALID);
	assert_null(ev);
	json_decref(copy);
	json_decref(obj);
}

static void test_encode_order(void **state)
{
	static const char text[] =
		"{\"zz\":1,\"severity\":\"info\",\"correlationid\":\"c\",\"session\":\"s\","
		"\"project\":\"/p\",\"data\":{\"b\":1,\"a\":[true,null]},"
		"\"datacontenttype\":\"application/json\",\"time\":\"2026-11-27T21:08:43Z\","
		"\"subject\":\"x y\",\"type\":\"t.u\",\"source\":\"me\",\"id\":\"i\","
		"\"specversion\":\"1.0\",\"seq\":9,\"ab\":\"v\"}";
	static const char want[] =
		"{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"me\",\"type\":\"t.u\","
		"\"subject\":\"x y\",\"time\":\"2026-11-27T21:08:43Z\","
		"\"datacontenttype\":\"application/json\",\"data\":{\"b\":1,\"a\":[true,null]},"
		"\"seq\":9,\"project\":\"/p\",\"session\":\"s\",\"correlationid\":\"c\","
		"\"severity\":\"info\",\"zz\":1,\"ab\":\"v\"}";
	struct event *ev = must_parse("order", text, strlen(text), EVENT_STORED);
	size_t len;
	char *enc = event_encode(ev, &len);

	assert_string_equal(enc, want);
	assert_int_equal(len, strlen(want));
	assert_int_equal(ev->seq, 9);
	assert_int_equal(ev->severity, SEV_INFO);

	json_t *obj = event_to_json(ev);
	assert_int_equal(json_object_size(obj), 15);
	json_decref(obj);
	free(enc);
	event_free(ev);
}

/* An event built by hand with bytes that are not UTF-8 still encodes to
 * JSON that parses, with the bad bytes replaced. */
static void test_encode_hand_built(void **state)
{
	struct event ev = {
		.source = "me",
		.type = "a",
		.subject = "caf\xe9",
		.severity = SEV_CRITICAL,
	};
	char *enc = event_encode(&ev, NULL);
	struct event *back = must_parse(enc, enc, strlen(enc), EVENT_PUBLISH);

	assert_string_equal(back->subject, "caf\xef\xbf\xbd");
	assert_int_equal(back->severity, SEV_CRITICAL);
	event_free(back);
	free(enc);
}

/* event_encode() writes the envelope by hand; it must be byte for byte
 * what jansson makes of event_to_json(): strings that need escaping, that
 * are not ASCII or not UTF-8, and extensions whose names an attribute
 * already took (skipped) or did not (kept). */
static void test_encode_matches_jansson(void **state)
{
	static const char *const strs[] = {
		"plain",
		"",
		"q\"uote",
		"back\\slash",
		"tab\there",
		"nl\nx",
		"\x01\x1f",
		"sl/ash",
		"caf\xc3\xa9",
		"caf\xe9",
		"\x7f",
		"\xe2\x80\xa8",
		"emoji \xf0\x9f\x98\x80",
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		struct event ev = {
			.source = "me",
			.type = "a.b",
			.id = (char *)strs[i],
			.subject = (char *)strs[(i + 3) % (sizeof strs / sizeof strs[0])],
			.project = i % 2 ? (char *)strs[i] : NULL,
			.seq = (int64_t)i * 1000003,
			.severity = (enum event_severity)(i % 6),
		};
		/* data: the string as a key and a value (where it is UTF-8),
		 * every kind of value, and nesting past what event_encode()
		 * writes itself (ENC_VALUE_DEPTH). */
		const char *text = strchr(strs[i], '\xe9') ? "x" : strs[i];
		json_t *deep = json_integer(1);
		for (int d = 0; d < 40; d++)
			deep = json_pack(d % 2 ? "[o]" : "{s:o}", d % 2 ? (void *)deep : "d", deep);
		ev.data = json_pack("{s:s,s:[i,I,f,b,b,n,{},[]],s:s,s:o}", "k", text, "n", 7,
				    (json_int_t)-9223372036854775807 - 1, 1.5, 1, 0, text, "v",
				    "deep", deep);
		ev.extensions = json_object();
		json_object_set_new(ev.extensions, "id", json_string("taken"));
		json_object_set_new(ev.extensions, "session", json_string("free when unset"));
		json_object_set_new(ev.extensions, "x\"y", json_integer(-3));
		json_t *obj = event_to_json(&ev);
		char *want = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		size_t len;
		char *got = event_encode(&ev, &len);
		assert_non_null(want);
		assert_string_equal(got, want);
		assert_int_equal(len, strlen(want));
		assert_non_null(strstr(got, "\"session\":\"free when unset\""));
		assert_null(strstr(got, "taken"));
		free(got);
		free(want);
		json_decref(obj);
		json_decref(ev.data);
		json_decref(ev.extensions);
	}
}

static void test_severity_names(void **state)
{
	enum event_severity s;

	assert_string_equal(event_severity_name(SEV_UNSET), "");
	for (int i = SEV_DEBUG; i <= SEV_CRITICAL; i++) {
		const char *name = event_severity_name((enum event_severity)i);
		assert_true(name[0] != '\0');
		assert_int_equal(event_severity_parse(name, &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(event_severity_name(SEV_WARNING), "warning");
	assert_int_equal(event_severity_parse("", &s), CAIRN_E_PARSE);
	assert_int_equal(event_severity_parse("Error", &s), CAIRN_E_PARSE);
	assert_int_equal(event_severity_parse("warn", &s), CAIRN_E_PARSE);
	assert_int_equal(event_severity_parse(NULL, &s), CAIRN_E_PARSE);
}

static void test_extensions_kept(void **state)
{
	static const char text[] =
		"{\"source\":\"me\",\"type\":\"a\",\"n\":1.5,\"b\":false,\"s\":\"v\"}";
	struct event *ev = must_parse("ext", text, strlen(text), EVENT_PUBLISH);

	assert_non_null(ev->extensions);
	assert_int_equal(json_object_size(ev->extensions), 3);
	assert_true(json_is_false(json_object_get(ev->extensions, "b")));
	assert_string_equal(json_string_value(json_object_get(ev->extensions, "s")), "v");
	event_free(ev);

	static const char none[] = "{\"source\":\"me\",\"type\":\"a\"}";
	ev = must_parse("none", none, strlen(none), EVENT_PUBLISH);
	assert_null(ev->extensions);
	assert_null(ev->data);
	assert_int_equal(ev->severity, SEV_UNSET);
	event_free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_files),
		cmocka_unit_test(test_invalid_files),
		cmocka_unit_test(test_fill_defaults),
		cmocka_unit_test(test_time_ms),
		cmocka_unit_test(test_max_bytes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_parse_uses_len),
		cmocka_unit_test(test_error_names_the_field),
		cmocka_unit_test(test_rule_sentences),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_from_json_leaves_obj),
		cmocka_unit_test(test_encode_order),
		cmocka_unit_test(test_encode_hand_built),
		cmocka_unit_test(test_encode_matches_jansson),
		cmocka_unit_test(test_severity_names),
		cmocka_unit_test(test_extensions_kept),
	};
	return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
