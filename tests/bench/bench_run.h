/* bench_run.h - one run of a scenario: who connects where (the layout), the threads,
 * the timeline they share and the merge of their counters into a bench_result.
 * Connection k of the run goes to thread k % J. In pub/sub scenarios the first
 * connections are the subscribers (ids 0..S-1), then the publishers (ids 0..P-1).
 * fleet: S subscribers, then N devices (publishers). storm and persist: N persistent
 * subscribers, then J publishers, one per thread, each publishing to the sessions of
 * its own thread. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_conn.h"
#include "bench_opts.h"
#include "bench_progress.h"

struct bench_thread;
struct bench_result;

/* Set-up and teardown stay within this much beyond warmup + duration + drain. */
#define BENCH_SETUP_S 25
/* The conn scenario ends by itself within this, whatever happens. */
#define BENCH_CONN_DEADLINE_S 120
#define BENCH_KEEPALIVE_S 60
#define BENCH_PING_IDLE_S 30
#define BENCH_QOS0_SLOTS 256
/* storm and persist topics end in the session's index, zero-padded to this width so
 * that one pre-encoded PUBLISH serves every session (the digits are patched). */
#define BENCH_TOPIC_DIGITS 8
#define BENCH_TOPIC_INDEX_MAX 99999999u

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
	/* fleet, storm, persist; flags written before a barrier, read by bench_proto. */
	bool resuming;               /* CONNACK must say session present; no SUBSCRIBE */
	bool leave_after_suback;     /* persist fill: SUBSCRIBE, then DISCONNECT */
	uint32_t leave_after;        /* persist verify: DISCONNECT once this many of our
				      * messages arrived; 0 = stay */
	uint32_t fleet_per_group;    /* fleet: ceil(N / S), the publisher id stride */
	uint64_t phase_timeout_ns;
	uint64_t pub_t_first;        /* storm, persist: the publish phase */
	uint64_t pub_t_last;
	uint64_t back_t_first;       /* storm: the reconnect; persist: verify */
	uint64_t back_t_last;        /* the last CONNACK (storm), the last session done
				      * (persist) */
	uint64_t deliver_t_last;     /* the last first receipt; 0 = not all arrived */
	bool verified;               /* persist: the verify half ran */
	struct bench_progress_log plog;
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

/* A thread's share of --conn-inflight (at least 1). */
uint32_t bench_run_thread_window(const struct bench_run *run);

/* The latest th->last_ok of all threads, not before <since>; by the thread a barrier
 * elected. */
uint64_t bench_run_last_ok(const struct bench_run *run, uint64_t since);

/* The latest first receipt of all threads (st.last_new); likewise. */
uint64_t bench_run_last_new(const struct bench_run *run);

/* The measurement window of the pub/sub scenarios (bench_flow.c) opens: thread 0
 * samples the generator's and the broker's CPU. */
void bench_flow_window_open(struct bench_thread *th);

/* It closed (t_stop): thread 0 samples CPU and the broker's RSS; every thread counts
 * what its schedule still owed (unsent) and drains, looking at the others' progress
 * every <poll_ns>, until every message is in or t_drain_end. */
void bench_flow_window_close(struct bench_thread *th, uint64_t poll_ns);

/* Whether every thread stopped publishing and every message arrived (the drain of
 * the pub/sub scenarios); any thread. */
bool bench_flow_complete(struct bench_run *run);

/* The scenarios' thread bodies: bench_flow.c (fanin, fanout, pairs, latency),
 * bench_conns.c (conn), bench_fleet.c, bench_storm.c, bench_persist.c. */
void bench_flow_thread(struct bench_thread *th);
void bench_conns_thread(struct bench_thread *th);
void bench_fleet_thread(struct bench_thread *th);
void bench_storm_thread(struct bench_thread *th);
void bench_persist_thread(struct bench_thread *th);

#endif
