/* Triage without the daemon: paths made relative to the project, snapshot
 * files round-tripping, the report for a gcc failure, known fixes from the
 * knowledge base ranked and filtered, and learning from a fail -> pass. */
#include "common/err.h"
#include "common/xalloc.h"
#include "kb/kb.h"
#include "kb/signature.h"
#include "services/triage.h"
#include "services/triage_int.h"
#include "sources/diag.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/cairn-triage-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void rm_rf(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* A store with its knowledge base in a fresh directory, for the tests that
 * triage against known fixes. */
struct kbfx {
	char *dir, *path;
	sqlite3 *db;
	struct kb *kb;
};

static void kbfx_open(struct kbfx *fx)
{
	struct cairn_err err;
	fx->dir = tmpdir();
	fx->path = xasprintf("%s/cairn.db", fx->dir);
	assert_int_equal(store_db_open(fx->path, false, &fx->db, &err), 0);
	assert_int_equal(kb_open_db(fx->db, 0, &fx->kb, &err), 0);
}

static void kbfx_close(struct kbfx *fx)
{
	kb_close(fx->kb);
	sqlite3_close(fx->db);
	free(fx->path);
	rm_rf(fx->dir);
	free(fx->dir);
}

static void test_rel_path(void **state)
{
	static const struct {
		const char *root, *cwd, *file, *want;
	} cases[] = {
		{"/p", "/p", "a.c", "a.c"},
		{"/p", "/p/src", "a.c", "src/a.c"},
		{"/p", "/p/src", "../inc/a.h", "inc/a.h"},
		{"/p", "/p/src", "./x/./y.c", "src/x/y.c"},
		{"/p", "/p", "/p/src/a.c", "src/a.c"},
		{"/p", "/p", "/usr/include/stdio.h", "/usr/include/stdio.h"},
		{"/p/", "/p", "a.c", "a.c"},
		{"/p", "/q", "a.c", "/q/a.c"},
		{"/p", "/p", "../../etc/passwd", "/etc/passwd"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = triage__rel_path(cases[i].root, cases[i].cwd, cases[i].file);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: %s + %s: want %s, got %s", i, cases[i].cwd,
				 cases[i].file, cases[i].want, got);
		free(got);
	}
	assert_null(triage__rel_path("/p", "/p", ""));
}

struct seen {
	int n;
	char path[4][64];
	char content[4][64];
	bool missing[4];
};

static int collect(void *ctx, const char *path, const char *content, size_t len)
{
	struct seen *s = ctx;
	assert_true(s->n < 4);
	snprintf(s->path[s->n], 64, "%s", path);
	if (content)
		snprintf(s->content[s->n], 64, "%.*s", (int)len, content);
	s->missing[s->n] = content == NULL;
	s->n++;
	return 0;
}

/* make's and ninja's "Entering directory" lines, in the forms they print. */
static void test_entered_dir(void **state)
{
	(void)state;
	static const struct {
		const char *line, *dir; /* dir NULL: not such a line */
		bool leave;
	} t[] = {
		{"make[1]: Entering directory '/src/redis/src'", "/src/redis/src", false},
		{"make[1]: Leaving directory '/src/redis/src'", "/src/redis/src", true},
		{"make: Entering directory `/x/y'", "/x/y", false},
		{"gmake[2]: Entering directory \"/a b/c\"\r", "/a b/c", false},
		{"make[1]: Entering directory \xe2\x80\x98/u/src\xe2\x80\x99", "/u/src", false},
		{"ninja: Entering directory `build'", "build", false},
		{"echo Entering directory '/x'", NULL, false},
		{"Entering directory '/x'", NULL, false},
		{"make[1]: Entering directory ''", NULL, false},
		{"cc -c a.c", NULL, false},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		bool leave = !t[i].leave;
		char *d = triage__entered_dir(t[i].line, strlen(t[i].line), &leave);
		if (!t[i].dir) {
			if (d)
				fail_msg("'%s': read '%s', expected nothing", t[i].line, d);
			continue;
		}
		if (!d || strcmp(d, t[i].dir) != 0)
			fail_msg("'%s': read '%s', expected '%s'", t[i].line, d ? d : "(nothing)",
				 t[i].dir);
		assert_int_equal(leave, t[i].leave);
		free(d);
	}
}

