/* libFuzzer target for error signatures and fix shapes.
 *
 * Signatures: any input gives two NUL-terminated forms shorter than
 * SIGNATURE_MAX, valid UTF-8 without control characters, and the exact form
 * is a fixed point (its own signature is itself).
 *
 * Fix shapes: the input is split in two at its first NUL byte (or in the
 * middle when there is none) into the text before and after an edit. The
 * key fits its buffer and is NUL-terminated, "" when the input is refused;
 * comparing a side with itself gives ""; swapping the sides swaps the number
 * of removed and inserted tokens (the common subsequence is as long either
 * way); a smaller buffer gets a prefix of the key that ends at an item.
 *
 * The seed corpus (fuzz/corpus/fuzz_signature/) holds real diagnostics and
 * a few before/after pairs from tests/data/fixshape/cases.txt.
 *
 * Typed keys: with the declarations of the after side, the key is the
 * untyped key with some "ID" items written "ID:KIND", KIND one of the kinds
 * fixshape.h lists, and only on inserted items. */
#include "common/err.h"
#include "kb/fixshape.h"
#include "kb/signature.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dump(const char *what, const char *s, size_t n)
{
	fprintf(stderr, "%s (%zu bytes): ", what, n);
	fwrite(s, 1, n, stderr);
	fputc('\n', stderr);
}

/* Number of continuation bytes after the UTF-8 lead byte c, or -1 if c
 * cannot start a character. */
static int utf8_tail(unsigned char c)
{
	if (c < 0x80)
		return 0;
	if (c >= 0xc2 && c <= 0xdf)
		return 1;
	if (c >= 0xe0 && c <= 0xef)
		return 2;
	if (c >= 0xf0 && c <= 0xf4)
		return 3;
	return -1;
}

/* Checks one form: terminated within the buffer, well-formed UTF-8
 * sequences, no control characters, no blank at either end. */
static void check_form(const char *in, size_t size, const char *form, const char *name)
{
	size_t n = strnlen(form, SIGNATURE_MAX);
	const char *bad = NULL;
	if (n == SIGNATURE_MAX)
		bad = "not NUL-terminated";
	else if (n > 0 && (form[0] == ' ' || form[n - 1] == ' '))
		bad = "blank at an end";
	for (size_t i = 0; i < n && !bad; i++) {
		unsigned char c = (unsigned char)form[i];
		int tail = utf8_tail(c);
		if (c < 0x20 || c == 0x7f)
			bad = "control character";
		else if (tail < 0)
			bad = "invalid UTF-8 lead byte";
		for (int k = 1; k <= tail && !bad; k++)
			if (i + (size_t)k >= n ||
			    ((unsigned char)form[i + (size_t)k] & 0xc0) != 0x80)
				bad = "truncated UTF-8 sequence";
		if (tail > 0)
			i += (size_t)tail;
	}
	if (bad) {
		dump("input", in, size);
		dump(name, form, n);
		fprintf(stderr, "%s: %s\n", name, bad);
		abort();
	}
}

static void fuzz_signature(const char *in, size_t size)
{
	struct signature s, again;
	signature_from_message(in, size, &s);
	check_form(in, size, s.exact, "exact");
	check_form(in, size, s.general, "general");
	signature_from_message(s.exact, strlen(s.exact), &again);
	if (strcmp(again.exact, s.exact) != 0) {
		dump("input", in, size);
		dump("once", s.exact, strlen(s.exact));
		dump("twice", again.exact, strlen(again.exact));
		fprintf(stderr, "the exact form is not a fixed point\n");
		abort();
	}
}

/* Counts the "- " and "+ " items of a key. */
static void count_items(const char *key, size_t *removed, size_t *inserted)
{
	*removed = *inserted = 0;
	for (const char *p = key; *p;) {
		if (p[0] == '-' && p[1] == ' ')
			(*removed)++;
		else if (p[0] == '+' && p[1] == ' ')
			(*inserted)++;
		/* Skip the sign, its blank and the token (tokens hold no blank). */
		p += 2;
		while (*p && *p != ' ')
			p++;
		if (*p == ' ')
			p++;
	}
}

