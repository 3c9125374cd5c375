/* engine_int.h - private to the MQTT engine (dataplane/mqtt): its per-worker state
 * (worker->engine) and the cross-worker messages it posts between workers. The worker
 * sees none of this: it queues a struct wmsg and calls engine_ops (engine.h). */
#ifndef PETREL_ENGINE_INT_H
#define PETREL_ENGINE_INT_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <urcu-qsbr.h>
#include <urcu/list.h>

#include "petrel/compiler.h"
#include "petrel/session.h"
#include "petrel/timer.h"
#include "petrel/worker.h"
#include "mqtt/expiry.h"

struct admin_msg;
struct msg;
struct mqtt_conn;

/* ---- cross-worker messages (struct wmsg.type) ------------------------------------ */

enum wmsg_type {
	WMSG_DELIVER,        /* a message for sessions this worker owns */
	WMSG_TAKEOVER_REQ,   /* another worker's connection wants a session we own */
	WMSG_TAKEOVER_DONE,  /* answer: the session is now owned by the requester */
	WMSG_HANDOVER_DRAINED, /* to the old owner, a grace period after a handover */
	WMSG_HANDOVER_FENCE, /* old owner to new: nothing more comes through us */
};

struct wmsg_target {
	struct session *s;   /* reference held by the message */
	uint8_t qos;         /* delivery QoS, already downgraded */
	bool held;           /* the publisher is held back if the session is congested */
	/* The store id under which the publishing worker appended this copy's
	 * ENTRY_PUT (persist.h), 0 if none: the owner appends one itself when the
	 * session is stored under another id by the time it arrives (durable.c). */
	uint64_t sid;
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

/* ---- per-worker state ------------------------------------------------------------ */

/* Per destination worker, the deliveries of the PUBLISH being routed (publish.c). */
struct fanout_batch {
	struct wmsg_target *t;
	uint32_t n;
	uint32_t cap;
};

struct mqtt_worker {
	/* Written by other workers: keep on its own line. Set by a session's owner when
	 * congestion ends: some publisher held back here may go on (flow.c). Cleared
	 * by this worker before it looks. */
	atomic_bool recheck_paused cache_aligned;
	atomic_uint held_publishers;    /* conns on <paused>: flow.c reads them all */
	/* Deliveries posted here by fan-out and not yet taken (max_worker_inbound), and
	 * whether a producer found them over the limit (an episode: flow.c). */
	atomic_uint inbound_deliveries;
	atomic_bool inbound_full;

	/* This worker only. */
	struct cds_list_head conns cache_aligned; /* every mqtt_conn of this worker */
	struct worker *self;           /* the worker this state belongs to */
	struct cds_list_head dirty;    /* conns with output to flush */
	struct cds_list_head paused;   /* conns paused by backpressure */
	struct cds_list_head sessions; /* sessions owned, online or not */
	struct cds_list_head graveyard;/* conns closed this turn, freed at its end */
	struct fanout_batch *fanout;   /* [nworkers] */
	/* Persistence (fence.c, durable.c). */
	struct cds_list_head fenced;   /* conns with output behind a fence */
	uint64_t appended;             /* change records appended (durable_note) */
	unsigned parked;               /* conns not read for their fenced bytes */
	struct timer pending_timer;    /* looks at pending_bytes while publishers wait */
	struct expiry expiry;          /* offline sessions, oldest first (expiry.c) */
};

/* Owner only, for the engine's functions that take a worker and a session: <w> runs on
 * the calling thread (when any worker does, see worker_current()) and owns <s>. */
#define engine_assert_owner(w, s)                                                     \
	do {                                                                          \
		worker_assert_current(w);                                             \
		assert(session_owner(s) == (int)(w)->id);                             \
	} while (0)

static inline struct mqtt_worker *mqtt_worker(const struct worker *w)
{
	return w->engine;
}

/* engine.c */
/* Acts on <m> as if it had just been taken off <w>'s inbound queue. <w>'s thread. */
void engine_handle(struct worker *w, struct wmsg *m);
/* Shutdown, every worker stopped: releases what <m> holds without acting on it. */
void engine_discard(struct wmsg *m);
/* Sessions <w> owns (list bookkeeping and the sessions gauge; both idempotent).
 * Owner only. */
void engine_adopt_session(struct worker *w, struct session *s);
void engine_drop_session(struct worker *w, struct session *s);

/* admin.c: the control plane's requests (admin.h, WMSG_TYPE_ADMIN). */
/* Answers <m> on <w>'s thread and hands it back (admin_reply). */
void admin_handle(struct worker *w, struct admin_msg *m);
/* Shutdown: hands <m> back unanswered (status -ECANCELED). */
void admin_discard(struct admin_msg *m);

#endif