/* A message that ends a sentence itself gets no second full stop, and a
 * message that names its file gets no second copy of the path. */
static void test_summary_punctuation(void **state)
{
	(void)state;
	static const char *const logs[] = {
		"x.c: In function 'main':\nx.c:3:5: error: unknown type name 'robj'; did you mean "
		"\xe2\x80\x98robj\xe2\x80\x99?\n",
		"make: *** No targets specified and no makefile found.  Stop.\n",
		"x.c:1:1: error: expected ';' before '}' token\n",
		"tests/x.py:5: in test_y\n    assert 1 == 2\nE   assert 1 == 2\n"
		"=========================== short test summary info ============================\n"
		"FAILED tests/x.py::test_y - assert 1 == 2\n",
	};
	for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
		struct triage_ctx cx = {0};
		struct triage_failure f = {.cwd = "/nonexistent",
					   .target = "make",
					   .log = logs[i],
					   .log_len = strlen(logs[i])};
		json_t *rep = NULL;
		assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
		const char *s = json_string_value(json_object_get(rep, "summary"));
		if (strstr(s, "?.") || strstr(s, "..") || strstr(s, "!."))
			fail_msg("doubled punctuation: %s", s);
		/* No path given twice ("in tests/x.py: tests/x.py::test_y"). */
		const char *t = strstr(s, "tests/x.py");
		if (t && strstr(t + 1, "tests/x.py"))
			fail_msg("a path given twice: %s", s);
		json_decref(rep);
	}
}

static void test_snapshot_round_trip(void **state)
{
	char *dir = tmpdir();
	char *sub = xasprintf("%s/src", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(dir, "src/a.c", "int a = 1\n");
	write_file(dir, "util.h", "#define X 1\n");
	const char *log = "src/a.c:1:10: error: expected ';' at end of declaration\n"
			  "src/a.c:1:10: error: expected ';' at end of declaration\n"
			  "gone.c:3:1: error: no such thing\n";
	struct diag_list dl = {0};
	assert_int_equal(diag_extract(log, strlen(log), "gcc -c src/a.c", &dl), 0);
	char *dirty[] = {"util.h", "src/a.c"};
	char *snap = xasprintf("%s/x.snap", dir);
	assert_int_equal(triage_snapshot_write(snap, dir, dir, &dl, dirty, 2), 0);
	size_t len;
	char *data = triage_read_log(snap, &len);
	assert_non_null(data);
	struct seen s = {0};
	assert_int_equal(triage_snapshot_parse(data, len, collect, &s), 0);
	assert_int_equal(s.n, 3); /* a.c once, gone.c as missing, util.h */
	assert_string_equal(s.path[0], "src/a.c");
	assert_string_equal(s.content[0], "int a = 1\n");
	assert_string_equal(s.path[1], "gone.c");
	assert_true(s.missing[1]);
	assert_string_equal(s.path[2], "util.h");
	/* Damaged: cut in the middle of a content, or a lying length. */
	struct seen t = {0};
	assert_int_equal(triage_snapshot_parse(data, len - 3, collect, &t), CAIRN_E_PARSE);
	assert_int_equal(triage_snapshot_parse("cairn-snapshot 1\nF 9 1\nab\n", 26, collect, &t),
			 CAIRN_E_PARSE);
	assert_int_equal(triage_snapshot_parse("nope", 4, collect, &t), CAIRN_E_PARSE);
	free(data);
	free(snap);
	diag_list_release(&dl);
	rm_rf(dir);
	free(sub);
	free(dir);
}

static const char GCC_LOG[] =
	"gcc -c -Wall -o src/net/conn.o src/net/conn.c\n"
	"src/net/conn.c: In function 'conn_open':\n"
	"src/net/conn.c:42:17: error: 'sockfd' undeclared (first use in this function)\n"
	"   42 |         return  sockfd;\n"
	"      |                 ^~~~~~\n"
	"make: *** [Makefile:9: src/net/conn.o] Error 1\n";

static void test_report_without_database(void **state)
{
	struct triage_ctx cx = {0};
	struct triage_failure f = {.cwd = "/nonexistent",
				   .target = "make all",
				   .log = GCC_LOG,
				   .log_len = strlen(GCC_LOG)};
	json_t *rep = NULL;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	const json_t *sig = json_object_get(rep, "signature");
	assert_string_equal(json_string_value(json_object_get(sig, "exact")),
			    "'sockfd' undeclared (first use in this function)");
	assert_string_equal(json_string_value(json_object_get(sig, "general")),
			    "'<id>' undeclared (first use in this function)");
	assert_string_equal(json_string_value(json_object_get(sig, "file")), "src/net/conn.c");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(rep, "diagnostics"), "errors")),
		1); /* make's echo does not count twice */
	const char *summary = json_string_value(json_object_get(rep, "summary"));
	assert_non_null(strstr(summary, "make all failed with 1 error"));
	assert_non_null(strstr(summary, "src/net/conn.c:42"));
	const json_t *lines = json_object_get(json_object_get(rep, "excerpt"), "lines");
	bool has = false;
	size_t i;
	const json_t *l;
	json_array_foreach(lines, i, l)
		has |= strstr(json_string_value(json_object_get(l, "text")), "undeclared") != NULL;
	assert_true(has);
	assert_int_equal(json_array_size(json_object_get(rep, "fixes")), 0);
	json_decref(rep);

	/* Nothing recognisable: still a report, with no signature. */
	f.log = "";
	f.log_len = 0;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	assert_true(json_is_null(json_object_get(rep, "signature")));
	json_decref(rep);
}

