/* test_qos.c - QoS 0/1/2 end to end against the real broker (MQTT 3.1.1 sections 4.3,
 * 4.4, 4.6): delivery QoS = min(published, granted), the publisher's and the
 * subscriber's acknowledgement flows, exactly-once for QoS 2 (also across a
 * reconnect), redelivery of unacknowledged messages when a persistent session comes
 * back (MQTT-4.4.0-1) and the outgoing inflight window.
 *
 * Packet-level checks use a raw MQTT client written here on top of the project's codec
 * (include/petrel/mqtt.h): libmosquitto hides DUP flags and packet ids and always
 * acknowledges, which is exactly what these tests must control. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "petrel/mqtt.h"

/* Kills any broker a failed assertion left running. */
TestSuite(qos, .fini = harness_fini);

/* Stops the broker and asserts it shut down cleanly on SIGTERM (exit 0): a crash or a
 * sanitizer report at exit must fail the test that provoked it. */
static void broker_stop_clean(struct broker *b)
{
	int st = broker_stop(b);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "broker did not exit cleanly (wait status 0x%x)", (unsigned)st);
}

/* ---- raw MQTT client ------------------------------------------------------------- */

/* One packet from the broker, copied out of the receive buffer. */
struct rpkt {
	enum mqtt_type type;
	uint8_t flags;             /* low nibble of the fixed header */
	bool dup;                  /* PUBLISH */
	bool retain;               /* PUBLISH */
	uint8_t qos;               /* PUBLISH */
	uint16_t id;               /* PUBLISH (qos > 0), PUBACK..PUBCOMP, SUBACK, UNSUBACK */
	char topic[256];           /* PUBLISH, NUL terminated */
	uint8_t payload[1024];     /* PUBLISH */
	size_t payload_len;
	bool session_present;      /* CONNACK */
	uint8_t rc;                /* CONNACK */
	uint8_t codes[16];         /* SUBACK return codes */
	size_t ncodes;
};

/* Waits <= timeout_ms for the first byte of a packet, then reads the rest (<= 2 s) and
 * decodes it with the strict codec, so a malformed packet from the broker fails the
 * test. Returns 1 with <p> filled, 0 if nothing arrived in time, -1 on EOF, a short
 * read or a packet the codec rejects. Uses poll itself because raw_recv cannot tell a
 * timeout from EOF, and "nothing arrived" must not pass on a closed connection. */
static int rx_packet(int fd, struct rpkt *p, int timeout_ms)
{
	uint8_t buf[4096];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int pr;

	memset(p, 0, sizeof *p);
	pr = poll(&pfd, 1, timeout_ms);
	if (pr == 0)
		return 0;
	if (pr < 0 || recv(fd, buf, 1, 0) != 1)
		return -1;
	size_t len = 1;
	size_t rem = 0;
	unsigned shift = 0;
	for (;;) {
		if (len > 4 || raw_recv(fd, buf + len, 1, 2000) != 1)
			return -1;
		rem |= (size_t)(buf[len] & 0x7f) << shift;
		shift += 7;
		if (!(buf[len++] & 0x80))
			break;
	}
	if (rem > sizeof buf - len)
		return -1;
	if (rem > 0 && raw_recv(fd, buf + len, rem, 2000) != (ssize_t)rem)
		return -1;
	len += rem;

	struct mqtt_pkt pkt;
	if (mqtt_decode(buf, len, sizeof buf, &pkt) != (ssize_t)len)
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

/* Reads the next packet and asserts it arrived within timeout_ms and is of <type>. */
static void rx_expect(int fd, struct rpkt *p, enum mqtt_type type, int timeout_ms)
{
	int r = rx_packet(fd, p, timeout_ms);

	cr_assert_eq(r, 1, "expected %s within %d ms, got %s", mqtt_type_name(type),
		     timeout_ms, r == 0 ? "nothing" : "EOF or a malformed packet");
	cr_assert_eq(p->type, type, "expected %s, got %s", mqtt_type_name(type),
		     mqtt_type_name(p->type));
}

/* Asserts that the broker sends nothing for <ms> and keeps the connection open. */
static void rx_nothing(int fd, int ms)
{
	struct rpkt p;
	int r = rx_packet(fd, &p, ms);

	cr_assert_eq(r, 0, "expected silence for %d ms, got %s %s \"%.*s\" id %u", ms,
		     r < 0 ? "EOF or a malformed packet" : mqtt_type_name(p.type),
		     r > 0 ? p.topic : "", r > 0 ? (int)p.payload_len : 0,
		     (const char *)p.payload, p.id);
}

/* Connects a raw 3.1.1 client (keepalive 60) and asserts CONNACK 0. Returns the fd;
 * <session_present> (may be NULL) gets the CONNACK flag. */
static int raw_session(struct broker *b, const char *id, bool clean, bool *session_present)
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

static void tx_publish(int fd, const char *topic, const void *payload, size_t len,
		       uint8_t qos, bool retain, bool dup, uint16_t id)
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

static void tx_ack(int fd, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];
	size_t n = mqtt_encode_ack(buf, type, id);

	cr_assert_eq(raw_send(fd, buf, n), 0);
}

