/* session.h - an MQTT session (MQTT 3.1.1 section 4.1): the client's subscriptions,
 * its outgoing QoS 1/2 messages in flight, the queue behind them, and the QoS 2 packet
 * ids it sent that await PUBREL.
 *
 * Ownership: exactly one worker owns a session (<owner>); only that worker touches
 * anything but <refcnt>, <owner> and <congested>. Ownership moves on takeover: the
 * old owner stores the new owner id (release) and never touches the session again; the
 * new owner reads it (acquire) and carries on. <owner> is SESSION_DEAD once the session
 * has ended. The memory lives while references exist: the session directory, router
 * entries, the connection bound to it and cross-worker deliveries each hold one.
 *
 * Every function below marked "owner only" that takes the session asserts it runs on
 * the owner (session_assert_owner). The msg_queue_* and inflight_* functions take a
 * container, not the session: their callers assert, and session_free() runs them on
 * whichever thread drops the last reference, when nobody else can reach the session.
 */
#ifndef PETREL_SESSION_H
#define PETREL_SESSION_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/list.h>

#include "petrel/ptrhash.h"
#include "petrel/worker.h"

struct msg;
struct mqtt_conn;
struct sessdir_entry;
struct wmsg;

#define SESSION_DEAD (-1)

/* One outgoing QoS 1/2 message between PUBLISH and its final ack. */
enum inflight_state {
	INFLIGHT_FREE = 0,
	INFLIGHT_WAIT_PUBACK,    /* QoS 1 sent */
	INFLIGHT_WAIT_PUBREC,    /* QoS 2 sent */
	INFLIGHT_WAIT_PUBCOMP,   /* QoS 2 PUBREC received, PUBREL sent; msg released */
};

struct inflight {
	struct msg *m;           /* NULL once PUBREC arrived */
	uint16_t packet_id;
	uint8_t qos;
	uint8_t state;           /* enum inflight_state */
	bool retain;             /* retain flag as sent (retained-on-subscribe copies) */
	uint64_t msg_id;         /* m's store id while stored (kept after PUBREC) */
};

/* FIFO ring in send order; acks may come out of order, leaving FREE holes that the
 * head skips. */
struct inflight_ring {
	struct inflight *e;
	uint32_t cap;
	uint32_t head;
	uint32_t span;           /* slots from head, holes included */
	uint32_t live;           /* non-FREE entries */
};

struct queued {
	struct msg *m;
	uint8_t qos;             /* delivery QoS, already downgraded */
	bool retain;
};

struct msg_queue {
	struct queued *e;
	uint32_t cap;
	uint32_t head;
	uint32_t len;
	size_t bytes;            /* payload bytes, for max_queued_bytes */
};

/* One of the session's filters, one allocation; s->subs holds them by filter hash. */
struct subscription {
	uint16_t len;
	uint8_t qos;
	char filter[];           /* NUL terminated */
};

/* Laid out for a million on a worker (docs/benchmarks.md, memory per connection):
 * small fields share the words between the pointers, and the client id is stored
 * after the struct in the same allocation. */
struct session {
	/* The session directory's node for it (sessdir.c), NULL while not listed: a
	 * separate allocation, so this header needs no liburcu flavour. */
	struct sessdir_entry *dir_entry;
	atomic_uint refcnt;
	atomic_int owner;                /* worker id or SESSION_DEAD */
	atomic_bool congested;           /* backpressure: queue over max, online */
	/* Bit i: worker i may hold a publisher back on this session. Publishers set it
	 * before re-reading <congested>; the owner clears <congested> before taking the
	 * bits (mqtt/flow.c), so one of the two always sees the other. */
	bool slow;                       /* congested past backpressure_timeout */
	bool slow_disconnect;            /* slow policy disconnect: closing at next timer */
	bool clean;                      /* cleanSession of the last CONNECT */
	bool drop_logged;                /* a queue drop was logged this episode */
	bool listed;                     /* on its owner's sessions list */
	bool subs_limit_logged;          /* max_subscriptions_per_client hit, logged */
	bool sub_packet_logged;          /* max_filters_per_subscribe hit, logged */
	/* Order across a takeover (mqtt/handover.c, MQTT-4.6.0-6). The new owner keeps
	 * <handover_wait> from the handover until the old owner's fence: meanwhile
	 * deliveries that did not come through the old owner, and takeover requests,
	 * wait on the held list in arrival order. */
	bool handover_wait;              /* set by the old owner before the owner store */
	uint16_t client_id_len;
	uint16_t last_packet_id;
	uint32_t awaiting_rel_len;       /* of awaiting_rel */
	uint32_t awaiting_rel_cap;
	/* Store id (persist.h) of a stored session (cleanSession=0, persistence on),
	 * else 0. Written by the owner; read by any worker routing to it (relaxed):
	 * the publisher's worker writes the entry records of its copies. */
	atomic_uint_fast64_t store_id;
	uint64_t offline_since_ms;       /* wall clock of the last disconnect; 0 online */
	/* persistent_client_expiration (mqtt/expiry.c): the owner's list of its offline
	 * cleanSession=0 sessions, oldest first; empty (linked to itself) while not on
	 * it. <offline_mono_ms> is when it went offline on the workers' clock (now_ms). */
	struct cds_list_head offline_link;
	uint64_t offline_mono_ms;
	struct mqtt_conn *conn;          /* NULL while offline */
	struct inflight_ring inflight;
	struct msg_queue queue;
	uint16_t *awaiting_rel;          /* incoming QoS 2 ids, PUBREC sent */
	struct ptrhash subs;             /* struct subscription by filter; subs.n of them */
	struct cds_list_head owner_link; /* owner worker's list of its sessions */
	struct wmsg *held;               /* first held message, or NULL */
	struct wmsg *held_last;
	char client_id[];                /* NUL terminated */
};

