/* admin.h - requests from the control plane to the workers (issue 9): what a control
 * command needs that only a worker may read or change (its sessions, connections,
 * the retained store through the engine's own path, its configuration).
 *
 * The rule of DESIGN.md holds: state has one owning thread. The control plane never
 * touches a session or a connection; it posts an admin_msg to a worker's inbound
 * queue (worker_post), the worker's engine acts on it in its next turn and hands it
 * back with admin_reply(), which queues it for the control plane and wakes it. The
 * control plane gathers the answers of one admin_call (one message per worker asked)
 * and calls the call's done function once, when every worker answered or the call
 * timed out (control_request_timeout). A late answer is freed when it arrives.
 *
 *   control plane                       worker k (engine: dataplane/mqtt/admin.c)
 *   admin_call_new(op, args) ----post----> handle: reads m->args, sets m->status,
 *   admin_call_send(all | one)               m->result (a json_t it built), then
 *        ... epoll: reply eventfd <--------- admin_reply(m)
 *   admin_call_collect() -> done(call) once
 *
 * JSON (jansson) crosses threads only by hand-over: each message gets its own deep
 * copy of the arguments, and the worker's result belongs to the control plane once
 * admin_reply() returned. main calls json_object_seed() before any thread starts.
 */
#ifndef PETREL_ADMIN_H
#define PETREL_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <urcu/wfcqueue.h>

#include "petrel/worker.h"

/* The engine's wmsg.type of an admin_msg: a value no engine message kind uses
 * (engine_int.h's enum stays below it). */
#define WMSG_TYPE_ADMIN 64

enum admin_op {
	/* Every worker. args {"pattern": glob or absent, "limit": n (0 = all)}.
	 * result {"total": sessions matched, "clients": [CLIENT...]} at most limit,
	 * CLIENT = {"client", "worker", "connected", "address" (or null), "protocol"
	 * ("3.1"/"3.1.1"), "clean", "keepalive", "connected_since" / "offline_since"
	 * (unix seconds or null), "subscriptions", "inflight", "queued"}. */
	ADMIN_CLIENTS,
	/* Every worker; only the owner answers 0, the others -ENOENT.
	 * args {"client"}. result = CLIENT plus "subscriptions_list": [{"filter",
	 * "qos"}], "awaiting_pubrel": n, "queued_bytes": n. */
	ADMIN_SESSION_SHOW,
	/* Every worker. args {"filter": topic filter or absent, "limit"}. A
	 * subscription is listed when its filter is matched by args.filter read as a
	 * filter over filters ('+' one level, '#' the rest), so "sensors/#" lists every
	 * subscription under sensors/. result {"total", "subscriptions": [{"client",
	 * "filter", "qos"}]}. */
	ADMIN_SUBSCRIPTIONS,
	/* Every worker; the owner of a connected session closes its connection as a
	 * network failure would (the will goes out, MQTT-3.1.2-8) and answers 0; an
	 * owner of an offline one -ENOTCONN; the others -ENOENT. args {"client"}. */
	ADMIN_KICK,
	/* Worker 0 only. args {"filter" (default "#"), "limit"}. result {"total",
	 * "retained": [{"topic", "qos", "bytes", "payload": text or null (not UTF-8)}]}. */
	ADMIN_RETAINED_LIST,
	/* Worker 0 only. args {"topic"}: deletes the retained message of the topic as a
	 * zero-length retained PUBLISH would (persisted), without delivering anything.
	 * 0, or -ENOENT when none was stored. */
	ADMIN_RETAINED_DELETE,
	/* Every worker. m->ptr is a struct config_ref * with one reference for this
	 * worker (worker_set_config takes it). No args, no result. */
	ADMIN_CONFIG,
	/* Worker 0 only. args {"messages": [{"topic", "payload"}]}: each is published as
	 * a retained QoS 0 message from the broker itself ($SYS may be written here and
	 * only here), delivered to current subscribers and kept in the retained store,
	 * never in the persistent store. */
	ADMIN_SYS_PUBLISH,
};

struct admin_call;   /* control/admin_call.c */

/* One worker's part of a call. */
struct admin_msg {
	struct wmsg h;                 /* h.type = WMSG_TYPE_ADMIN */
	struct cds_wfcq_node reply_node;
	struct admin_call *call;
	enum admin_op op;
	unsigned worker;               /* the worker it was posted to */
	json_t *args;                  /* this message's own copy; the worker only reads it */
	void *ptr;                     /* ADMIN_CONFIG: struct config_ref * */
	/* The worker's answer. */
	int status;                    /* 0 or -errno (-ENOENT: not mine) */
	json_t *result;                /* owned; NULL for none */
};

/* Worker side (any thread): <m>'s status and result are set; hands it back to the
 * control plane. Also the engine's discard path at shutdown (status -ECANCELED). */
void admin_reply(struct admin_msg *m);

/* ---- control plane side (control/admin_call.c) ------------------------------------- */

struct cplane;
typedef void admin_done_fn(struct admin_call *call, void *arg);

/* A call of <op> with <args> (the call takes the reference; NULL = {}). <done> runs
 * on the control plane's thread once every worker sent has answered or the call
 * timed out. Returns NULL when out of memory. Control plane thread. */
struct admin_call *admin_call_new(struct cplane *cp, enum admin_op op, json_t *args,
				  admin_done_fn *done, void *arg);
/* Posts one message to worker <worker>, or to every worker when <worker> < 0.
 * <ptr_for> (may be NULL) gives each message its ptr. Then the call is in flight:
 * the caller keeps no pointer to it past <done>. */
void admin_call_send(struct admin_call *call, int worker,
		     void *(*ptr_for)(unsigned worker, void *arg));

/* Inside <done>: the answers, one per worker sent (in worker order), and whether the
 * call timed out (then some have status -ETIMEDOUT and result NULL). */
unsigned admin_call_count(const struct admin_call *call);
const struct admin_msg *admin_call_reply(const struct admin_call *call, unsigned i);
bool admin_call_timed_out(const struct admin_call *call);

#endif