/* Subscribes to one filter and returns the SUBACK return code. */
static uint8_t tx_subscribe(int fd, uint16_t id, const char *filter, uint8_t qos)
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

/* Sends DISCONNECT and closes: the session (cleanSession 0) stays on the broker. */
static void tx_disconnect(int fd)
{
	uint8_t buf[2];
	size_t n = mqtt_encode_empty(buf, MQTT_DISCONNECT);

	(void)raw_send(fd, buf, n);
	close(fd);
}

static bool payload_is(const struct rpkt *p, const char *s)
{
	return p->payload_len == strlen(s) && memcmp(p->payload, s, p->payload_len) == 0;
}

/* ---- helpers ----------------------------------------------------------------------- */

static struct client *connected_client(struct broker *b, const char *id)
{
	struct client *c = client_new(b, id, true, 60);

	cr_assert_eq(client_connack_rc(c), 0, "client %s not connected", id);
	return c;
}

static bool msg_payload_is(const struct rx_msg *m, const char *s)
{
	return m->payload_len == (int)strlen(s) && memcmp(m->payload, s, strlen(s)) == 0;
}

/* Counts messages with payload <s> at <c> until the sentinel payload "end" arrives
 * (<= 5 s), then for a further 300 ms for late duplicates. */
static int count_until_end(struct client *c, const char *s)
{
	struct rx_msg m;
	int count = 0;
	bool end = false;
	uint64_t deadline = now_ms() + 5000;

	while (!end && now_ms() < deadline) {
		if (!client_wait_msg(c, &m, 100))
			continue;
		if (msg_payload_is(&m, "end"))
			end = true;
		else if (msg_payload_is(&m, s))
			count++;
	}
	cr_assert(end, "sentinel message never arrived");
	while (client_wait_msg(c, &m, 300))
		if (msg_payload_is(&m, s))
			count++;
	return count;
}

/* ---- delivery QoS = min(published, granted) ---------------------------------------- */

/* A raw subscriber at <sub_qos> receives one message published at <pub_qos> and must
 * see it at <want_qos>, then completes that QoS's flow and sees nothing more. */
static void check_delivery_qos(uint8_t pub_qos, uint8_t sub_qos, uint8_t want_qos)
{
	struct broker b;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	int fd = raw_session(&b, "sub", true, NULL);
	cr_assert_eq(tx_subscribe(fd, 1, "d/t", sub_qos), sub_qos, "SUBACK grants the request");
	struct client *pub = connected_client(&b, "pub");
	cr_assert_eq(client_publish(pub, "d/t", "x", 1, pub_qos, false), 0);

	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert_eq(p.qos, want_qos, "published at %u, subscribed at %u: delivered at %u",
		     pub_qos, sub_qos, p.qos);
	cr_assert_str_eq(p.topic, "d/t");
	cr_assert(payload_is(&p, "x"));
	cr_assert_not(p.dup, "first delivery must have DUP 0 (MQTT-3.3.1-3)");
	cr_assert_not(p.retain);
	if (want_qos == 1) {
		tx_ack(fd, MQTT_PUBACK, p.id);
	} else if (want_qos == 2) {
		uint16_t id = p.id;

		tx_ack(fd, MQTT_PUBREC, id);
		rx_expect(fd, &p, MQTT_PUBREL, 3000);
		cr_assert_eq(p.id, id, "PUBREL carries the PUBLISH's packet id");
		tx_ack(fd, MQTT_PUBCOMP, id);
	}
	/* No second copy and no retransmission once the flow is complete. */
	rx_nothing(fd, 300);
	cr_assert(broker_alive(&b));

	client_disconnect(pub);
	client_free(pub);
	close(fd);
	broker_stop_clean(&b);
}

