/* Unit tests for the protocol module: the request cases in
 * tests/data/proto/requests.txt, the values a parsed request carries, the
 * reply encoders, and the bounded line splitter.
 *
 * Data layout ($CAIRN_TEST_DATA, default "tests/data"):
 *   proto/requests.txt  one case a line, "CODE FIELD<TAB>REQUEST-LINE": CODE is
 *                       ok or the expected err_wire(err.code), FIELD the expected
 *                       err.field or "-" for none; '#' starts a comment line
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/client.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "daemon/proto.h"
#include "testdata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The case file holds at least this many cases; fewer means it was
 * truncated or not found where expected, not that all is well. */
#define MIN_REQUEST_CASES 100
#define MIN_OK_CASES 30
#define MIN_ERROR_CASES 60

/* ---- helpers ---- */

/* Parses a reply line as proto_error_line()/proto_ok_line() made it: it must
 * be one line, end in '\n', have *len == strlen, and hold one JSON object.
 * Returns the object (new reference). */
static json_t *parse_reply(const char *line, size_t len)
{
	assert_non_null(line);
	assert_int_equal(len, strlen(line));
	assert_true(len >= 2);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
	json_error_t je;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		fail_msg("reply does not parse (%s): %s", je.text, line);
	assert_true(json_is_object(o));
	return o;
}

/* rid as the reply must carry it: absent when want is NULL, else equal. */
static void check_rid(const json_t *reply, const json_t *want)
{
	const json_t *got = json_object_get(reply, "rid");
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_true(json_equal((json_t *)got, (json_t *)want));
}

/* Encodes err as a reply and checks that it says what err says. */
static void check_error_line(const json_t *rid, const struct cairn_err *err)
{
	size_t len = 0;
	char *line = proto_error_line(rid, err, &len);
	json_t *o = parse_reply(line, len);
	check_rid(o, rid);
	assert_true(json_is_false(json_object_get(o, "ok")));
	const json_t *e = json_object_get(o, "error");
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "code")), err_wire(err->code));
	const json_t *msg = json_object_get(e, "message");
	if (!json_is_string(msg))
		fail_msg("error reply has no message: %s", line);
	assert_true(json_string_length(msg) > 0);
	const json_t *field = json_object_get(e, "field");
	if (err->field[0]) {
		if (!json_is_string(field))
			fail_msg("error reply lost field '%s': %s", err->field, line);
	} else {
		assert_null(field);
	}
	json_decref(o);
	free(line);
}

/* The rid proto_parse() must report for line: the rid of a line that is a
 * JSON object with a valid rid, else NULL. Returns a new reference. */
static json_t *expected_rid(const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	json_t *rid = NULL;
	if (json_is_object(o)) {
		json_t *v = json_object_get(o, "rid");
		if (json_is_integer(v) || (json_is_string(v) && json_string_length(v) <= 128))
			rid = json_incref(v);
	}
	json_decref(o);
	return rid;
}

static const char *const op_names[] = {"hello",  "pub",   "sub", "unsub", "query",
				       "status", "watch", "ask", "record"};

/* What every successfully parsed request must hold, whatever the line. */
static bool req_consistent(const struct proto_req *req, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *op = json_string_value(json_object_get(o, "op"));
	bool ok = op && strcmp(op, op_names[req->op]) == 0;
	switch (req->op) {
	case OP_HELLO: ok = ok && req->n_versions >= 1 && req->n_versions <= 16; break;
	case OP_PUB: ok = ok && req->ev && req->ev->source && req->ev->type; break;
	case OP_SUB: ok = ok && req->pattern && req->from.kind != POS_NONE; break;
	case OP_UNSUB: ok = ok && req->sub && req->sub[0]; break;
	case OP_QUERY:
		ok = ok && req->pattern && req->limit >= 1 && req->limit <= PROTO_QUERY_LIMIT_MAX &&
		     req->since.kind != POS_NOW && req->until.kind != POS_NOW;
		break;
	case OP_STATUS: break;
	case OP_WATCH:
		ok = ok && req->action &&
		     (strcmp(req->action, "list") == 0 || (req->path && req->path[0] == '/'));
		break;
	case OP_ASK:
		ok = ok && req->question && req->question[0] &&
		     strlen(req->question) <= PROTO_QUESTION_MAX &&
		     (!req->project || req->project[0] == '/');
		break;
	case OP_RECORD: ok = ok && json_is_object(req->entry); break;
	}
	json_decref(o);
	return ok;
}

