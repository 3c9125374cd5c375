/* qos.c - the QoS 1 and 2 state machines of MQTT 3.1.1 section 4.3, both legs:
 *
 *   broker -> subscriber (the session's inflight window):
 *     QoS 1: PUBLISH -> [WAIT_PUBACK] -PUBACK-> done
 *     QoS 2: PUBLISH -> [WAIT_PUBREC] -PUBREC-> send PUBREL -> [WAIT_PUBCOMP] -PUBCOMP-> done
 *     On resume (cleanSession=0) WAIT_PUBACK/WAIT_PUBREC re-send the PUBLISH with DUP=1
 *     and the same packet id, WAIT_PUBCOMP re-sends the PUBREL (MQTT-4.4.0-1).
 *
 *   publisher -> broker: QoS 1 answered by PUBACK, QoS 2 by PUBREC with the id kept in
 *   awaiting_rel until PUBREL, answered by PUBCOMP (see publish.c for method B).
 *
 * Packet ids are per session, never 0, never one still in flight (MQTT-2.3.1-2).
 *
 * A stored session (persist.h) records each step: ENTRY_STATE with the packet id when
 * a message enters the window, ENTRY_STATE WAIT_PUBCOMP on PUBREC, ENTRY_DEL on PUBACK
 * and PUBCOMP; a stored publisher's id awaiting PUBREL goes with REL_DEL. What must
 * not reach the client before its record is committed waits behind a fence (fence.c):
 * a QoS 2 PUBLISH (after a crash it is re-sent under the same id, never as a new
 * message), the PUBREL, and the PUBCOMP (the id is free for the client's next
 * message once it has it). A QoS 1 PUBLISH goes at once: a duplicate after a crash is
 * QoS 1's promise anyway.
 */
#include <errno.h>

#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

int send_ack(struct mqtt_conn *c, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];

	worker_assert_current(c->w);
	if (conn_send(c, buf, mqtt_encode_ack(buf, type, id)) < 0) {
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	return 0;
}

static uint32_t inflight_limit(const struct worker *w)
{
	return w->cfg->max_inflight_messages;
}

int session_send_new(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
		     bool retain)
{
	struct mqtt_conn *c = s->conn;
	uint64_t sid = durable_on(w) ? session_store_id(s) : 0;
	uint64_t msg_id = 0;
	struct inflight *e;
	uint8_t state;
	uint16_t id;

	engine_assert_owner(w, s);
	if (c->out.bytes > w->cfg->max_outgoing_bytes)
		return -ENOSPC;
	if (qos == 0) {
		/* A QoS 0 message that waited in the queue (queue_qos0_messages). */
		if (outq_push_publish(&c->out, m, 0, false, retain, 0) < 0)
			return -ENOMEM;
		w->stats.publish_out++;
		w->stats.packets_out++;
		conn_mark_dirty(c);
		return 0;
	}
	if (s->inflight.live >= inflight_limit(w))
		return -ENOSPC;
	id = session_next_packet_id(s);
	e = inflight_add(&s->inflight, inflight_limit(w));
	if (e == NULL)
		return -ENOMEM;
	state = qos == 1 ? INFLIGHT_WAIT_PUBACK : INFLIGHT_WAIT_PUBREC;
	if (sid != 0) {
		uint64_t mark = durable_mark(w);

		msg_id = persist_msg_id(w, m);
		if (durable_note(w, persist_entry_state(w, sid, msg_id, id, state)) < 0) {
			/* It stays queued; the next pump tries again. */
			inflight_remove(&s->inflight, e);
			return -ENOMEM;
		}
		if (qos == 2)
			fence_after(c, mark);
	}
	if (outq_push_publish(&c->out, m, qos, false, retain, id) < 0) {
		inflight_remove(&s->inflight, e);
		return -ENOMEM;
	}
	e->m = msg_ref(m);
	e->packet_id = id;
	e->qos = qos;
	e->retain = retain;
	e->state = state;
	e->msg_id = msg_id;
	w->stats.publish_out++;
	w->stats.packets_out++;
	conn_mark_dirty(c);
	return 0;
}

void session_pump(struct worker *w, struct session *s)
{
	struct mqtt_conn *c = s->conn;

	engine_assert_owner(w, s);
	if (c == NULL || c->state != CONN_ACTIVE)
		return;
	while (s->queue.len > 0) {
		struct queued *q = &s->queue.e[s->queue.head];
		struct queued taken;

		if (session_send_new(w, s, q->m, q->qos, q->retain) < 0)
			break;
		msg_queue_pop(&s->queue, &taken);
		msg_unref(taken.m);
	}
	/* Hysteresis: publishers resume, or slowness ends, once it is half empty. */
	flow_drained(w, s);
	if (s->queue.len == 0)
		s->drop_logged = false;
}

