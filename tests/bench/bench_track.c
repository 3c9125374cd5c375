/* bench_track.c - per (subscriber, publisher) sequence bitmap. */
#include "bench_track.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* No run publishes 2^30 messages per publisher within one bitmap doubling: anything
 * further ahead than this is not a sequence we stamped. */
#define BENCH_TRACK_MAX_JUMP (1ull << 30)
/* One word to start with: fleet, storm and persist keep a tracker per device or
 * session, up to millions, each seeing a handful of sequences. Doubling keeps the
 * growth of a fast publisher's tracker amortised. */
#define BENCH_TRACK_MIN_BITS 64ull

static int bench_track_grow(struct bench_track *t, uint64_t seq)
{
	uint64_t n = t->nbits ? t->nbits : BENCH_TRACK_MIN_BITS;
	uint64_t *bits;

	while (n <= seq)
		n *= 2;
	bits = realloc(t->bits, n / 8);
	if (bits == NULL)
		return -ENOMEM;
	memset(bits + t->nbits / 64, 0, (n - t->nbits) / 8);
	t->bits = bits;
	t->nbits = n;
	return 0;
}

int bench_track_add(struct bench_track *t, uint64_t seq)
{
	uint64_t mask = 1ull << (seq & 63);
	uint64_t *word;

	if (seq >= t->next + BENCH_TRACK_MAX_JUMP)
		return -ERANGE;
	if (seq >= t->nbits && bench_track_grow(t, seq) < 0)
		return -ENOMEM;
	word = &t->bits[seq / 64];
	if (*word & mask) {
		t->dups++;
		return 1;
	}
	*word |= mask;
	t->distinct++;
	if (seq < t->next)
		t->ooo++;
	else
		t->next = seq + 1;
	return 0;
}

void bench_track_fini(struct bench_track *t)
{
	free(t->bits);
	memset(t, 0, sizeof(*t));
}
