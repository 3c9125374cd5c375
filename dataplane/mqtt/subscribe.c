/* subscribe.c - SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK (MQTT 3.1.1 sections
 * 3.8-3.11). A filter goes into the shared router and into the session's own set
 * (to restore or remove it later); retained messages matching a new subscription are
 * sent after the SUBACK with the retain flag set (MQTT-3.3.1-6/8), within the
 * session's queue limits (session_deliver_retained).
 *
 * Bounds (issue 6): max_filters_per_subscribe filters per packet and
 * max_subscriptions_per_client per session; a filter beyond either gets 0x80, is
 * counted, and the episode is logged once. A long packet passes quiescent states
 * every SUBSCRIBE_CHUNK filters or retained copies, so one client cannot hold back
 * RCU reclamation for the whole worker. */
#include <errno.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/retain.h"
#include "petrel/router.h"
#include "petrel/session.h"
#include "petrel/topic.h"
#include "mqtt/proto_int.h"

#define SUBACK_STACK_CODES 64
/* Filters, or retained copies, between two quiescent states. */
#define SUBSCRIBE_CHUNK 256

struct retained_ctx {
	struct worker *w;
	struct session *s;
	uint8_t granted;
	uint32_t sent;		/* copies since the last quiescent state */
};

static void send_retained(void *arg, struct msg *m)
{
	struct retained_ctx *ctx = arg;

	session_deliver_retained(ctx->w, ctx->s, m, PETREL_MIN(m->qos, ctx->granted));
	ctx->sent++;
}

/* MQTT 4.7.1 and 4.8: a filter that breaks the wildcard rules is a protocol
 * violation, so the connection is closed, as mosquitto does, before any filter of the
 * packet takes effect. Returns 0, or -1 with the connection closed. */
static int topic_list_check(struct mqtt_conn *c, const struct mqtt_topic_list *l)
{
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t qos;

	mqtt_topic_iter_init(&it, l);
	while (mqtt_topic_iter_next(&it, &f, &qos)) {
		if (topic_filter_valid(f.ptr, f.len))
			continue;
		c->w->stats.protocol_error++;
		log_notice("client '%s': invalid topic filter '%.*s': closing (MQTT 4.7.1)",
			   c->s->client_id, (int)PETREL_MIN(f.len, 128u), f.ptr);
		conn_close(c, CLOSE_PROTOCOL);
		return -1;
	}
	return 0;
}

/* Returns the SUBACK code for the <idx>th filter of the packet. Sets *oom if the
 * stored session's record could not be appended (the packet gets no SUBACK). */
static uint8_t subscribe_one(struct mqtt_conn *c, const struct mqtt_str *f, uint8_t qos,
			     size_t idx, bool *oom)
{
	struct worker *w = c->w;
	const struct config *cfg = w->cfg;
	struct session *s = c->s;
	struct router *r = w->broker->router;
	bool exists;
	int rc;

	if (idx >= cfg->max_filters_per_subscribe) {
		w->stats.subscribe_over_packet_limit++;
		if (!s->sub_packet_logged) {
			s->sub_packet_logged = true;
			log_notice("client '%s': SUBSCRIBE with more than %u filters, the "
				   "rest refused (max_filters_per_subscribe; counted, "
				   "logged once per episode)", s->client_id,
				   cfg->max_filters_per_subscribe);
		}
		return MQTT_SUBACK_FAILURE;
	}
	exists = session_sub_find(s, f->ptr, f->len) != NULL;
	if (!exists && session_sub_count(s) >= cfg->max_subscriptions_per_client) {
		w->stats.subscribe_over_client_limit++;
		if (!s->subs_limit_logged) {
			s->subs_limit_logged = true;
			log_notice("client '%s': %u subscriptions, new filters refused "
				   "(max_subscriptions_per_client; counted, logged once per "
				   "episode)", s->client_id, session_sub_count(s));
		}
		return MQTT_SUBACK_FAILURE;
	}
	rc = router_subscribe(r, f->ptr, f->len, s, qos);
	if (rc < 0)
		return MQTT_SUBACK_FAILURE;
	if (session_sub_add(s, f->ptr, f->len, qos) < 0) {
		if (rc == 1)	/* undo only what this call added */
			router_unsubscribe(r, f->ptr, f->len, s);
		return MQTT_SUBACK_FAILURE;
	}
	if (session_store_id(s) != 0 &&
	    durable_note(w, persist_sub_put(w, session_store_id(s), f->ptr, f->len, qos)) < 0)
		*oom = true;
	return qos;
}