static void fuzz_fixshape(const char *in, size_t size)
{
	const char *nul = memchr(in, '\0', size);
	size_t blen = nul ? (size_t)(nul - in) : size / 2;
	const char *after = in + blen + (nul ? 1 : 0);
	size_t alen = size - blen - (nul ? 1 : 0);

	/* Big enough for every key: an item is at most 3 bytes more than its
	 * token, and the tokens come from the input. */
	size_t cap = 4 * size + 16;
	char *key = malloc(cap), *swapped = malloc(cap), *small = malloc(FIXSHAPE_MAX);
	if (!key || !swapped || !small)
		abort();
	int r = fixshape_compute(in, blen, after, alen, key, cap);
	if (r != 0 && r != CAIRN_E_TOOBIG)
		abort();
	if (strnlen(key, cap) == cap || (r != 0 && key[0] != '\0'))
		abort();
	if (r == 0) {
		size_t rem, ins, rem2, ins2;
		int r2 = fixshape_compute(after, alen, in, blen, swapped, cap);
		if (r2 != 0)
			abort();
		count_items(key, &rem, &ins);
		count_items(swapped, &rem2, &ins2);
		if (rem != ins2 || ins != rem2) {
			dump("before", in, blen);
			dump("after", after, alen);
			fprintf(stderr, "key: %s\nswapped: %s\n", key, swapped);
			abort();
		}
		if (fixshape_compute(in, blen, in, blen, swapped, cap) != 0 || swapped[0] != '\0')
			abort();
		/* A small buffer gets whole items from the front of the key. */
		if (fixshape_compute(in, blen, after, alen, small, FIXSHAPE_MAX) != 0)
			abort();
		size_t sl = strlen(small);
		if (sl >= FIXSHAPE_MAX || strncmp(small, key, sl) != 0 ||
		    (sl > 0 && key[sl] != '\0' && key[sl] != ' ')) {
			fprintf(stderr, "key: %s\nsmall: %s\n", key, small);
			abort();
		}
	}
	free(key);
	free(swapped);
	free(small);
}

static bool known_kind(const char *k, size_t n)
{
	static const char *const kinds[] = {"[]",   "*",     "()",     "int",  "char",  "short",
					    "long", "float", "double", "bool", "struct"};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strlen(kinds[i]) == n && memcmp(kinds[i], k, n) == 0)
			return true;
	return false;
}

static void fuzz_typed(const char *in, size_t size)
{
	const char *nul = memchr(in, '\0', size);
	size_t blen = nul ? (size_t)(nul - in) : size / 2;
	const char *after = in + blen + (nul ? 1 : 0);
	size_t alen = size - blen - (nul ? 1 : 0);
	size_t cap = 12 * size + 16;
	char *key = malloc(cap), *typed = malloc(cap), *stripped = malloc(cap);
	if (!key || !typed || !stripped)
		abort();
	struct fixshape_decls *d = fixshape_decls_scan(after, alen);
	int r = fixshape_compute(in, blen, after, alen, key, cap);
	int rt = fixshape_compute_typed(in, blen, after, alen, d, typed, cap);
	if (r != rt)
		abort();
	/* Strip the kinds, checking each. */
	size_t o = 0;
	bool inserted = false;
	for (const char *p = typed; *p;) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 1 && (p[0] == '-' || p[0] == '+'))
			inserted = p[0] == '+';
		else if (n > 3 && memcmp(p, "ID:", 3) == 0) {
			if (!inserted || !known_kind(p + 3, n - 3)) {
				fprintf(stderr, "typed: %s\n", typed);
				abort();
			}
			n = 2;
		}
		memcpy(stripped + o, p, n);
		o += n;
		p += e ? (size_t)(e - p) + 1 : strlen(p);
		if (e)
			stripped[o++] = ' ';
	}
	stripped[o] = '\0';
	if (strcmp(stripped, key) != 0) {
		fprintf(stderr, "key: %s\ntyped: %s\n", key, typed);
		abort();
	}
	fixshape_decls_free(d);
	free(key);
	free(typed);
	free(stripped);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_signature((const char *)data, size);
	fuzz_fixshape((const char *)data, size);
	fuzz_typed((const char *)data, size);
	return 0;
}