void session_resend(struct worker *w, struct session *s)
{
	struct mqtt_conn *c = s->conn;

	engine_assert_owner(w, s);
	for (uint32_t i = 0; i < s->inflight.span; i++) {
		struct inflight *e = inflight_at(&s->inflight, i);
		int rc = 0;

		switch (e->state) {
		case INFLIGHT_WAIT_PUBACK:
		case INFLIGHT_WAIT_PUBREC:
			rc = outq_push_publish(&c->out, e->m, e->qos, true, e->retain,
					       e->packet_id);
			w->stats.publish_out++;
			break;
		case INFLIGHT_WAIT_PUBCOMP: {
			uint8_t buf[4];

			rc = outq_push_bytes(&c->out, buf,
					     mqtt_encode_ack(buf, MQTT_PUBREL, e->packet_id));
			break;
		}
		default:
			continue;
		}
		if (rc < 0)
			w->stats.drop_no_memory++;
		else
			w->stats.packets_out++;
		w->stats.resend++;
	}
	conn_mark_dirty(c);
}

/* The subscriber is done with the message of <e>: its stored entry goes. Returns 0,
 * or -1 with the connection closed (out of memory: the entry stays in the window and
 * in the store, and goes again on resume). */
static int inflight_done(struct mqtt_conn *c, struct inflight *e)
{
	struct worker *w = c->w;
	uint64_t sid = session_store_id(c->s);

	if (sid != 0 && e->msg_id != 0 && durable_on(w) &&
	    durable_note(w, persist_entry_del(w, sid, e->msg_id)) < 0) {
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	inflight_remove(&c->s->inflight, e);
	return 0;
}

int handle_puback(struct mqtt_conn *c, uint16_t id)
{
	struct session *s = c->s;
	struct inflight *e = inflight_find(&s->inflight, id);

	if (e == NULL || e->state != INFLIGHT_WAIT_PUBACK) {
		log_debug("client '%s': PUBACK for unknown id %u", s->client_id, id);
		return 0;
	}
	if (inflight_done(c, e) < 0)
		return -1;
	session_pump(c->w, s);
	return 0;
}

int handle_pubrec(struct mqtt_conn *c, uint16_t id)
{
	struct session *s = c->s;
	struct inflight *e = inflight_find(&s->inflight, id);

	if (e == NULL) {
		log_debug("client '%s': PUBREC for unknown id %u", s->client_id, id);
		return 0;
	}
	if (e->state == INFLIGHT_WAIT_PUBREC) {
		struct worker *w = c->w;
		uint64_t sid = session_store_id(s);
		uint64_t mark = durable_mark(w);

		/* Stored first: re-sent after a crash, the PUBREL must find the state
		 * it announces, not the PUBLISH again (MQTT-4.3.3-1). */
		if (sid != 0 && e->msg_id != 0 && durable_on(w) &&
		    durable_note(w, persist_entry_state(w, sid, e->msg_id, id,
							INFLIGHT_WAIT_PUBCOMP)) < 0) {
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
		fence_after(c, mark);
		/* The subscriber owns the message now; only the id remains ours. */
		msg_unref(e->m);
		e->m = NULL;
		e->state = INFLIGHT_WAIT_PUBCOMP;
	} else if (e->state != INFLIGHT_WAIT_PUBCOMP) {
		return 0;
	}
	return send_ack(c, MQTT_PUBREL, id);
}

int handle_pubrel(struct mqtt_conn *c, uint16_t id)
{
	struct worker *w = c->w;
	uint64_t sid = session_store_id(c->s);
	uint64_t mark = durable_mark(w);

	if (sid != 0 && durable_on(w) && session_rel_contains(c->s, id)) {
		/* The PUBCOMP frees the id for the client's next message: after a
		 * crash a stored id would make us drop that one as a resend. */
		if (durable_note(w, persist_rel_del(w, sid, id)) < 0) {
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
		fence_after(c, mark);
	}
	/* MQTT-4.3.3-2: PUBCOMP even for an id we no longer hold (a resent PUBREL). */
	session_rel_remove(c->s, id);
	return send_ack(c, MQTT_PUBCOMP, id);
}

int handle_pubcomp(struct mqtt_conn *c, uint16_t id)
{
	struct session *s = c->s;
	struct inflight *e = inflight_find(&s->inflight, id);

	if (e == NULL || e->state != INFLIGHT_WAIT_PUBCOMP) {
		log_debug("client '%s': PUBCOMP for unknown id %u", s->client_id, id);
		return 0;
	}
	if (inflight_done(c, e) < 0)
		return -1;
	session_pump(c->w, s);
	return 0;
}
