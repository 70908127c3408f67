/* A hash map from strings to pointers (open addressing, linear probing,
 * tombstones on delete, grows at 70% load). Keys are copied; values are the
 * caller's. Not thread-safe. */
#ifndef CAIRN_STRMAP_H
#define CAIRN_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_slot {
	char *key; /* NULL: empty; STRMAP_TOMB: deleted */
	void *value;
	size_t hash;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap, len, used; /* used counts live and deleted slots */
};

void strmap_init(struct strmap *m);
/* Frees the map's keys and slots; calls free_value (if not NULL) on each value. */
void strmap_release(struct strmap *m, void (*free_value)(void *));
/* Returns the value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Sets key to value; returns the previous value (or NULL). */
void *strmap_put(struct strmap *m, const char *key, void *value);
/* Removes key; returns its value (or NULL if absent). */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_len(const struct strmap *m);
/* Iterates: start with *it = 0; returns false at the end. */
bool strmap_next(const struct strmap *m, size_t *it, const char **key, void **value);

#endif
