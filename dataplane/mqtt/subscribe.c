/* subscribe.c - SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK (MQTT 3.1.1 sections
 * 3.8-3.11). A filter goes into the shared router and into the session's own list
 * (to restore or remove it later); retained messages matching a new subscription are
 * sent after the SUBACK with the retain flag set (MQTT-3.3.1-6/8). */
#include <errno.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/retain.h"
#include "petrel/router.h"
#include "petrel/session.h"
#include "petrel/topic.h"
#include "mqtt/proto_int.h"

#define SUBACK_STACK_CODES 64

struct retained_ctx {
	struct worker *w;
	struct session *s;
	uint8_t granted;
};

static void send_retained(void *arg, struct msg *m)
{
	struct retained_ctx *ctx = arg;

	session_deliver(ctx->w, ctx->s, m, PETREL_MIN(m->qos, ctx->granted), true);
}

/* Returns the SUBACK code for one filter. */
static uint8_t subscribe_one(struct mqtt_conn *c, const struct mqtt_str *f, uint8_t qos)
{
	struct session *s = c->s;
	struct router *r = c->w->broker->router;

	if (!topic_filter_valid(f->ptr, f->len)) {
		log_info("client '%s': invalid topic filter refused", s->client_id);
		return MQTT_SUBACK_FAILURE;
	}
	if (router_subscribe(r, f->ptr, f->len, s, qos) < 0)
		return MQTT_SUBACK_FAILURE;
	if (session_sub_add(s, f->ptr, f->len, qos) < 0) {
		router_unsubscribe(r, f->ptr, f->len, s);
		return MQTT_SUBACK_FAILURE;
	}
	return qos;
}

int handle_subscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l)
{
	struct worker *w = c->w;
	uint8_t stack_codes[SUBACK_STACK_CODES];
	uint8_t *codes = stack_codes;
	uint8_t *pkt;
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t qos;
	size_t i = 0, n;
	int rc = 0;

	worker_assert_current(c->w);
	if (l->count > SUBACK_STACK_CODES) {
		codes = malloc(l->count);
		if (codes == NULL) {
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
	}
	mqtt_topic_iter_init(&it, l);
	while (mqtt_topic_iter_next(&it, &f, &qos))
		codes[i++] = subscribe_one(c, &f, qos);

	pkt = malloc(l->count + 8);
	n = pkt ? mqtt_encode_suback(pkt, l->count + 8, l->packet_id, codes, l->count) : 0;
	if (n == 0 || conn_send(c, pkt, n) < 0) {
		free(pkt);
		if (codes != stack_codes)
			free(codes);
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	free(pkt);

	if (w->broker->cfg.retain_available) {
		struct retained_ctx ctx = { w, c->s, 0 };

		mqtt_topic_iter_init(&it, l);
		i = 0;
		rcu_read_lock();
		while (mqtt_topic_iter_next(&it, &f, &qos)) {
			if (codes[i++] == MQTT_SUBACK_FAILURE)
				continue;
			ctx.granted = qos;
			retain_match(w->broker->retain, f.ptr, f.len, send_retained, &ctx);
		}
		rcu_read_unlock();
	}
	if (codes != stack_codes)
		free(codes);
	return rc;
}

int handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_topic_list *l)
{
	struct session *s = c->s;
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t qos;

	worker_assert_current(c->w);
	mqtt_topic_iter_init(&it, l);
	while (mqtt_topic_iter_next(&it, &f, &qos)) {
		/* MQTT-3.10.4-5: UNSUBACK even if nothing matched. */
		if (session_sub_remove(s, f.ptr, f.len) == 0)
			router_unsubscribe(c->w->broker->router, f.ptr, f.len, s);
	}
	return send_ack(c, MQTT_UNSUBACK, l->packet_id);
}
