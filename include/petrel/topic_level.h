/* topic_level.h - one level of a topic name or filter, and what the two RCU topic
 * tries (router.c: subscriptions, retain.c: retained messages) need to keep a node's
 * literal children by level: stepping from level to level, the level hash, and the
 * cds_lfht child tables with their lookup. Kept in one place so that both tries, and
 * the reference matcher in topic.c, cut and hash levels the same way.
 *
 * Strings are length-delimited, not NUL terminated. The level helpers are pure and
 * callable from any thread; the table helpers follow the urcu-qsbr rules stated at
 * each one (topic_level.c is built against the same flavour as the tries). */
#ifndef PETREL_TOPIC_LEVEL_H
#define PETREL_TOPIC_LEVEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cds_lfht;
struct cds_lfht_node;

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

/* FNV-1a, 64 bit: levels are short, and this is cheap and spreads well enough for
 * the split-ordered table (which reverses the bits anyway). */
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

/* ---- child tables (urcu-qsbr) ---- */

/* The key a trie's level-compare function (the <eq> given to topic_level_lookup)
 * receives: compare it with the node's own level. */
struct topic_level_key {
	const char *s;
	size_t len;
};

/* A new, empty child table (auto-resize, never shrinks: the tries' destroy walks
 * rely on that). NULL when out of memory. Any thread. */
struct cds_lfht *topic_level_table_new(void);

/* Destroys an empty child table. Goes offline around the wait if the calling thread
 * is an online QSBR reader (see topic_level.c); any thread. */
void topic_level_table_destroy(struct cds_lfht *ht);

/* The node in <ht> whose level is <s>/<len> (<h> = topic_level_hash of it), as judged
 * by <eq>, or NULL. Inside rcu_read_lock(). */
struct cds_lfht_node *topic_level_lookup(struct cds_lfht *ht, const char *s, size_t len,
					 unsigned long h,
					 int (*eq)(struct cds_lfht_node *hn, const void *key));

#endif
