/* bench_sub.h - a subscriber's bookkeeping: one bench_track per publisher it should
 * hear from (publisher ids pub_base .. pub_base + pub_count - 1). Owned by one thread;
 * bench_sub_fini() frees the trackers. */
#ifndef BENCH_SUB_H
#define BENCH_SUB_H

#include <stddef.h>
#include <stdint.h>

#include "bench_track.h"

struct bench_sub {
	uint32_t id;
	uint32_t pub_base;
	uint32_t pub_count;
	struct bench_track *track;
};

enum bench_rx {
	BENCH_RX_NEW,
	BENCH_RX_DUP,
	BENCH_RX_FOREIGN,            /* not from one of our publishers: ignored */
};

int bench_sub_init(struct bench_sub *s, uint32_t id, uint32_t pub_base, uint32_t pub_count);
void bench_sub_fini(struct bench_sub *s);

/* Classifies a received payload and records its sequence; <*stamp> gets the
 * publisher's timestamp. Returns an enum bench_rx, or -ENOMEM. */
int bench_sub_receive(struct bench_sub *s, const uint8_t *payload, size_t len,
		      uint64_t *stamp);

/* Sums over this subscriber's trackers. */
void bench_sub_totals(const struct bench_sub *s, uint64_t *distinct, uint64_t *dups,
		      uint64_t *ooo);

#endif
