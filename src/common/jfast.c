/* The fast path in front of jansson's parser: see common/jfast.h. Every
 * rule below is jansson 2.14's (src/load.c there), restated for the text it
 * takes; anything else returns NULL and goes to json_loadb(). */
#include "common/jfast.h"

#include "common/utf8.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jp {
	const unsigned char *p, *end;
	int depth;
};

static json_t *value(struct jp *j);

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hex4(const unsigned char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static size_t put_utf8(unsigned char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at j->p (its opening quote). Sets *s and *len to its bytes:
 * inside the text when it has no escape, else in *own (malloc'd, to free).
 * Returns false for anything jansson refuses: a control character, bytes
 * that are not UTF-8, an unknown escape, \u0000, a lone surrogate. */
static bool string(struct jp *j, const char **s, size_t *len, char **own)
{
	const unsigned char *p = j->p + 1, *start = p;
	bool escapes = false;
	*own = NULL;
	for (;;) {
		if (p >= j->end)
			return false;
		unsigned char c = *p;
		if (c == '"')
			break;
		if (c < 0x20)
			return false;
		if (c == '\\') {
			escapes = true;
			if (p + 1 >= j->end)
				return false;
			p += 2; /* the escape is checked when decoded */
			continue;
		}
		if (c < 0x80) {
			p++;
			continue;
		}
		size_t n = utf8_seq(p, (size_t)(j->end - p));
		if (n == 0)
			return false;
		p += n;
	}
	j->p = p + 1;
	if (!escapes) {
		*s = (const char *)start;
		*len = (size_t)(p - start);
		return true;
	}
	/* Decoded, it is never longer than as written. */
	unsigned char *o = malloc((size_t)(p - start) + 1), *w = o;
	if (!o)
		return false;
	for (const unsigned char *q = start; q < p;) {
		if (*q != '\\') {
			*w++ = *q++;
			continue;
		}
		q++;
		switch (*q++) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '/': *w++ = '/'; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'u': {
			int u = p - q >= 4 ? hex4(q) : -1;
			if (u <= 0 || (u >= 0xdc00 && u <= 0xdfff))
				goto bad; /* \u0000, not hex, a lone low surrogate */
			q += 4;
			uint32_t cp = (uint32_t)u;
			if (u >= 0xd800 && u <= 0xdbff) {
				int lo = p - q >= 6 && q[0] == '\\' && q[1] == 'u' ? hex4(q + 2)
										   : -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				q += 6;
				cp = 0x10000 + (((uint32_t)u - 0xd800) << 10) +
				     ((uint32_t)lo - 0xdc00);
			}
			w += put_utf8(w, cp);
			break;
		}
		default: goto bad;
		}
	}
	*s = (const char *)o;
	*len = (size_t)(w - o);
	*own = (char *)o;
	return true;
bad:
	free(o);
	return false;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* A number, as jansson's lexer reads it: an integer when it has neither a
 * fraction nor an exponent (more than 18 digits are left to jansson, which
 * refuses what overflows), else a real converted as strtod() does (an
 * overflow is left to jansson, which refuses it). */
static json_t *number(struct jp *j)
{
	const unsigned char *p = j->p, *start = p;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (p >= j->end || *p < '0' || *p > '9')
		return NULL;
	const unsigned char *digits = p;
	if (*p == '0') {
		p++;
		if (p < j->end && *p >= '0' && *p <= '9')
			return NULL; /* a leading zero */
	} else {
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p >= j->end || (*p != '.' && *p != 'e' && *p != 'E')) {
		if (p - digits > 18)
			return NULL;
		long long v = 0;
		for (const unsigned char *q = digits; q < p; q++)
			v = v * 10 + (*q - '0');
		j->p = p;
		return json_integer(neg ? -v : v);
	}
	if (*p == '.') {
		p++;
		if (p >= j->end || *p < '0' || *p > '9')
			return NULL;
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= j->end || *p < '0' || *p > '9')
			return NULL;
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	char tok[64];
	size_t n = (size_t)(p - start);
	if (n >= sizeof tok)
		return NULL;
	memcpy(tok, start, n);
	tok[n] = '\0';
	pthread_once(&c_locale_once, make_c_locale);
	if (c_locale == (locale_t)0)
		return NULL;
	char *e;
	double d = strtod_l(tok, &e, c_locale);
	if (e != tok + n || !isfinite(d))
		return NULL;
	j->p = p;
	return json_real(d);
}

static json_t *object(struct jp *j)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return o;
	}
	for (;;) {
		if (j->p >= j->end || *j->p != '"')
			goto bad;
		const char *key;
		size_t klen;
		char *own;
		if (!string(j, &key, &klen, &own))
			goto bad;
		/* A key holding NUL cannot come through string() (\u0000 is
		 * refused); a repeated one is refused, as jansson does with
		 * JSON_REJECT_DUPLICATES. */
		bool ok = json_object_getn(o, key, klen) == NULL;
		skip_ws(j);
		if (!ok || j->p >= j->end || *j->p != ':') {
			free(own);
			goto bad;
		}
		j->p++;
		skip_ws(j);
		json_t *v = value(j);
		if (!v || json_object_setn_new_nocheck(o, key, klen, v) < 0) {
			free(own);
			goto bad;
		}
		free(own);
		skip_ws(j);
		if (j->p >= j->end)
			goto bad;
		if (*j->p == '}') {
			j->p++;
			return o;
		}
		if (*j->p != ',')
			goto bad;
		j->p++;
		skip_ws(j);
	}
bad:
	json_decref(o);
	return NULL;
}

static json_t *array(struct jp *j)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return a;
	}
	for (;;) {
		json_t *v = value(j);
		if (!v || json_array_append_new(a, v) < 0)
			goto bad;
		skip_ws(j);
		if (j->p >= j->end)
			goto bad;
		if (*j->p == ']') {
			j->p++;
			return a;
		}
		if (*j->p != ',')
			goto bad;
		j->p++;
		skip_ws(j);
	}
