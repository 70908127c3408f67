/* Open-addressing string hash map (FNV-1a). */
#include "common/strmap.h"

#include "common/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tomb;
#define STRMAP_TOMB (&tomb)

static size_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

void strmap_init(struct strmap *m)
{
	memset(m, 0, sizeof *m);
}

void strmap_release(struct strmap *m, void (*free_value)(void *))
{
	for (size_t i = 0; i < m->cap; i++) {
		char *k = m->slots[i].key;
		if (k && k != STRMAP_TOMB) {
			if (free_value)
				free_value(m->slots[i].value);
			free(k);
		}
	}
	free(m->slots);
	memset(m, 0, sizeof *m);
}

static struct strmap_slot *find(const struct strmap *m, const char *key, size_t h)
{
	if (!m->cap)
		return NULL;
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key)
			return NULL;
		if (s->key != STRMAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
}

static void grow(struct strmap *m)
{
	/* Double when live keys fill it; otherwise rehash in place to drop tombstones. */
	size_t cap = m->cap ? m->cap : 16;
	if (m->cap && (m->len + 1) * 10 > m->cap * 5)
		cap = m->cap * 2;
	struct strmap_slot *old = m->slots;
	size_t oldcap = m->cap;
	m->slots = xcalloc(cap, sizeof *m->slots);
	m->cap = cap;
	m->used = m->len;
	for (size_t i = 0; i < oldcap; i++) {
		struct strmap_slot *s = &old[i];
		if (!s->key || s->key == STRMAP_TOMB)
			continue;
		size_t j = s->hash & (cap - 1);
		while (m->slots[j].key)
			j = (j + 1) & (cap - 1);
		m->slots[j] = *s;
	}
	free(old);
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key, hash_str(key));
	return s ? s->value : NULL;
}

void *strmap_put(struct strmap *m, const char *key, void *value)
{
	size_t h = hash_str(key);
	struct strmap_slot *s = find(m, key, h);
	if (s) {
		void *old = s->value;
		s->value = value;
		return old;
	}
	if ((m->used + 1) * 10 > m->cap * 7)
		grow(m);
	size_t i = h & (m->cap - 1);
	while (m->slots[i].key && m->slots[i].key != STRMAP_TOMB)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].key)
		m->used++;
	m->slots[i].key = xstrdup(key);
	m->slots[i].value = value;
	m->slots[i].hash = h;
	m->len++;
	return NULL;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key, hash_str(key));
	if (!s)
		return NULL;
	void *v = s->value;
	free(s->key);
	s->key = STRMAP_TOMB;
	s->value = NULL;
	m->len--;
	return v;
}

size_t strmap_len(const struct strmap *m)
{
	return m->len;
}

bool strmap_next(const struct strmap *m, size_t *it, const char **key, void **value)
{
	for (; *it < m->cap; (*it)++) {
		struct strmap_slot *s = &m->slots[*it];
		if (s->key && s->key != STRMAP_TOMB) {
			*key = s->key;
			*value = s->value;
			(*it)++;
			return true;
		}
	}
	return false;
}