Test(qos, publish_qos2_subscribe_qos1_delivers_qos1, .timeout = 30)
{
	check_delivery_qos(2, 1, 1);
}

Test(qos, publish_qos0_subscribe_qos1_delivers_qos0, .timeout = 30)
{
	check_delivery_qos(0, 1, 0);
}

Test(qos, publish_qos1_subscribe_qos2_delivers_qos1, .timeout = 30)
{
	check_delivery_qos(1, 2, 1);
}

Test(qos, publish_qos2_subscribe_qos2_delivers_qos2_with_pubrec_pubrel_pubcomp, .timeout = 30)
{
	check_delivery_qos(2, 2, 2);
}

/* ---- publisher leg ----------------------------------------------------------------- */

Test(qos, qos1_publish_gets_puback_with_same_packet_id, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub");
	cr_assert_eq(client_subscribe(sub, "p/1", 1), 1);
	int fd = raw_session(&b, "rawpub", true, NULL);

	/* An id with both bytes non-zero catches byte-order mistakes. */
	tx_publish(fd, "p/1", "hello", 5, 1, false, false, 0x1234);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);
	cr_assert_eq(p.id, 0x1234, "PUBACK id 0x%04x", p.id);
	cr_assert(client_wait_msg(sub, &m, 3000), "subscriber got the message");
	cr_assert(msg_payload_is(&m, "hello"));
	cr_assert_eq(m.qos, 1);
	rx_nothing(fd, 200);

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

Test(qos, qos2_publish_gets_pubrec_then_pubrel_gets_pubcomp, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub");
	cr_assert_eq(client_subscribe(sub, "p/2", 2), 2);
	int fd = raw_session(&b, "rawpub", true, NULL);

	tx_publish(fd, "p/2", "hello", 5, 2, false, false, 0x4321);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 0x4321, "PUBREC id 0x%04x", p.id);
	tx_ack(fd, MQTT_PUBREL, 0x4321);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 0x4321, "PUBCOMP id 0x%04x", p.id);
	/* Onward delivery may start at PUBLISH or at PUBREL (spec 4.3.3, methods A and B);
	 * either way the subscriber has it by now or soon after. */
	cr_assert(client_wait_msg(sub, &m, 3000), "subscriber got the message");
	cr_assert(msg_payload_is(&m, "hello"));
	cr_assert_eq(m.qos, 2);
	rx_nothing(fd, 200);

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

/* ---- exactly once ------------------------------------------------------------------ */

Test(qos, qos2_resent_publish_before_pubrel_is_delivered_once, .timeout = 30)
{
	struct broker b;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub");
	cr_assert_eq(client_subscribe(sub, "eo/t", 2), 2);
	int fd = raw_session(&b, "rawpub", true, NULL);

	tx_publish(fd, "eo/t", "once", 4, 2, false, false, 7);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 7);
	/* The retransmission a publisher makes when it believes the PUBREC was lost: the
	 * broker must answer PUBREC again and must not forward a second copy. */
	tx_publish(fd, "eo/t", "once", 4, 2, false, true, 7);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 7, "second PUBREC id %u", p.id);
	tx_ack(fd, MQTT_PUBREL, 7);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 7);
	tx_publish(fd, "eo/t", "end", 3, 1, false, false, 8);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);

	cr_assert_eq(count_until_end(sub, "once"), 1, "QoS 2 message delivered exactly once");

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

