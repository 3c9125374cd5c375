/* topic_level.c - the child index of the RCU topic tries (router.c, retain.c): an
 * open-addressing table of child pointers, probed by readers without lock under
 * urcu-qsbr, changed by the trie's writer under the trie's lock. Owns the index
 * arrays, never the children. Sized here, by the writer, and never by a helper
 * thread: a node with 100000 children costs a lookup what a node with 10 does.
 * See topic_level.h for the calls.
 *
 * Layout:
 *
 *   struct topic_level_index    rcu | cap | used | tombs | slot[cap]
 *
 *   slot[i]   NULL      empty: ends a probe
 *             TL_TOMB   a deleted child: a probe skips it and goes on
 *             other     a live child
 *
 * The probe for a level starts at tl_home(hash) and walks on slot by slot (mod cap)
 * until it meets the child (hash compared first, then length and bytes) or an empty
 * slot. cap is a power of two fixed for the life of an array, so a child's home, and
 * its slot, never change inside one array.
 *
 * Invariants, kept by the writer, relied on by readers:
 *   1. No slot between a live child's home and its own slot is ever empty. An insert
 *      takes the first tombstone or empty slot of the probe; a delete leaves a
 *      tombstone; a tombstone is emptied only when the slot after it is empty (the
 *      end of a run, which no probe has to cross).
 *   2. used + tombs <= 3/4 cap: a quarter of the slots are empty, so probes are short
 *      and always end.
 *   3. A child is in at most one slot of an array (the tries never insert a child
 *      twice), so a walk over the slots meets it at most once.
 *
 * Sizing: an insert that would pass 3/4 (tombstones included) builds a new array for
 * a load of at most 1/2: twice as large when children fill the old one, the same size
 * when tombstones do. A delete that leaves fewer than cap/8 children (cap above
 * TL_SHRINK_CAP) builds a smaller one, so a burst of churn does not keep a big array;
 * the last delete frees the array and the node's pointer becomes NULL. Most nodes
 * have 0-2 children, so an array starts at TL_MIN_CAP slots, one cache line with
 * its header.
 *
 * RCU: a new array is filled first and then published with rcu_assign_pointer(); the
 * old one is never written again and is freed by call_rcu(), so a reader that loaded
 * it probes a frozen, consistent array until its read side ends. Inside a published
 * array a change is one pointer store: rcu_assign_pointer() of a child into its slot,
 * after the caller initialised it, or of TL_TOMB or NULL. A reader sees each child
 * present for its whole lookup (invariant 1); one inserted or deleted meanwhile may or
 * may not be seen. Deleted children are freed by the tries after a grace period, so
 * nothing a reader can reach through a slot is freed under it.
 */
/* Inlines rcu_dereference() & co: allowed for code under any licence (liburcu README). */
#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu-qsbr.h>

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/compiler.h"
#include "petrel/topic_level.h"

#define TL_MIN_CAP	4u	/* 32 bytes of slots + 32 of header */
#define TL_SHRINK_CAP	8u	/* arrays this small are kept until empty */
#define TL_MAX_CAP	(1u << 30)

struct topic_level_index {
	struct rcu_head rcu;		/* frees the array once it is replaced */
	uint32_t cap;			/* slots, a power of two; fixed */
	uint32_t used;			/* writer only: live children */
	uint32_t tombs;			/* writer only: TL_TOMB slots */
	struct topic_level_child *slot[];	/* RCU */
};

/* The tombstone: an address no child has. Compared, never dereferenced. */
static struct topic_level_child tl_tomb;
#define TL_TOMB (&tl_tomb)

/* First slot of the probe for hash <h>. Mixed again: the FNV low bits are weak, and
 * the upper half of a multiply by the golden ratio depends on every bit of <h>. */
static inline uint32_t tl_home(unsigned long h, uint32_t mask)
{
	uint64_t x = (uint64_t)h;

	x ^= x >> 32;
	x *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(x >> 32) & mask;
}

static inline bool tl_live(const struct topic_level_child *c)
{
	return c != NULL && c != TL_TOMB;
}

/* ---- readers ---- */

/* Inside rcu_read_lock(), or the writer. */
struct topic_level_child *topic_level_lookup(const struct topic_level_index *idx,
					     const char *s, size_t len, unsigned long h)
{
	uint32_t mask, i, n;

	if (idx == NULL)
		return NULL;
	mask = idx->cap - 1;
	i = tl_home(h, mask);
	/* An empty slot ends the probe (invariant 2); the count only guards the loop. */
	for (n = 0; n <= mask; n++, i = (i + 1) & mask) {
		struct topic_level_child *c = rcu_dereference(idx->slot[i]);

		if (c == NULL)
			break;
		if (c != TL_TOMB && c->hash == h && c->len == len &&
		    memcmp(topic_level_child_level(c), s, len) == 0)
			return c;
	}
	return NULL;
}

/* Inside rcu_read_lock(), or the writer. */
struct topic_level_child *topic_level_next_child(const struct topic_level_index *idx,
						 uint32_t *pos)
{
	if (idx == NULL)
		return NULL;
	while (*pos < idx->cap) {
		struct topic_level_child *c = rcu_dereference(idx->slot[*pos]);

		(*pos)++;
		if (tl_live(c))
			return c;
	}
	return NULL;
}

/* ---- writer ---- */

static struct topic_level_index *tl_alloc(uint32_t cap)
{
	struct topic_level_index *idx;

	idx = calloc(1, sizeof(*idx) + (size_t)cap * sizeof(idx->slot[0]));
	if (idx == NULL)
		return NULL;
	idx->cap = cap;
	return idx;
}

