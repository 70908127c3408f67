/* Diagnostics from Go. go build and go vet: "./x.go:1:2: msg" with the
 * tab-indented lines under it. go test: "--- FAIL: TestX" (a test that
 * passes drops what t.Log printed for it), the indented "x_test.go:NN: msg"
 * lines of t.Errorf, and panics, placed at the first frame of the goroutine
 * trace outside the runtime and testing packages. */
#include "sources/diag_int.h"

#include <stdio.h>
#include <string.h>

size_t diag_parse_go(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s;
	struct diag_loc lc;
	size_t k;
	int idx;

	if (!diag_parse_loc(s, false, &lc) || !loc_ext(&lc, ".go") || *lc.rest != ' ')
		return 0;
	idx = diag_add_s(c, "go", lc.file, lc.flen, lc.line, lc.col, SEV_ERROR, lc.rest + 1, i);
	/* Type errors go on over tab-indented "have"/"want" lines. */
	for (k = i + 1; k < c->n && c->l[k].s[0] == '\t'; k++)
		diag_note_line(c, idx, k, false);
	diag_span(c, idx, k);
	return k - i;
}

/* A goroutine trace after "panic: ...": returns where it ends and the
 * first frame outside the runtime and testing packages. */
static size_t go_trace(struct diag_ctx *c, size_t k, int idx, struct diag_loc *where)
{
	size_t limit = k + 2000;
	bool got = false;

	while (k < c->n && k < limit) {
		const char *t = c->l[k].s;
		if (t[0] == '\t') {
			struct diag_loc lc;
			const char *f = t + 1;
			size_t fn = strcspn(f, " ");
			if (!got && diag_parse_tail_loc(f, fn, &lc) &&
			    !memmem(f, fn, "/src/runtime/", 13) &&
			    !memmem(f, fn, "/src/testing/", 13)) {
				*where = lc;
				got = true;
				diag_note_n(c, idx, f, fn, false);
			}
		} else if (!(is_blank(t) || has_prefix(t, "goroutine ") ||
			     has_prefix(t, "created by ") ||
			     (strchr(t, '(') && ends_with(t, ")")) || ends_with(t, "(...)") ||
			     has_prefix(t, "[signal ") || has_prefix(t, "panic: "))) {
			break;
		}
		k++;
	}
	return k;
}

size_t diag_parse_gotest(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s);
	char msg[DIAG_MAX_TEXT + 1];
	struct diag_loc lc;
	size_t k, ind, m;
	int idx;

	if (has_prefix(s, "=== RUN ") || has_prefix(s, "=== CONT ") ||
	    has_prefix(s, "=== PAUSE ") || has_prefix(s, "=== NAME ")) {
		const char *name = skip_ws(s + 4 + strcspn(s + 4, " "));
		snprintf(c->go_test, sizeof c->go_test, "%s", name);
		c->go_seen = true;
		return 1;
	}
	if (has_prefix(t, "--- FAIL: ") || has_prefix(t, "--- PASS: ") ||
	    has_prefix(t, "--- SKIP: ")) {
		const char *name = t + 10;
		size_t nn = strcspn(name, " ");
		snprintf(c->go_test, sizeof c->go_test, "%.*s",
			 (int)(nn > DIAG_NAME_MAX ? DIAG_NAME_MAX : nn), name);
		c->go_seen = true;
		if (t[4] == 'F')
			diag_defer_fail(c, "go test", name, nn, i);
		else
			diag_drop_key(c, "go test", name, nn > DIAG_NAME_MAX ? DIAG_NAME_MAX : nn);
		return 1;
	}
	if (c->go_seen &&
	    (!strcmp(s, "FAIL") || has_prefix(s, "FAIL\t") || has_prefix(s, "ok  \t") ||
	     !strcmp(s, "PASS") || has_prefix(s, "exit status ")))
		return 1;
	if (has_prefix(s, "panic: ")) {
		struct diag_loc where = {0};
		bool trace = false;
		for (k = i + 1; k < c->n && k < i + 4; k++)
			if (has_prefix(c->l[k].s, "goroutine "))
				trace = true;
		if (!trace && !c->go_seen)
			return 0;
		if (c->go_seen && c->go_test[0])
			m = diag_named(msg, sizeof msg, c->go_test, strlen(c->go_test), s,
				       c->l[i].n);
		else
			m = clampw(snprintf(msg, sizeof msg, "%s", s), sizeof msg);
		idx = diag_add(c, c->go_seen ? "go test" : "go", NULL, 0, 0, 0, SEV_ERROR, msg, m,
			       i);
		k = go_trace(c, i + 1, idx, &where);
		if (idx >= 0 && where.file) {
			c->v[idx].file = diag_text_dup(where.file, where.flen, DIAG_MAX_TEXT);
			c->v[idx].line = where.line;
			diag_rehash(c, idx);
		}
		if (c->go_seen)
			diag_set_key(c, idx, c->go_test, strlen(c->go_test));
		diag_span(c, idx, k);
		return k - i;
	}
	ind = indent_of(s);
	if (ind == 0 || !(c->go_seen || c->go_hint) || !diag_parse_loc(t, false, &lc) ||
	    !loc_ext(&lc, ".go") || lc.col || *lc.rest != ' ')
		return 0;
	/* "    calc_test.go:7: Add(1, 2) = 4, want 3" from t.Errorf. */
	m = c->go_test[0] ? diag_named(msg, sizeof msg, c->go_test, strlen(c->go_test), lc.rest + 1,
				       strlen(lc.rest + 1))
			  : clampw(snprintf(msg, sizeof msg, "%s", lc.rest + 1), sizeof msg);
	idx = diag_add(c, "go test", lc.file, lc.flen, lc.line, 0, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, c->go_test, strlen(c->go_test));
	for (k = i + 1; k < c->n; k++) {
		const char *u = c->l[k].s;
		if (indent_of(u) <= ind || has_prefix(skip_ws(u), "--- ") || has_prefix(u, "=== "))
			break;
		diag_note_line(c, idx, k, false);
	}
	diag_span(c, idx, k);
	return k - i;
}
