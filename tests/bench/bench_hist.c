/* bench_hist.c - merging and reading the log-linear histogram of bench_hist.h. */
#include "bench_hist.h"

#include <math.h>

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	unsigned int i;

	for (i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* Largest value that bench_hist_index() maps to bucket <i>. */
static uint64_t bench_hist_upper(unsigned int i)
{
	unsigned int shift, sub;

	if (i < BENCH_HIST_SUB)
		return i;
	shift = (i >> BENCH_HIST_SUB_BITS) - 1;
	sub = i & (BENCH_HIST_SUB - 1);
	return (((uint64_t)BENCH_HIST_SUB + sub + 1) << shift) - 1;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned int i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t up = bench_hist_upper(i);

			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}
