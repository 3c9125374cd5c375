/* ptrhash.c - single-writer open-addressing pointer set (see ptrhash.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "petrel/ptrhash.h"

#define PTRHASH_MIN 8

/* Home slot: the caller's hash mixed (Fibonacci hashing), top bits kept, so weak low
 * bits (FNV-1a, aligned pointers) still spread. */
static inline uint32_t ph_home(const struct ptrhash *t, uint64_t hash)
{
	return (uint32_t)((hash * 0x9e3779b97f4a7c15ull) >> 32) & (t->cap - 1);
}

static void ph_place(struct ptrhash *t, uint64_t hash, void *p)
{
	uint32_t mask = t->cap - 1, i = ph_home(t, hash);

	while (t->slot[i].p != NULL)
		i = (i + 1) & mask;
	t->slot[i].hash = hash;
	t->slot[i].p = p;
	t->n++;
}

static int ph_resize(struct ptrhash *t, uint32_t cap)
{
	struct ptrhash old = *t;
	struct ptrhash_slot *s = calloc(cap, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	t->slot = s;
	t->cap = cap;
	t->n = 0;
	for (uint32_t i = 0; i < old.cap; i++) {
		if (old.slot[i].p != NULL)
			ph_place(t, old.slot[i].hash, old.slot[i].p);
	}
	free(old.slot);
	return 0;
}

int ptrhash_add(struct ptrhash *t, uint64_t hash, void *p)
{
	if ((uint64_t)(t->n + 1) * 4 > (uint64_t)t->cap * 3) {
		if (t->cap > UINT32_MAX / 2)
			return -ENOMEM;
		if (ph_resize(t, t->cap == 0 ? PTRHASH_MIN : t->cap * 2) < 0)
			return -ENOMEM;
	}
	ph_place(t, hash, p);
	return 0;
}

int ptrhash_del(struct ptrhash *t, uint64_t hash, const void *p)
{
	uint32_t mask, i, j;

	if (t->n == 0)
		return -ENOENT;
	mask = t->cap - 1;
	for (i = ph_home(t, hash); t->slot[i].p != p; i = (i + 1) & mask) {
		if (t->slot[i].p == NULL)
			return -ENOENT;
	}
	/* Backward shift: pull later members of the probe run into the hole unless
	 * their home lies cyclically in (hole, their slot]. */
	for (j = (i + 1) & mask; t->slot[j].p != NULL; j = (j + 1) & mask) {
		uint32_t home = ph_home(t, t->slot[j].hash);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	t->slot[i].p = NULL;
	t->n--;
	if (t->n == 0)
		ptrhash_fini(t);
	else if (t->cap > PTRHASH_MIN && t->n * 8 < t->cap)
		(void)ph_resize(t, t->cap / 2);	/* best effort: stays larger if it fails */
	return 0;
}

void *ptrhash_find(const struct ptrhash *t, uint64_t hash, uint32_t *pos)
{
	uint32_t mask, i;

	if (t->n == 0)
		return NULL;
	mask = t->cap - 1;
	/* *pos counts probes from the home slot, so the walk can resume. */
	for (i = (ph_home(t, hash) + *pos) & mask; t->slot[i].p != NULL; i = (i + 1) & mask) {
		(*pos)++;
		if (t->slot[i].hash == hash)
			return t->slot[i].p;
	}
	return NULL;
}

void *ptrhash_next(const struct ptrhash *t, uint32_t *pos)
{
	while (*pos < t->cap) {
		void *p = t->slot[(*pos)++].p;

		if (p != NULL)
			return p;
	}
	return NULL;
}

void ptrhash_fini(struct ptrhash *t)
{
	free(t->slot);
	t->slot = NULL;
	t->cap = 0;
	t->n = 0;
}
