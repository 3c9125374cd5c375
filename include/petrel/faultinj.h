/* faultinj.h - fault injection between a worker's port queue and its stack: drops,
 * duplicates, reorders and corrupts frames of an mbuf burst, each with a set
 * probability, from a seeded PRNG so a run repeats. One injector per worker and
 * direction (RX: after rx_burst, before net_rx; TX: before tx_burst), touched by that
 * worker only. Off by default (config keys fault_drop, fault_duplicate,
 * fault_reorder, fault_corrupt, fault_seed); tests use it. DPDK builds only. */
#ifndef PETREL_FAULTINJ_H
#define PETREL_FAULTINJ_H

#include <stdbool.h>
#include <stdint.h>

#include "petrel/compiler.h"

struct rte_mbuf;
struct faultinj;

enum faultinj_dir { FAULTINJ_RX = 0, FAULTINJ_TX = 1 };

/* The largest burst faultinj_apply handles; a larger cap is treated as this. */
#define FAULTINJ_BURST_MAX 512
/* A frame held back for reordering leaves after the next frame or after this long. */
#define FAULTINJ_HOLD_US_DEFAULT 1000

struct faultinj_params {
	/* Percent of frames, 0 to 100 (fractions allowed, resolution 0.0001 %). */
	double drop, duplicate, reorder, corrupt;
	uint64_t seed;              /* with the worker id and direction: the PRNG's seed */
	uint32_t hold_us;           /* longest a reordered frame is held (0: default) */
};

/* Every action, counted. frames_in - dropped + duplicated = frames_out + held now. */
struct faultinj_stats {
	uint64_t frames_in;         /* frames offered to faultinj_apply */
	uint64_t frames_out;        /* frames handed back (apply and flush) */
	uint64_t dropped;
	uint64_t duplicated;        /* copies added */
	uint64_t dup_failed;        /* a duplicate not made: no mbuf or no room in cap */
	uint64_t reordered;         /* frames held back and sent after a later one */
	uint64_t released_late;     /* held frames released by the hold time, not a frame */
	uint64_t corrupted;         /* frames with one byte flipped */
	uint64_t corrupt_skipped;   /* chosen but not corrupted: shared or external data,
	                               TX checksum offload (the NIC would hide it), or no
	                               byte after the ethernet header */
};

/* True if <p> injects anything: the port creates an injector only then and passes
 * NULL otherwise, which costs one branch per burst. */
bool faultinj_enabled(const struct faultinj_params *p);

/* An injector for <worker_id>'s direction <dir> (enum faultinj_dir). Returns NULL
 * with errno EINVAL (a rate outside 0..100) or ENOMEM. Logs what it injects. */
struct faultinj *faultinj_create(const struct faultinj_params *p, unsigned worker_id,
				 int dir);
/* Frees a held frame, then the injector. NULL is fine. */
void faultinj_destroy(struct faultinj *f);

uint16_t faultinj_apply_burst(struct faultinj *f, struct rte_mbuf **pkts, uint16_t n,
			      uint16_t cap, uint64_t now_us);

/* Rewrites the burst <pkts>[0..n) in place and returns its new length, at most <cap>
 * (>= n; room for duplicates). Dropped frames are freed; a frame held for reordering
 * stays in <f> and comes back in a later call (after the next frame, or at <now_us>
 * past its hold time). The caller owns everything returned, as before. NULL <f>:
 * nothing happens. */
static inline uint16_t faultinj_apply(struct faultinj *f, struct rte_mbuf **pkts,
				      uint16_t n, uint16_t cap, uint64_t now_us)
{
	if (likely(f == NULL))
		return n;
	return faultinj_apply_burst(f, pkts, n, cap, now_us);
}

/* Releases the held frame into <pkts> (room for <cap>) if it was held for the hold
 * time at <now_us>, or in any case if <all>. Returns the frames written (0 or 1).
 * Call once per loop turn with no burst, so nothing is held forever. */
uint16_t faultinj_flush(struct faultinj *f, struct rte_mbuf **pkts, uint16_t cap,
			uint64_t now_us, bool all);

const struct faultinj_stats *faultinj_stats(const struct faultinj *f);

#endif