/* A made-up GitHub token. */
#define TOKEN "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"

/* Secrets in a failing command's output reach neither the signature nor any
 * other part of the report, nor the failures and signatures tables: the
 * log is redacted before anything is computed from it. */
static void test_secrets_never_reach_the_signature(void **state)
{
	struct kbfx fx;
	kbfx_open(&fx);
	char *dir = fx.dir;
	sqlite3 *db = fx.db;
	struct kb *kb = fx.kb;
	struct triage_ctx cx = {.db = db, .kb = kb};
	static const char *const logs[] = {
		/* The token in a diagnostic: the primary one, and another. */
		"deploy.c:3:1: error: bad credentials for " TOKEN "\n"
		"deploy.c:4:1: error: retry with " TOKEN " failed\n",
		/* No diagnostics: the message comes from the log's wording. */
		"pushing release\nfatal: authentication failed, token " TOKEN " was revoked\n",
	};
	for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
		char *id = xasprintf("01M8FW000000000000000000%02zu", i);
		struct triage_failure f = {.event_id = id,
					   .seq = (int64_t)i + 1,
					   .time_ms = 1000,
					   .cwd = dir,
					   .target = "deploy",
					   .command = "sh deploy.sh",
					   .log = logs[i],
					   .log_len = strlen(logs[i])};
		json_t *rep = NULL;
		assert_int_equal(triage_analyze(&cx, &f, NULL, 1000, &rep), 0);
		const json_t *sig = json_object_get(rep, "signature");
		const char *exact = json_string_value(json_object_get(sig, "exact"));
		assert_non_null(exact);
		assert_non_null(strstr(exact, "[REDACTED:github-token]"));
		char *text = json_dumps(rep, 0);
		if (strstr(text, "ghp_"))
			fail_msg("log %zu: the token is in the report: %s", i, text);
		free(text);
		assert_int_equal(triage_record_failure(&cx, &f, rep, NULL, 1000), 0);
		json_decref(rep);
		free(id);
	}
	/* Nothing stored holds it either. */
	static const char *const queries[] = {
		"SELECT count(*) FROM failures WHERE instr(coalesce(signature,'') ||"
		" coalesce(sig_general,'') || coalesce(message,''), 'ghp_') > 0",
		"SELECT count(*) FROM failures WHERE instr(signature, '[REDACTED:github-token]') = "
		"0",
		"SELECT count(*) FROM signatures WHERE instr(sig, 'ghp_') > 0",
	};
	for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, queries[q], -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		if (sqlite3_column_int(st, 0) != 0)
			fail_msg("%d rows for: %s", sqlite3_column_int(st, 0), queries[q]);
		sqlite3_finalize(st);
	}
	kbfx_close(&fx);
}

