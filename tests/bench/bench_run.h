/* bench_run.h - one run of a scenario: who connects where (the layout), the threads,
 * the timeline they share and the merge of their counters into a bench_result.
 * Connection k of the run goes to thread k % J. In pub/sub scenarios the first
 * connections are the subscribers (ids 0..S-1), then the publishers (ids 0..P-1). */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_conn.h"
#include "bench_opts.h"

struct bench_thread;
struct bench_result;

/* Set-up and teardown stay within this much beyond warmup + duration + drain. */
#define BENCH_SETUP_S 25
/* The conn scenario ends by itself within this, whatever happens. */
#define BENCH_CONN_DEADLINE_S 120
#define BENCH_KEEPALIVE_S 60
#define BENCH_PING_IDLE_S 30
#define BENCH_QOS0_SLOTS 256

struct bench_run {
	const struct bench_opts *o;
	unsigned int nthreads;
	struct bench_thread *th;
	pthread_barrier_t barrier;
	/* DPDK mode's barrier: its threads poll while they wait (bench_dpdk_idle). */
	atomic_uint bar_waiting;
	atomic_uint bar_generation;
	atomic_bool abort;
	uint32_t nsubs;
	uint32_t npubs;
	uint32_t nconns;
	uint32_t matching;           /* subscribers that receive each message */
	/* The timeline, CLOCK_MONOTONIC ns; written by one thread before a barrier. */
	uint64_t t_start;            /* the process started */
	uint64_t t_setup_end;        /* connecting must be done by then */
	uint64_t t0;                 /* warmup starts, publishers start */
	uint64_t t_win;              /* the window starts */
	uint64_t t_stop;             /* the window ends, publishing stops */
	uint64_t t_drain_end;
	uint64_t t_hold_end;         /* conn: connections are held until then */
	uint64_t conn_t_first;       /* conn: the connect phase */
	uint64_t conn_t_last;
	long rss_before_kb;
	long rss_after_kb;
	double cpu_win_start;        /* generator CPU seconds at t_win and t_stop */
	double cpu_win_end;
	double broker_cpu_win_start; /* the broker's, all its threads; -1: unknown */
	double broker_cpu_win_end;
};

/* Runs the scenario <o> and fills <res>. Returns 0 when the run completed (even with
 * loss), or -errno when it could not run (reason printed on stderr). */
int bench_run_exec(const struct bench_opts *o, struct bench_result *res);

/* Waits for all threads; returns true in exactly one of them, which may then write
 * the timeline before the next barrier. */
bool bench_run_barrier(struct bench_run *run);

void bench_run_abort(struct bench_run *run);
bool bench_run_aborted(struct bench_run *run);

/* Writes the client id of <c> into <buf> (NUL terminated). Returns its length. */
size_t bench_run_client_id(const struct bench_run *run, const struct bench_conn *c,
			   char *buf, size_t cap);

/* Writes the topic filter <c> subscribes to into <buf>. Returns its length. */
size_t bench_run_filter(const struct bench_run *run, const struct bench_conn *c,
			char *buf, size_t cap);

/* The scenarios' thread bodies: bench_flow.c (fanin, fanout, pairs, latency) and
 * bench_conns.c (conn). */
void bench_flow_thread(struct bench_thread *th);
void bench_conns_thread(struct bench_thread *th);

#endif
