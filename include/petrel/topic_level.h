/* topic_level.h - one level of a topic name or filter, and what the two RCU topic
 * tries (router.c: subscriptions, retain.c: retained messages) need to keep a node's
 * literal children by level: stepping from level to level, the level hash, and the
 * child index with its lookup, insert, delete and walk. Kept in one place so that both
 * tries, and the reference matcher in topic.c, cut and hash levels the same way.
 *
 * Strings are length-delimited, not NUL terminated. The level helpers are pure and
 * callable from any thread; the index helpers follow the urcu-qsbr rules stated at
 * each one (topic_level.c is built against the same flavour as the tries). */
#ifndef PETREL_TOPIC_LEVEL_H
#define PETREL_TOPIC_LEVEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- levels (pure) ---- */

/* End of the level starting at <p> (the next '/' or <end>). */
static inline const char *topic_level_end(const char *p, const char *end)
{
	const char *slash = memchr(p, '/', (size_t)(end - p));

	return slash != NULL ? slash : end;
}

/* Splits the first level off <s> (<rem> bytes) and returns its length. *next is the
 * rest after the '/' and *nrem its length; *next is NULL (and *nrem 0) when this was
 * the last level, so "a/" gives "a", then a zero-length level, then NULL. */
static inline size_t topic_level_next(const char *s, size_t rem, const char **next,
				      size_t *nrem)
{
	const char *slash = memchr(s, '/', rem);
	size_t llen;

	if (slash != NULL) {
		llen = (size_t)(slash - s);
		*next = slash + 1;
		*nrem = rem - llen - 1;
	} else {
		llen = rem;
		*next = NULL;
		*nrem = 0;
	}
	return llen;
}

/* FNV-1a, 64 bit: levels are short, and this is cheap. Its low bits are weak (a
 * multiply only carries upwards), so the child index mixes it again before it takes
 * a slot from it. */
static inline unsigned long topic_level_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	return (unsigned long)h;
}

/* ---- child index (urcu-qsbr) ----
 *
 * A node's literal children, by level: an open-addressing table (linear probing) of
 * child pointers that readers probe without lock, atomics or allocation, and that
 * the trie's writer, holding the trie's lock, changes in place or replaces. Sized by
 * the writer, never by a helper thread: lookups stay short whatever the fan-out.
 * The layout, the RCU rules and who frees what are at the top of topic_level.c.
 *
 * A child embeds a struct topic_level_child immediately followed by its level bytes:
 *
 *	struct my_node {
 *		...
 *		struct topic_level_child tl;	(tl.hash, tl.len set before insert)
 *		char level[];
 *	};
 *	TOPIC_LEVEL_CHILD_LAYOUT(struct my_node, tl, level);
 *
 * and is found again with container_of(). The index holds pointers only: it never
 * frees a child, and an index pointer is NULL exactly when the node has no children.
 */

struct topic_level_child {
	unsigned long hash;	/* topic_level_hash() of the level */
	uint32_t len;		/* level length; the bytes follow this struct */
};

/* Checks at compile time that the level bytes of <type> follow its child header. */
#define TOPIC_LEVEL_CHILD_LAYOUT(type, child, level)				\
	_Static_assert(offsetof(type, level) ==					\
		       offsetof(type, child) + sizeof(struct topic_level_child),	\
		       #type ": level bytes must follow the topic_level_child")

static inline const char *topic_level_child_level(const struct topic_level_child *c)
{
	return (const char *)(c + 1);
}

struct topic_level_index;

/* The child of <idx> whose level is <s>/<len> (<h> = topic_level_hash of it), or NULL;
 * <idx> may be NULL (no children). Readers: inside rcu_read_lock(), with <idx> read by
 * rcu_dereference() from the node; the child stays valid until the read side ends.
 * Writers: under the trie's lock. Allocates nothing, takes no lock. */
struct topic_level_child *topic_level_lookup(const struct topic_level_index *idx,
					     const char *s, size_t len, unsigned long h);

/* Writer, under the trie's lock, on a thread registered with urcu-qsbr (a replaced
 * index goes to call_rcu()). Adds <c>, fully initialised (hash, len, level and the
 * trie's own fields: it is visible to readers on return), to the index at *children,
 * which it creates, or replaces by a larger or cleaner one, as needed. No child with
 * the same level may be present, and a child is never inserted twice. Returns 0, or
 * -ENOMEM (nothing changed). */
int topic_level_insert(struct topic_level_index **children, struct topic_level_child *c);

/* Writer, same rules as topic_level_insert(). Removes <c>, which must be present.
 * Never fails. Frees the index (*children becomes NULL) when <c> was the last child,
 * or replaces it by a smaller one when it is mostly empty; a replaced index is freed
 * a grace period later. <c> itself is the caller's: readers may still hold it, so
 * free it no sooner than a grace period from now (call_rcu). */
void topic_level_delete(struct topic_level_index **children, struct topic_level_child *c);

/* The next child of <idx> from slot *pos on, and *pos moved past it; NULL at the end.
 * Start with *pos = 0; <idx> may be NULL. Readers: inside rcu_read_lock(), with <idx>
 * read once by rcu_dereference(): each child present for the whole walk is returned
 * exactly once, children inserted or deleted meanwhile at most once. Writers: under
 * the trie's lock, not interleaved with their own inserts or deletes. */
struct topic_level_child *topic_level_next_child(const struct topic_level_index *idx,
						 uint32_t *pos);

/* Teardown only (no reader, no other writer; any thread, registered or not): frees
 * <idx> at once. Its children are the caller's. NULL is a no-op. */
void topic_level_index_free(struct topic_level_index *idx);

/* Shape of an index, for tests and debugging: what a lookup costs. */
struct topic_level_stats {
	uint32_t cap;		/* slots */
	uint32_t used;		/* children */
	uint32_t tombs;		/* deleted slots not yet reclaimed */
	uint32_t probe_max;	/* most slots a lookup of a present child reads */
	uint64_t probe_sum;	/* slots read by looking up every child once */
	uint32_t run_max;	/* longest run of non-empty slots (bounds a miss) */
};

/* Fills <st> (all zero for a NULL <idx>). Writer, or when nothing writes; O(cap). */
void topic_level_index_stats(const struct topic_level_index *idx,
			     struct topic_level_stats *st);

#endif
