/* bench_proto.c - client-side MQTT 3.1.1 exchanges of the generator (bench_proto.h). */
#include "bench_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench_conn.h"
#include "bench_hist.h"
#include "bench_loop.h"
#include "bench_pub.h"
#include "bench_run.h"
#include "bench_sub.h"

#define BENCH_SUB_PACKET_ID 1

/* Returns <err> after writing why into th->detail, for the first error message. */
__attribute__((format(printf, 3, 4)))
static int bench_proto_refuse(struct bench_thread *th, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(th->detail, sizeof(th->detail), fmt, ap);
	va_end(ap);
	return err;
}

int bench_proto_connected(struct bench_thread *th, struct bench_conn *c)
{
	struct mqtt_connect cn;
	char id[128];
	size_t idlen, n;
	uint8_t *buf;

	idlen = bench_run_client_id(th->run, c, id, sizeof(id));
	memset(&cn, 0, sizeof(cn));
	cn.protocol_level = MQTT_PROTO_V311;
	/* --clean 0 leaves stored sessions behind (conn) or makes the subscribers
	 * persistent (their queues go to a broker's store); publishers keep none. */
	cn.clean_session = c->role == BENCH_ROLE_PUB || th->run->o->clean;
	cn.keep_alive = BENCH_KEEPALIVE_S;
	cn.client_id.ptr = id;
	cn.client_id.len = (uint16_t)idlen;
	buf = bench_conn_ctl_reserve(c, 32 + idlen);
	if (buf == NULL)
		return -ENOMEM;
	n = mqtt_encode_connect(buf, 32 + idlen, &cn);
	if (n == 0)
		return -EINVAL;
	bench_conn_ctl_commit(c, n);
	c->state = BCS_CONNACK;
	bench_loop_want_write(th, c);
	return 0;
}

static int bench_proto_subscribe(struct bench_thread *th, struct bench_conn *c)
{
	/* The conn scenario leaves QoS 1 sessions behind, as a broker's offline load. */
	uint8_t qos = c->role == BENCH_ROLE_CONN ? 1 : th->run->o->qos;
	struct mqtt_str filter;
	char buf[128];
	uint8_t *p;
	size_t n;

	filter.len = (uint16_t)bench_run_filter(th->run, c, buf, sizeof(buf));
	filter.ptr = buf;
	p = bench_conn_ctl_reserve(c, 16 + filter.len);
	if (p == NULL)
		return -ENOMEM;
	n = mqtt_encode_subscribe(p, 16 + filter.len, BENCH_SUB_PACKET_ID, &filter, &qos, 1);
	if (n == 0)
		return -EINVAL;
	bench_conn_ctl_commit(c, n);
	c->state = BCS_SUBACK;
	bench_loop_want_write(th, c);
	return 0;
}

int bench_proto_empty(struct bench_thread *th, struct bench_conn *c, enum mqtt_type type)
{
	uint8_t *p = bench_conn_ctl_reserve(c, 2);

	if (p == NULL)
		return -ENOMEM;
	bench_conn_ctl_commit(c, mqtt_encode_empty(p, type));
	bench_loop_want_write(th, c);
	return 0;
}

static int bench_proto_ack(struct bench_thread *th, struct bench_conn *c,
			   enum mqtt_type type, uint16_t packet_id)
{
	uint8_t *p = bench_conn_ctl_reserve(c, 4);

	if (p == NULL)
		return -ENOMEM;
	bench_conn_ctl_commit(c, mqtt_encode_ack(p, type, packet_id));
	bench_loop_want_write(th, c);
	return 0;
}

static int bench_proto_connack(struct bench_thread *th, struct bench_conn *c,
			       const struct mqtt_connack *ca)
{
	if (c->state != BCS_CONNACK)
		return bench_proto_refuse(th, -EPROTO, "unexpected CONNACK");
	if (ca->return_code != MQTT_CONNACK_ACCEPTED)
		return bench_proto_refuse(th, -ECONNREFUSED, "CONNACK refused, return code %u",
					  ca->return_code);
	if (th->run->resuming && c->role == BENCH_ROLE_SUB) {
		/* storm, persist: the session and its queue must have survived. */
		if (!ca->session_present) {
			th->st.sessions_lost++;
			return bench_proto_refuse(th, -ESTALE, "CONNACK without session present: "
						  "the stored session is gone");
		}
		th->st.connects++;
		c->state = BCS_READY;
		/* persist verify: the goal is every queued message, then leaving. */
		if (th->run->leave_after == 0)
			bench_loop_settle_ok(th, c);
		return 0;
	}
	th->st.connects++;
	if (c->role == BENCH_ROLE_SUB || (c->role == BENCH_ROLE_CONN && !th->run->o->clean))
		return bench_proto_subscribe(th, c);
	c->state = BCS_READY;
	bench_loop_settle_ok(th, c);
	return 0;
}

