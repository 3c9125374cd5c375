/* bench_time.h - the generator's clock: CLOCK_MONOTONIC in nanoseconds, the same clock
 * the payload stamps use, so publisher and subscriber threads compare directly. */
#ifndef BENCH_TIME_H
#define BENCH_TIME_H

#include <stdint.h>
#include <time.h>

#define BENCH_NS_PER_S 1000000000ull
#define BENCH_NS_PER_MS 1000000ull

static inline uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * BENCH_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bench_secs_to_ns(double s)
{
	return (uint64_t)(s * (double)BENCH_NS_PER_S);
}

static inline double bench_ns_to_secs(uint64_t ns)
{
	return (double)ns / (double)BENCH_NS_PER_S;
}

#endif