static int64_t learn(struct kb *kb, const char *sig, const char *gen, const char *key,
		     const char *title)
{
	struct kb_learned l = {.signature = sig,
			       .sig_general = gen,
			       .fix_key = key,
			       .title = title,
			       .body = "diff",
			       .files = "a.c",
			       .failure_id = "01M8FW00000000000000000001",
			       .pass_id = "01M8FW00000000000000000002"};
	int64_t id = 0;
	bool rec = false;
	assert_int_equal(kb_learn_fix(kb, &l, 1000, &id, &rec), 0);
	return id;
}

static void test_known_fixes_ranked(void **state)
{
	struct kbfx fx;
	kbfx_open(&fx);
	char *dir = fx.dir;
	sqlite3 *db = fx.db;
	struct kb *kb = fx.kb;
	const char *exact = "'sockfd' undeclared (first use in this function)";
	const char *gen = "'<id>' undeclared (first use in this function)";
	/* Seen with other names, many times. */
	int64_t often = learn(kb, "'fd' undeclared (first use in this function)", gen, "- ID + ID",
			      "rename to the declared name");
	for (int k = 0; k < 6; k++)
		learn(kb, "'fd' undeclared (first use in this function)", gen, "- ID + ID",
		      "rename to the declared name");
	/* Seen once with this very name. */
	int64_t once = learn(kb, exact, gen, "+ int ID ;", "declare it");
	/* Unrelated. */
	learn(kb, "expected ';' before '}' token", "expected ';' before '}' token", "+ ;",
	      "add the semicolon");

	struct triage_ctx cx = {.db = db, .kb = kb};
	struct triage_failure f = {
		.cwd = dir, .target = "make all", .log = GCC_LOG, .log_len = strlen(GCC_LOG)};
	json_t *rep = NULL;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	const json_t *fixes = json_object_get(rep, "fixes");
	assert_true(json_array_size(fixes) >= 2);
	/* The fix seen 7 times with other names outranks the one seen once
	 * with this name; both match on the signature. */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(fixes, 0), "id")),
			 often);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(fixes, 1), "id")), once);
	assert_string_equal(json_string_value(json_object_get(json_array_get(fixes, 1), "reason")),
			    "same error");
	json_decref(rep);

	/* Rejected: never offered again. */
	assert_int_equal(kb_reject(kb, often, 2000), 0);
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	fixes = json_object_get(rep, "fixes");
	size_t i;
	const json_t *x;
	json_array_foreach(fixes, i, x)
		assert_int_not_equal(json_integer_value(json_object_get(x, "id")), often);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(fixes, 0), "id")), once);
	json_decref(rep);

	kbfx_close(&fx);
}

/* Similar text: a learned fix of another error is never offered through
 * shared words (an undeclared name is not offered a missing-semicolon
 * fix); an entry written by hand is, when enough of the words match, and
 * the report says which. */
static void test_similar_text(void **state)
{
	struct kbfx fx;
	kbfx_open(&fx);
	char *dir = fx.dir;
	sqlite3 *db = fx.db;
	struct kb *kb = fx.kb;
	int64_t semi =
		learn(kb, "expected ';' before 'sockfd'", "expected ';' before '<id>'", "+ ;",
		      "expected ';' before sockfd in conn_open: changed conn.c (+ ;)");
	int64_t note = 0, weak = 0;
	bool dup;
	struct kb_entry e = {.kind = "mistake",
			     .title =
				     (char *)"sockfd undeclared in conn_open: include sys/socket.h",
			     .body = (char *)"",
			     .tags = (char *)"",
			     .files = (char *)""};
	assert_int_equal(kb_add(kb, &e, 1000, &note, &dup), 0);
	e.title = (char *)"the function table is generated";
	assert_int_equal(kb_add(kb, &e, 1000, &weak, &dup), 0);

	struct triage_ctx cx = {.db = db, .kb = kb};
	struct triage_failure f = {
		.cwd = dir, .target = "make all", .log = GCC_LOG, .log_len = strlen(GCC_LOG)};
	json_t *rep = NULL;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	const json_t *fixes = json_object_get(rep, "fixes");
	bool saw_note = false;
	size_t i;
	const json_t *x;
	json_array_foreach(fixes, i, x) {
		int64_t id = json_integer_value(json_object_get(x, "id"));
		assert_int_not_equal(id, semi);
		assert_int_not_equal(id, weak);
		if (id == note) {
			saw_note = true;
			assert_string_equal(json_string_value(json_object_get(x, "reason")),
					    "similar text");
			const char *m = json_string_value(json_object_get(x, "matched"));
			assert_non_null(m);
			assert_non_null(strstr(m, "sockfd"));
		}
	}
	assert_true(saw_note);
	json_decref(rep);
	kbfx_close(&fx);
}