/* Parses line, which must succeed; the caller releases req. */
static void parse_ok(const char *line, struct proto_req *req)
{
	struct cairn_err err;
	int r = proto_parse(line, strlen(line), req, &err);
	if (r != 0)
		fail_msg("'%s' refused: %s %s: %s", line, err_wire(err.code), err.field, err.msg);
}

/* ---- request cases from the data file ---- */

static void test_request_file(void **state)
{
	char *path = xasprintf("%s/proto/requests.txt", testdata_dir());
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open '%s': %s; set CAIRN_TEST_DATA to the tests/data directory",
			 path, strerror(errno));
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, n_ok = 0, n_err = 0, failures = 0;

	while ((n = getline(&buf, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (n == 0 || buf[0] == '#')
			continue;
		char *tab = strchr(buf, '\t');
		char code[32], field[64];
		if (!tab || sscanf(buf, "%31s %63s", code, field) != 2 || strchr(field, '\t')) {
			print_error("%s:%d: expected 'CODE FIELD<TAB>REQUEST-LINE'\n", path,
				    lineno);
			failures++;
			continue;
		}
		const char *line = tab + 1;
		size_t len = (size_t)n - (size_t)(line - buf);
		bool want_ok = strcmp(code, "ok") == 0;
		const char *want_field = strcmp(field, "-") == 0 ? "" : field;
		struct proto_req req;
		struct cairn_err err;
		int r = proto_parse(line, len, &req, &err);
		json_t *want_rid = expected_rid(line, len);

		if (want_ok) {
			n_ok++;
			if (r != 0) {
				print_error("%s:%d: refused (%s %s: %s), want ok\n", path, lineno,
					    err_wire(err.code), err.field, err.msg);
				failures++;
			} else if (!req_consistent(&req, line, len)) {
				print_error("%s:%d: parsed request does not match the line\n", path,
					    lineno);
				failures++;
			} else {
				size_t rlen;
				char *reply = proto_ok_line(req.rid, json_object(), &rlen);
				json_t *o = parse_reply(reply, rlen);
				check_rid(o, want_rid);
				assert_true(json_is_true(json_object_get(o, "ok")));
				json_decref(o);
				free(reply);
			}
		} else {
			n_err++;
			if (r == 0) {
				print_error("%s:%d: accepted, want %s\n", path, lineno, code);
				failures++;
			} else if (r != err.code) {
				print_error("%s:%d: returned %d, err.code %d\n", path, lineno, r,
					    err.code);
				failures++;
			} else if (strcmp(err_wire(err.code), code) != 0 ||
				   strcmp(err.field, want_field) != 0) {
				print_error("%s:%d: got %s '%s' (%s), want %s '%s'\n", path, lineno,
					    err_wire(err.code), err.field, err.msg, code,
					    want_field);
				failures++;
			} else if (!err.msg[0] || (err.msg[0] >= 'A' && err.msg[0] <= 'Z')) {
				print_error("%s:%d: message must be a lower-case sentence: '%s'\n",
					    path, lineno, err.msg);
				failures++;
			} else {
				check_error_line(req.rid, &err);
			}
		}
		/* The reply carries the rid whenever the line was an object with
		 * a valid one, success or not. */
		if ((want_rid == NULL) != (req.rid == NULL) ||
		    (want_rid && !json_equal(want_rid, req.rid))) {
			print_error("%s:%d: req.rid is %s, want %s\n", path, lineno,
				    req.rid ? "set" : "NULL", want_rid ? "set" : "NULL");
			failures++;
		}
		json_decref(want_rid);
		proto_req_release(&req);
	}
	fclose(f);
	free(buf);
	free(path);
	assert_int_equal(failures, 0);
	assert_true(n_ok >= MIN_OK_CASES);
	assert_true(n_err >= MIN_ERROR_CASES);
	assert_true(n_ok + n_err >= MIN_REQUEST_CASES);
}

/* ---- what a parsed request holds ---- */

static void test_hello_values(void **state)
{
	struct proto_req req;

	parse_ok("{\"op\":\"hello\",\"versions\":[3,1,2],\"client\":\"x\"}", &req);
	assert_int_equal(req.op, OP_HELLO);
	assert_int_equal(req.n_versions, 3);
	assert_int_equal(req.versions[0], 3);
	assert_int_equal(req.versions[1], 1);
	assert_int_equal(req.versions[2], 2);
	assert_null(req.rid);
	proto_req_release(&req);
}

static void test_pub_values(void **state)
{
	static const struct {
		const char *ack;
		enum proto_ack want;
	} acks[] = {
		{"", ACK_ACCEPTED},
		{",\"ack\":\"none\"", ACK_NONE},
		{",\"ack\":\"accepted\"", ACK_ACCEPTED},
		{",\"ack\":\"durable\"", ACK_DURABLE},
	};
	struct proto_req req;

	for (size_t i = 0; i < sizeof acks / sizeof acks[0]; i++) {
		char *line =
			xasprintf("{\"op\":\"pub\",\"rid\":\"p\"%s,\"event\":{\"source\":\"cli\","
				  "\"type\":\"build.failed\",\"data\":{\"exit\":2}}}",
				  acks[i].ack);
		parse_ok(line, &req);
		assert_int_equal(req.op, OP_PUB);
		assert_int_equal(req.ack, acks[i].want);
		assert_non_null(req.ev);
		assert_string_equal(req.ev->source, "cli");
		assert_string_equal(req.ev->type, "build.failed");
		assert_int_equal(req.ev->seq, 0);
		assert_string_equal(json_string_value(req.rid), "p");
		proto_req_release(&req);
		free(line);
	}
}

static void test_sub_values(void **state)
{
	struct proto_req req;

	parse_ok("{\"op\":\"sub\",\"pattern\":\"build.>\"}", &req);
	assert_int_equal(req.op, OP_SUB);
	assert_string_equal(req.pattern, "build.>");
	assert_null(req.sub);
	assert_int_equal(req.from.kind, POS_NOW);
	proto_req_release(&req);

	parse_ok("{\"op\":\"sub\",\"pattern\":\"*\",\"from\":\"now\",\"sub\":\"mine\"}", &req);
	assert_int_equal(req.from.kind, POS_NOW);
	assert_string_equal(req.sub, "mine");
	proto_req_release(&req);

	parse_ok("{\"op\":\"sub\",\"pattern\":\">\",\"from\":42}", &req);
	assert_int_equal(req.from.kind, POS_SEQ);
	assert_int_equal(req.from.seq, 42);
	proto_req_release(&req);

	parse_ok("{\"op\":\"sub\",\"pattern\":\">\",\"from\":\"2026-11-27T21:08:43.5+02:00\"}",
		 &req);
	assert_int_equal(req.from.kind, POS_TIME);
	assert_int_equal(req.from.ms, 1795806523500);
	proto_req_release(&req);
}

static void test_unsub_values(void **state)
{
	struct proto_req req;

	parse_ok("{\"op\":\"unsub\",\"sub\":\"1\"}", &req);
	assert_int_equal(req.op, OP_UNSUB);
	assert_string_equal(req.sub, "1");
	proto_req_release(&req);
}

static void test_query_values(void **state)
{
	struct proto_req req;

	parse_ok("{\"op\":\"query\"}", &req);
	assert_int_equal(req.op, OP_QUERY);
	assert_string_equal(req.pattern, ">");
	assert_int_equal(req.limit, PROTO_QUERY_LIMIT_DEFAULT);
	assert_false(req.desc);
	assert_int_equal(req.since.kind, POS_NONE);
	assert_int_equal(req.until.kind, POS_NONE);
	assert_null(req.project);
	proto_req_release(&req);

	parse_ok("{\"op\":\"query\",\"rid\":3,\"pattern\":\"build.>\",\"since\":\"2026-11-27T00:00:"
		 "00Z\","
		 "\"until\":120,\"project\":\"/home/u/app\",\"limit\":10000,\"order\":\"desc\"}",
		 &req);
	assert_string_equal(req.pattern, "build.>");
	assert_int_equal(req.since.kind, POS_TIME);
	assert_int_equal(req.since.ms, 1795737600000);
	assert_int_equal(req.until.kind, POS_SEQ);
	assert_int_equal(req.until.seq, 120);
	assert_string_equal(req.project, "/home/u/app");
	assert_int_equal(req.limit, PROTO_QUERY_LIMIT_MAX);
	assert_true(req.desc);
	assert_int_equal(json_integer_value(req.rid), 3);
	proto_req_release(&req);

	parse_ok("{\"op\":\"query\",\"since\":5,\"until\":\"2026-11-27T00:00:00Z\",\"limit\":1,"
		 "\"order\":\"asc\"}",
		 &req);
	assert_int_equal(req.since.kind, POS_SEQ);
	assert_int_equal(req.since.seq, 5);
	assert_int_equal(req.until.kind, POS_TIME);
	assert_int_equal(req.limit, 1);
	assert_false(req.desc);
	proto_req_release(&req);
}

/* An error found at any stage after rid still reports the rid, so that the
 * error reply can be matched to its request. */
static void test_rid_on_error(void **state)
{
	static const char *const lines[] = {
		"{\"rid\":7,\"op\":\"nope\"}",
		"{\"rid\":7}",
		"{\"rid\":7,\"op\":5}",
		"{\"rid\":7,\"op\":\"status\",\"extra\":true}",
		"{\"rid\":7,\"op\":\"hello\",\"versions\":[]}",
		"{\"rid\":7,\"op\":\"pub\",\"event\":{\"source\":\"me\",\"type\":\"Build\"}}",
		"{\"rid\":7,\"op\":\"pub\",\"ack\":\"x\",\"event\":{\"source\":\"m\",\"type\":"
		"\"a\"}}",
		"{\"rid\":7,\"op\":\"sub\",\"pattern\":\"a..b\"}",
		"{\"rid\":7,\"op\":\"unsub\"}",
		"{\"rid\":7,\"op\":\"query\",\"limit\":0}",
		"{\"op\":\"query\",\"since\":\"now\",\"rid\":7}",
	};
	struct proto_req req;
	struct cairn_err err;

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		int r = proto_parse(lines[i], strlen(lines[i]), &req, &err);
		if (r >= 0)
			fail_msg("'%s' accepted", lines[i]);
		if (!req.rid || json_integer_value(req.rid) != 7)
			fail_msg("'%s': rid lost on error %s", lines[i], err_wire(err.code));
		check_error_line(req.rid, &err);
		proto_req_release(&req);
	}

	/* A string rid too, as given. */
	const char *s = "{\"op\":\"sub\",\"rid\":\"abc\\\"d\"}";
	assert_true(proto_parse(s, strlen(s), &req, &err) < 0);
	assert_string_equal(json_string_value(req.rid), "abc\"d");
	proto_req_release(&req);

	/* No rid when the line is no object or the rid itself is bad. */
	s = "{\"rid\":7,\"op\":\"status\"";
	assert_true(proto_parse(s, strlen(s), &req, &err) < 0);
	assert_null(req.rid);
	proto_req_release(&req);
	s = "{\"rid\":7.5,\"op\":\"status\"}";
	assert_true(proto_parse(s, strlen(s), &req, &err) < 0);
	assert_null(req.rid);
	proto_req_release(&req);
}

