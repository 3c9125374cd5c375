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
};

/* CONNECT fields kept while a takeover is in progress. */
struct pending_connect {
	bool clean;
};

struct mqtt_conn {
	struct worker *w;
	struct transport_conn *tc;
	struct session *s;             /* reference held; NULL until CONNACK 0 */
	enum conn_state state;
	uint8_t protocol_level;
	uint16_t keep_alive;
	bool read_paused;              /* backpressure: input held back */
	bool want_write;
	bool in_dirty;
	bool in_paused;
	bool freed_by_takeover;        /* closed while a takeover was pending */
	bool takeover_pending;         /* a WMSG_TAKEOVER_REQ is out: keep memory */
	bool counted;                  /* holds a max_connections slot */
	struct msg *will;              /* reference; NULL if none */
	struct session *blocked_on;    /* backpressure: reference; NULL if none */
	struct pending_connect pending;
	uint64_t last_rx_ms;
	struct timer timer;            /* connect timeout, then keep-alive */
	uint8_t *in;                   /* bytes not yet consumed (partial packet) */
	size_t in_len;
	size_t in_cap;
	struct outq out;
	struct cds_list_head link;         /* worker->conns */
	struct cds_list_head dirty_link;   /* worker->dirty */
	struct cds_list_head paused_link;  /* worker->paused */
	struct cds_list_head grave_link;   /* worker->graveyard */
};

static inline const struct config *conn_cfg(const struct mqtt_conn *c)
{
	return &c->w->broker->cfg;
}

/* proto.c */
void conn_close(struct mqtt_conn *c, enum close_reason why);
/* Queues a packet and marks the connection for flushing. Returns 0 or -ENOMEM. */
int conn_send(struct mqtt_conn *c, const void *pkt, size_t len);
void conn_mark_dirty(struct mqtt_conn *c);
/* Writes pending output now. Returns 0, or -1 if the connection was closed. */
int conn_flush(struct mqtt_conn *c);
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
void conn_arm_keepalive(struct mqtt_conn *c);

/* publish.c */
int handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p);
/* Routes <m> to every matching subscriber, storing it first if retained. <from> is the
 * publishing connection (for backpressure) or NULL (will). Worker thread, RCU online. */
void broker_route(struct worker *w, struct msg *m, struct mqtt_conn *from);
/* Delivers <m> to <s>, owned by <w>, at <qos> (already downgraded). */
void session_deliver(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
		     bool retain);
/* Delivers a retained copy of <m> to <s> because of a SUBSCRIBE (MQTT-3.3.1-6),
 * within the session's queue limits like any other message. */
void session_deliver_retained(struct worker *w, struct session *s, struct msg *m,
			      uint8_t qos);
void deliver_batch(struct worker *w, struct wmsg_deliver *d);
/* Shutdown, every worker stopped: releases what <d> holds without delivering. */
void deliver_discard(struct wmsg_deliver *d);
/* Flushes the fan-out batches built by broker_route to the other workers. */
void fanout_flush(struct worker *w, struct msg *m);

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
/* Sends an ack packet to the publisher; the one place persistence will hook into. */
int send_ack(struct mqtt_conn *c, enum mqtt_type type, uint16_t id);

/* subscribe.c */
int handle_subscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l);
int handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l);

/* will.c */
/* Builds the will message of a CONNECT, or NULL with *err set. */
struct msg *will_from_connect(const struct mqtt_connect *p, int *err);
void will_publish(struct mqtt_conn *c);

#endif