bad:
	json_decref(a);
	return NULL;
}

/* A literal: jansson reads a run of letters and compares it whole. */
static bool literal(struct jp *j, const char *word, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return false;
	const unsigned char *after = j->p + n;
	if (after < j->end &&
	    ((*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z')))
		return false;
	j->p = after;
	return true;
}

static json_t *value(struct jp *j)
{
	if (j->p >= j->end)
		return NULL;
	switch (*j->p) {
	case '{':
	case '[': {
		if (++j->depth > JFAST_MAX_DEPTH)
			return NULL;
		json_t *v = *j->p == '{' ? object(j) : array(j);
		j->depth--;
		return v;
	}
	case '"': {
		const char *s;
		size_t len;
		char *own;
		if (!string(j, &s, &len, &own))
			return NULL;
		json_t *v = json_stringn_nocheck(s, len);
		free(own);
		return v;
	}
	case 't': return literal(j, "true", 4) ? json_true() : NULL;
	case 'f': return literal(j, "false", 5) ? json_false() : NULL;
	case 'n': return literal(j, "null", 4) ? json_null() : NULL;
	default: return number(j);
	}
}

json_t *jfast_loadb(const char *buf, size_t len)
{
	struct jp j = {(const unsigned char *)buf, (const unsigned char *)buf + len, 0};
	skip_ws(&j);
	json_t *v = value(&j);
	if (!v)
		return NULL;
	skip_ws(&j);
	if (j.p != j.end) {
		json_decref(v);
		return NULL;
	}
	return v;
}

json_t *jfast_or_jansson(const char *buf, size_t len, json_error_t *err)
{
	json_t *v = jfast_loadb(buf, len);
	if (v)
		return v;
	return json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, err);
}