/* Messages name the field at fault and offer "now" only where it is allowed,
 * also for a negative seq. */
static void test_position_messages(void **state)
{
	static const struct {
		const char *line, *field;
		bool now;
	} cases[] = {
		{"{\"op\":\"sub\",\"pattern\":\">\",\"from\":-1}", "from", true},
		{"{\"op\":\"sub\",\"pattern\":\">\",\"from\":\"then\"}", "from", true},
		{"{\"op\":\"query\",\"since\":-1}", "since", false},
		{"{\"op\":\"query\",\"since\":\"now\"}", "since", false},
		{"{\"op\":\"query\",\"until\":-5}", "until", false},
	};
	struct proto_req req;
	struct cairn_err err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_true(proto_parse(cases[i].line, strlen(cases[i].line), &req, &err) < 0);
		assert_string_equal(err_wire(err.code), "bad_request");
		assert_string_equal(err.field, cases[i].field);
		char *quoted = xasprintf("'%s'", cases[i].field);
		if (!strstr(err.msg, quoted) || !strstr(err.msg, "RFC 3339") ||
		    (strstr(err.msg, "\"now\"") != NULL) != cases[i].now)
			fail_msg("'%s': message '%s'", cases[i].line, err.msg);
		free(quoted);
		proto_req_release(&req);
	}
}

