/* Knowledge base hygiene (src/kb/kb_stale.c): idleness and what it costs an
 * entry in kb_fixes_for() (the SQL and the C form of the rule must agree),
 * and kb_stale()'s reasons, order, scope and limit, all at a fixed now. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "kb/kb.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1764000000000LL /* a fixed "now" */
#define DAY KB_DAY_MS

struct fx {
	char dir[64];
	char path[128];
	struct kb *kb;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/cairn-test-kbstale-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/cairn.db", f->dir);
	struct cairn_err err;
	if (kb_open(f->path, false, 0, &f->kb, &err)) {
		fprintf(stderr, "kb_open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_close(f->kb);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(cmd);
	free(f);
	return 0;
}

static int64_t add(struct kb *kb, const char *kind, const char *title, const char *project,
		   const char *files, const char *sig, double confidence, int64_t when)
{
	struct kb_entry e = {.kind = kind,
			     .title = (char *)title,
			     .body = (char *)"body",
			     .project = (char *)project,
			     .files = (char *)files,
			     .signature = (char *)sig,
			     .confidence = confidence};
	int64_t id = 0;
	bool dup = true;
	if (kb_add(kb, &e, when, &id, &dup) || dup)
		fail_msg("kb_add(%s): %s", title, kb_errmsg(kb));
	return id;
}

static void test_idle_rule(void **state)
{
	(void)state;
	assert_int_equal(kb_idle_days(0, T0, T0), 0);
	assert_int_equal(kb_idle_days(0, T0 - DAY + 1, T0), 0);
	assert_int_equal(kb_idle_days(0, T0 - DAY, T0), 1);
	assert_int_equal(kb_idle_days(T0 - 3 * DAY, T0 - 300 * DAY, T0), 3);
	assert_int_equal(kb_idle_days(0, T0 + DAY, T0), 0); /* in the future */
	assert_float_equal(kb_idle_penalty(0), 0, 1e-12);
	assert_float_equal(kb_idle_penalty(30), 0.1, 1e-12);
	assert_float_equal(kb_idle_penalty(90), 0.3, 1e-12);
	assert_float_equal(kb_idle_penalty(1000), 0.3, 1e-12);
}

/* Within a tier, an idle entry ranks by its confidence less idleness: in
 * tiers 1 and 2 that is SQL (IDLE_PENALTY_SQL), in tier 3 C. Both must
 * order the same entries the same way at the same now. */
static void test_fixes_rank_idle_lower(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t old =
		add(kb, "fix", "Idle cache fix zebra", NULL, NULL, "E-idle", 0.7, T0 - 100 * DAY);
	int64_t fresh = add(kb, "fix", "Fresh cache fix zebra", NULL, NULL, "E-idle", 0.5, T0);
	struct kb_fix_hit *h;
	size_t n;
	/* Tier 1 at T0: old lost 0.3 (0.4 < 0.5). */
	assert_int_equal(kb_fixes_for(kb, "E-idle", NULL, NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].e.id, fresh);
	assert_int_equal(h[1].e.id, old);
	kb_fix_hits_free(h, n);
	/* Tier 3 (similar text) at T0: the same order. */
	assert_int_equal(kb_fixes_for(kb, NULL, NULL, "zebra", NULL, 10, T0, &h, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].e.id, fresh);
	assert_int_equal(h[1].e.id, old);
	kb_fix_hits_free(h, n);
	/* On the day old was added, nothing is idle: confidence decides. */
	assert_int_equal(kb_fixes_for(kb, "E-idle", NULL, NULL, NULL, 10, T0 - 100 * DAY, &h, &n),
			 0);
	assert_int_equal(h[0].e.id, old);
	kb_fix_hits_free(h, n);
	assert_int_equal(kb_fixes_for(kb, NULL, NULL, "zebra", NULL, 10, T0 - 100 * DAY, &h, &n),
			 0);
	assert_int_equal(h[0].e.id, old);
	kb_fix_hits_free(h, n);
	/* Used yesterday, old is worth its confidence again. */
	assert_int_equal(kb_mark_used(kb, old, T0 - DAY), 0);
	assert_int_equal(kb_fixes_for(kb, "E-idle", NULL, NULL, NULL, 10, T0, &h, &n), 0);
	assert_int_equal(h[0].e.id, old);
	kb_fix_hits_free(h, n);
	assert_int_equal(kb_fixes_for(kb, NULL, NULL, "zebra", NULL, 10, T0, &h, &n), 0);
	assert_int_equal(h[0].e.id, old);
	kb_fix_hits_free(h, n);
}

/* kb_mark_used() never moves last_used back (a replayed, older event). */
static void test_mark_used_keeps_latest(void **state)
{
	struct kb *kb = ((struct fx *)*state)->kb;
	int64_t id = add(kb, "note", "Used twice", NULL, NULL, NULL, 0, T0 - 10 * DAY);
	assert_int_equal(kb_mark_used(kb, id, T0), 0);
	assert_int_equal(kb_mark_used(kb, id, T0 - 5 * DAY), 0);
	struct kb_entry e;
	assert_int_equal(kb_get(kb, id, &e), 0);
	assert_int_equal(e.uses, 2);
	assert_int_equal(e.last_used_ms, T0);
	assert_int_equal(e.updated_ms, T0 - 10 * DAY);
	kb_entry_release(&e);
	assert_int_equal(kb_mark_used(kb, 999, T0), CAIRN_E_NOTFOUND);
}

static const struct kb_stale_entry *find(const struct kb_stale_list *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return &l->v[i];
	return NULL;
}

/* The reasons of entry id as "code: text | code: text". */
static char *reasons_of(const struct kb_stale_list *l, int64_t id)
{
	const struct kb_stale_entry *s = find(l, id);
	if (!s)
		return xstrdup("(not listed)");
	char *out = xstrdup("");
	for (size_t i = 0; i < s->n_reasons; i++) {
		char *t = xasprintf("%s%s%s: %s", out, i ? " | " : "", s->reasons[i].code,
				    s->reasons[i].text);
		free(out);
		out = t;
	}
	return out;
}

#define ASSERT_REASONS(l, id, want)                                                                \
	do {                                                                                       \
		char *got_ = reasons_of((l), (id));                                                \
		if (strcmp(got_, (want)) != 0)                                                     \
			fail_msg("entry %lld: expected\n  %s\ngot\n  %s", (long long)(id), (want), \
				 got_);                                                            \
		free(got_);                                                                        \
	} while (0)

static void test_stale_reasons(void **state)
{
	struct fx *f = *state;
	struct kb *kb = f->kb;
	char *proj = xasprintf("%s/app", f->dir);
	char *present = xasprintf("%s/src", proj);
	char *mk = xasprintf("mkdir -p '%s' && touch '%s/a.c'", present, present);
	assert_int_equal(system(mk), 0);
	free(mk);
	int64_t never = add(kb, "decision", "Never opened", NULL, NULL, NULL, 0, T0 - 100 * DAY);
	int64_t unused = add(kb, "pattern", "Used long ago", NULL, NULL, NULL, 0, T0 - 200 * DAY);
	assert_int_equal(kb_mark_used(kb, unused, T0 - 120 * DAY), 0);
	int64_t recent = add(kb, "pattern", "Used lately", NULL, NULL, NULL, 0, T0 - 200 * DAY);
	assert_int_equal(kb_mark_used(kb, recent, T0 - 10 * DAY), 0);
	int64_t young = add(kb, "note", "Added lately", NULL, NULL, NULL, 0, T0 - 89 * DAY);
	int64_t sup = add(kb, "fix", "Old way", NULL, NULL, NULL, 0, T0);
	int64_t repl = add(kb, "fix", "New way", NULL, NULL, NULL, 0, T0);
	assert_int_equal(kb_supersede(kb, sup, repl, T0), 0);
	struct kb_learned l = {.signature = "E9",
			       .fix_key = "k",
			       .title = "Learned and left",
			       .body = "b",
			       .failure_id = "ev-f",
			       .pass_id = "ev-p"};
	int64_t cand = 0;
	bool rec;
	assert_int_equal(kb_learn_fix(kb, &l, T0 - 95 * DAY, &cand, &rec), 0);
	int64_t files = add(kb, "mistake", "Names files", proj,
			    "src/a.c\nsrc/gone.c\n/elsewhere/abs.c\nsrc/also-gone.h", NULL, 0, T0);
	int64_t elsewhere = add(kb, "mistake", "Another machine", "/nonexistent/cairn/proj", "x.c",
				NULL, 0, T0);
	int64_t forgotten = add(kb, "note", "Forgotten", NULL, NULL, NULL, 0, T0 - 300 * DAY);
	assert_int_equal(kb_forget(kb, forgotten, T0), 0);
	int64_t rejected = add(kb, "fix", "Rejected", NULL, NULL, NULL, 0, T0 - 300 * DAY);
	assert_int_equal(kb_reject(kb, rejected, T0 - 300 * DAY), 0);

	/* A learned fix counts its first use. */
	struct kb_entry e;
	assert_int_equal(kb_get(kb, cand, &e), 0);
	assert_int_equal(e.uses, 1);
	assert_int_equal(e.last_used_ms, T0 - 95 * DAY);
	kb_entry_release(&e);

	struct kb_stale_query q = {.scope = KB_SCOPE_ALL, .now_ms = T0};
	struct kb_stale_list sl;
	assert_int_equal(kb_stale(kb, &q, &sl), 0);
	ASSERT_REASONS(&sl, never, "never-used: never used in 100 days since it was added");
	ASSERT_REASONS(&sl, unused, "unused: not used for 120 days");
	ASSERT_REASONS(&sl, recent, "(not listed)");
	ASSERT_REASONS(&sl, young, "(not listed)");
	char want[256];
	snprintf(want, sizeof want, "superseded: superseded by #%lld (New way) but not forgotten",
		 (long long)repl);
	ASSERT_REASONS(&sl, sup, want);
	ASSERT_REASONS(&sl, repl, "(not listed)");
	ASSERT_REASONS(&sl, cand,
		       "unused: not used for 95 days | unconfirmed: a candidate fix never "
		       "confirmed in 95 days");
	ASSERT_REASONS(&sl, files,
		       "missing-file: names src/gone.c, which is no longer in the project | "
		       "missing-file: names src/also-gone.h, which is no longer in the project");
	ASSERT_REASONS(&sl, elsewhere, "(not listed)");
	ASSERT_REASONS(&sl, forgotten, "(not listed)");
	ASSERT_REASONS(&sl, rejected, "(not listed)");
	/* Most idle first; at equal idleness more reasons, then the lower id. */
	assert_int_equal(sl.total, 5);
	assert_int_equal(sl.n, 5);
	assert_int_equal(sl.v[0].id, unused);
	assert_int_equal(sl.v[1].id, never);
	assert_int_equal(sl.v[2].id, cand);
	assert_int_equal(sl.v[3].id, files);
	assert_int_equal(sl.v[4].id, sup);
	assert_int_equal(sl.v[0].idle_days, 120);
	assert_string_equal(sl.v[3].reasons[0].file, "src/gone.c");
	assert_string_equal(sl.v[3].project, proj);
	assert_int_equal(sl.v[4].reasons[0].ref, repl);
	assert_string_equal(sl.v[1].kind, "decision");
	assert_string_equal(sl.v[1].title, "Never opened");
	kb_stale_list_release(&sl);

	/* The limit keeps the most stale; total says how many there are. */
	q.limit = 2;
	assert_int_equal(kb_stale(kb, &q, &sl), 0);
	assert_int_equal(sl.n, 2);
	assert_int_equal(sl.total, 5);
	assert_int_equal(sl.v[1].id, never);
	kb_stale_list_release(&sl);
	q.limit = 0;

	/* Another threshold: 110 days leaves only what idled longer, and the
	 * reasons that do not depend on time. */
	q.days = 110;
	assert_int_equal(kb_stale(kb, &q, &sl), 0);
	assert_int_equal(sl.total, 3);
	ASSERT_REASONS(&sl, never, "(not listed)");
	ASSERT_REASONS(&sl, unused, "unused: not used for 120 days");
	kb_stale_list_release(&sl);
	q.days = 0;

	/* Scope: global entries only leave the project's out. */
	q.scope = KB_SCOPE_GLOBAL;
	assert_int_equal(kb_stale(kb, &q, &sl), 0);
	assert_int_equal(sl.total, 4);
	ASSERT_REASONS(&sl, files, "(not listed)");
	kb_stale_list_release(&sl);
	q.scope = KB_SCOPE_PROJECT;
	q.project = "/some/other/project";
	assert_int_equal(kb_stale(kb, &q, &sl), 0);
	assert_int_equal(sl.total, 4);
	kb_stale_list_release(&sl);
	q.project = proj;
	assert_int_equal(kb_stale(kb, &q, &sl), 0);
	assert_int_equal(sl.total, 5);
	kb_stale_list_release(&sl);
	q.scope = KB_SCOPE_ALL;

	/* A use takes an entry off the list; so does a confirmation (of the
	 * candidate: both its reasons go). */
	assert_int_equal(kb_mark_used(kb, never, T0), 0);
	assert_int_equal(kb_confirm(kb, cand, T0), 0);
	assert_int_equal(kb_stale(kb, &q, &sl), 0);
	ASSERT_REASONS(&sl, never, "(not listed)");
	ASSERT_REASONS(&sl, cand, "(not listed)");
	assert_int_equal(sl.total, 3);
	kb_stale_list_release(&sl);
	free(present);
	free(proj);
}

/* At most KB_STALE_FILES_MAX files of one entry are looked at. */
static void test_stale_files_bounded(void **state)
{
	struct fx *f = *state;
	char *files = xstrdup("");
	for (int i = 0; i < 80; i++) {
		char *t = xasprintf("%sgone-%d.c\n", files, i);
		free(files);
		files = t;
	}
	int64_t id = add(f->kb, "note", "Many files", f->dir, files, NULL, 0, T0);
	struct kb_stale_query q = {.scope = KB_SCOPE_ALL, .now_ms = T0};
	struct kb_stale_list sl;
	assert_int_equal(kb_stale(f->kb, &q, &sl), 0);
	assert_int_equal(sl.n, 1);
	assert_int_equal(sl.v[0].id, id);
	assert_int_equal(sl.v[0].n_reasons, KB_STALE_FILES_MAX);
	kb_stale_list_release(&sl);
	free(files);
	/* Nothing stale: an empty list, not an error. */
	struct kb_stale_query g = {.scope = KB_SCOPE_GLOBAL, .now_ms = T0};
	assert_int_equal(kb_stale(f->kb, &g, &sl), 0);
	assert_int_equal(sl.n, 0);
	assert_int_equal(sl.total, 0);
	kb_stale_list_release(&sl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_rule),
		cmocka_unit_test_setup_teardown(test_fixes_rank_idle_lower, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_used_keeps_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_files_bounded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
