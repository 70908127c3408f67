/* The generic fallback, run only when no tool's parser found anything: a
 * line with a word such as error, fatal, failed, exception, panic or warning
 * (not negated, as in "0 errors" or "no failures") becomes a diagnostic of
 * tool "generic", placed at the first file:line on it, if any. */
#include "sources/diag_int.h"

#include <string.h>
#include <strings.h>

/* Whether a word is a sign of trouble, and how bad. */
static int trouble_word(const char *w, size_t n, enum event_severity *sev)
{
	static const struct {
		const char *w;
		enum event_severity sev;
	} words[] = {
		{"error", SEV_ERROR},     {"errors", SEV_ERROR},    {"fatal", SEV_CRITICAL},
		{"failed", SEV_ERROR},    {"failure", SEV_ERROR},   {"failures", SEV_ERROR},
		{"fail", SEV_ERROR},      {"exception", SEV_ERROR}, {"traceback", SEV_ERROR},
		{"panic", SEV_ERROR},     {"panicked", SEV_ERROR},  {"segfault", SEV_CRITICAL},
		{"aborted", SEV_ERROR},   {"cannot", SEV_ERROR},    {"denied", SEV_ERROR},
		{"undefined", SEV_ERROR}, {"warning", SEV_WARNING},
	};
	char low[16];

	/* Most words start with a letter none of these start with. */
	if (n < 4 || n >= sizeof low || !strchr("eEfFtTpPsSaAcCdDuUwW", w[0]))
		return 0;
	for (size_t k = 0; k < n; k++)
		low[k] = (char)(w[k] >= 'A' && w[k] <= 'Z' ? w[k] + 32 : w[k]);
	low[n] = '\0';
	for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
		if (!strcmp(low, words[k].w)) {
			*sev = words[k].sev;
			return 1;
		}
	}
	return 0;
}

static bool word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' ||
	       ch == '-' || ch == '.' || ch == '/';
}

size_t diag_parse_generic(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *p = t, *prev = NULL;
	size_t prevn = 0;
	enum event_severity sev = SEV_UNSET, ws;
	struct diag_loc lc = {0};
	bool have = false;

	while (*p) {
		const char *w;
		size_t n;
		if (!word_char(*p) || *p == '.' || *p == '/' || *p == '-') {
			p++;
			continue;
		}
		w = p;
		while (word_char(*p))
			p++;
		n = (size_t)(p - w);
		/* Strip a trailing '.', as in "failed." */
		size_t wn = n;
		while (wn > 0 && w[wn - 1] == '.')
			wn--;
		if (trouble_word(w, wn, &ws)) {
			const char *after = skip_ws(w + wn);
			bool negated = prev && ((prevn == 1 && prev[0] == '0') ||
						(prevn == 2 && !strncasecmp(prev, "no", 2)) ||
						(prevn == 4 && !strncasecmp(prev, "zero", 4)) ||
						(prevn == 7 && !strncasecmp(prev, "without", 7)));
			if ((*after == ':' || *after == '=') && skip_ws(after + 1)[0] == '0' &&
			    !is_digit(skip_ws(after + 1)[1]))
				negated = true;
			if (!negated &&
			    (sev == SEV_UNSET || (sev == SEV_WARNING && ws != SEV_WARNING) ||
			     ws == SEV_CRITICAL))
				sev = ws;
		}
		prev = w;
		prevn = wn;
	}
	if (sev == SEV_UNSET)
		return 0;
	/* Somewhere in the line, a place: "path/x.c:12:" or "x.py:3". */
	for (p = t; *p && !have; p++) {
		if ((p == t || is_space(p[-1]) || p[-1] == '(' || p[-1] == '\'' || p[-1] == '"') &&
		    !is_space(*p)) {
			if (diag_parse_loc(p, false, &lc) || diag_parse_loc(p, true, &lc)) {
				if (memchr(lc.file, '.', lc.flen) || memchr(lc.file, '/', lc.flen))
					have = true;
			}
		}
	}
	diag_add_s(c, "generic", have ? lc.file : NULL, have ? lc.flen : 0, have ? lc.line : 0,
		   have ? lc.col : 0, sev, t, i);
	return 1;
}
