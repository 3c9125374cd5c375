/* worker.h - a worker: one thread pinned to one core running the run-to-completion
 * loop of DESIGN.md. It owns its connections, the sessions bound to it, its timer
 * wheel and its counters; what a connection or a session is, is the engine's business
 * (engine.h), and how bytes travel the transport's (transport.h). Other threads reach
 * it only through its inbound queue (liburcu wfcqueue, many producers, this worker the
 * only consumer). */
#ifndef PETREL_WORKER_H
#define PETREL_WORKER_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <urcu/wfcqueue.h>

#include "petrel/compiler.h"
#include "petrel/stats.h"
#include "petrel/timer.h"

struct broker;
struct engine_ops;
struct persist_worker;
struct transport_ops;

/* The CPU worker <id> runs on: the id-th CPU (round robin) of the affinity mask the
 * process inherited (taskset, cpusets, isolcpus), or -1 if it cannot be read. Main
 * thread, before any worker is pinned. */
int worker_pick_cpu(unsigned id);

/* ---- cross-worker messages ------------------------------------------------------- */

/* The head of a message on a worker's inbound queue. Its kinds and bodies belong to
 * the engine (engine.h), which embeds this head; the worker only queues it and hands
 * it to engine_ops.handle. */
struct wmsg {
	struct cds_wfcq_node node;
	int type;                 /* the engine's message kind */
	struct wmsg *held_next;   /* the engine's link while it keeps <m> aside */
};

/* The id of the worker whose work runs on the calling thread, or WORKER_NONE: set by
 * the worker's own thread for its whole life, and by whoever drives an unstarted
 * worker (worker_turn, worker_teardown, tests/support/mem_transport.c) for as long as
 * it does. Owner-only functions assert against it (session_assert_owner,
 * worker_assert_current); on a thread with no current worker (main at shutdown, a
 * unit test holding a session it made itself) they check nothing, since no worker
 * runs there to race with. */
#define WORKER_NONE (-2)
extern _Thread_local int worker_current_id;

static inline int worker_current(void)
{
	return worker_current_id;
}

/* Makes worker <id> (or WORKER_NONE) current on the calling thread. Returns the one
 * that was, for the caller to restore. */
int worker_set_current(int id);

/* Owner only: the calling thread runs <w>'s work (or no worker's at all). */
#define worker_assert_current(w)                                                      \
	assert(worker_current() == WORKER_NONE || worker_current() == (int)(w)->id)

struct worker {
	/* Written by producers on other threads: keep on its own line. */
	struct cds_wfcq_tail inbound_tail cache_aligned;
	atomic_int sleeping;

	struct cds_wfcq_head inbound_head cache_aligned;
	unsigned id;
	int cpu;                       /* pinned to this CPU; -1 = not pinned */
	struct broker *broker;
	/* The configuration this worker applies: &broker->cfg until a reload gives it
	 * a config_ref of its own (worker_set_config). Keys that need a restart
	 * (docs/configuration.md) are equal in both; read live limits only here. */
	const struct config *cfg;
	struct config_ref *cfg_ref;    /* NULL: cfg is &broker->cfg */
	const struct transport_ops *tops;
	void *transport;               /* the transport's per-worker state */
	const struct engine_ops *eops;
	void *engine;                  /* the engine's per-worker state */
	int wake_fd;                   /* eventfd, written when <sleeping> */
	pthread_t thread;
	bool started;
	bool torn_down;                /* worker_teardown ran (broker_shutdown checks) */

	uint64_t now_us;               /* transport's monotonic clock, read once per turn */
	uint64_t now_ms;               /* now_us / 1000: the keep-alive wheel's unit */
	struct timer_wheel wheel;

	struct persist_worker *persist; /* NULL when persistence is off (persist.h) */

	/* The thread's CPU-time clock (pthread_getcpuclockid), for the control plane's
	 * per-worker CPU figures (metrics.h). Written once by the worker's own thread
	 * as it starts (kernel pthread or DPDK lcore alike), then <cpu_clock_set> is
	 * stored with release; a reader loads the flag (acquire) before the clock. */
	clockid_t cpu_clock;
	atomic_bool cpu_clock_set;

	struct worker_stats stats;
};

/* Allocates a worker, its engine state and its transport state (listener included).
 * Main thread. Returns NULL on failure (logged). */
struct worker *worker_create(struct broker *b, unsigned id, const struct transport_ops *t,
			     const struct engine_ops *e);
int worker_start(struct worker *w);
/* Everything of one loop turn after the transport's poll, at time w->now_ms: inbound
 * queue (engine_ops.handle), due timers, the engine's end of turn (held-back
 * publishers, output handed to the transport, frees), the transport's flush (all
 * connections' output in one burst) and reap, quiescent state. The
 * worker's thread, or a caller driving a worker that was never started (tests); <w>
 * is the current worker for the call. */
void worker_turn(struct worker *w);
/* Closes every connection (engine_ops.teardown) and releases the worker's transport
 * and timers. Run by the worker's thread as it exits, or by the caller that drove an
 * unstarted worker, before broker_shutdown(); <w> is current for the call. */
void worker_teardown(struct worker *w);
/* Joins the thread (after broker->stopping was set and worker_wake called). */
void worker_join(struct worker *w);
/* Releases messages posted to <w> after its thread drained its queue for the last
 * time (another worker was still running). Main thread, every worker joined. */
void worker_discard_inbound(struct worker *w);
/* Frees the worker; its thread has ended. */
void worker_destroy(struct worker *w);

/* Reload: <w> applies <ref> from now on, taking over the caller's reference, and
 * drops the configuration it had. Owner only (the engine's handler of the control
 * plane's config message). */
struct config_ref;
void worker_set_config(struct worker *w, struct config_ref *ref);

/* Queues <m> on <dst>'s inbound queue and wakes it if it sleeps. Any thread. */
void worker_post(struct worker *dst, struct wmsg *m);
void worker_wake(struct worker *w);

/* A quiescent state in the middle of a long piece of work (a SUBSCRIBE with
 * thousands of filters, the end of a session with 100k), so that one client's packet
 * does not hold back every grace period until the worker's turn ends. Only where the
 * caller holds no RCU-protected pointer across it. Does nothing on a thread that is
 * not an online urcu-qsbr reader (tests, shutdown after rcu_thread_offline()). A
 * function, not inline: this header names no liburcu flavour. */
void worker_quiescent_point(void);

#endif
