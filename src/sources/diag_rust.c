/* Diagnostics from Rust. rustc and cargo: "error[E0308]: msg" and
 * "warning: msg" with " --> file:line:col" and the block under it as notes
 * (tool "cargo" for cargo's own errors, which have neither place nor code).
 * cargo test: "thread 'name' panicked at file:line:col" with the panic
 * message, "test name ... FAILED" (kept for tests with nothing more
 * specific) and "test result: FAILED"; a panic outside a test run is tool
 * "rust". */
#include "sources/diag_int.h"

#include <stdio.h>
#include <string.h>

size_t diag_parse_rust(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p, *code = NULL, *tool;
	enum event_severity sev;
	size_t codelen = 0, k;
	struct diag_loc lc = {0};
	bool have_loc = false;
	char msg[DIAG_MAX_TEXT + 1];
	int idx;

	if (has_prefix(s, "error")) {
		sev = SEV_ERROR;
		p = s + 5;
	} else if (has_prefix(s, "warning")) {
		sev = SEV_WARNING;
		p = s + 7;
	} else {
		if (c->rust_hint && (has_prefix(s, "For more information about") ||
				     has_prefix(s, "Some errors have detailed explanations")))
			return 1;
		return 0;
	}
	if (*p == '[') {
		code = p + 1;
		codelen = strcspn(code, "]");
		if (code[codelen] != ']')
			return 0;
		p = code + codelen + 1;
	}
	if (!has_prefix(p, ": "))
		return 0;
	p += 2;
	if (i + 1 < c->n) {
		const char *t = skip_ws(c->l[i + 1].s);
		if (has_prefix(t, "--> ") && diag_parse_loc(skip_ws(t + 4), true, &lc))
			have_loc = true;
	}
	if (!have_loc && !code && !c->rust_hint)
		return 0;
	/* Cargo's and rustc's closing summaries repeat what was said. */
	if (has_prefix(p, "aborting due to") || has_prefix(p, "could not compile") ||
	    has_prefix(p, "test failed, to rerun") ||
	    (sev == SEV_WARNING && strstr(p, ") generated ") && strstr(p, " warning")) ||
	    (sev == SEV_WARNING && has_prefix(p, "build failed, waiting for other jobs")))
		return 1;
	tool = have_loc || code ? "rustc" : "cargo";
	size_t m = strlen(p);
	if (code) {
		m = clampw(snprintf(msg, sizeof msg, "%s [%.*s]", p,
				    (int)(codelen < 64 ? codelen : 64), code),
			   sizeof msg);
		p = msg;
	}
	idx = diag_add(c, tool, lc.file, lc.flen, lc.line, lc.col, sev, p, m, i);
	/* The block runs to the blank line rustc puts after each diagnostic. */
	for (k = i + 1 + (have_loc ? 1 : 0); k < c->n && k - i < 500; k++) {
		const char *t = c->l[k].s;
		if (is_blank(t) ||
		    (!is_space(t[0]) && (has_prefix(t, "error") || has_prefix(t, "warning"))))
			break;
		if (strcmp(skip_ws(t), "|") == 0)
			continue;
		diag_note_line(c, idx, k, true);
	}
	diag_span(c, idx, k);
	return k - i;
}

size_t diag_parse_cargo_test(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p, *q;
	char msg[DIAG_MAX_TEXT + 1];
	struct diag_loc lc = {0};
	const char *text = NULL;
	size_t tlen = 0, k, n = c->l[i].n;
	int idx;

	if (has_prefix(s, "running ") && (ends_with(s, " tests") || ends_with(s, " test"))) {
		c->rust_tests = true;
		return 1;
	}
	if (n > 17 && has_prefix(s, "---- ") && ends_with(s, " stdout ----")) {
		c->rust_tests = true;
		return 1;
	}
	if (c->rust_tests && n > 16 && has_prefix(s, "test ") && ends_with(s, " ... FAILED")) {
		diag_defer_fail(c, "cargo test", s + 5, n - 5 - 11, i);
		return 1;
	}
	if (has_prefix(s, "test result: FAILED")) {
		diag_add_s(c, "cargo test", NULL, 0, 0, 0, SEV_ERROR, s, i);
		return 1;
	}
	if (!has_prefix(s, "thread '") || !(p = strstr(s, " panicked at ")))
		return 0;
	/* thread 'tests::adds' (8337) panicked at src/lib.rs:15:9: */
	const char *name = s + 8;
	size_t nn = strcspn(name, "'");
	p += 13;
	k = i + 1;
	if (*p == '\'') {
		/* Before Rust 1.73: panicked at 'msg', src/lib.rs:15:9 */
		text = p + 1;
		q = strstr(text, "', ");
		if (!q)
			return 0;
		tlen = (size_t)(q - text);
		diag_parse_loc(q + 3, true, &lc);
	} else {
		if (!diag_parse_loc(p, false, &lc) || !is_blank(lc.rest))
			memset(&lc, 0, sizeof lc);
		if (k < c->n && !is_blank(c->l[k].s)) {
			text = c->l[k].s;
			tlen = c->l[k].n;
			k++;
		}
	}
	const char *tool = c->rust_tests ? "cargo test" : "rust";
	if (!text)
		text = "panicked", tlen = 8;
	size_t m = c->rust_tests ? diag_named(msg, sizeof msg, name, nn, text, tlen)
				 : clampw(snprintf(msg, sizeof msg, "panicked: %.*s",
						   (int)(tlen > 900 ? 900 : tlen), text),
					  sizeof msg);
	idx = diag_add(c, tool, lc.file, lc.flen, lc.line, lc.col, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, name, nn);
	for (; k < c->n; k++) {
		const char *t = c->l[k].s;
		if (is_blank(t) || has_prefix(t, "stack backtrace:") || has_prefix(t, "note: "))
			break;
		diag_note_line(c, idx, k, false);
	}
	diag_span(c, idx, k);
	return k - i;
}
