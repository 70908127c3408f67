/* Event types and topic patterns in the NATS subject grammar.
 *
 * A type is dot-separated tokens of [a-z0-9_-], at most 255 bytes, with no
 * empty token ("build.failed"). A pattern is the same, except that a token may
 * be "*" (exactly one token) and the last token may be ">" (one or more
 * trailing tokens): "build.>" matches "build.failed" and "build.x.y" but not
 * "build"; "*.failed" matches "build.failed" but not "ci.run.failed".
 * Pure functions, any thread. */
#ifndef CAIRN_PATTERN_H
#define CAIRN_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define PATTERN_MAX 255

/* True if s is a valid event type. On false, *why (if not NULL) points at a
 * static sentence naming the rule broken. */
bool type_valid(const char *s, const char **why);
/* True if s is a valid pattern; *why as for type_valid(). */
bool pattern_valid(const char *s, const char **why);
/* True if the valid pattern pat matches the valid type. */
bool pattern_match(const char *pat, const char *type);
/* The length of the valid pattern pat's literal token prefix, before its
 * first wildcard token ("build." for "build.>", "" for "*.x", the whole
 * pattern when it has no wildcard), and in *exact whether it has none: what
 * a query over an index of types can seek to. */
size_t pattern_literal_prefix(const char *pat, bool *exact);

#endif