static int bench_proto_suback(struct bench_thread *th, struct bench_conn *c,
			      const struct mqtt_suback *sa)
{
	if (c->state != BCS_SUBACK || sa->packet_id != BENCH_SUB_PACKET_ID || sa->count != 1)
		return bench_proto_refuse(th, -EPROTO, "unexpected SUBACK");
	if (sa->return_codes[0] == MQTT_SUBACK_FAILURE)
		return bench_proto_refuse(th, -ECONNREFUSED, "SUBACK refused (0x%02x)",
					  sa->return_codes[0]);
	if (c->role == BENCH_ROLE_CONN || th->run->leave_after_suback) {
		/* Leave the session offline; the broker's close tells us it is stored. */
		c->state = BCS_LEAVING;
		return bench_proto_empty(th, c, MQTT_DISCONNECT);
	}
	c->state = BCS_READY;
	bench_loop_settle_ok(th, c);
	return 0;
}

static void bench_proto_count(struct bench_thread *th, int rx, uint64_t stamp)
{
	if (rx == BENCH_RX_FOREIGN) {
		th->st.foreign++;
		return;
	}
	th->st.received_total++;
	if (rx == BENCH_RX_NEW) {
		th->st.distinct++;
		th->st.last_new = th->now;
	}
	if (bench_loop_in_window(th)) {
		th->st.delivered++;
		bench_hist_record(&th->st.hist, th->now > stamp ? th->now - stamp : 0);
	}
}

static int bench_proto_publish(struct bench_thread *th, struct bench_conn *c,
			       const struct mqtt_publish *pb)
{
	uint64_t stamp = 0;
	int rx = BENCH_RX_FOREIGN, rc = 0;

	if (c->sub != NULL) {
		rx = bench_sub_receive(c->sub, pb->payload, pb->payload_len, &stamp);
		if (rx < 0)
			return rx;
	}
	bench_proto_count(th, rx, stamp);
	/* Acknowledge whatever arrives, ours or not, so the broker's window moves. */
	if (pb->qos == 1)
		rc = bench_proto_ack(th, c, MQTT_PUBACK, pb->packet_id);
	else if (pb->qos == 2)
		rc = bench_proto_ack(th, c, MQTT_PUBREC, pb->packet_id);
	if (rc == 0 && rx == BENCH_RX_NEW && th->run->leave_after > 0 &&
	    c->state == BCS_READY && c->sub->track[0].distinct >= th->run->leave_after) {
		/* persist verify: all queued messages are in; the ack goes out first. */
		c->state = BCS_LEAVING;
		rc = bench_proto_empty(th, c, MQTT_DISCONNECT);
	}
	return rc;
}

static int bench_proto_pub_ack(struct bench_thread *th, struct bench_conn *c,
			       enum mqtt_type type, uint16_t packet_id)
{
	if (c->pub == NULL)
		return bench_proto_refuse(th, -EPROTO, "unexpected ack for id %u", packet_id);
	if (bench_pub_ack(c->pub, type, packet_id) == 1)
		return bench_proto_ack(th, c, MQTT_PUBREL, packet_id);
	return 0;
}

int bench_proto_packet(struct bench_thread *th, struct bench_conn *c,
		       const struct mqtt_pkt *pkt)
{
	switch (pkt->type) {
	case MQTT_PUBLISH:
		return bench_proto_publish(th, c, &pkt->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		return bench_proto_pub_ack(th, c, pkt->type, pkt->u.packet_id);
	case MQTT_PUBREL:
		/* MQTT-4.3.3-2 (receiver side): PUBCOMP for every PUBREL, repeats too. */
		return bench_proto_ack(th, c, MQTT_PUBCOMP, pkt->u.packet_id);
	case MQTT_CONNACK:
		return bench_proto_connack(th, c, &pkt->u.connack);
	case MQTT_SUBACK:
		return bench_proto_suback(th, c, &pkt->u.suback);
	case MQTT_PINGRESP:
		return 0;
	default:
		return bench_proto_refuse(th, -EPROTO, "unexpected packet type %u",
					  (unsigned int)pkt->type);
	}
}
