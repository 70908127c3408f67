/* UTF-8, as jansson and SQLite want it. */
#ifndef CAIRN_UTF8_H
#define CAIRN_UTF8_H

#include <stddef.h>

/* The length of the valid UTF-8 sequence at p (at most n bytes left,
 * n >= 1), or 0 when it is not one: overlong forms, surrogates and code
 * points past U+10FFFF are invalid, as jansson has them. */
size_t utf8_seq(const unsigned char *p, size_t n);

/* The length of the longest prefix of valid UTF-8 text s (len bytes)
 * that is at most max bytes and does not split a sequence. */
size_t utf8_cut(const char *s, size_t len, size_t max);

#endif