/* After PUBCOMP the packet id is free again (MQTT-4.3.3-2): a new PUBLISH with the same
 * id is a new message, not a duplicate. Guards against over-eager deduplication. */
Test(qos, qos2_packet_id_reused_after_pubcomp_is_a_new_message, .timeout = 30)
{
	struct broker b;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub");
	cr_assert_eq(client_subscribe(sub, "eo/t", 2), 2);
	int fd = raw_session(&b, "rawpub", true, NULL);

	for (int round = 0; round < 2; round++) {
		tx_publish(fd, "eo/t", "again", 5, 2, false, false, 7);
		rx_expect(fd, &p, MQTT_PUBREC, 3000);
		cr_assert_eq(p.id, 7);
		tx_ack(fd, MQTT_PUBREL, 7);
		rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
		cr_assert_eq(p.id, 7);
	}
	tx_publish(fd, "eo/t", "end", 3, 1, false, false, 8);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);

	cr_assert_eq(count_until_end(sub, "again"), 2, "two distinct messages delivered");

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

Test(qos, qos2_resent_after_publisher_reconnect_is_delivered_once, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	bool sp = true;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub");
	cr_assert_eq(client_subscribe(sub, "eo/t", 2), 2);

	int fd = raw_session(&b, "eo-pub", false, &sp);
	cr_assert_not(sp, "a new persistent session has session present 0");
	tx_publish(fd, "eo/t", "once", 4, 2, false, false, 9);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 9);
	/* Connection lost before PUBREL: no DISCONNECT. */
	close(fd);

	fd = raw_session(&b, "eo-pub", false, &sp);
	cr_assert(sp, "the session (with id 9 awaiting PUBREL) survived: session present 1");
	/* The publisher cannot know whether PUBREC came, so it resends the PUBLISH
	 * (MQTT-4.4.0-1); the broker remembers id 9 and must not forward it again. */
	tx_publish(fd, "eo/t", "once", 4, 2, false, true, 9);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 9);
	tx_ack(fd, MQTT_PUBREL, 9);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 9);
	tx_publish(fd, "eo/t", "end", 3, 1, false, false, 10);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);

	cr_assert_eq(count_until_end(sub, "once"), 1, "QoS 2 message delivered exactly once");

	tx_disconnect(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

/* ---- subscriber leg: redelivery on reconnect --------------------------------------- */

/* Starts a broker with a persistent raw subscriber "rs" on "rs/t" at <qos>, publishes
 * "m" at <qos> and returns the subscriber's fd with the PUBLISH read into <p>. */
static int persistent_raw_sub_with_one_message(struct broker *b, uint8_t qos,
					       struct client **pub, struct rpkt *p)
{
	int fd = raw_session(b, "rs", false, NULL);

	cr_assert_eq(tx_subscribe(fd, 1, "rs/t", qos), qos);
	*pub = connected_client(b, "pub");
	cr_assert_eq(client_publish(*pub, "rs/t", "m", 1, qos, false), 0);
	rx_expect(fd, p, MQTT_PUBLISH, 3000);
	cr_assert_eq(p->qos, qos);
	cr_assert_not(p->dup);
	cr_assert(payload_is(p, "m"));
	return fd;
}

/* Petrel resends only on reconnect (MQTT-4.4.0-1 forbids nothing else, but that is the
 * documented behaviour): an unacknowledged message is not repeated on a live
 * connection. */
Test(qos, qos1_unacked_not_resent_while_connected, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 1, &pub, &p);
	rx_nothing(fd, 1500);
	tx_ack(fd, MQTT_PUBACK, p.id);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

Test(qos, qos1_unacked_resent_with_dup_and_same_id_after_reconnect, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;
	bool sp = false;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 1, &pub, &p);
	uint16_t id = p.id;
	tx_disconnect(fd);   /* no PUBACK */

	fd = raw_session(&b, "rs", false, &sp);
	cr_assert(sp, "session present 1");
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert(p.dup, "redelivery has DUP 1");
	cr_assert_eq(p.id, id, "redelivery keeps packet id %u, got %u", id, p.id);
	cr_assert_eq(p.qos, 1);
	cr_assert_str_eq(p.topic, "rs/t");
	cr_assert(payload_is(&p, "m"));
	tx_ack(fd, MQTT_PUBACK, id);
	rx_nothing(fd, 300);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

Test(qos, qos2_without_pubrec_resent_with_dup_after_reconnect, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;
	bool sp = false;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 2, &pub, &p);
	uint16_t id = p.id;
	tx_disconnect(fd);   /* no PUBREC */

	fd = raw_session(&b, "rs", false, &sp);
	cr_assert(sp, "session present 1");
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert(p.dup, "redelivery has DUP 1");
	cr_assert_eq(p.id, id, "redelivery keeps packet id %u, got %u", id, p.id);
	cr_assert_eq(p.qos, 2);
	cr_assert(payload_is(&p, "m"));
	tx_ack(fd, MQTT_PUBREC, id);
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id);
	tx_ack(fd, MQTT_PUBCOMP, id);
	rx_nothing(fd, 300);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