/* Bytes that are not UTF-8, and a NUL inside the line, are bad_json. */
static void test_raw_bytes(void **state)
{
	static const char bad_utf8[] = "{\"op\":\"st\xff\xfe"
				       "atus\"}";
	static const char nul[] = "{\"op\":\"status\"}\0";
	static const char nul_inside[] = "{\"op\":\"sta\0tus\"}";
	struct proto_req req;
	struct cairn_err err;

	assert_true(proto_parse(bad_utf8, sizeof bad_utf8 - 1, &req, &err) < 0);
	assert_string_equal(err_wire(err.code), "bad_json");
	check_error_line(req.rid, &err);
	proto_req_release(&req);
	assert_true(proto_parse(nul, sizeof nul - 1, &req, &err) < 0);
	assert_string_equal(err_wire(err.code), "bad_json");
	proto_req_release(&req);
	assert_true(proto_parse(nul_inside, sizeof nul_inside - 1, &req, &err) < 0);
	assert_string_equal(err_wire(err.code), "bad_json");
	proto_req_release(&req);
}

/* ---- reply encoders ---- */

static void test_error_line(void **state)
{
	struct cairn_err err;
	json_t *rid = json_integer(7);
	size_t len;

	cairn_err_set(&err, CAIRN_E_BADEVENT, "type", "field '%s': %s", "type", "bad \"token\"");
	char *line = proto_error_line(rid, &err, &len);
	assert_string_equal(line, "{\"rid\":7,\"ok\":false,\"error\":{\"code\":\"invalid_event\","
				  "\"field\":\"type\",\"message\":\"field 'type': bad "
				  "\\\"token\\\"\"}}\n");
	check_error_line(rid, &err);
	free(line);
	json_decref(rid);

	/* No field, no rid: neither key appears. */
	cairn_err_set(&err, CAIRN_E_LINE_TOOLONG, NULL, "line of %zu bytes is over the cap of %d",
		      (size_t)2000000, 1114112);
	assert_string_equal(err.field, "");
	line = proto_error_line(NULL, &err, NULL);
	assert_string_equal(line, "{\"ok\":false,\"error\":{\"code\":\"line_too_long\","
				  "\"message\":\"line of 2000000 bytes is over the cap of "
				  "1114112\"}}\n");
	free(line);
	check_error_line(NULL, &err);

	/* A string rid comes back unchanged, escapes and all. */
	rid = json_string("a\"b\n\xc3\xa9");
	check_error_line(rid, &err);
	json_decref(rid);

	/* A message over the buffer is cut, not overrun. */
	char big[2000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	cairn_err_set(&err, CAIRN_E_PROTO, big, "%s", big);
	assert_int_equal(strlen(err.field), sizeof err.field - 1);
	assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
	check_error_line(NULL, &err);
}

/* Messages and fields quote what the peer sent, cut to a fixed size; the cut
 * may fall inside a multi-byte character, and the reply must still be valid
 * JSON with its message and field. */
static void test_error_line_utf8(void **state)
{
	char line[2048];
	struct proto_req req;
	struct cairn_err err;
	size_t i;

	/* An unknown op of 22 three-byte characters, quoted as '%.64s'. */
	strcpy(line, "{\"rid\":1,\"op\":\"");
	for (i = 0; i < 22; i++)
		strcat(line, "\xe2\x82\xac");
	strcat(line, "\"}");
	assert_true(proto_parse(line, strlen(line), &req, &err) < 0);
	assert_string_equal(err_wire(err.code), "unknown_op");
	check_error_line(req.rid, &err);
	proto_req_release(&req);

	/* An unknown field of 32 two-byte characters, named in err.field. */
	strcpy(line, "{\"op\":\"status\",\"");
	for (i = 0; i < 32; i++)
		strcat(line, "\xc3\xa9");
	strcat(line, "\":1}");
	assert_true(proto_parse(line, strlen(line), &req, &err) < 0);
	assert_string_equal(err_wire(err.code), "bad_request");
	assert_true(err.field[0] != '\0');
	check_error_line(req.rid, &err);
	proto_req_release(&req);

	/* An invalid pattern of 150 two-byte characters, quoted as '%.255s'. */
	strcpy(line, "{\"op\":\"sub\",\"pattern\":\"a");
	for (i = 0; i < 150; i++)
		strcat(line, "\xc3\xa9");
	strcat(line, "\"}");
	assert_true(proto_parse(line, strlen(line), &req, &err) < 0);
	assert_string_equal(err_wire(err.code), "invalid_pattern");
	check_error_line(req.rid, &err);
	proto_req_release(&req);

	/* And whatever a caller put in err directly. */
	cairn_err_set(&err, CAIRN_E_PROTO, "\xff", "bad \xc3 byte \xe2\x82");
	check_error_line(NULL, &err);
}

/* An error reply read back by the CLI (client_reply_err()) is the error
 * that was sent, for every code of the table. */
static void test_error_reply_round_trip(void **state)
{
	for (size_t i = 0; i < err_ncodes; i++) {
		struct cairn_err sent, got;
		cairn_err_set(&sent, err_codes[i], i % 2 ? "pattern" : NULL, "message %zu", i);
		size_t len;
		char *line = proto_error_line(NULL, &sent, &len);
		json_t *reply = parse_reply(line, len);
		assert_int_equal(client_reply_err(reply, &got), sent.code);
		assert_int_equal(got.code, sent.code);
		assert_string_equal(got.field, sent.field);
		assert_string_equal(got.msg, sent.msg);
		json_decref(reply);
		free(line);
	}
	/* A code this cairn does not know is kept in the message. */
	struct cairn_err got;
	json_t *reply = json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", "brand_new",
				  "message", "m");
	assert_int_equal(client_reply_err(reply, &got), CAIRN_E_PROTO);
	assert_string_equal(got.msg, "brand_new: m");
	json_decref(reply);
}

