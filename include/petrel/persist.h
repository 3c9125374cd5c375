/* persist.h - the workers' side of persistence (DESIGN.md "Persistence"): change
 * records, the one queue that carries them to the control plane, and commit notices
 * back. No LMDB here: the control plane (cplane.h) applies the records to the store
 * (store.h); a worker never touches the disk and never waits for it.
 *
 * What is stored (docs/operations.md states the promise): every cleanSession=0 session
 * by a store id (<sid>, never reused), its subscriptions, its messages (queued or in
 * flight: one entry per (sid, message), with packet id and state once sent), the
 * incoming QoS 2 ids awaiting PUBREL, and every retained message. A message is stored
 * once under its store id (msg->store_id) and referenced by entries and the retained
 * slot; the store deletes it with its last reference. Entries of a session load back in
 * message-id order: ids grow with time (one global counter) so a publisher's messages
 * keep their order.
 *
 * Ordering. Every worker appends records to its open batch; a batch is pushed onto the
 * single MPSC queue (liburcu wfcqueue) at the end of the loop turn AND before the worker
 * posts anything to another worker (worker_post calls persist_push_current), so a record
 * that another worker's record depends on (an entry added by the publisher's worker,
 * deleted later by the subscriber's owner on PUBACK) is always ahead of it in the queue.
 * The control plane applies batches in queue order.
 *
 * Commit notices. Batch numbers (<seq>) count up from 1 per worker. The control plane
 * stores, per worker, the highest seq whose records are committed (and synced, with
 * persistence_sync always) in persist_worker.committed and wakes the worker; the worker
 * reads it once per turn (persist_turn) and tells the engine (engine_ops.committed),
 * which then sends the output it held behind a fence (acks, QoS 2 PUBLISH/PUBREL).
 *
 * With persistence off, broker->persist is NULL, w->persist is NULL, every persist_*
 * call below returns at once (0) and nothing is allocated. */
#ifndef PETREL_PERSIST_H
#define PETREL_PERSIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/wfcqueue.h>

#include "petrel/compiler.h"

struct broker;
struct msg;
struct session;
struct worker;

enum persist_rec_type {
	PREC_SESSION_PUT = 1, /* sid, str = client id, time_ms = offline since (0 = online);
			       * creates or updates the session record */
	PREC_SESSION_DEL,     /* sid: the session, its subscriptions, entries, rel ids */
	PREC_SUB_PUT,         /* sid, str = filter, qos (replaces an equal filter's) */
	PREC_SUB_DEL,         /* sid, str = filter */
	PREC_ENTRY_PUT,       /* sid, m, qos (delivery QoS), retain: a queued message;
			       * ignored if the session is gone or the entry exists */
	PREC_ENTRY_STATE,     /* sid, msg_id, packet_id, state (enum inflight_state) */
	PREC_ENTRY_DEL,       /* sid, msg_id */
	PREC_REL_PUT,         /* sid, packet_id: incoming QoS 2 id, PUBREC to be sent */
	PREC_REL_DEL,         /* sid, packet_id */
	PREC_RETAIN_PUT,      /* m: the retained message of m->topic */
	PREC_RETAIN_DEL,      /* str = topic */
};

/* One record. Strings live in the batch's arena (<str_off>, <str_len>, no NUL). */
struct persist_rec {
	uint8_t type;         /* enum persist_rec_type */
	uint8_t qos;
	uint8_t state;
	bool retain;
	uint16_t packet_id;
	uint32_t str_len;
	uint32_t str_off;
	uint64_t sid;
	uint64_t msg_id;      /* m->store_id for records with <m>; else the entry's */
	uint64_t time_ms;     /* wall clock (CLOCK_REALTIME), ms */
	struct msg *m;        /* ENTRY_PUT, RETAIN_PUT: reference held by the batch */
};

/* A worker's records of (part of) one loop turn, in order. */
struct persist_batch {
	struct cds_wfcq_node node;
	unsigned worker;
	uint64_t seq;
	uint32_t n;
	uint32_t cap;
	struct persist_rec *recs;
	char *arena;
	size_t arena_len;
	size_t arena_cap;
	size_t bytes;         /* what the batch holds, for the pending-bytes count */
};

/* Process-wide: the queue into the control plane (broker->persist). */
struct persist {
	struct cds_wfcq_tail tail cache_aligned;  /* pushed by every worker */
	atomic_int cplane_sleeping;
	int wake_fd;                              /* eventfd the control plane waits on */
	atomic_size_t pending_bytes;              /* pushed, not yet applied */
	atomic_uint_fast64_t next_sid;            /* store ids: next to hand out */
	atomic_uint_fast64_t next_msg_id;
	struct cds_wfcq_head head cache_aligned;  /* the control plane's */
};

