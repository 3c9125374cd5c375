/* proto_int.h - private to the MQTT engine (the files of dataplane/mqtt): the connection
 * object and the functions the packet handlers share. A connection belongs to one
 * worker and is touched only by it. */
#ifndef PETREL_PROTO_INT_H
#define PETREL_PROTO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/list.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/mqtt.h"
#include "petrel/outq.h"
#include "petrel/proto.h"
#include "petrel/timer.h"
#include "petrel/transport.h"
#include "petrel/worker.h"
#include "mqtt/engine_int.h"

struct msg;
struct session;

enum conn_state {
	CONN_NEW,              /* accepted, waiting for CONNECT */
	CONN_TAKEOVER,         /* CONNECT parsed, waiting for another worker's session */
	CONN_ACTIVE,           /* CONNACK 0 sent */
	CONN_CLOSED,           /* closed; freed at the end of the loop turn */
};

/* Why a connection ends; decides the will and the counter. */
enum close_reason {
	CLOSE_DISCONNECT,      /* client sent DISCONNECT: no will (MQTT-3.14.4-3) */
	CLOSE_PEER,            /* peer closed or the socket failed */
	CLOSE_PROTOCOL,        /* malformed or illegal packet */
	CLOSE_KEEPALIVE,
	CLOSE_CONNECT_TIMEOUT,
	CLOSE_REFUSED,         /* CONNACK with an error code */
	CLOSE_TAKEOVER,        /* another connection took the client id */
	CLOSE_SHUTDOWN,        /* broker stopping: no will */
	CLOSE_NO_MEMORY,
	CLOSE_SLOW,            /* slow_subscriber_policy disconnect */
	CLOSE_OUTPUT_FULL,     /* unreleased control bytes over max_outgoing_control_bytes */
	CLOSE_KICKED,          /* the operator's kick (admin.h): as a lost connection, the
	                          will goes out */
};

/* Output that must not go out before change records are committed (fence.c): the
 * bytes from stream position <pos> on wait until batch <seq> of the connection's
 * worker is committed. Positions count every byte ever queued on the connection
 * (out_released + out.bytes is the end of the stream), so releases move nothing. */
struct conn_fence {
	uint64_t pos;
	uint64_t seq;
};

/* CONNECT fields kept while a takeover is in progress. */
struct pending_connect {
	bool clean;
};

/* Laid out for a million on a worker (docs/benchmarks.md, memory per connection):
 * the flags are bits and the small fields share the words after the pointers, so an
 * idle connection costs 368 bytes here (a 384-byte malloc chunk). */
struct mqtt_conn {
	struct worker *w;
	struct transport_conn *tc;
	struct session *s;             /* reference held; NULL until CONNACK 0 */
	enum conn_state state;
	uint8_t protocol_level;
	struct pending_connect pending;
	uint16_t keep_alive;
	bool read_paused : 1;          /* transport stopped: takeover, or held input full */
	bool in_dirty : 1;
	bool in_paused : 1;            /* held back by backpressure (on its worker's paused list) */
	bool freed_by_takeover : 1;    /* closed while a takeover was pending */
	bool takeover_pending : 1;     /* a WMSG_TAKEOVER_REQ is out: keep memory */
	bool counted : 1;              /* holds a max_connections slot */
	bool in_fenced : 1;            /* on its worker's fenced list */
	bool parked : 1;               /* not read: fenced bytes over persistence_max_parked_bytes */
	bool persist_held : 1;         /* held back: persistence_max_pending_bytes */
	bool sys_denied_logged : 1;    /* a PUBLISH to $SYS was refused and logged */
	uint8_t nfences;               /* fence[0] open first; later ones coalesce into [1] */
	/* Partial packet sizes: at most the largest packet (256 MiB) plus its header. */
	uint32_t in_len;
	uint32_t in_cap;
	/* Held packets: max_held_input_bytes (at most 1 GiB) plus one packet, doubled. */
	uint32_t held_off;
	uint32_t held_len;
	uint32_t held_cap;
	struct conn_fence fence[2];
	uint64_t out_released;         /* stream bytes released by the transport so far */
	struct msg *will;              /* reference; NULL if none */
	struct session *blocked_on;    /* backpressure: reference; NULL if none */
	struct worker *blocked_worker; /* its inbound queue was full; NULL if none */
	uint64_t last_rx_ms;           /* last whole packet decoded (MQTT-3.1.2-24) */
	uint64_t connected_since_ms;   /* wall clock of its CONNACK 0; 0 before */
	uint64_t qos0_drop_ms;         /* last drop_qos0_slow: episodes are runs of them */
	struct timer timer;            /* connect timeout, then keep-alive */
	struct timer flow_timer;       /* as a subscriber: backpressure_timeout (flow.c) */
	uint8_t *in;                   /* the start of a partial packet, nothing more */
	/* While held back: whole PUBLISH/SUBSCRIBE/UNSUBSCRIBE packets, in arrival
	 * order, replayed on resume; [held_off, held_len) is still to do. */
	uint8_t *held;
	struct outq out;               /* output stream = send buffer (proto_out_*) */
	struct cds_list_head link;         /* mqtt_worker->conns */
	struct cds_list_head dirty_link;   /* mqtt_worker->dirty */
	struct cds_list_head paused_link;  /* mqtt_worker->paused */
	struct cds_list_head grave_link;   /* mqtt_worker->graveyard */
	struct cds_list_head fenced_link;  /* mqtt_worker->fenced */
};

