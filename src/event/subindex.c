/* The subscription index: a token trie with a hash map of literal tokens at each node, so a
 * lookup follows only the branches that can match. */
#include "event/subindex.h"

#include "common/err.h"
#include "common/xalloc.h"
#include "event/pattern.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A valid pattern of at most PATTERN_MAX bytes has at most this many tokens
 * ("a.a.a...", one byte per token plus the dots). */
#define MAX_TOKENS ((PATTERN_MAX + 1) / 2)

/* Smallest bucket array a literal map allocates; it grows at load factor 1
 * and shrinks when it falls below 1/8 full. */
#define MAP_MIN_BUCKETS 4

/* The values held by one pattern, in insertion order until a swap-remove. */
struct vals {
	void **v;
	size_t n, cap;
};

/* Literal children of a node: a chained hash map keyed by token. The chain
 * links live in the child nodes themselves, so a child costs one allocation. */
struct tmap {
	struct node **buckets;
	size_t nbuckets; /* 0 or a power of two */
	size_t n;
};

/* One trie node: the pattern prefix spelled by the path from the root. */
struct node {
	struct node *next; /* next child in the parent's bucket chain */
	uint64_t hash;     /* hash of tok, kept so that rehashing needs no rescan */
	struct tmap lits;  /* children for literal tokens */
	struct node *star; /* child for a "*" token */
	struct vals here;  /* patterns that end at this node */
	struct vals rest;  /* patterns that are this node's prefix followed by ">" */
	size_t len;
	char tok[]; /* the literal token ("" for the root and "*" children) */
};

struct subindex {
	struct node *root;
	size_t count;
};

/* FNV-1a over a token. Patterns come from local clients of the daemon, so
 * a non-keyed hash is acceptable here. */
static uint64_t tok_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static struct node *node_new(const char *tok, size_t len, uint64_t hash)
{
	struct node *n = xmalloc(sizeof(*n) + len + 1);
	memset(n, 0, sizeof(*n));
	memcpy(n->tok, tok, len);
	n->tok[len] = '\0';
	n->len = len;
	n->hash = hash;
	return n;
}

static bool node_empty(const struct node *n)
{
	return n->lits.n == 0 && !n->star && n->here.n == 0 && n->rest.n == 0;
}

static void vals_push(struct vals *vs, void *value)
{
	if (vs->n == vs->cap) {
		vs->cap = vs->cap ? vs->cap * 2 : 2;
		vs->v = xreallocarray(vs->v, vs->cap, sizeof(*vs->v));
	}
	vs->v[vs->n++] = value;
}

/* Swap-removes the first entry equal to value; false if there is none. */
static bool vals_remove(struct vals *vs, void *value)
{
	for (size_t i = 0; i < vs->n; i++) {
		if (vs->v[i] != value)
			continue;
		vs->v[i] = vs->v[--vs->n];
		if (vs->n == 0) {
			free(vs->v);
			vs->v = NULL;
			vs->cap = 0;
		} else if (vs->cap >= 16 && vs->n < vs->cap / 4) {
			vs->cap /= 2;
			vs->v = xreallocarray(vs->v, vs->cap, sizeof(*vs->v));
		}
		return true;
	}
	return false;
}

static size_t vals_emit(const struct vals *vs, subindex_cb cb, void *ctx)
{
	for (size_t i = 0; i < vs->n; i++)
		cb(vs->v[i], ctx);
	return vs->n;
}

static void tmap_resize(struct tmap *m, size_t nbuckets)
{
	struct node **b = NULL;
	if (nbuckets)
		b = xcalloc(nbuckets, sizeof(*b));
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct node *c = m->buckets[i];
		while (c) {
			struct node *next = c->next;
			size_t j = c->hash & (nbuckets - 1);
			c->next = b[j];
			b[j] = c;
			c = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nbuckets;
}

static struct node *tmap_get(const struct tmap *m, const char *tok, size_t len, uint64_t hash)
{
	if (m->nbuckets == 0)
		return NULL;
	for (struct node *c = m->buckets[hash & (m->nbuckets - 1)]; c; c = c->next) {
		if (c->hash == hash && c->len == len && memcmp(c->tok, tok, len) == 0)
			return c;
	}
	return NULL;
}

/* Inserts c, which must not already be in m. */
static void tmap_put(struct tmap *m, struct node *c)
{
	if (m->n >= m->nbuckets)
		tmap_resize(m, m->nbuckets ? m->nbuckets * 2 : MAP_MIN_BUCKETS);
	size_t j = c->hash & (m->nbuckets - 1);
	c->next = m->buckets[j];
	m->buckets[j] = c;
	m->n++;
}

/* Unlinks c, which must be in m. */
static void tmap_del(struct tmap *m, struct node *c)
{
	struct node **pp = &m->buckets[c->hash & (m->nbuckets - 1)];
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	c->next = NULL;
	m->n--;
	if (m->n == 0)
		tmap_resize(m, 0);
	else if (m->nbuckets > MAP_MIN_BUCKETS && m->n < m->nbuckets / 8)
		tmap_resize(m, m->nbuckets / 2);
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->lits.nbuckets; i++) {
		struct node *c = n->lits.buckets[i];
		while (c) {
			struct node *next = c->next;
			node_free(c);
			c = next;
		}
	}
	free(n->lits.buckets);
	node_free(n->star);
	free(n->here.v);
	free(n->rest.v);
	free(n);
}

