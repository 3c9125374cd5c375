/* raw_client.c - see raw_client.h. One copy of the raw MQTT client that the QoS, pubsub
 * and queue-policy suites drive the broker with: framing comes from harness.c's raw
 * sockets, encoding and strict decoding from the project's codec. Runs on the test's
 * main thread (criterion assertions abort the test from here). */
#include "raw_client.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* A received packet up to this size is kept whole; the suites' payloads are far
 * smaller, and anything larger is a broker bug worth failing on. */
#define RX_BUF 4096
/* Once the first byte is here, the rest of the packet is already on its way. */
#define RX_REST_MS 2000

int rx_packet(int fd, struct rpkt *p, int timeout_ms)
{
	uint8_t buf[RX_BUF];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int pr;

	memset(p, 0, sizeof *p);
	/* raw_recv_packet alone cannot tell a timeout from EOF, and "nothing arrived"
	 * must not pass on a closed connection: poll first, so 0 means only "silent". */
	pr = poll(&pfd, 1, timeout_ms);
	if (pr == 0)
		return 0;
	if (pr < 0)
		return -1;
	ssize_t len = raw_recv_packet(fd, buf, sizeof buf, RX_REST_MS);
	if (len < 0)
		return -1;

	struct mqtt_pkt pkt;
	if (mqtt_decode(buf, (size_t)len, sizeof buf, &pkt) != len)
		return -1;
	p->type = pkt.type;
	p->flags = pkt.flags;
	switch (pkt.type) {
	case MQTT_CONNACK:
		p->session_present = pkt.u.connack.session_present;
		p->rc = pkt.u.connack.return_code;
		break;
	case MQTT_PUBLISH: {
		const struct mqtt_publish *pub = &pkt.u.publish;
		p->dup = pub->dup;
		p->retain = pub->retain;
		p->qos = pub->qos;
		p->id = pub->packet_id;
		size_t tl = pub->topic.len < sizeof p->topic - 1 ? pub->topic.len
								  : sizeof p->topic - 1;
		memcpy(p->topic, pub->topic.ptr, tl);
		p->payload_len = pub->payload_len < sizeof p->payload ? pub->payload_len
								      : sizeof p->payload;
		memcpy(p->payload, pub->payload, p->payload_len);
		break;
	}
	case MQTT_SUBACK:
		p->id = pkt.u.suback.packet_id;
		p->ncodes = pkt.u.suback.count < sizeof p->codes ? pkt.u.suback.count
								 : sizeof p->codes;
		memcpy(p->codes, pkt.u.suback.return_codes, p->ncodes);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		p->id = pkt.u.packet_id;
		break;
	default:
		break;
	}
	return 1;
}

void rx_expect(int fd, struct rpkt *p, enum mqtt_type type, int timeout_ms)
{
	int r = rx_packet(fd, p, timeout_ms);

	cr_assert_eq(r, 1, "expected %s within %d ms, got %s", mqtt_type_name(type),
		     timeout_ms, r == 0 ? "nothing" : "EOF or a malformed packet");
	cr_assert_eq(p->type, type, "expected %s, got %s", mqtt_type_name(type),
		     mqtt_type_name(p->type));
}

void rx_nothing(int fd, int ms)
{
	struct rpkt p;
	int r = rx_packet(fd, &p, ms);

	cr_assert_eq(r, 0, "expected silence for %d ms, got %s %s \"%.*s\" id %u", ms,
		     r < 0 ? "EOF or a malformed packet" : mqtt_type_name(p.type),
		     r > 0 ? p.topic : "", r > 0 ? (int)p.payload_len : 0,
		     (const char *)p.payload, p.id);
}

/* Encodes with the codec and decodes the CONNACK strictly (reserved flag bits must be
 * 0), which harness.c's raw_mqtt_connect_opts, built for malformed input, does not. */
int raw_session(struct broker *b, const char *id, bool clean, bool *session_present)
{
	int fd = raw_connect(b);
	struct mqtt_connect c = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = clean,
		.keep_alive = 60,
		.client_id = { .ptr = id, .len = (uint16_t)strlen(id) },
	};
	uint8_t buf[512];
	size_t n = mqtt_encode_connect(buf, sizeof buf, &c);
	struct rpkt p;

	cr_assert_gt(n, 0, "mqtt_encode_connect failed");
	cr_assert_eq(raw_send(fd, buf, n), 0);
	rx_expect(fd, &p, MQTT_CONNACK, 5000);
	cr_assert_eq(p.rc, 0, "CONNACK return code %u for %s", p.rc, id);
	if (session_present)
		*session_present = p.session_present;
	return fd;
}

void tx_publish(int fd, const char *topic, const void *payload, size_t len, uint8_t qos,
		bool retain, bool dup, uint16_t id)
{
	struct mqtt_publish pub = {
		.dup = dup,
		.qos = qos,
		.retain = retain,
		.topic = { .ptr = topic, .len = (uint16_t)strlen(topic) },
		.packet_id = id,
		.payload = payload,
		.payload_len = len,
	};
	uint8_t buf[2048];
	size_t n = mqtt_encode_publish(buf, sizeof buf, &pub);

	cr_assert_gt(n, 0, "mqtt_encode_publish failed");
	cr_assert_eq(raw_send(fd, buf, n), 0);
}

void tx_ack(int fd, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];
	size_t n = mqtt_encode_ack(buf, type, id);

	cr_assert_eq(raw_send(fd, buf, n), 0);
}

uint8_t tx_subscribe(int fd, uint16_t id, const char *filter, uint8_t qos)
{
	struct mqtt_str f = { .ptr = filter, .len = (uint16_t)strlen(filter) };
	uint8_t buf[512];
	size_t n = mqtt_encode_subscribe(buf, sizeof buf, id, &f, &qos, 1);
	struct rpkt p;

	cr_assert_gt(n, 0, "mqtt_encode_subscribe failed");
	cr_assert_eq(raw_send(fd, buf, n), 0);
	rx_expect(fd, &p, MQTT_SUBACK, 5000);
	cr_assert_eq(p.id, id, "SUBACK packet id %u, sent %u", p.id, id);
	cr_assert_eq(p.ncodes, 1);
	return p.codes[0];
}

void tx_disconnect(int fd)
{
	uint8_t buf[2];
	size_t n = mqtt_encode_empty(buf, MQTT_DISCONNECT);

	/* Unchecked: the close that follows ends the connection either way. */
	(void)raw_send(fd, buf, n);
	close(fd);
}

bool payload_is(const struct rpkt *p, const char *s)
{
	return p->payload_len == strlen(s) && memcmp(p->payload, s, p->payload_len) == 0;
}