/* Creates a session for <client_id> owned by worker <owner>, refcnt 1 (the caller's).
 * Returns NULL on allocation failure. */
struct session *session_create(const char *client_id, size_t len, int owner);

/* The store id of <s> (persist.h), 0 while it is not stored. Any worker (relaxed:
 * a publisher that reads a stale value records its copy under an id the owner then
 * corrects, mqtt/durable.c). */
static inline uint64_t session_store_id(const struct session *s)
{
	return atomic_load_explicit(&s->store_id, memory_order_relaxed);
}

void session_ref(struct session *s);
/* Takes a reference only if the session is still referenced (refcnt > 0): for readers
 * that found it under RCU. Returns false if it is being freed. */
bool session_tryref(struct session *s);
void session_unref(struct session *s);

static inline int session_owner(const struct session *s)
{
	return atomic_load_explicit(&s->owner, memory_order_acquire);
}

/* Owner only: asserts that the calling thread runs the worker owning <s> (see
 * worker_current(): a thread running no worker, such as main at shutdown or a unit
 * test with a session of its own, is not checked). Off with NDEBUG. */
#define session_assert_owner(s)                                                       \
	assert(worker_current() == WORKER_NONE || session_owner(s) == worker_current())

/* Owner only. Drops every queued and inflight message and incoming QoS 2 id, and
 * removes every subscription from <w>'s broker router. The session stays usable.
 * Passes a quiescent state every SESSION_CLEAR_CHUNK filters when the thread is an
 * online urcu-qsbr reader, so the caller must hold no RCU-protected pointer. */
void session_clear(struct worker *w, struct session *s);
/* Drops queued and inflight messages and incoming QoS 2 ids, leaving subscriptions
 * (shutdown: router_destroy releases those in one sweep). Owner only. */
void session_drop_messages(struct session *s);

/* ---- subscriptions (owner only) --------------------------------------------------
 * A hash set by filter: each call is amortised O(1) in the number of filters. */
#define SESSION_CLEAR_CHUNK 1024

/* Records <filter> at <qos>; replaces the QoS of an equal filter. Returns 0 or -ENOMEM. */
int session_sub_add(struct session *s, const char *filter, size_t len, uint8_t qos);
/* Forgets <filter>. Returns 0 or -ENOENT. */
int session_sub_remove(struct session *s, const char *filter, size_t len);
/* The subscription on exactly <filter>, or NULL. */
struct subscription *session_sub_find(const struct session *s, const char *filter,
				      size_t len);
static inline uint32_t session_sub_count(const struct session *s)
{
	return s->subs.n;
}

/* ---- incoming QoS 2 ids (owner only) --------------------------------------------- */
bool session_rel_contains(const struct session *s, uint16_t id);
int session_rel_add(struct session *s, uint16_t id);
void session_rel_remove(struct session *s, uint16_t id);

/* The next packet id for an outgoing PUBLISH: never 0, never one still in flight
 * (MQTT-2.3.1-2). The window must have room (live < 65535). Owner only. */
uint16_t session_next_packet_id(struct session *s);

/* ---- outgoing queue (owner only) ------------------------------------------------- */
/* Appends; takes a reference on <m>. Returns 0 or -ENOMEM. */
int msg_queue_push(struct msg_queue *q, struct msg *m, uint8_t qos, bool retain);
/* Removes the head into <out> (reference passes to the caller). False if empty. */
bool msg_queue_pop(struct msg_queue *q, struct queued *out);
void msg_queue_clear(struct msg_queue *q);

/* ---- inflight window (owner only) ------------------------------------------------ */
/* Appends an entry; returns it, or NULL when <limit> entries are live or on allocation
 * failure. The entry comes back zeroed (INFLIGHT_FREE) but counted live: the caller
 * must set its state before the next inflight_add, or compaction would drop it. */
struct inflight *inflight_add(struct inflight_ring *r, uint32_t limit);
/* Finds the live entry for <packet_id>, or NULL. */
struct inflight *inflight_find(struct inflight_ring *r, uint16_t packet_id);
/* Frees the entry (drops its msg reference) and advances the head past holes. */
void inflight_remove(struct inflight_ring *r, struct inflight *e);
void inflight_clear(struct inflight_ring *r);
/* Iteration in send order over live entries: for (i = 0; i < r->span; i++) with
 * inflight_at(r, i) and skipping INFLIGHT_FREE. */
static inline struct inflight *inflight_at(struct inflight_ring *r, uint32_t i)
{
	return &r->e[(r->head + i) % r->cap];
}

#endif
