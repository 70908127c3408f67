/* The subscription index: maps patterns to subscriber values so that the
 * subscribers for one event type are found without scanning every
 * subscription. It is a token trie (like the NATS sublist): each level has a
 * hash map of literal tokens plus a "*" child and a ">" leaf list, so a lookup
 * costs O(tokens x matching branches), independent of the number of
 * subscriptions with unrelated patterns.
 *
 * Not thread-safe: the daemon's loop thread owns it. */
#ifndef CAIRN_SUBINDEX_H
#define CAIRN_SUBINDEX_H

#include <stddef.h>

struct subindex;

struct subindex *subindex_new(void);
/* Frees the index (not the values stored in it). NULL is a no-op. */
void subindex_free(struct subindex *idx);

/* Adds value under pattern (which must satisfy pattern_valid()). The same
 * value may be added under several patterns, and a pattern may hold many
 * values. Returns 0 or CAIRN_E_INVALID for an invalid pattern. */
int subindex_add(struct subindex *idx, const char *pattern, void *value);
/* Removes one (pattern, value) pair. Returns 0, or CAIRN_E_NOTFOUND if that
 * pair was not in the index. Empty trie nodes are freed. */
int subindex_remove(struct subindex *idx, const char *pattern, void *value);

typedef void (*subindex_cb)(void *value, void *ctx);
/* Calls cb once for every (pattern, value) pair whose pattern matches type
 * (a valid type). Returns the number of calls. cb must not modify idx. */
size_t subindex_match(const struct subindex *idx, const char *type, subindex_cb cb, void *ctx);
/* Number of (pattern, value) pairs stored. */
size_t subindex_count(const struct subindex *idx);

#endif