/* A fix learned in another project for the very same error is offered,
 * after this project's own and marked as from elsewhere; one for the same
 * error with other names, elsewhere, is not. */
static void test_fix_from_another_project(void **state)
{
	struct kbfx fx;
	kbfx_open(&fx);
	char *dir = fx.dir;
	sqlite3 *db = fx.db;
	struct kb *kb = fx.kb;
	const char *exact = "'sockfd' undeclared (first use in this function)";
	const char *gen = "'<id>' undeclared (first use in this function)";
	struct kb_learned l = {.signature = exact,
			       .sig_general = gen,
			       .fix_key = "+ #include < ID / ID . ID >",
			       .title = "include sys/socket.h",
			       .body = "diff",
			       .files = "net.c",
			       .project = "/elsewhere/proj",
			       .failure_id = "01M8FW00000000000000000011",
			       .pass_id = "01M8FW00000000000000000012"};
	int64_t other = 0, mine = 0, other_names = 0;
	bool rec;
	assert_int_equal(kb_learn_fix(kb, &l, 1000, &other, &rec), 0);
	l.signature = "'fd' undeclared (first use in this function)";
	l.fix_key = "- ID + ID";
	l.title = "rename fd";
	l.failure_id = "01M8FW00000000000000000013";
	l.pass_id = "01M8FW00000000000000000014";
	assert_int_equal(kb_learn_fix(kb, &l, 1000, &other_names, &rec), 0);
	l.signature = exact;
	l.fix_key = "+ int ID ;";
	l.title = "declare it";
	l.project = dir;
	l.failure_id = "01M8FW00000000000000000015";
	l.pass_id = "01M8FW00000000000000000016";
	assert_int_equal(kb_learn_fix(kb, &l, 1000, &mine, &rec), 0);

	struct triage_ctx cx = {.db = db, .kb = kb};
	struct triage_failure f = {
		.cwd = dir, .target = "make all", .log = GCC_LOG, .log_len = strlen(GCC_LOG)};
	json_t *rep = NULL;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	const json_t *fixes = json_object_get(rep, "fixes");
	assert_int_equal(json_array_size(fixes), 2);
	const json_t *a = json_array_get(fixes, 0), *b = json_array_get(fixes, 1);
	assert_int_equal(json_integer_value(json_object_get(a, "id")), mine);
	assert_null(json_object_get(a, "from_project"));
	assert_int_equal(json_integer_value(json_object_get(b, "id")), other);
	assert_string_equal(json_string_value(json_object_get(b, "reason")),
			    "same error, in another project");
	assert_string_equal(json_string_value(json_object_get(b, "from_project")),
			    "/elsewhere/proj");
	json_decref(rep);
	kbfx_close(&fx);
}

/* The known fixes a report offers are used, once per failure: recording
 * the same failure again (a rerun after a crash) counts nothing more. */
/* Typed fixes (fixshape.h, "Types"): of three fixes learned for one
 * message, renames to an int, a float and an array, the array comes first
 * when the failing line subscripts the undeclared name; the float cannot
 * apply where the file declares no float, the int cannot take [i]. The log
 * is gcc 12's, for this very file. */
static const char SUM_C[] = "#include <stdio.h>\n"
			    "int main(void)\n"
			    "{\n"
			    "\tint vals[4] = {1, 2, 3, 4}, n = 4, total = 0;\n"
			    "\tfor (int i = 0; i < n; i++)\n"
			    "\t\ttotal += vls[i];\n"
			    "\tprintf(\"%d\\n\", total);\n"
			    "\treturn 0;\n"
			    "}\n";
