/* mem_client.c - see mem_client.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "petrel/broker.h"
#include "petrel/worker.h"
#include "mem_client.h"
#include "mem_transport.h"

void mem_client_input(struct mem_client *cl, const uint8_t *buf, size_t len)
{
	cr_assert_gt(len, 0, "encoding failed");
	cr_assert_eq(mem_conn_input(cl->tc, buf, len), 0, "engine closed %s", cl->id);
}

bool mem_client_next_publish(struct mem_client *cl, struct mqtt_pkt *p)
{
	ssize_t n;

	while ((n = mem_conn_next(cl->tc, p)) > 0)
		if (p->type == MQTT_PUBLISH)
			return true;
	cr_assert_eq(n, 0, "%s: output does not decode", cl->id);
	return false;
}

void mem_client_next(struct mem_client *cl, struct mqtt_pkt *p, enum mqtt_type type)
{
	ssize_t n = mem_conn_next(cl->tc, p);

	cr_assert_gt(n, 0, "%s: expected %s, got %s", cl->id, mqtt_type_name(type),
		     n == 0 ? "nothing" : "garbage");
	cr_assert_eq(p->type, type, "%s: expected %s, got %s", cl->id, mqtt_type_name(type),
		     mqtt_type_name(p->type));
}

void mem_client_send_connect(struct mem_client *cl, struct broker *b, unsigned w,
			     const char *id, bool clean)
{
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = clean,
		.client_id = { id, (uint16_t)strlen(id) },
	};
	uint8_t buf[128];

	cl->id = id;
	cl->b = b;
	cl->w = w;
	cl->tc = mem_conn_open(b->workers[w]);
	cr_assert_not_null(cl->tc);
	cl->tc->keep = true;
	mem_client_input(cl, buf, mqtt_encode_connect(buf, sizeof(buf), &cn));
}

void mem_client_expect_connack(struct mem_client *cl, bool session_present)
{
	struct mqtt_pkt p;

	mem_client_next(cl, &p, MQTT_CONNACK);
	cr_assert_eq(p.u.connack.return_code, MQTT_CONNACK_ACCEPTED);
	cr_assert_eq(p.u.connack.session_present, session_present, "%s: session present %d",
		     cl->id, p.u.connack.session_present);
}

void mem_client_connect(struct mem_client *cl, struct broker *b, unsigned w,
			const char *id, bool clean)
{
	mem_client_send_connect(cl, b, w, id, clean);
	mem_worker_turn(b->workers[w]);
	mem_client_expect_connack(cl, false);
}

void mem_client_subscribe(struct mem_client *cl, const char *filter)
{
	struct mqtt_str f = { filter, (uint16_t)strlen(filter) };
	uint8_t qos = 2, buf[128];
	struct mqtt_pkt p;

	mem_client_input(cl, buf, mqtt_encode_subscribe(buf, sizeof(buf), 1, &f, &qos, 1));
	mem_worker_turn(cl->b->workers[cl->w]);
	mem_client_next(cl, &p, MQTT_SUBACK);
	cr_assert_eq(p.u.suback.return_codes[0], 2);
}

void mem_client_publish_seq(struct mem_client *cl, const char *topic, unsigned seq,
			    uint8_t qos)
{
	char payload[16];
	struct mqtt_publish pub = {
		.qos = qos,
		.topic = { topic, (uint16_t)strlen(topic) },
		.packet_id = qos ? (uint16_t)seq : 0,
		.payload = (const uint8_t *)payload,
	};
	uint8_t buf[128];

	pub.payload_len = (size_t)snprintf(payload, sizeof(payload), "m%u", seq);
	mem_client_input(cl, buf, mqtt_encode_publish(buf, sizeof(buf), &pub));
}

unsigned mem_client_seq(const struct mqtt_pkt *p)
{
	char text[16];
	unsigned seq;

	cr_assert(p->u.publish.payload_len > 1 && p->u.publish.payload_len < sizeof(text));
	memcpy(text, p->u.publish.payload, p->u.publish.payload_len);
	text[p->u.publish.payload_len] = '\0';
	cr_assert_eq(sscanf(text, "m%u", &seq), 1);
	return seq;
}