static inline const struct config *conn_cfg(const struct mqtt_conn *c)
{
	return c->w->cfg;
}

/* proto.c */
void conn_close(struct mqtt_conn *c, enum close_reason why);
/* Queues a packet and marks the connection for flushing. Returns 0 or -ENOMEM. */
int conn_send(struct mqtt_conn *c, const void *pkt, size_t len);
void conn_mark_dirty(struct mqtt_conn *c);
/* Hands new output to the transport (transport_ops.output); closes the connection
 * if the transport reports it broken. The engine's end of turn, for marked ones. */
void conn_output(struct mqtt_conn *c);
void conn_pause_read(struct mqtt_conn *c, bool paused);
/* Processes buffered input (after a pause or a takeover). */
void conn_resume_input(struct mqtt_conn *c);
void conn_free(struct mqtt_conn *c);

/* connect.c */
int handle_connect(struct mqtt_conn *c, const struct mqtt_connect *p);
void takeover_request(struct worker *w, struct wmsg_takeover *t);
void takeover_done(struct worker *w, struct wmsg_takeover *t);
/* Shutdown, every worker stopped: releases what <t> holds without acting on it. */
void takeover_discard(struct wmsg_takeover *t);
/* Unbinds <c> from its session and ends the session if it was a clean one. */
void conn_detach_session(struct mqtt_conn *c);
/* Ends <s>, owned by <w> and offline: out of the directory and the router, its
 * messages dropped, owner SESSION_DEAD (a clean session's disconnect, expiry). The
 * caller holds no RCU-protected pointer (session_clear). */
void session_end_owned(struct worker *w, struct session *s);
void conn_arm_keepalive(struct mqtt_conn *c);

/* handover.c: order across a takeover (MQTT-4.6.0-6); every call on the owner's
 * worker unless said otherwise. */
/* Old owner <w> stores worker <to> as <s>'s owner and starts the order fence. */
void handover_session(struct worker *w, struct session *s, unsigned to);
/* While <s> waits for its fence: sets <m> at <qos> aside (or drops it, counted, without
 * memory) and returns true. Otherwise returns false: deliver now. */
bool handover_hold(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
		   bool held, uint64_t rec_sid);
/* While <s> waits for its fence: keeps takeover request <t> until then, returns true. */
bool handover_park(struct worker *w, struct session *s, struct wmsg_takeover *t);
void handover_drained(struct worker *w, struct wmsg_handover *h);
void handover_fence(struct worker *w, struct wmsg_handover *h);
/* <s> was cleared for a cleanSession=1 CONNECT: drops the deliveries it held. */
void handover_cleared(struct session *s);
/* <s> just ended (owner SESSION_DEAD): handles what it held. */
void handover_ended(struct worker *w, struct session *s);
/* Shutdown, every worker stopped: releases <h> or what <s> holds, acting on nothing. */
void handover_discard(struct wmsg_handover *h);
void handover_discard_held(struct session *s);