static const char SUM_LOG[] =
	"sum.c: In function \xe2\x80\x98main\xe2\x80\x99:\n"
	"sum.c:6:26: error: \xe2\x80\x98vls\xe2\x80\x99 undeclared (first use in this function); "
	"did you mean \xe2\x80\x98vals\xe2\x80\x99?\n"
	"    6 |                 total += vls[i];\n"
	"      |                          ^~~\n"
	"      |                          vals\n"
	"sum.c:6:26: note: each undeclared identifier is reported only once for each function it "
	"appears in\n";

static void test_typed_fixes(void **state)
{
	struct kbfx fx;
	kbfx_open(&fx);
	char *path = xasprintf("%s/sum.c", fx.dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(SUM_C, fp);
	fclose(fp);
	free(path);
	/* Learned from other programs: the same message about other names. */
	struct signature sig;
	const char *other = "\xe2\x80\x98x\xe2\x80\x99 undeclared (first use in this function)";
	signature_from_message(other, strlen(other), &sig);
	int64_t to_int = 0, to_float = 0, to_array = 0;
	for (int k = 0; k < 6; k++) {
		to_int = learn(fx.kb, sig.exact, sig.general, "- ID + ID:int", "rename to an int");
		to_float = learn(fx.kb, sig.exact, sig.general, "- ID + ID:float",
				 "rename to a float");
	}
	to_array = learn(fx.kb, sig.exact, sig.general, "- ID + ID:[]", "rename to an array");

	struct triage_ctx cx = {.db = fx.db, .kb = fx.kb};
	struct triage_failure f = {
		.cwd = fx.dir, .target = "make", .log = SUM_LOG, .log_len = strlen(SUM_LOG)};
	json_t *rep = NULL;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	const json_t *fixes = json_object_get(rep, "fixes");
	assert_int_equal(json_array_size(fixes), 3);
	const json_t *first = json_array_get(fixes, 0);
	assert_int_equal(json_integer_value(json_object_get(first, "id")), to_array);
	assert_string_equal(json_string_value(json_object_get(first, "applies")), "yes");
	for (size_t i = 1; i < 3; i++) {
		const json_t *x = json_array_get(fixes, i);
		json_int_t id = json_integer_value(json_object_get(x, "id"));
		assert_true(id == to_int || id == to_float);
		assert_string_equal(json_string_value(json_object_get(x, "applies")), "no");
	}
	json_decref(rep);

	/* Without the subscript, the int rename is no longer ruled out and,
	 * seen more often, comes first; the float still cannot apply. */
	path = xasprintf("%s/sum.c", fx.dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	char *plain = xstrdup(SUM_C);
	char *at = strstr(plain, "vls[i]");
	memcpy(at, "vls   ", 6);
	fputs(plain, fp);
	fclose(fp);
	free(plain);
	free(path);
	assert_int_equal(triage_analyze(&cx, &f, NULL, 0, &rep), 0);
	fixes = json_object_get(rep, "fixes");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(fixes, 0), "id")),
			 to_int);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(fixes, 2), "id")),
			 to_float);
	assert_string_equal(json_string_value(json_object_get(json_array_get(fixes, 2), "applies")),
			    "no");
	json_decref(rep);
	kbfx_close(&fx);
}

static void test_offered_fixes_are_used_once(void **state)
{
	struct kbfx fx;
	kbfx_open(&fx);
	char *dir = fx.dir;
	sqlite3 *db = fx.db;
	struct kb *kb = fx.kb;
	const char *gen = "'<id>' undeclared (first use in this function)";
	int64_t id = learn(kb, "'sockfd' undeclared (first use in this function)", gen,
			   "+ int ID ;", "declare it");
	struct triage_ctx cx = {.db = db, .kb = kb};
	struct triage_failure f = {.event_id = "01M8FW00000000000000000020",
				   .seq = 3,
				   .time_ms = 5000,
				   .cwd = dir,
				   .target = "make all",
				   .log = GCC_LOG,
				   .log_len = strlen(GCC_LOG)};
	struct kb_entry e;
	for (int run = 0; run < 2; run++) {
		json_t *rep = NULL;
		assert_int_equal(triage_analyze(&cx, &f, NULL, 5000, &rep), 0);
		assert_int_equal(json_integer_value(json_object_get(
					 json_array_get(json_object_get(rep, "fixes"), 0), "id")),
				 id);
		assert_int_equal(triage_record_failure(&cx, &f, rep, NULL, 5000), 0);
		json_decref(rep);
		assert_int_equal(kb_get(kb, id, &e), 0);
		assert_int_equal(e.uses, 2); /* learned (1), offered (1) */
		assert_int_equal(e.last_used_ms, 5000);
		kb_entry_release(&e);
	}
	/* Another failure offers it again: another use. */
	f.event_id = "01M8FW00000000000000000021";
	f.seq = 4;
	f.time_ms = 6000;
	json_t *rep = NULL;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 6000, &rep), 0);
	assert_int_equal(triage_record_failure(&cx, &f, rep, NULL, 6000), 0);
	json_decref(rep);
	assert_int_equal(kb_get(kb, id, &e), 0);
	assert_int_equal(e.uses, 3);
	assert_int_equal(e.last_used_ms, 6000);
	kb_entry_release(&e);
	kbfx_close(&fx);
}