Test(qos, qos2_pubrec_sent_pubcomp_missing_pubrel_resent_after_reconnect, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;
	bool sp = false;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 2, &pub, &p);
	uint16_t id = p.id;
	tx_ack(fd, MQTT_PUBREC, id);
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id);
	tx_disconnect(fd);   /* no PUBCOMP */

	fd = raw_session(&b, "rs", false, &sp);
	cr_assert(sp, "session present 1");
	/* The message itself is done with (the subscriber owns it since PUBREC): only the
	 * PUBREL is repeated (MQTT-4.4.0-1), never the PUBLISH. */
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id, "PUBREL resent for id %u, got %u", id, p.id);
	tx_ack(fd, MQTT_PUBCOMP, id);
	rx_nothing(fd, 300);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

/* ---- inflight window --------------------------------------------------------------- */

Test(qos, inflight_window_limits_unacked_qos1_and_ack_releases_next_in_order, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	uint16_t ids[5];

	broker_start(&b, 1, "max_inflight_messages 2\n");
	int fd = raw_session(&b, "slow", true, NULL);
	cr_assert_eq(tx_subscribe(fd, 1, "w/t", 1), 1);
	struct client *pub = connected_client(&b, "pub");
	for (int i = 0; i < 5; i++) {
		char s[8];
		int n = snprintf(s, sizeof s, "%d", i);

		/* The broker acknowledges the publisher; the rest waits in the queue. */
		cr_assert_eq(client_publish(pub, "w/t", s, n, 1, false), 0);
	}

	/* Window of 2: messages 0 and 1 arrive, then nothing until an ack. */
	for (int i = 0; i < 2; i++) {
		char s[8];

		snprintf(s, sizeof s, "%d", i);
		rx_expect(fd, &p, MQTT_PUBLISH, 3000);
		cr_assert(payload_is(&p, s), "message %d in order", i);
		cr_assert_eq(p.qos, 1);
		ids[i] = p.id;
	}
	cr_assert_neq(ids[0], ids[1], "inflight messages have distinct packet ids");
	rx_nothing(fd, 500);

	/* Each PUBACK frees one slot and releases exactly the next queued message. */
	for (int i = 2; i < 5; i++) {
		char s[8];

		snprintf(s, sizeof s, "%d", i);
		tx_ack(fd, MQTT_PUBACK, ids[i - 2]);
		rx_expect(fd, &p, MQTT_PUBLISH, 3000);
		cr_assert(payload_is(&p, s), "message %d released in order", i);
		cr_assert_not(p.dup);
		ids[i] = p.id;
		cr_assert_neq(ids[i], ids[i - 1], "inflight messages have distinct packet ids");
		rx_nothing(fd, 300);
	}
	tx_ack(fd, MQTT_PUBACK, ids[3]);
	tx_ack(fd, MQTT_PUBACK, ids[4]);
	rx_nothing(fd, 300);
	cr_assert(broker_alive(&b));

	close(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}