static void tl_free_cb(struct rcu_head *head)
{
	free(container_of(head, struct topic_level_index, rcu));
}

/* Smallest cap holding <n> children at a load of at most 1/2; 0 if too many. */
static uint32_t tl_cap_for(uint32_t n)
{
	uint32_t cap = TL_MIN_CAP;

	if (n > TL_MAX_CAP / 2)
		return 0;
	while (cap < 2 * n)
		cap *= 2;
	return cap;
}

/* Where an insert of hash <h> goes: the first tombstone or empty slot of its probe
 * (the child is known to be absent). Ends: invariant 2 leaves empty slots. */
static uint32_t tl_insert_slot(const struct topic_level_index *idx, unsigned long h)
{
	uint32_t mask = idx->cap - 1, i = tl_home(h, mask);

	while (tl_live(idx->slot[i]))
		i = (i + 1) & mask;
	return i;
}

/* Replaces *children by a fresh array (no tombstones) sized for its live children
 * plus <add> (may be NULL), filled before it is published; the old array is freed a
 * grace period later. Returns 0 or -ENOMEM (nothing changed). */
static int tl_rebuild(struct topic_level_index **children, struct topic_level_child *add)
{
	struct topic_level_index *old = *children, *idx;
	uint32_t n = (old != NULL ? old->used : 0) + (add != NULL ? 1 : 0);
	uint32_t cap = tl_cap_for(n), i;

	if (cap == 0)
		return -ENOMEM;
	idx = tl_alloc(cap);
	if (idx == NULL)
		return -ENOMEM;
	/* Not yet visible: plain stores. */
	for (i = 0; old != NULL && i < old->cap; i++) {
		struct topic_level_child *c = old->slot[i];

		if (tl_live(c))
			idx->slot[tl_insert_slot(idx, c->hash)] = c;
	}
	if (add != NULL)
		idx->slot[tl_insert_slot(idx, add->hash)] = add;
	idx->used = n;
	rcu_assign_pointer(*children, idx);	/* publishes the array, and <add> */
	if (old != NULL)
		call_rcu(&old->rcu, tl_free_cb);
	return 0;
}

int topic_level_insert(struct topic_level_index **children, struct topic_level_child *c)
{
	struct topic_level_index *idx = *children;
	uint32_t i;

	assert(topic_level_lookup(idx, topic_level_child_level(c), c->len, c->hash) ==
	       NULL);
	if (idx == NULL ||
	    ((uint64_t)idx->used + idx->tombs + 1) * 4 > (uint64_t)idx->cap * 3)
		return tl_rebuild(children, c);
	i = tl_insert_slot(idx, c->hash);
	if (idx->slot[i] == TL_TOMB)
		idx->tombs--;
	idx->used++;
	rcu_assign_pointer(idx->slot[i], c);	/* publishes *c */
	return 0;
}

void topic_level_delete(struct topic_level_index **children, struct topic_level_child *c)
{
	struct topic_level_index *idx = *children;
	uint32_t mask, i;

	assert(idx != NULL);
	mask = idx->cap - 1;
	for (i = tl_home(c->hash, mask); idx->slot[i] != c; i = (i + 1) & mask)
		assert(idx->slot[i] != NULL);	/* <c> must be present */
	idx->used--;
	if (idx->used == 0) {
		/* The array stays as it is for readers that still hold it. */
		rcu_assign_pointer(*children, NULL);
		call_rcu(&idx->rcu, tl_free_cb);
		return;
	}
	if (idx->slot[(i + 1) & mask] != NULL) {
		rcu_assign_pointer(idx->slot[i], TL_TOMB);
		idx->tombs++;
	} else {
		/* The end of a run: no probe needs this slot, nor the tombstones just
		 * before it, which become the new end (invariant 1). */
		rcu_assign_pointer(idx->slot[i], NULL);
		for (i = (i - 1) & mask; idx->slot[i] == TL_TOMB; i = (i - 1) & mask) {
			rcu_assign_pointer(idx->slot[i], NULL);
			idx->tombs--;
		}
	}
	if (idx->cap > TL_SHRINK_CAP && (uint64_t)idx->used * 8 < idx->cap)
		(void)tl_rebuild(children, NULL);	/* no memory: keep this one */
}

/* Teardown: nobody else can hold <idx>. */
void topic_level_index_free(struct topic_level_index *idx)
{
	free(idx);
}

void topic_level_index_stats(const struct topic_level_index *idx,
			     struct topic_level_stats *st)
{
	uint32_t mask, start, i, run = 0, used = 0, tombs = 0;

	memset(st, 0, sizeof(*st));
	if (idx == NULL)
		return;
	st->cap = idx->cap;
	st->used = idx->used;
	st->tombs = idx->tombs;
	mask = idx->cap - 1;
	/* Start after an empty slot so that a run wrapping past the end is one run. */
	for (start = 0; idx->slot[start] != NULL; start++)
		;
	for (i = 0; i < idx->cap; i++) {
		uint32_t at = (start + 1 + i) & mask;
		const struct topic_level_child *c = idx->slot[at];
		uint32_t probes;

		if (c == NULL) {
			run = 0;
			continue;
		}
		if (++run > st->run_max)
			st->run_max = run;
		if (c == TL_TOMB) {
			tombs++;
			continue;
		}
		used++;
		probes = ((at - tl_home(c->hash, mask)) & mask) + 1;
		st->probe_sum += probes;
		if (probes > st->probe_max)
			st->probe_max = probes;
	}
	assert(used == idx->used && tombs == idx->tombs);
	(void)used;
	(void)tombs;
}
