/* Validation and matching of event types and topic patterns in the NATS subject grammar. */
#include "event/pattern.h"

#include <stddef.h>
#include <string.h>

/* Where an empty token sits. The sentences in *why must be static, so they
 * name the position ("first", "last", "between two dots") rather than a
 * token number, which would need a buffer that outlives the call. */
static const char *empty_token_why(const char *s, const char *tok)
{
	if (tok == s)
		return "the first token is empty (the name starts with '.')";
	if (*tok == '\0')
		return "the last token is empty (the name ends with '.')";
	return "a token is empty (two dots in a row)";
}

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Why c may not appear inside a token; wild says whether s is a pattern. */
static const char *bad_char_why(char c, bool wild)
{
	if (c >= 'A' && c <= 'Z')
		return "upper-case letters are not allowed; use lower case";
	if (c == '*' || c == '>') {
		if (!wild)
			return "wildcards '*' and '>' are only allowed in patterns, not in types";
		return c == '*' ? "'*' must be a whole token, as in 'a.*.c'"
				: "'>' must be a whole token, as in 'a.>'";
	}
	return "tokens may only contain a-z, 0-9, '_' and '-'";
}

/* The shared validator. With wild set, a token may be "*" and the last token
 * may be ">". */
static bool name_valid(const char *s, bool wild, const char **why)
{
	const char *msg = NULL;

	if (!s) {
		msg = wild ? "pattern is missing" : "type is missing";
		goto out;
	}
	if (*s == '\0') {
		msg = wild ? "pattern is empty" : "type is empty";
		goto out;
	}
	if (strnlen(s, PATTERN_MAX + 1) > PATTERN_MAX) {
		msg = wild ? "pattern is longer than 255 bytes" : "type is longer than 255 bytes";
		goto out;
	}

	const char *tok = s;
	for (;;) {
		size_t len = strcspn(tok, ".");
		if (len == 0) {
			msg = empty_token_why(s, tok);
			goto out;
		}
		bool last = tok[len] == '\0';
		if (wild && len == 1 && tok[0] == '*') {
			/* A whole-token '*' is fine anywhere. */
		} else if (wild && len == 1 && tok[0] == '>') {
			if (!last) {
				msg = "'>' may only be the last token";
				goto out;
			}
		} else {
			for (size_t i = 0; i < len; i++) {
				if (!token_char(tok[i])) {
					msg = bad_char_why(tok[i], wild);
					goto out;
				}
			}
		}
		if (last)
			break;
		tok += len + 1;
	}

out:
	if (why)
		*why = msg;
	return msg == NULL;
}

bool type_valid(const char *s, const char **why)
{
	return name_valid(s, false, why);
}

bool pattern_valid(const char *s, const char **why)
{
	return name_valid(s, true, why);
}

bool pattern_match(const char *pat, const char *type)
{
	if (!pat || !type)
		return false;

	/* p and t each point at the start of a token. Both inputs are valid, so
	 * every token is non-empty and a trailing ">" always has a type token
	 * left to consume. */
	const char *p = pat, *t = type;
	for (;;) {
		if (p[0] == '>' && p[1] == '\0')
			return *t != '\0';
		size_t pl = strcspn(p, "."), tl = strcspn(t, ".");
		bool star = pl == 1 && p[0] == '*';
		if (!star && (pl != tl || memcmp(p, t, pl) != 0))
			return false;
		p += pl;
		t += tl;
		if (*p == '\0' || *t == '\0')
			return *p == '\0' && *t == '\0';
		p++;
		t++;
	}
}

size_t pattern_literal_prefix(const char *pat, bool *exact)
{
	size_t len = 0;
	const char *p = pat;
	*exact = true;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t tlen = dot ? (size_t)(dot - p) : strlen(p);
		if ((tlen == 1 && (*p == '*' || *p == '>'))) {
			*exact = false;
			return len;
		}
		if (!dot)
			return strlen(pat);
		len = (size_t)(dot - pat) + 1;
		p = dot + 1;
	}
}
