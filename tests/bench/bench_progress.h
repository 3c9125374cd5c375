/* bench_progress.h - what a run shows while it runs. Each generator thread publishes a
 * few counters at the end of every loop turn (relaxed atomics: one writer each, no
 * locks, a store per counter); a sampler thread reads them every --progress seconds,
 * prints the progress line on stderr once the run is 3 s old (short runs stay quiet)
 * and keeps every sample for the JSON "series", so bench.sh can plot the broker's RSS
 * and the connect rate against the connection count:
 *
 *   progress t=12.0s conns 350000/1000000 (+29000/s) msgs 1200000 (+98000/s)
 *            pub 1200000 errors 0 rss 812 MB phase connect
 *
 * conns counts the connections that reached their set-up goal in the current phase,
 * out of what the phase aims at; msgs the messages our subscribers received
 * (duplicates included), pub the messages our publishers stamped, errors the failed
 * set-ups and the connections lost afterwards; rss needs --broker-pid. A scenario
 * names its phases (connect, publish, reconnect, ...) from the one thread that passes
 * a barrier first (bench_run_barrier), where all counters stand still. */
#ifndef BENCH_PROGRESS_H
#define BENCH_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_run;
struct bench_thread;

/* Above this many samples (11 days at one a second) the series stops growing; the
 * line goes on. */
#define BENCH_SERIES_MAX 1000000u
/* The progress line starts once the run is this old. */
#define BENCH_PROGRESS_QUIET_S 3.0

/* One per generator thread: written by it once per loop turn, read by the sampler. */
struct bench_counts {
	_Atomic uint64_t settled_ok;
	_Atomic uint64_t received;
	_Atomic uint64_t distinct;
	_Atomic uint64_t published;
	_Atomic uint64_t errors;
};

struct bench_sample {
	double t;                    /* seconds since the run started */
	const char *phase;           /* a string literal */
	uint64_t conns;              /* set-ups done in the phase */
	uint64_t conns_target;
	double conn_rate;            /* set-ups/s since the previous sample */
	uint64_t msgs;               /* received */
	double msg_rate;
	uint64_t published;
	uint64_t errors;
	long rss_kb;                 /* -1: no --broker-pid */
};

struct bench_progress_log {
	pthread_t tid;
	bool running;
	pthread_mutex_t lock;        /* with <wake>: lets stop end the sampler's sleep */
	pthread_cond_t wake;
	bool stop;                   /* under <lock> */
	_Atomic(const char *) phase;
	_Atomic uint64_t conn_base;  /* settled_ok of all threads when the phase began */
	_Atomic uint64_t conn_target;
	struct bench_sample *samples; /* the sampler's until it is joined */
	size_t nsamples;
	size_t cap;
};

/* Publishes <th>'s counters; once per loop turn, by its own thread. */
void bench_progress_note(struct bench_thread *th);

/* Starts the sampler of <run> unless --progress 0. 0 or -errno. */
int bench_progress_start(struct bench_run *run);

/* Stops and joins the sampler; the samples stay in run->plog for the result. */
void bench_progress_stop(struct bench_run *run);

/* bench_progress_phase()'s <target> for a phase that sets nothing up: conns goes on
 * showing the previous phase's count (fleet's devices while they publish). */
#define BENCH_PROGRESS_KEEP UINT64_MAX

/* The phase <name> (a literal) begins and aims at <target> set-ups (0: none, the
 * count starts again at 0; BENCH_PROGRESS_KEEP). Called by the thread a barrier
 * elected, while the others wait. */
void bench_progress_phase(struct bench_run *run, const char *name, uint64_t target);

/* Sum of the threads' counters; any thread, any time. */
uint64_t bench_progress_sum_distinct(struct bench_run *run);

#endif
