/* bench_loop.h - one generator thread: its share of the connections, its own epoll and
 * its own counters, merged by bench_run.c after the join. A loop turn reads the clock
 * once after waiting, reads what arrived, lets publishers stamp new messages and then
 * writes each connection's pending bytes with one call. No locks: the only shared
 * state is the run's timeline (written before a barrier) and the drain progress
 * below (atomics). */
#ifndef BENCH_LOOP_H
#define BENCH_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_conn.h"
#include "bench_hist.h"
#include "bench_progress.h"

struct bench_run;
struct bench_dpdk_thread;

struct bench_stats {
	uint64_t published;          /* stamped inside the window */
	uint64_t published_total;    /* stamped from warmup start until publishing stopped */
	uint64_t delivered;          /* received inside the window */
	uint64_t received_total;     /* our messages received at any time, duplicates too */
	uint64_t distinct;           /* first receipts */
	uint64_t foreign;            /* PUBLISHes that were not ours */
	uint64_t connects;           /* CONNACKs accepted */
	uint64_t connect_errors;     /* connections that failed before set-up was done */
	uint64_t dropped;            /* set-up connections broken afterwards */
	uint64_t unsent;             /* scheduled before publishing stopped, never sent */
	uint64_t sessions_lost;      /* resumed sessions whose CONNACK had no session */
	uint64_t last_new;           /* when the last first receipt arrived */
	struct bench_hist hist;      /* latency in ns of the deliveries in the window */
	struct bench_hist lag;       /* fixed rate: how long messages stamped in the
				      * window waited after their due time, ns */
};

/* What the other threads look at during the drain to end it early. */
struct bench_progress {
	_Atomic uint64_t published_total;
	_Atomic uint64_t distinct;
	_Atomic uint64_t inflight;
	atomic_bool stopped;
};

struct bench_thread {
	struct bench_run *run;
	unsigned int idx;
	int ep;
	struct bench_dpdk_thread *dp; /* DPDK mode: its stacks (bench_dpdk.h), else NULL */
	struct bench_conn *conns;
	uint32_t nconns;
	struct bench_conn **pubs;    /* the publishers among conns */
	uint32_t npubs;
	struct bench_conn **rdq;     /* can_read still set after a turn's budget */
	uint32_t nrd;
	struct bench_conn **wrq;     /* have pending bytes */
	uint32_t nwr;
	uint8_t *rxbuf;
	size_t rxcap;
	size_t max_packet;
	uint64_t now;                /* read once per turn */
	uint64_t win_lo, win_hi;     /* the measurement window */
	uint64_t prod_lo, prod_hi;   /* when publishers stamp messages */
	uint64_t next_keepalive;
	uint64_t wr_retry;
	uint32_t settled;            /* connections that reached their goal or failed */
	uint32_t settled_ok;
	uint64_t last_ok;            /* when the last one reached its goal */
	int first_err;
	char first_msg[192];
	char detail[128];            /* why bench_proto refused a packet, for first_msg */
	struct bench_stats st;
	struct bench_progress prog;
	struct bench_counts counts;  /* for the progress line, once per turn */
	pthread_t tid;
} __attribute__((aligned(64)));

/* Allocates the thread's epoll, queues and receive buffer for <nconns> connections
 * (left zeroed for bench_run.c to fill). 0 or -errno; bench_thread_fini() undoes. */
int bench_thread_init(struct bench_thread *th, struct bench_run *run, unsigned int idx,
		      uint32_t nconns, size_t max_packet);
void bench_thread_fini(struct bench_thread *th);

/* One loop turn, waiting for events at most until <until> (CLOCK_MONOTONIC ns). */
void bench_loop_turn(struct bench_thread *th, uint64_t until);

/* Opens the connections of <role>, at most <window> unsettled at once, and runs the
 * loop until all have settled or <deadline>; the late ones fail with -ETIMEDOUT.
 * Returns how many failed. */
uint32_t bench_loop_open_role(struct bench_thread *th, enum bench_role role,
			      uint32_t window, uint64_t deadline);

/* Queues <c> for the next flush. */
void bench_loop_want_write(struct bench_thread *th, struct bench_conn *c);

/* <c> reached its set-up goal. */
void bench_loop_settle_ok(struct bench_thread *th, struct bench_conn *c);

/* Closes <c> after error <err>; <what> names the step for the first error message. */
void bench_loop_fail(struct bench_thread *th, struct bench_conn *c, int err, const char *what);

/* Input ended with <rc> (end of stream: -ECONNRESET): done for a leaving session,
 * else a failure. */
void bench_loop_input_error(struct bench_thread *th, struct bench_conn *c, int rc);

/* Publishes this thread's counters for the drain's early end. */
void bench_loop_progress(struct bench_thread *th, bool stopped);

/* Sends DISCONNECT on every set-up connection and closes all. */
void bench_loop_teardown(struct bench_thread *th);

static inline bool bench_loop_in_window(const struct bench_thread *th)
{
	return th->now >= th->win_lo && th->now < th->win_hi;
}

#endif
