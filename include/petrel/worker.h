/* worker.h - a worker: one thread pinned to one core running the run-to-completion
 * loop of DESIGN.md. It owns its connections, the sessions bound to it, its timer
 * wheel and its counters. Other threads reach it only through its inbound queue
 * (liburcu wfcqueue, many producers, this worker the only consumer). */
#ifndef PETREL_WORKER_H
#define PETREL_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <urcu-qsbr.h>
#include <urcu/list.h>
#include <urcu/wfcqueue.h>

#include "petrel/compiler.h"
#include "petrel/stats.h"
#include "petrel/timer.h"

struct broker;
struct msg;
struct session;
struct mqtt_conn;
struct transport_ops;

/* The CPU worker <id> runs on: the id-th CPU (round robin) of the affinity mask the
 * process inherited (taskset, cpusets, isolcpus), or -1 if it cannot be read. Main
 * thread, before any worker is pinned. */
int worker_pick_cpu(unsigned id);

/* ---- cross-worker messages ------------------------------------------------------- */

enum wmsg_type {
	WMSG_DELIVER,        /* a message for sessions this worker owns */
	WMSG_TAKEOVER_REQ,   /* another worker's connection wants a session we own */
	WMSG_TAKEOVER_DONE,  /* answer: the session is now owned by the requester */
	WMSG_HANDOVER_DRAINED, /* to the old owner, a grace period after a handover */
	WMSG_HANDOVER_FENCE, /* old owner to new: nothing more comes through us */
};

struct wmsg {
	struct cds_wfcq_node node;
	enum wmsg_type type;
	struct wmsg *held_next;   /* on a session's held list (mqtt/handover.c) */
};

struct wmsg_target {
	struct session *s;   /* reference held by the message */
	uint8_t qos;         /* delivery QoS, already downgraded */
	bool held;           /* the publisher is held back if the session is congested */
};

struct wmsg_deliver {
	struct wmsg h;
	struct msg *m;       /* reference held by the message */
	bool forwarded;      /* passed on by a session's previous owner */
	bool counted;        /* counted in the destination's <inbound_deliveries> */
	uint32_t n;
	struct wmsg_target t[];
};

struct wmsg_takeover {
	struct wmsg h;
	struct session *s;         /* reference held by the message */
	struct mqtt_conn *conn;    /* the requester's connection; only it touches it */
	int requester;             /* worker id */
};

/* The ordering fence of one handover (mqtt/handover.c): posted to the old owner by
 * call_rcu a grace period after it stored the new owner, then by it to the new one. */
struct wmsg_handover {
	struct wmsg h;
	struct rcu_head rcu;
	struct session *s;         /* reference held by the message */
	struct worker *from;       /* the old owner */
	unsigned to;               /* the new owner's id */
};

/* Per destination worker, the deliveries of the PUBLISH being routed (fanout.c). */
struct fanout_batch {
	struct wmsg_target *t;
	uint32_t n;
	uint32_t cap;
};

struct worker {
	/* Written by producers on other threads: keep on its own line. */
	struct cds_wfcq_tail inbound_tail cache_aligned;
	atomic_int sleeping;
	/* Set by a session's owner when congestion ends: some publisher held back here
	 * may go on (mqtt/flow.c). Cleared by this worker before it looks. */
	atomic_bool recheck_paused;
	atomic_uint held_publishers;    /* conns on <paused>: flow.c reads them all */
	/* Deliveries posted here by fan-out and not yet taken (max_worker_inbound), and
	 * whether a producer found them over the limit (an episode: mqtt/flow.c). */
	atomic_uint inbound_deliveries;
	atomic_bool inbound_full;

	struct cds_wfcq_head inbound_head cache_aligned;
	unsigned id;
	int cpu;                       /* pinned to this CPU; -1 = not pinned */
	struct broker *broker;
	const struct transport_ops *tops;
	void *transport;               /* the transport's per-worker state */
	int wake_fd;                   /* eventfd, written when <sleeping> */
	pthread_t thread;
	bool started;

	uint64_t now_ms;               /* monotonic clock, read once per loop turn */
	struct timer_wheel wheel;
	struct cds_list_head conns;    /* every mqtt_conn of this worker */
	struct cds_list_head dirty;    /* conns with output to flush */
	struct cds_list_head paused;   /* conns paused by backpressure */
	struct cds_list_head sessions; /* sessions owned, online or not */
	struct cds_list_head graveyard;/* conns closed this turn, freed at its end */
	struct fanout_batch *fanout;   /* [nworkers] */

	struct worker_stats stats;
};

/* Allocates a worker and its transport state (listener included). Main thread.
 * Returns NULL on failure (logged). */
struct worker *worker_create(struct broker *b, unsigned id, const struct transport_ops *t);
int worker_start(struct worker *w);
/* Everything of one loop turn after the transport's poll, at time w->now_ms: inbound
 * queue, due timers, paused publishers, output flush, frees, quiescent state. The
 * worker's thread, or a caller driving a worker that was never started (tests). */
void worker_turn(struct worker *w);
/* Closes every connection and releases the worker's transport and timers. Run by the
 * worker's thread as it exits, or by the caller that drove an unstarted worker, before
 * broker_shutdown(). */
void worker_teardown(struct worker *w);
/* Joins the thread (after broker->stopping was set and worker_wake called). */
void worker_join(struct worker *w);
/* Releases messages posted to <w> after its thread drained its queue for the last
 * time (another worker was still running). Main thread, every worker joined. */
void worker_discard_inbound(struct worker *w);
/* Frees the worker; its thread has ended. */
void worker_destroy(struct worker *w);

/* Acts on <m> as if it had just been taken off <w>'s inbound queue. Owner only. */
void worker_handle(struct worker *w, struct wmsg *m);
/* Shutdown, every worker stopped: releases what <m> holds without acting on it. */
void worker_discard(struct wmsg *m);

/* Queues <m> on <dst>'s inbound queue and wakes it if it sleeps. Any thread. */
void worker_post(struct worker *dst, struct wmsg *m);
void worker_wake(struct worker *w);

/* Sessions this worker owns (list bookkeeping; both idempotent). Owner only. */
void worker_adopt_session(struct worker *w, struct session *s);
void worker_drop_session(struct worker *w, struct session *s);

/* A quiescent state in the middle of a long piece of work (a SUBSCRIBE with
 * thousands of filters, the end of a session with 100k), so that one client's packet
 * does not hold back every grace period until the worker's turn ends. Only where the
 * caller holds no RCU-protected pointer across it. Does nothing on a thread that is
 * not an online urcu-qsbr reader (tests, shutdown after rcu_thread_offline()). */
static inline void worker_quiescent_point(void)
{
	if (rcu_read_ongoing())
		rcu_quiescent_state();
}

#endif
