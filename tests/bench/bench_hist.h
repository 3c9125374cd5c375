/* bench_hist.h - log-linear latency histogram: 32 linear sub-buckets per power of two,
 * so any recorded value is known to within 1/32 (3 %), in 15 KiB, with O(1) record and
 * no sorting. One per thread, merged at the end; not thread-safe. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
/* Values below BENCH_HIST_SUB are exact (group 0); then one group per msb 5..63. */
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t bucket[BENCH_HIST_BUCKETS];
};

static inline unsigned int bench_hist_index(uint64_t v)
{
	unsigned int shift;

	if (v < BENCH_HIST_SUB)
		return (unsigned int)v;
	shift = (unsigned int)(63 - __builtin_clzll(v)) - BENCH_HIST_SUB_BITS;
	return ((shift + 1) << BENCH_HIST_SUB_BITS) + (unsigned int)((v >> shift) - BENCH_HIST_SUB);
}

static inline void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->bucket[bench_hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

/* Adds <src> into <dst>. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/* The value at quantile <q> (0 < q <= 1): the upper edge of the bucket holding the
 * ceil(q * count)-th smallest value, capped at the exact maximum. 0 if empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

#endif