static void test_ok_line(void **state)
{
	json_t *rid = json_string("r-1");
	size_t len;

	char *line = proto_ok_line(
		rid, json_pack("{s:i, s:s, s:b}", "seq", 42, "id", "01J", "duplicate", 0), &len);
	assert_string_equal(line, "{\"rid\":\"r-1\",\"ok\":true,\"seq\":42,\"id\":\"01J\","
				  "\"duplicate\":false}\n");
	json_t *o = parse_reply(line, len);
	check_rid(o, rid);
	json_decref(o);
	free(line);
	json_decref(rid);

	line = proto_ok_line(NULL, json_object(), &len);
	assert_string_equal(line, "{\"ok\":true}\n");
	assert_int_equal(len, 12);
	free(line);

	/* A reply holding text with newlines stays one line. */
	line = proto_ok_line(NULL, json_pack("{s:s}", "server", "a\nb\r\n"), &len);
	o = parse_reply(line, len);
	assert_string_equal(json_string_value(json_object_get(o, "server")), "a\nb\r\n");
	json_decref(o);
	free(line);
}

/* ---- line splitting ---- */

#define MAX_GOT 16

/* What the on_line callback saw. */
struct got {
	int n;
	char *lines[MAX_GOT]; /* NULL for a too-long line */
	char *heads[MAX_GOT]; /* a too-long line's first bytes */
	size_t lens[MAX_GOT];
	int stop_at;        /* return non-zero for the line with this index (1-based) */
	struct linebuf *lb; /* if set, checked against its cap on every call */
};