static void test_learn_from_fail_then_pass(void **state)
{
	struct kbfx fx;
	kbfx_open(&fx);
	char *dir = fx.dir;
	sqlite3 *db = fx.db;
	struct kb *kb = fx.kb;
	struct triage_ctx cx = {.db = db, .kb = kb};

	write_file(dir, "a.c", "int f(void)\n{\n\tint x = 1\n\treturn x;\n}\n");
	const char *log = "a.c: In function 'f':\n"
			  "a.c:4:9: error: expected ',' or ';' before 'return'\n";
	struct triage_failure f = {.event_id = "01M8FW00000000000000000010",
				   .seq = 5,
				   .time_ms = 10000,
				   .cwd = dir,
				   .target = "cc",
				   .log = log,
				   .log_len = strlen(log)};
	json_t *rep = NULL;
	assert_int_equal(triage_analyze(&cx, &f, NULL, 10000, &rep), 0);
	assert_int_equal(triage_record_failure(&cx, &f, rep, "01M8FW00000000000000000011", 10000),
			 0);
	json_decref(rep);
	/* The fix. */
	write_file(dir, "a.c", "int f(void)\n{\n\tint x = 1;\n\treturn x;\n}\n");
	struct triage_pass p = {.event_id = "01M8FW00000000000000000012",
				.seq = 9,
				.time_ms = 70000,
				.cwd = dir,
				.target = "cc"};
	json_t *learned = NULL;
	assert_int_equal(triage_learn(&cx, &p, 70000, &learned), 1);
	assert_string_equal(json_string_value(json_object_get(learned, "fix_key")), "+ ;");
	assert_int_equal(json_integer_value(json_object_get(learned, "took_ms")), 60000);
	assert_string_equal(json_string_value(json_array_get(json_object_get(learned, "files"), 0)),
			    "a.c");
	int64_t id = json_integer_value(json_object_get(learned, "id"));
	/* The same pass again (the daemon died before its event was logged):
	 * the same fix, as published the first time, not a recurrence. */
	json_t *again = NULL;
	assert_int_equal(triage_learn(&cx, &p, 75000, &again), 1);
	assert_true(json_equal(again, learned));
	assert_false(json_is_true(json_object_get(again, "recurred")));
	json_decref(again);
	json_decref(learned);
	struct kb_entry e;
	assert_int_equal(kb_get(kb, id, &e), 0);
	assert_non_null(strstr(e.body, "+\tint x = 1;"));
	assert_non_null(strstr(e.body, "-\tint x = 1"));
	kb_entry_release(&e);
	/* A second pass has nothing more to learn. */
	p.seq = 12;
	p.event_id = "01M8FW00000000000000000013";
	assert_int_equal(triage_learn(&cx, &p, 80000, &learned), 0);
	assert_null(learned);

	kbfx_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rel_path),
		cmocka_unit_test(test_entered_dir),
		cmocka_unit_test(test_summary_punctuation),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_report_without_database),
		cmocka_unit_test(test_secrets_never_reach_the_signature),
		cmocka_unit_test(test_known_fixes_ranked),
		cmocka_unit_test(test_similar_text),
		cmocka_unit_test(test_fix_from_another_project),
		cmocka_unit_test(test_typed_fixes),
		cmocka_unit_test(test_offered_fixes_are_used_once),
		cmocka_unit_test(test_learn_from_fail_then_pass),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
