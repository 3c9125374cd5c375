/* publish.c - PUBLISH from a client (MQTT 3.1.1 section 3.3), routing it to the
 * matching sessions (DESIGN.md "A PUBLISH, end to end"), the QoS downgrade, fan-out
 * batches to other workers and delivery into a session: straight to its connection,
 * or into its queue under queue_full_policy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/budget.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/retain.h"
#include "petrel/router.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

/* QoS 0 drops to a slow reader less than this apart belong to one logged episode. */
#define QOS0_DROP_EPISODE_MS 1000

struct route_ctx {
	struct worker *w;
	struct msg *m;
	struct mqtt_conn *from;
	bool oom;		/* a record could not be appended */
};

static int fanout_append(struct fanout_batch *fb, struct session *s, uint8_t qos,
			 bool held, uint64_t sid)
{
	if (fb->n == fb->cap) {
		uint32_t cap = fb->cap ? fb->cap * 2 : 16;
		struct wmsg_target *n = realloc(fb->t, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		fb->t = n;
		fb->cap = cap;
	}
	fb->t[fb->n++] = (struct wmsg_target){ s, qos, held, sid };
	return 0;
}

/* router_match callback: one matching session with its highest granted QoS. */
static void route_one(void *arg, void *sub, uint8_t granted)
{
	struct route_ctx *ctx = arg;
	struct worker *w = ctx->w;
	struct session *s = sub;
	/* The downgrade rule: never deliver above what the publisher sent. */
	uint8_t qos = PETREL_MIN(ctx->m->qos, granted);
	int owner = session_owner(s);
	/* A publisher's connection is held back when it feeds a congested session; a
	 * will (from == NULL) has no one to hold back. */
	bool held = ctx->from != NULL;
	/* QoS 0 is never stored, even queued for an offline session. */
	uint64_t sid = qos > 0 && durable_on(w) ? session_store_id(s) : 0;

	if (owner == SESSION_DEAD)
		return;
	if (qos > 0 && ctx->from != NULL && ctx->from->blocked_on == NULL &&
	    atomic_load_explicit(&s->congested, memory_order_relaxed) && session_tryref(s))
		ctx->from->blocked_on = s;
	if (owner == (int)w->id) {
		/* The publisher's PUBACK covers this copy: recorded here, before it is
		 * queued or sent (its ENTRY_STATE follows the ENTRY_PUT). */
		if (sid != 0 && durable_copy_put(w, sid, ctx->m, qos, false) < 0) {
			ctx->oom = true;
			sid = 0;
		}
		if (!handover_hold(w, s, ctx->m, qos, held, sid))
			session_deliver_held(w, s, ctx->m, qos, false, held, sid);
		return;
	}
	if (!session_tryref(s))
		return;
	if (fanout_append(&mqtt_worker(w)->fanout[owner], s, qos, held, 0) < 0) {
		w->stats.drop_no_memory++;
		session_unref(s);
		return;
	}
	/* Recorded by the publishing worker for a session another one owns: this
	 * batch is pushed before the delivery is posted (worker_post), so the owner's
	 * ENTRY_STATE and ENTRY_DEL come after it in the queue. */
	if (sid != 0) {
		struct fanout_batch *fb = &mqtt_worker(w)->fanout[owner];

		if (durable_copy_put(w, sid, ctx->m, qos, false) < 0)
			ctx->oom = true;
		else
			fb->t[fb->n - 1].sid = sid;
	}
}

/* max_worker_inbound: to a worker whose queue is full, QoS 0 deliveries are dropped
 * and the rest go, holding <from> back (flow.c). Compacts <fb> in place. */
static void fanout_over_credit(struct worker *w, struct worker *dst, struct fanout_batch *fb,
			       struct mqtt_conn *from)
{
	uint32_t kept = 0;

	for (uint32_t j = 0; j < fb->n; j++) {
		if (fb->t[j].qos == 0) {
			w->stats.drop_worker_queue++;
			session_unref(fb->t[j].s);
			continue;
		}
		fb->t[kept++] = fb->t[j];
	}
	fb->n = kept;
	if (kept > 0 && from != NULL && from->blocked_worker == NULL)
		from->blocked_worker = dst;
}

void fanout_flush(struct worker *w, struct msg *m, struct mqtt_conn *from)
{
	worker_assert_current(w);
	for (unsigned i = 0; i < w->broker->nworkers; i++) {
		struct fanout_batch *fb = &mqtt_worker(w)->fanout[i];
		struct worker *dst = w->broker->workers[i];
		struct wmsg_deliver *d;

		if (fb->n == 0)
			continue;
		if (flow_worker_full(w, dst)) {
			fanout_over_credit(w, dst, fb, from);
			if (fb->n == 0)
				continue;
		}
		d = malloc(sizeof(*d) + fb->n * sizeof(d->t[0]));
		if (d == NULL) {
			w->stats.drop_no_memory += fb->n;
			for (uint32_t j = 0; j < fb->n; j++) {
				durable_copy_drop(w, fb->t[j].sid, m);
				session_unref(fb->t[j].s);
			}
			fb->n = 0;
			continue;
		}
		d->h.type = WMSG_DELIVER;
		d->m = msg_ref(m);
		d->forwarded = false;
		d->counted = true;
		d->n = fb->n;
		memcpy(d->t, fb->t, fb->n * sizeof(d->t[0]));
		w->stats.deliver_remote += fb->n;
		fb->n = 0;
		atomic_fetch_add_explicit(&mqtt_worker(dst)->inbound_deliveries, d->n,
					  memory_order_relaxed);
		worker_post(dst, &d->h);
	}
}

/* Every matching session gets ctx->m: this worker's at once, the others' batched. */
static void route_to_subscribers(struct route_ctx *ctx)
{
	struct worker *w = ctx->w;

	rcu_read_lock();
	router_match(w->broker->router, ctx->m->topic, ctx->m->topic_len, route_one, ctx);
	rcu_read_unlock();
	fanout_flush(w, ctx->m, ctx->from);
}

int broker_route(struct worker *w, struct msg *m, struct mqtt_conn *from)
{
	struct route_ctx ctx = { w, m, from, false };
	bool rec_failed = false;

	worker_assert_current(w);
	/* MQTT-3.3.1-5: store (or, with an empty payload, delete) the retained copy.
	 * Over memory_limit a new retained message is not kept (deleting always is);
	 * it is still delivered to the subscribers of the moment. With persistence
	 * the change record is appended in the retained store's order (durable.c). */
	if (m->retain && w->cfg->retain_available) {
		if (m->payload_len > 0 && !budget_allows(0)) {
			w->stats.retain_memory_refused++;
			budget_note_refusal("retained messages are not stored");
		} else if (durable_retain_set(w, m, &rec_failed) < 0) {
			w->stats.drop_no_memory++;
			ctx.oom |= rec_failed;
		}
	}
	route_to_subscribers(&ctx);
	return ctx.oom ? -ENOMEM : 0;
}

int broker_route_sys(struct worker *w, struct msg *m)
{
	struct route_ctx ctx = { w, m, NULL, false };
	int rc;

	worker_assert_current(w);
	/* No record: $SYS figures describe this run only, and the next one publishes
	 * its own within sys_interval. */
	rc = retain_set(w->broker->retain, m);
	if (rc < 0)
		w->stats.drop_no_memory++;
	route_to_subscribers(&ctx);
	return rc;
}

void deliver_batch(struct worker *w, struct wmsg_deliver *d)
{
	worker_assert_current(w);
	if (d->counted)
		flow_worker_taken(w, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		struct session *s = d->t[i].s;
		int owner = session_owner(s);

		if (owner == (int)w->id) {
			/* Forwarded ones are older than any held (handover.c). */
			if (d->forwarded ||
			    !handover_hold(w, s, d->m, d->t[i].qos, d->t[i].held,
					   d->t[i].sid))
				session_deliver_held(w, s, d->m, d->t[i].qos, false,
						     d->t[i].held, d->t[i].sid);
		} else if (owner == SESSION_DEAD) {
			w->stats.drop_session_gone++;
		} else {
			/* The session moved (takeover) after the sender looked: follow it. */
			struct wmsg_deliver *f = malloc(sizeof(*f) + sizeof(f->t[0]));

			if (f != NULL) {
				f->h.type = WMSG_DELIVER;
				f->m = msg_ref(d->m);
				f->forwarded = true;
				f->counted = false;
				f->n = 1;
				f->t[0] = d->t[i];
				worker_post(w->broker->workers[owner], &f->h);
				continue;   /* the reference travels on */
			}
			w->stats.drop_no_memory++;
		}
		session_unref(s);
	}
	msg_unref(d->m);
	free(d);
}

void deliver_discard(struct wmsg_deliver *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		session_unref(d->t[i].s);
	msg_unref(d->m);
	free(d);
}

static bool queue_full(const struct config *cfg, const struct session *s, const struct msg *m)
{
	if (cfg->max_queued_messages > 0 && s->queue.len >= cfg->max_queued_messages)
		return true;
	return cfg->max_queued_bytes > 0 && s->queue.bytes + m->payload_len > cfg->max_queued_bytes;
}

static void queue_drop_log(struct session *s, const char *what)
{
	if (s->drop_logged)
		return;
	s->drop_logged = true;
	log_notice("client '%s': queue full, %s (counted; logged once per episode)",
		   s->client_id, what);
}

/* Drops queued messages, oldest first, until <m> fits (and their stored entries).
 * Returns how many. */
static uint64_t queue_evict_oldest(struct worker *w, struct session *s, const struct msg *m)
{
	const struct config *cfg = w->cfg;
	struct queued old;
	uint64_t n = 0;

	while (s->queue.len > 0 && queue_full(cfg, s, m) && msg_queue_pop(&s->queue, &old)) {
		if (old.qos > 0)
			durable_copy_drop(w, session_store_id(s), old.m);
		msg_unref(old.m);
		n++;
	}
	return n;
}

/* A slow session's queue is full (flow.c): slow_subscriber_policy decides. Returns
 * true if <m> is to be queued. */
static bool slow_enqueue(struct worker *w, struct session *s, const struct msg *m)
{
	const struct config *cfg = w->cfg;

	switch (cfg->slow_subscriber_policy) {
	case SLOW_DROP_OLDEST:
		if (s->queue.len > 0) {
			w->stats.drop_slow += queue_evict_oldest(w, s, m);
			queue_drop_log(s, "slow subscriber, dropping oldest");
			return true;
		}
		break;
	case SLOW_DISCONNECT:
		flow_slow_disconnect(w, s);
		break;
	case SLOW_DROP_NEW:
		queue_drop_log(s, "slow subscriber, dropping new messages");
		break;
	}
	w->stats.drop_slow++;
	return false;
}

/* Queues <m> for <s> under queue_full_policy. <held>: see session_deliver_held.
 * Returns false if <m> was dropped. */
static bool session_enqueue(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
			    bool retain, bool held)
{
	const struct config *cfg = w->cfg;
	bool online = s->conn != NULL && s->conn->state == CONN_ACTIVE;

	if (!online && !budget_allows(sizeof(struct queued))) {
		/* memory_limit: offline queues are what grows without a client to drain
		 * them; the online ones are bounded per session and drain. */
		w->stats.drop_memory_offline++;
		budget_note_refusal("messages for offline sessions are dropped");
		return false;
	}
	if (queue_full(cfg, s, m)) {
		if (cfg->queue_full_policy == QUEUE_FULL_BACKPRESSURE && online && s->slow) {
			if (!slow_enqueue(w, s, m))
				return false;
		} else if (cfg->queue_full_policy == QUEUE_FULL_BACKPRESSURE && online) {
			/* Keep it and hold the publishers back (route_one), for at most
			 * backpressure_timeout (flow.c). Only a message whose publisher
			 * is held back may go over the limit: anything else (a will, a
			 * retained copy) would grow the queue without bound. */
			flow_congest(w, s);
			if (!held) {
				w->stats.drop_queue_full++;
				queue_drop_log(s, "dropping messages that hold no publisher "
					       "back (wills, retained)");
				return false;
			}
			/* Its publisher was acknowledged: keep it. Past the limit come
			 * at most one PUBLISH per publisher on this worker (it is held
			 * right after) and what other workers posted before they saw
			 * <congested>, which max_worker_inbound bounds (flow.c). */
			w->stats.queue_overshoot++;
		} else if (cfg->queue_full_policy == QUEUE_FULL_DROP_OLDEST && s->queue.len > 0) {
			w->stats.drop_queue_oldest += queue_evict_oldest(w, s, m);
			queue_drop_log(s, "dropping oldest");
		} else {
			if (cfg->max_queued_bytes > 0 && s->queue.len < cfg->max_queued_messages)
				w->stats.drop_queue_bytes++;
			else
				w->stats.drop_queue_full++;
			queue_drop_log(s, "dropping new messages");
			return false;
		}
	}
	if (msg_queue_push(&s->queue, m, qos, retain) < 0) {
		w->stats.drop_no_memory++;
		return false;
	}
	return true;
}

void session_deliver(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
		     bool retain)
{
	session_deliver_held(w, s, m, qos, retain, false, 0);
}

void session_deliver_held(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
			  bool retain, bool held, uint64_t rec_sid)
{
	const struct config *cfg = w->cfg;
	struct mqtt_conn *c = s->conn;
	bool online = c != NULL && c->state == CONN_ACTIVE;
	uint64_t sid;

	engine_assert_owner(w, s);
	if (qos == 0) {
		if (online) {
			if (c->out.bytes > cfg->max_outgoing_bytes) {
				w->stats.drop_qos0_slow++;
				/* An episode is a run of drops less than a second apart:
				 * the kernel may take the backlog between two loop turns,
				 * so "output drained" would start one per turn. */
				if (c->qos0_drop_ms == 0 ||
				    w->now_ms - c->qos0_drop_ms > QOS0_DROP_EPISODE_MS)
					log_notice("client '%s': %zu bytes of output unsent "
						   "(max_outgoing_bytes): QoS 0 messages to it are "
						   "dropped (counted in drop_qos0_slow; logged once "
						   "per run of drops)", s->client_id, c->out.bytes);
				c->qos0_drop_ms = w->now_ms;
				return;
			}
			if (outq_push_publish(&c->out, m, 0, false, retain, 0) < 0) {
				w->stats.drop_no_memory++;
				return;
			}
			w->stats.publish_out++;
			w->stats.packets_out++;
			conn_mark_dirty(c);
			return;
		}
		if (s->clean || !cfg->queue_qos0_messages) {
			w->stats.drop_qos0_offline++;
			return;
		}
	}
	/* A copy entering a stored session without its ENTRY_PUT (a will, a retained
	 * copy, or a publisher that saw another store id): recorded by the owner. */
	sid = qos > 0 && durable_on(w) ? session_store_id(s) : 0;
	if (sid != 0 && rec_sid != sid && durable_copy_put(w, sid, m, qos, retain) < 0) {
		w->stats.drop_no_memory++;
		return;
	}
	if (online && s->queue.len == 0 && session_send_new(w, s, m, qos, retain) == 0)
		return;
	if (!session_enqueue(w, s, m, qos, retain, held))
		durable_copy_drop(w, sid, m);
}

/* Under backpressure session_enqueue keeps every message for an online subscriber and
 * holds its publishers back instead; a retained copy has no publisher to hold back,
 * so a SUBSCRIBE repeating '#' over many retained messages grew the queue without
 * bound (issue 6: 2 MB to 918 MB). Here what does not fit is dropped (the newest),
 * counted and logged once per episode. drop_new and drop_oldest already bound the
 * queue and count their drops, so session_deliver applies them unchanged. QoS 0
 * copies are bounded by max_outgoing_bytes there as well. */
void session_deliver_retained(struct worker *w, struct session *s, struct msg *m,
			      uint8_t qos)
{
	const struct config *cfg = w->cfg;

	if (qos > 0 && cfg->queue_full_policy == QUEUE_FULL_BACKPRESSURE &&
	    queue_full(cfg, s, m)) {
		w->stats.drop_retained_full++;
		queue_drop_log(s, "dropping retained messages sent on subscribe");
		return;
	}
	session_deliver(w, s, m, qos, true);
}

/* "$SYS" or under "$SYS/": the broker's own topics (MQTT-4.7.2-1). */
static bool topic_is_sys(const char *topic, size_t len)
{
	return len >= 4 && memcmp(topic, "$SYS", 4) == 0 && (len == 4 || topic[4] == '/');
}

/* A client's PUBLISH to $SYS: acknowledged per its QoS as any other, so a client
 * does not retry it for ever, but routed and retained nowhere (only the broker
 * writes there: admin.h ADMIN_SYS_PUBLISH). A resent QoS 2 one is acknowledged
 * again; its PUBREL gets PUBCOMP like an id we no longer hold (MQTT-4.3.3-2). */
static int deny_sys_publish(struct mqtt_conn *c, const struct mqtt_publish *p)
{
	c->w->stats.publish_sys_denied++;
	if (!c->sys_denied_logged) {
		c->sys_denied_logged = true;
		log_notice("%s (%s): PUBLISH to '%.*s' refused: clients may not publish "
			   "to $SYS (acknowledged, not delivered; counted in "
			   "publish_sys_denied, logged once per connection)",
			   c->w->tops->peer(c->tc), c->s->client_id, (int)p->topic.len,
			   p->topic.ptr);
	}
	if (p->qos == 1)
		return send_ack(c, MQTT_PUBACK, p->packet_id);
	if (p->qos == 2)
		return send_ack(c, MQTT_PUBREC, p->packet_id);
	return 0;
}

int handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p)
{
	struct worker *w = c->w;
	uint64_t mark = durable_mark(w);
	uint64_t sid = session_store_id(c->s);
	struct msg *m;

	worker_assert_current(c->w);
	w->stats.publish_in++;
	if (topic_is_sys(p->topic.ptr, p->topic.len))
		return deny_sys_publish(c, p);
	if (p->qos == 2 && session_rel_contains(c->s, p->packet_id)) {
		/* MQTT 4.3.3 method B: the id awaits PUBREL, so this is a resend of a
		 * message already routed. Acknowledge again, deliver nothing. */
		w->stats.publish_dup_qos2++;
		return send_ack(c, MQTT_PUBREC, p->packet_id);
	}
	m = msg_create(p->topic.ptr, p->topic.len, p->payload, p->payload_len, p->qos, p->retain);
	if (m == NULL) {
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	if (p->qos == 2 && session_rel_add(c->s, p->packet_id) < 0) {
		/* Recorded before routing, never after: if this fails the message went
		 * nowhere, and the client's resend is routed once (MQTT 4.3.3). */
		msg_unref(m);
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	if (p->qos == 2 && sid != 0 &&
	    durable_note(w, persist_rel_put(w, sid, p->packet_id)) < 0) {
		/* The same for the stored id: a resend after a crash would be routed
		 * again, so no PUBREC without it. */
		session_rel_remove(c->s, p->packet_id);
		msg_unref(m);
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	if (broker_route(w, m, c) < 0) {
		/* A copy or the retained slot went unrecorded: no acknowledgement. */
		msg_unref(m);
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	msg_unref(m);
	if (durable_mark(w) != mark) {
		/* The ack waits until the records of every stored copy, the retained slot
		 * and the QoS 2 id are committed (fence.c); a QoS 0 PUBLISH has none. */
		if (p->qos > 0)
			fence_after(c, mark);
		if (!c->in_paused && fence_pending_over(w, false))
			c->persist_held = true;
	}
	if ((c->blocked_on != NULL || c->blocked_worker != NULL || c->persist_held) &&
	    !c->in_paused)
		/* A subscriber's queue is over its limit, or the store is behind: hold
		 * this publisher's next packets back until it drains (flow.c); its acks
		 * still flow (proto.c). */
		flow_hold_publisher(c);
	if (p->qos == 1)
		return send_ack(c, MQTT_PUBACK, p->packet_id);
	if (p->qos == 2)
		return send_ack(c, MQTT_PUBREC, p->packet_id);
	return 0;
}