static int collect(void *ctx, const char *line, size_t len, bool too_long)
{
	struct got *g = ctx;

	assert_true(g->n < MAX_GOT);
	if (too_long) {
		/* Only the head is passed: NUL-terminated, at most LINEBUF_HEAD
		 * bytes, shorter than the whole line. */
		assert_non_null(line);
		assert_true(strlen(line) <= LINEBUF_HEAD);
		assert_true(strlen(line) < len);
		g->lines[g->n] = NULL;
		g->heads[g->n] = xstrdup(line);
	} else {
		assert_non_null(line);
		assert_true(len > 0);
		assert_int_equal(line[len], '\0');
		g->lines[g->n] = xmalloc(len + 1);
		memcpy(g->lines[g->n], line, len + 1);
	}
	if (g->lb)
		assert_true(g->lb->cap <= g->lb->max + 1);
	g->lens[g->n] = len;
	g->n++;
	return g->n == g->stop_at;
}

static void got_clear(struct got *g)
{
	for (int i = 0; i < g->n; i++) {
		free(g->lines[i]);
		free(g->heads[i]);
	}
	memset(g, 0, sizeof *g);
}

static void assert_line(const struct got *g, int i, const char *want, size_t len)
{
	assert_true(i < g->n);
	assert_non_null(g->lines[i]);
	assert_int_equal(g->lens[i], len);
	assert_memory_equal(g->lines[i], want, len);
}