/* Per worker (w->persist). */
struct persist_worker {
	/* Written by the control plane: the highest batch seq committed (per policy). */
	atomic_uint_fast64_t committed cache_aligned;
	/* The worker's own. */
	struct persist *p;
	/* NULL until a record is appended; handed whole to the queue by persist_push, so
	 * a push never allocates and cannot fail (a worker never sleeps on records it
	 * could not push). */
	struct persist_batch *open;
	const struct msg *last_m;     /* the open batch counted this message's bytes */
	uint64_t next_seq;            /* the seq the open batch has or will get */
	uint64_t last_seq;            /* seq of the last record appended (0 = none yet) */
	uint64_t seen;                /* committed as last told to the engine */
};

/* Main thread, before workers start. persist_create: the queue and its eventfd, ids
 * counting on from the loaded store's highest (store_load_stats.max_sid/max_msg_id).
 * Returns 0 or -errno. persist_destroy: after the control plane stopped; frees batches
 * still queued (none after an orderly stop). */
int persist_create(struct persist **out, uint64_t max_sid, uint64_t max_msg_id);
void persist_destroy(struct persist *p);
/* <w>'s side (w->persist), batch seqs from 1. Main thread, before <w> runs. 0 or
 * -ENOMEM. persist_worker_destroy: frees it with any open batch (worker_destroy calls
 * it, after the control plane stopped: it writes <committed> and wakes <w>). */
int persist_worker_create(struct worker *w, struct persist *p);
void persist_worker_destroy(struct worker *w);
/* Sets b->persist = <p> and gives every worker of <b> its side. broker_init() zeroes
 * <b> and creates the workers before the store is loaded (mqtt_restore needs them),
 * while persist_create needs the loaded ids: so main calls this after both, before
 * the workers start. Main thread. Returns 0, or -ENOMEM with nothing attached. */
int persist_attach(struct broker *b, struct persist *p);

/* A new session store id. Any thread. */
uint64_t persist_new_sid(struct persist *p);
/* m->store_id, giving <m> one if it has none (compare-and-swap: any thread, one
 * winner). 0 when persistence is off. */
uint64_t persist_msg_id(struct worker *w, struct msg *m);

/* Record appenders, <w>'s thread. Each returns 0, or -ENOMEM (nothing appended,
 * counted in persist_oom: the caller must not acknowledge what depended on it). */
int persist_session_put(struct worker *w, uint64_t sid, const char *client_id, size_t len,
			uint64_t offline_since_ms);
int persist_session_del(struct worker *w, uint64_t sid);
int persist_sub_put(struct worker *w, uint64_t sid, const char *filter, size_t len,
		    uint8_t qos);
int persist_sub_del(struct worker *w, uint64_t sid, const char *filter, size_t len);
int persist_entry_put(struct worker *w, uint64_t sid, struct msg *m, uint8_t qos,
		      bool retain);
int persist_entry_state(struct worker *w, uint64_t sid, uint64_t msg_id, uint16_t packet_id,
			uint8_t state);
int persist_entry_del(struct worker *w, uint64_t sid, uint64_t msg_id);
int persist_rel_put(struct worker *w, uint64_t sid, uint16_t packet_id);
int persist_rel_del(struct worker *w, uint64_t sid, uint16_t packet_id);
int persist_retain_put(struct worker *w, struct msg *m);
int persist_retain_del(struct worker *w, const char *topic, size_t len);

/* The seq a fence placed now must wait for: that of the last record <w> appended
 * (0 when none, or persistence off). */
uint64_t persist_last_seq(const struct worker *w);
/* True once batch <seq> of <w> is committed (per policy); true for seq 0. */
bool persist_is_committed(struct worker *w, uint64_t seq);

/* Pushes <w>'s open batch onto the queue and wakes the control plane if it sleeps.
 * Nothing to do when no batch is open. <w>'s thread. */
void persist_push(struct worker *w);
/* The same for the calling thread's current worker, if any (worker_post). */
void persist_push_current(struct broker *b);
/* Once per loop turn, before the engine's turn_end: if the control plane committed
 * more since the last call, calls w->eops->committed(w, committed). */
void persist_turn(struct worker *w);
/* True when the control plane committed more than persist_turn last told the engine:
 * the worker loop asks it before it sleeps and again after it advertised <sleeping>
 * (the control plane stores <committed>, then exchanges <sleeping>: seq_cst both). */
bool persist_notice_pending(struct worker *w);

/* Control plane: takes every batch queued now, in order, into <out> (malloc'd array
 * of up to <max>). Returns how many. */
size_t persist_take(struct persist *p, struct persist_batch **out, size_t max);
/* Frees <b> (drops its msg references). Any thread. */
void persist_batch_free(struct persist_batch *b);

/* Counters (stats.h names them): persist_records appended, persist_batches pushed,
 * persist_oom records lost to ENOMEM. Per worker in worker_stats. */

#endif