/* publish.c */
int handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p);
/* Routes <m> to every matching subscriber, storing it first if retained, and appends
 * the change records of every copy for a stored session (ENTRY_PUT) and of the
 * retained slot. <from> is the publishing connection (for backpressure) or NULL
 * (will). Worker thread, RCU online. Returns 0, or -ENOMEM if a record could not be
 * appended: the publisher must not be acknowledged (the copies went out regardless). */
int broker_route(struct worker *w, struct msg *m, struct mqtt_conn *from);
/* Delivers <m> to <s>, owned by <w>, at <qos> (already downgraded); a copy for a
 * stored session gets its ENTRY_PUT here. */
void session_deliver(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
		     bool retain);
/* The same, telling whether the publisher of <m> is held back while <s> is congested
 * (<held>): only then may the queue go over its limit, boundedly. <rec_sid>: the store
 * id under which this copy's ENTRY_PUT was already appended (0 = none). */
void session_deliver_held(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
			  bool retain, bool held, uint64_t rec_sid);
/* Delivers a retained copy of <m> to <s> because of a SUBSCRIBE (MQTT-3.3.1-6),
 * within the session's queue limits like any other message. */
void session_deliver_retained(struct worker *w, struct session *s, struct msg *m,
			      uint8_t qos);
/* A message from the broker itself ($SYS, admin.h ADMIN_SYS_PUBLISH): <m> (retained,
 * QoS 0) replaces the retained slot of its topic with no change record, and goes to
 * the subscribers of the moment as broker_route sends a will. Returns 0 or -ENOMEM
 * (not retained; delivered regardless). */
int broker_route_sys(struct worker *w, struct msg *m);
void deliver_batch(struct worker *w, struct wmsg_deliver *d);
/* Shutdown, every worker stopped: releases what <d> holds without delivering. */
void deliver_discard(struct wmsg_deliver *d);
/* Flushes the fan-out batches built by broker_route to the other workers. */
void fanout_flush(struct worker *w, struct msg *m, struct mqtt_conn *from);

/* qos.c */
int handle_puback(struct mqtt_conn *c, uint16_t id);
int handle_pubrec(struct mqtt_conn *c, uint16_t id);
int handle_pubrel(struct mqtt_conn *c, uint16_t id);
int handle_pubcomp(struct mqtt_conn *c, uint16_t id);
/* Moves queued messages into the inflight window while it and the output allow. */
void session_pump(struct worker *w, struct session *s);
/* Sends <m> now in a new inflight slot. Returns 0, or -ENOSPC when the window or the
 * output is full (the caller queues it), -ENOMEM. */
int session_send_new(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
		     bool retain);
/* Re-sends inflight PUBLISH (DUP) and PUBREL on resume (MQTT-4.4.0-1). */
void session_resend(struct worker *w, struct session *s);
/* Queues an ack packet; one that waits for change records has its fence placed
 * before (fence_after). Returns 0, or -1 with the connection closed. */
int send_ack(struct mqtt_conn *c, enum mqtt_type type, uint16_t id);

/* flow.c: congestion episodes, slow sessions, held-back publishers */
void flow_conn_init(struct mqtt_conn *c);
/* <s> (online, owned by <w>) went over its queue limit: congested, timer armed. */
void flow_congest(struct worker *w, struct session *s);
/* Slow policy disconnect: closes <s>'s connection from its timer, this loop turn. */
void flow_slow_disconnect(struct worker *w, struct session *s);
/* <s>'s queue shrank: ends congestion or slowness once it is at most half full. */
void flow_drained(struct worker *w, struct session *s);
/* <s> goes offline, is taken over or ends: its episode ends, publishers resume. */
void flow_session_offline(struct worker *w, struct session *s);
/* Holds <c> back on c->blocked_on (set by route_one, reference held). */
void flow_hold_publisher(struct mqtt_conn *c);
/* Takes <c> off the paused list and drops its blocked_on reference. */
void flow_unhold(struct mqtt_conn *c);
/* Resumes held-back publishers whose session is no longer congested, when told to. */
void flow_check_paused(struct worker *w);
/* Fan-out to <dst> is about to post <n> deliveries. Returns true if <dst>'s inbound
 * queue is over max_worker_inbound (an episode starts, logged once). Any worker. */
bool flow_worker_full(struct worker *w, struct worker *dst);
/* <w> took <n> counted deliveries off its inbound queue; ends a full episode once
 * under half the limit, telling the workers holding publishers back. */