/* Every way of cutting the stream into chunks gives the same lines; empty
 * lines (bare or CRLF) are skipped and one trailing '\r' is dropped. */
static void test_linebuf_chunks(void **state)
{
	static const char in[] = "{\"op\":\"status\"}\n\n\r\nabc\r\nx\r\r\n\n\na\0b\nrest";
	const size_t n = sizeof in - 1;

	for (size_t step = 1; step <= n; step++) {
		struct linebuf lb;
		struct got g = {0};

		linebuf_init(&lb, 64);
		for (size_t i = 0; i < n; i += step) {
			size_t k = n - i < step ? n - i : step;
			assert_int_equal(linebuf_feed(&lb, in + i, k, collect, &g), k);
		}
		assert_int_equal(g.n, 4);
		assert_line(&g, 0, "{\"op\":\"status\"}", 15);
		assert_line(&g, 1, "abc", 3);
		assert_line(&g, 2, "x\r", 2);
		assert_line(&g, 3, "a\0b", 3);
		/* "rest" waits for its newline. */
		assert_int_equal(linebuf_feed(&lb, "\n", 1, collect, &g), 1);
		assert_int_equal(g.n, 5);
		assert_line(&g, 4, "rest", 4);
		got_clear(&g);
		linebuf_release(&lb);
	}
}

/* A line of exactly max bytes passes; one byte more is reported once, as
 * too long with its length, and the lines around it are intact. */
static void test_linebuf_max(void **state)
{
	struct linebuf lb;
	struct got g = {0};
	static const char in[] = "before\n12345678\n123456789\nafter\n";

	for (size_t step = 1; step <= sizeof in - 1; step++) {
		linebuf_init(&lb, 8);
		for (size_t i = 0; i < sizeof in - 1; i += step) {
			size_t k = sizeof in - 1 - i < step ? sizeof in - 1 - i : step;
			assert_int_equal(linebuf_feed(&lb, in + i, k, collect, &g), k);
			assert_true(lb.cap <= 9);
		}
		assert_int_equal(g.n, 4);
		assert_line(&g, 0, "before", 6);
		assert_line(&g, 1, "12345678", 8);
		assert_null(g.lines[2]);
		assert_int_equal(g.lens[2], 9);
		assert_string_equal(g.heads[2], "12345678"); /* the head, up to max */
		assert_line(&g, 3, "after", 5);
		got_clear(&g);
		linebuf_release(&lb);
	}
}

/* A 10 MB line fed in 4 KB chunks is never buffered: the buffer stays
 * within max + 1 bytes throughout, the line is reported once with its byte
 * count, and the line that follows in the same chunk arrives intact. */
static void test_linebuf_huge_line(void **state)
{
	static const size_t maxes[] = {4096, 1024 * 1024 + 64 * 1024};
	const size_t huge = 10 * 1024 * 1024, chunk = 4096;
	static const char next[] = "{\"op\":\"status\"}\n";
	size_t total = 6 + huge + 1 + sizeof next - 1;
	char *in = xmalloc(total);

	memcpy(in, "first\n", 6);
	memset(in + 6, 'x', huge);
	in[6 + huge] = '\n';
	memcpy(in + 6 + huge + 1, next, sizeof next - 1);
	for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
		struct linebuf lb;
		struct got g = {0};

		linebuf_init(&lb, maxes[m]);
		g.lb = &lb;
		for (size_t i = 0; i < total; i += chunk) {
			size_t k = total - i < chunk ? total - i : chunk;
			assert_int_equal(linebuf_feed(&lb, in + i, k, collect, &g), k);
			if (lb.cap > lb.max + 1)
				fail_msg("linebuf holds %zu bytes after %zu fed (max %zu)", lb.cap,
					 i + k, lb.max);
		}
		assert_int_equal(g.n, 3);
		assert_line(&g, 0, "first", 5);
		assert_null(g.lines[1]);
		assert_int_equal(g.lens[1], huge);
		assert_line(&g, 2, next, sizeof next - 2);
		got_clear(&g);
		linebuf_release(&lb);
	}
	free(in);
}