/* Sends the retained messages matching each granted filter. */
static void subscribe_retained(struct mqtt_conn *c, const struct mqtt_topic_list *l,
			       const uint8_t *codes)
{
	struct worker *w = c->w;
	struct retained_ctx ctx = { w, c->s, 0, 0 };
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t qos;
	size_t i = 0;

	mqtt_topic_iter_init(&it, l);
	while (mqtt_topic_iter_next(&it, &f, &qos)) {
		if (codes[i++] == MQTT_SUBACK_FAILURE)
			continue;
		ctx.granted = qos;
		rcu_read_lock();
		retain_match(w->broker->retain, f.ptr, f.len, send_retained, &ctx);
		rcu_read_unlock();
		/* Safe: outside the read-side section no retained-store pointer is held;
		 * the messages delivered hold their own references, and the connection,
		 * session and packet belong to this worker. */
		if (ctx.sent >= SUBSCRIBE_CHUNK) {
			ctx.sent = 0;
			worker_quiescent_point();
		}
	}
}

int handle_subscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l)
{
	struct worker *w = c->w;
	uint8_t stack_codes[SUBACK_STACK_CODES];
	uint8_t *codes = stack_codes;
	uint8_t *pkt;
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint64_t mark = durable_mark(w);
	bool oom = false;
	uint8_t qos;
	size_t i = 0, n;

	worker_assert_current(c->w);
	if (topic_list_check(c, l) < 0)
		return -1;
	if (l->count > SUBACK_STACK_CODES) {
		codes = malloc(l->count);
		if (codes == NULL) {
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
	}
	if (l->count <= w->cfg->max_filters_per_subscribe)
		c->s->sub_packet_logged = false;	/* the episode is over */
	mqtt_topic_iter_init(&it, l);
	while (mqtt_topic_iter_next(&it, &f, &qos)) {
		codes[i] = subscribe_one(c, &f, qos, i, &oom);
		/* Safe: router_subscribe holds no RCU pointer past its return. */
		if (++i % SUBSCRIBE_CHUNK == 0)
			worker_quiescent_point();
	}

	/* A stored session's SUBACK waits for its SUB_PUT records (fence.c). */
	fence_after(c, mark);
	pkt = oom ? NULL : malloc(l->count + 8);
	n = pkt ? mqtt_encode_suback(pkt, l->count + 8, l->packet_id, codes, l->count) : 0;
	if (n == 0 || conn_send(c, pkt, n) < 0) {
		free(pkt);
		if (codes != stack_codes)
			free(codes);
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	free(pkt);

	if (w->cfg->retain_available)
		subscribe_retained(c, l, codes);
	if (codes != stack_codes)
		free(codes);
	return 0;
}

int handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l)
{
	struct worker *w = c->w;
	struct session *s = c->s;
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint64_t mark = durable_mark(w);
	uint8_t qos;
	size_t i = 0;

	worker_assert_current(c->w);
	if (topic_list_check(c, l) < 0)
		return -1;
	mqtt_topic_iter_init(&it, l);
	while (mqtt_topic_iter_next(&it, &f, &qos)) {
		/* MQTT-3.10.4-5: UNSUBACK even if nothing matched. The session recorded
		 * every filter the router holds for it, and removal cannot fail. */
		if (session_sub_remove(s, f.ptr, f.len) == 0) {
			router_unsubscribe(w->broker->router, f.ptr, f.len, s);
			if (session_store_id(s) != 0 &&
			    durable_note(w, persist_sub_del(w, session_store_id(s), f.ptr,
							    f.len)) < 0) {
				/* No UNSUBACK for a removal the store did not take. */
				conn_close(c, CLOSE_NO_MEMORY);
				return -1;
			}
		}
		if (++i % SUBSCRIBE_CHUNK == 0)
			worker_quiescent_point();
	}
	if (session_sub_count(s) < w->cfg->max_subscriptions_per_client)
		s->subs_limit_logged = false;	/* back under the limit */
	/* A stored session's UNSUBACK waits for its SUB_DEL records (fence.c). */
	fence_after(c, mark);
	return send_ack(c, MQTT_UNSUBACK, l->packet_id);
}