void flow_worker_taken(struct worker *w, uint32_t n);

/* durable.c: the change records of sessions and copies (persist.h). A session is
 * stored while its store id is not 0 (cleanSession=0 with persistence on). */
static inline bool durable_on(const struct worker *w)
{
	return w->persist != NULL;
}

/* Records <w> appended so far: an action that changes it appended some, and its
 * acknowledgement waits behind a fence (fence_after). */
static inline uint64_t durable_mark(const struct worker *w)
{
	return mqtt_worker(w)->appended;
}

/* Counts a successful append (<rc> is a persist_* result, passed through). */
static inline int durable_note(struct worker *w, int rc)
{
	if (rc == 0)
		mqtt_worker(w)->appended++;
	return rc;
}

/* Wall clock (CLOCK_REALTIME) in ms: offline_since_ms survives a restart. */
uint64_t durable_wall_ms(void);
/* <s> (clean=0, owned by <w>) goes online on a CONNECT: a store id if it has none,
 * SESSION_PUT. Returns 0 or -ENOMEM (the CONNECT is not acknowledged). */
int durable_session_online(struct worker *w, struct session *s);
/* cleanSession=1 discards stored <s>: SESSION_DEL, store id 0. Returns 0 or -ENOMEM
 * (nothing changed). */
int durable_session_discard(struct worker *w, struct session *s);
/* <s> (clean=0) goes offline now: offline_since_ms, SESSION_PUT with it. */
void durable_session_offline(struct worker *w, struct session *s);
/* ENTRY_PUT of a copy of <m> for the session stored under <sid>. Returns 0 or
 * -ENOMEM. */
int durable_copy_put(struct worker *w, uint64_t sid, struct msg *m, uint8_t qos,
		     bool retain);
/* A copy recorded under <sid> (not 0) was dropped: ENTRY_DEL. */
void durable_copy_drop(struct worker *w, uint64_t sid, const struct msg *m);
/* The retained slot of m->topic changes (broker_route): RETAIN_PUT or RETAIN_DEL
 * appended and pushed under the retained store's writer lock. Sets *failed on ENOMEM
 * (the change is then not made). */
int durable_retain_set(struct worker *w, struct msg *m, bool *failed);
/* Deletes the retained message of <topic> as a zero-length retained PUBLISH would
 * (RETAIN_DEL appended), delivering nothing. Returns 0, -ENOENT when none was stored,
 * or -ENOMEM (nothing changed). */
int durable_retain_delete(struct worker *w, const char *topic, size_t len);

/* fence.c: output held until change records are committed (persist.h) */
/* Bytes of <c>'s output the transport may see: those before the first fence. */
size_t fence_out_len(const struct mqtt_conn *c);
/* If <c>'s worker appended change records since <mark> (durable_mark) that are not
 * committed yet, output queued on <c> from now on waits for them. */
void fence_after(struct mqtt_conn *c, uint64_t mark);
/* After a packet of <c> was handled: stops reading <c> while its fenced bytes are
 * over persistence_max_parked_bytes (resumed under half, by fence_committed). */
void fence_check_parked(struct mqtt_conn *c);
/* engine_ops.committed: opens the fences of <w>'s connections up to batch <seq>. */
void fence_committed(struct worker *w, uint64_t seq);
/* <c> closed: off the fenced list; its fenced bytes never go out. */
void fence_conn_closed(struct mqtt_conn *c);
/* persistence_max_pending_bytes: true while the records pushed and not yet applied
 * are over the limit (<resume>: at or over half of it, the resume threshold). */
bool fence_pending_over(const struct worker *w, bool resume);
/* <c> is held back for pending bytes (flow_hold_publisher): counts it, logs the
 * episode once, and looks at the pending bytes every tick until they drop. */
void fence_pending_hold(struct mqtt_conn *c);
/* Engine attach: the fenced list and the pending timer (the wheel's fini cancels it). */
void fence_worker_init(struct worker *w);

/* subscribe.c */
int handle_subscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l);
int handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l);

/* will.c */
/* Builds the will message of a CONNECT, or NULL with *err set. */
struct msg *will_from_connect(const struct mqtt_connect *p, int *err);
void will_publish(struct mqtt_conn *c);

#endif