/* A non-zero return from on_line stops the feed right after that line's
 * newline; the caller feeds the rest again and nothing is lost. */
static void test_linebuf_stop(void **state)
{
	struct linebuf lb;
	struct got g = {0};

	linebuf_init(&lb, 16);
	assert_int_equal(linebuf_feed(&lb, "ab", 2, collect, &g), 2);
	g.stop_at = 1;
	static const char in[] = "c\nd\ne";
	assert_int_equal(linebuf_feed(&lb, in, 5, collect, &g), 2);
	assert_int_equal(g.n, 1);
	assert_line(&g, 0, "abc", 3);
	g.stop_at = 2;
	assert_int_equal(linebuf_feed(&lb, in + 2, 3, collect, &g), 2);
	assert_int_equal(g.n, 2);
	assert_line(&g, 1, "d", 1);
	assert_int_equal(linebuf_feed(&lb, in + 4, 1, collect, &g), 1);
	assert_int_equal(g.n, 2);
	assert_int_equal(linebuf_feed(&lb, "\n", 1, collect, &g), 1);
	assert_int_equal(g.n, 3);
	assert_line(&g, 2, "e", 1);
	got_clear(&g);

	/* Stopping on a too-long line, and on the last line of a chunk. */
	static const char in2[] = "0123456789abcdefXYZ\nok\n";
	g.stop_at = 1;
	assert_int_equal(linebuf_feed(&lb, in2, sizeof in2 - 1, collect, &g), 20);
	assert_int_equal(g.n, 1);
	assert_null(g.lines[0]);
	assert_int_equal(g.lens[0], 19);
	g.stop_at = 2;
	assert_int_equal(linebuf_feed(&lb, in2 + 20, 3, collect, &g), 3);
	assert_int_equal(g.n, 2);
	assert_line(&g, 1, "ok", 2);
	got_clear(&g);
	linebuf_release(&lb);
}

/* The request id is found in the first bytes of a line that was too long
 * or did not parse, so the error can carry it; anything else is NULL. */
static void test_scan_rid(void **state)
{
	static const struct {
		const char *head;
		const char *want_str;
		long long want_int; /* used when want_str is NULL and ok */
		bool ok;
	} cases[] = {
		{"{\"rid\":\"a1\",\"op\":\"pub\",\"event\":{\"data\":\"xxxx", "a1", 0, true},
		{"{\"op\":\"status\", \"rid\" : 42,,}", NULL, 42, true},
		{"{\"event\":{\"rid\":7}}", NULL, 7,
		 true}, /* first "rid": wins, as a client puts it first */
		{"{\"op\":\"status\"}", NULL, 0, false},
		{"{\"rid\":{\"a\":1}}", NULL, 0, false},
		{"{\"rid\":\"unterminated", NULL, 0, false},
		{"{\"rid\"", NULL, 0, false},
		{"{\"rid\":", NULL, 0, false},
		{"\"rid\"x:1", NULL, 0, false},
		{"", NULL, 0, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *rid = proto_scan_rid(cases[i].head, strlen(cases[i].head));
		if (!cases[i].ok) {
			if (rid)
				fail_msg("case %zu: found a rid in '%s'", i, cases[i].head);
			continue;
		}
		assert_non_null(rid);
		if (cases[i].want_str)
			assert_string_equal(json_string_value(rid), cases[i].want_str);
		else
			assert_int_equal(json_integer_value(rid), cases[i].want_int);
		json_decref(rid);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_file),
		cmocka_unit_test(test_hello_values),
		cmocka_unit_test(test_pub_values),
		cmocka_unit_test(test_sub_values),
		cmocka_unit_test(test_unsub_values),
		cmocka_unit_test(test_query_values),
		cmocka_unit_test(test_rid_on_error),
		cmocka_unit_test(test_position_messages),
		cmocka_unit_test(test_raw_bytes),
		cmocka_unit_test(test_error_line),
		cmocka_unit_test(test_error_reply_round_trip),
		cmocka_unit_test(test_error_line_utf8),
		cmocka_unit_test(test_ok_line),
		cmocka_unit_test(test_linebuf_chunks),
		cmocka_unit_test(test_linebuf_max),
		cmocka_unit_test(test_scan_rid),
		cmocka_unit_test(test_linebuf_huge_line),
		cmocka_unit_test(test_linebuf_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