struct subindex *subindex_new(void)
{
	struct subindex *idx = xmalloc(sizeof(*idx));
	idx->root = node_new("", 0, 0);
	idx->count = 0;
	return idx;
}

void subindex_free(struct subindex *idx)
{
	if (!idx)
		return;
	node_free(idx->root);
	free(idx);
}

int subindex_add(struct subindex *idx, const char *pattern, void *value)
{
	if (!pattern_valid(pattern, NULL))
		return CAIRN_E_INVALID;

	struct node *n = idx->root;
	const char *tok = pattern;
	for (;;) {
		size_t len = strcspn(tok, ".");
		bool last = tok[len] == '\0';
		if (len == 1 && tok[0] == '>') {
			/* pattern_valid() guarantees ">" is last. */
			vals_push(&n->rest, value);
			goto out_added;
		}
		struct node *c;
		if (len == 1 && tok[0] == '*') {
			if (!n->star)
				n->star = node_new("*", 1, 0);
			c = n->star;
		} else {
			uint64_t h = tok_hash(tok, len);
			c = tmap_get(&n->lits, tok, len, h);
			if (!c) {
				c = node_new(tok, len, h);
				tmap_put(&n->lits, c);
			}
		}
		n = c;
		if (last)
			break;
		tok += len + 1;
	}
	vals_push(&n->here, value);

out_added:
	idx->count++;
	return 0;
}

int subindex_remove(struct subindex *idx, const char *pattern, void *value)
{
	/* path[i] is the node reached after i tokens; path[0] is the root. */
	struct node *path[MAX_TOKENS + 1];
	size_t depth = 0;
	struct vals *vs = NULL;

	/* An invalid pattern can never have been added. */
	if (!pattern_valid(pattern, NULL))
		return CAIRN_E_NOTFOUND;

	path[0] = idx->root;
	const char *tok = pattern;
	for (;;) {
		struct node *n = path[depth];
		size_t len = strcspn(tok, ".");
		bool last = tok[len] == '\0';
		if (len == 1 && tok[0] == '>') {
			vs = &n->rest;
			break;
		}
		struct node *c;
		if (len == 1 && tok[0] == '*')
			c = n->star;
		else
			c = tmap_get(&n->lits, tok, len, tok_hash(tok, len));
		if (!c)
			return CAIRN_E_NOTFOUND;
		assert(depth < MAX_TOKENS);
		path[++depth] = c;
		if (last) {
			vs = &c->here;
			break;
		}
		tok += len + 1;
	}

	if (!vals_remove(vs, value))
		return CAIRN_E_NOTFOUND;
	idx->count--;

	/* Free the nodes that no longer lead anywhere, deepest first. The
	 * parent's star pointer tells a "*" child from a literal one, since no
	 * literal token can be "*". */
	while (depth > 0 && node_empty(path[depth])) {
		struct node *c = path[depth], *parent = path[depth - 1];
		if (parent->star == c)
			parent->star = NULL;
		else
			tmap_del(&parent->lits, c);
		node_free(c);
		depth--;
	}
	return 0;
}

/* Calls cb for the values of n and of its descendants that match type, of
 * which t is the unconsumed rest (NULL once every token is consumed). */
static size_t match_node(const struct node *n, const char *t, subindex_cb cb, void *ctx)
{
	if (!t)
		return vals_emit(&n->here, cb, ctx);

	size_t calls = vals_emit(&n->rest, cb, ctx);
	size_t len = strcspn(t, ".");
	const char *next = t[len] ? t + len + 1 : NULL;
	if (n->lits.n) {
		const struct node *c = tmap_get(&n->lits, t, len, tok_hash(t, len));
		if (c)
			calls += match_node(c, next, cb, ctx);
	}
	if (n->star)
		calls += match_node(n->star, next, cb, ctx);
	return calls;
}

size_t subindex_match(const struct subindex *idx, const char *type, subindex_cb cb, void *ctx)
{
	/* An invalid type matches nothing; checking here keeps the trie walk
	 * from ever seeing an empty token. */
	if (!type_valid(type, NULL))
		return 0;
	return match_node(idx->root, type, cb, ctx);
}

size_t subindex_count(const struct subindex *idx)
{
	return idx->count;
}
