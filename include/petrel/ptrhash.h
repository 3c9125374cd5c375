/* ptrhash.h - a single-writer hash set of pointers, for owner-only indexes: a router
 * node's entries by subscriber, a session's subscriptions by filter (issue 6: both
 * were linear scans). Not safe for concurrent readers: whoever owns the structure
 * that embeds it (or holds its lock) is the only one to touch it.
 *
 * The caller supplies each element's hash (any 64-bit value; it is mixed again
 * before use) and compares candidates itself: ptrhash_find() yields, one by one, the
 * elements stored with the same hash. Open addressing with linear probing and
 * backward-shift deletion (no tombstones); grown before 3/4 full, shrunk under 1/8.
 * A removal never fails: when memory is short the table just stays larger.
 *
 * Cost: add, find and remove are amortised O(1); a resize is O(elements) once per
 * doubling or halving.
 */
#ifndef PETREL_PTRHASH_H
#define PETREL_PTRHASH_H

#include <stddef.h>
#include <stdint.h>

struct ptrhash_slot {
	uint64_t hash;
	void *p;		/* NULL: free */
};

struct ptrhash {
	struct ptrhash_slot *slot;	/* NULL while empty */
	uint32_t cap;			/* 0 or a power of two */
	uint32_t n;
};

/* An empty set needs no allocation: zero it (or PTRHASH_INIT). */
#define PTRHASH_INIT { NULL, 0, 0 }

/* Adds <p> (not NULL, not already present) under <hash>. Returns 0 or -ENOMEM. */
int ptrhash_add(struct ptrhash *t, uint64_t hash, void *p);

/* Removes <p>, stored under <hash>. Returns 0, or -ENOENT if it is not there. */
int ptrhash_del(struct ptrhash *t, uint64_t hash, const void *p);

/* Candidates stored under <hash>: start with *pos = 0 and call until NULL. */
void *ptrhash_find(const struct ptrhash *t, uint64_t hash, uint32_t *pos);

/* Every element, in no particular order: start with *pos = 0, call until NULL. The
 * set must not change during the walk. */
void *ptrhash_next(const struct ptrhash *t, uint32_t *pos);

/* Frees the table (not the elements); the set is empty afterwards. */
void ptrhash_fini(struct ptrhash *t);

#endif
