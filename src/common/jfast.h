/* A fast path in front of jansson's parser: jfast_loadb() parses the JSON
 * text that clients and the log usually hold and builds the very jansson
 * values json_loadb() would, ten times as fast (jansson's lexer reads a
 * byte at a time through a callback and a growing buffer: 4.7-5.2 us for a
 * 266-byte publish, against 0.5 us to build the same values by hand;
 * docs/benchmarks.md).
 *
 * It never decides that text is invalid: on anything it does not take
 * (an error of any kind, a number it does not convert itself, nesting
 * deeper than JFAST_MAX_DEPTH) it returns NULL and the caller asks
 * json_loadb(), which gives the error message or the value. What it
 * returns is what json_loadb(buf, len, JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY) returns for the same bytes: the same values, keys in
 * the same order; fuzz/fuzz_jfast.c checks exactly that.
 *
 * Pure code, any thread. */
#ifndef CAIRN_JFAST_H
#define CAIRN_JFAST_H

#include <jansson.h>
#include <stddef.h>

/* Deeper nesting is left to jansson (which allows JSON_PARSER_MAX_DEPTH). */
#define JFAST_MAX_DEPTH 64

/* The value in buf[0..len) (need not be NUL-terminated), a new reference;
 * NULL when the text is not taken here (see above). */
json_t *jfast_loadb(const char *buf, size_t len);

/* jfast_loadb(), and json_loadb(buf, len, JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY, err) for what it does not take: a drop-in for that
 * call. err is filled only when the result is NULL. */
json_t *jfast_or_jansson(const char *buf, size_t len, json_error_t *err);

#endif
