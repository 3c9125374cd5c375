/* bench_track.h - what one subscriber received from one publisher: a bitmap of
 * sequence numbers that grows by doubling (amortised, never per message), from which
 * duplicates, reordering and, at the end, loss follow. Owned by the subscriber's
 * thread; bench_track_fini() frees the bitmap. */
#ifndef BENCH_TRACK_H
#define BENCH_TRACK_H

#include <stdint.h>

struct bench_track {
	uint64_t *bits;
	uint64_t nbits;              /* capacity in sequence numbers */
	uint64_t next;               /* highest sequence seen + 1 */
	uint64_t distinct;
	uint64_t dups;
	uint64_t ooo;                /* new, but below one already seen */
};

/* Records <seq>. Returns 0 if new, 1 if already seen, -ERANGE if <seq> is so far ahead
 * that it cannot be one of ours (a stray publisher), -ENOMEM. */
int bench_track_add(struct bench_track *t, uint64_t seq);

void bench_track_fini(struct bench_track *t);

#endif
