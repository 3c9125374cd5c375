/* test_malformed.c - malformed input (MQTT 3.1.1 section 4.8: "the Server MUST close
 * the Network Connection" on a protocol violation, MQTT-4.8.0-1). Every case sends hand
 * made bytes on one raw connection, then checks three things: that connection is
 * closed with no reply, a well-behaved libmosquitto client on another connection still
 * publishes and receives, and the broker is alive and still stops cleanly. */
#include "harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(malformed, .fini = harness_fini, .timeout = 60);

#define WATCH_TOPIC "watch/t"

/* The well-behaved client, subscribed before the bad input arrives. */
static struct client *watcher_start(struct broker *b)
{
	struct client *w = client_new(b, "watcher", true, 60);

	cr_assert_eq(client_connack_rc(w), 0);
	cr_assert_eq(client_subscribe(w, WATCH_TOPIC, 1), 1);
	return w;
}

/* After the bad input: the broker lives and the watcher still gets its own message. */
static void watcher_check(struct broker *b, struct client *w, const char *what)
{
	struct rx_msg m;
	int len = (int)strlen(what);

	cr_assert(broker_alive(b), "%s: broker died", what);
	cr_assert(client_is_connected(w), "%s: the well-behaved client lost its connection",
		  what);
	cr_assert_eq(client_publish(w, WATCH_TOPIC, what, len, 1, false), 0,
		     "%s: the well-behaved client can no longer publish", what);
	cr_assert(client_wait_msg(w, &m, 2000), "%s: the well-behaved client receives nothing",
		  what);
	cr_assert_str_eq(m.topic, WATCH_TOPIC);
	cr_assert(m.payload_len == len && memcmp(m.payload, what, (size_t)len) == 0,
		  "%s: the well-behaved client got a different message", what);
}

static void expect_closed_silently(int fd, const char *what)
{
	uint8_t reply[16];
	bool closed;
	size_t n = raw_drain(fd, reply, sizeof(reply), 2000, &closed);

	cr_assert(closed, "%s: connection still open 2 s later (MQTT-4.8.0-1)", what);
	cr_assert_eq(n, 0, "%s: server replied with %zu bytes, first 0x%02x", what, n,
		     (unsigned)reply[0]);
}

/* Sends <bytes> on a fresh connection, after a valid CONNECT if <after_connect>, else
 * in place of it, and checks the outcome described at the top. */
static void check_malformed(const char *what, const uint8_t *bytes, size_t len,
			    bool after_connect, const char *extra_config)
{
	struct broker b;

	broker_start(&b, 1, extra_config);
	struct client *w = watcher_start(&b);
	int fd = raw_connect(&b);

	if (after_connect)
		cr_assert_eq(raw_mqtt_connect(fd, "offender"), 0);
	/* The broker may close before reading everything; a failed send is fine. */
	raw_send(fd, bytes, len);
	expect_closed_silently(fd, what);
	close(fd);
	watcher_check(&b, w, what);
	client_disconnect(w);
	client_free(w);
	broker_stop_clean(&b);
}

static void check_after_connect(const char *what, const uint8_t *bytes, size_t len)
{
	check_malformed(what, bytes, len, true, NULL);
}

static void check_instead_of_connect(const char *what, const uint8_t *bytes, size_t len)
{
	check_malformed(what, bytes, len, false, NULL);
}

static void check_bad_connect(const char *what, const struct raw_connect_opts *o)
{
	uint8_t pkt[512];
	size_t n = raw_build_connect(pkt, sizeof(pkt), o);

	cr_assert(n > 0);
	check_instead_of_connect(what, pkt, n);
}

/* ---- fixed header ------------------------------------------------------------------ */

Test(malformed, remaining_length_of_5_bytes_closes_the_connection)
{
	/* A fifth length byte: continuation bit set on four (MQTT 2.2.3). */
	static const uint8_t pkt[] = { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };

	check_after_connect("remaining length with 5 bytes", pkt, sizeof(pkt));
}

Test(malformed, remaining_length_of_5_bytes_instead_of_connect_closes_the_connection)
{
	static const uint8_t pkt[] = { 0x10, 0x80, 0x80, 0x80, 0x80, 0x01 };

	check_instead_of_connect("CONNECT with 5 remaining length bytes", pkt, sizeof(pkt));
}

Test(malformed, subscribe_with_reserved_flags_0_closes_the_connection)
{
	/* SUBSCRIBE must be 0x82 (MQTT-3.8.1-1); filter "a" QoS 0. */
	static const uint8_t pkt[] = { 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00 };

	check_after_connect("SUBSCRIBE with flags 0000", pkt, sizeof(pkt));
}

Test(malformed, pubrel_with_reserved_flags_0_closes_the_connection)
{
	/* PUBREL must be 0x62 (MQTT-3.6.1-1). */
	static const uint8_t pkt[] = { 0x60, 0x02, 0x00, 0x01 };

	check_after_connect("PUBREL with flags 0000", pkt, sizeof(pkt));
}

Test(malformed, pingreq_with_reserved_flags_set_closes_the_connection)
{
	/* PINGREQ flags must be 0000 (MQTT-2.2.2-1/2). */
	static const uint8_t pkt[] = { 0xC1, 0x00 };

	check_after_connect("PINGREQ with flags 0001", pkt, sizeof(pkt));
}

Test(malformed, packet_type_0_closes_the_connection)
{
	static const uint8_t pkt[] = { 0x00, 0x00 };

	check_after_connect("reserved packet type 0", pkt, sizeof(pkt));
}

Test(malformed, packet_type_15_closes_the_connection)
{
	static const uint8_t pkt[] = { 0xF0, 0x00 };

	check_after_connect("reserved packet type 15", pkt, sizeof(pkt));
}

/* ---- PUBLISH ---------------------------------------------------------------------- */

Test(malformed, publish_with_qos_3_closes_the_connection)
{
	/* QoS bits 11 (MQTT-3.3.1-4); topic "a", packet id 1. */
	static const uint8_t pkt[] = { 0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01 };

	check_after_connect("PUBLISH QoS 3", pkt, sizeof(pkt));
}

Test(malformed, publish_to_topic_with_hash_closes_the_connection)
{
	/* "a/#": no wildcards in a topic name (MQTT-3.3.2-2). */
	static const uint8_t pkt[] = { 0x30, 0x06, 0x00, 0x03, 'a', '/', '#', 'x' };

	check_after_connect("PUBLISH to a/#", pkt, sizeof(pkt));
}

Test(malformed, publish_to_topic_with_plus_closes_the_connection)
{
	/* "a/+/b" */
	static const uint8_t pkt[] = { 0x30, 0x08, 0x00, 0x05, 'a', '/', '+', '/', 'b', 'x' };

	check_after_connect("PUBLISH to a/+/b", pkt, sizeof(pkt));
}

Test(malformed, publish_to_empty_topic_closes_the_connection)
{
	/* Zero-length topic name (MQTT-4.7.3-1), payload "x". */
	static const uint8_t pkt[] = { 0x30, 0x03, 0x00, 0x00, 'x' };

	check_after_connect("PUBLISH to an empty topic", pkt, sizeof(pkt));
}

Test(malformed, publish_qos_1_with_packet_id_0_closes_the_connection)
{
	/* Packet id must be non-zero (MQTT-2.3.1-1). */
	static const uint8_t pkt[] = { 0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00 };

	check_after_connect("PUBLISH QoS 1 with packet id 0", pkt, sizeof(pkt));
}

Test(malformed, publish_topic_with_invalid_utf8_closes_the_connection)
{
	/* 0xC3 must be followed by a continuation byte, 0x28 is not (MQTT-1.5.3-1). */
	static const uint8_t pkt[] = { 0x30, 0x05, 0x00, 0x03, 'a', 0xC3, 0x28 };

	check_after_connect("PUBLISH topic with invalid UTF-8", pkt, sizeof(pkt));
}

Test(malformed, publish_topic_with_utf16_surrogate_closes_the_connection)
{
	/* ED A0 80 encodes U+D800, a surrogate (MQTT-1.5.3-1). */
	static const uint8_t pkt[] = { 0x30, 0x06, 0x00, 0x04, 'a', 0xED, 0xA0, 0x80 };

	check_after_connect("PUBLISH topic with an encoded surrogate", pkt, sizeof(pkt));
}

Test(malformed, publish_topic_with_overlong_utf8_closes_the_connection)
{
	/* C0 80: an overlong two-byte NUL, ill-formed UTF-8. */
	static const uint8_t pkt[] = { 0x30, 0x05, 0x00, 0x03, 'a', 0xC0, 0x80 };

	check_after_connect("PUBLISH topic with overlong UTF-8", pkt, sizeof(pkt));
}

Test(malformed, publish_topic_with_u0000_closes_the_connection)
{
	/* "a\0b" (MQTT-1.5.3-2). */
	static const uint8_t pkt[] = { 0x30, 0x05, 0x00, 0x03, 'a', 0x00, 'b' };

	check_after_connect("PUBLISH topic with U+0000", pkt, sizeof(pkt));
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------ */

Test(malformed, subscribe_without_topic_filters_closes_the_connection)
{
	/* Packet id only (MQTT-3.8.3-3). */
	static const uint8_t pkt[] = { 0x82, 0x02, 0x00, 0x01 };

	check_after_connect("empty SUBSCRIBE", pkt, sizeof(pkt));
}

Test(malformed, subscribe_with_requested_qos_3_closes_the_connection)
{
	/* Filter "a", requested QoS 3 (MQTT-3-8.3-4). */
	static const uint8_t pkt[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03 };

	check_after_connect("SUBSCRIBE with requested QoS 3", pkt, sizeof(pkt));
}

Test(malformed, unsubscribe_without_topic_filters_closes_the_connection)
{
	/* Packet id only (MQTT-3.10.3-2). */
	static const uint8_t pkt[] = { 0xA2, 0x02, 0x00, 0x01 };

	check_after_connect("empty UNSUBSCRIBE", pkt, sizeof(pkt));
}

/* MQTT 4.7.1 and 4.8: a filter that breaks the wildcard rules is a protocol violation,
 * and the connection is closed, as mosquitto does (it used to get SUBACK 0x80). */
Test(malformed, subscribe_to_a_filter_with_hash_not_last_closes_the_connection)
{
	/* "ok/t" QoS 1, then "a/#/b" QoS 1 (MQTT-4.7.1-2). */
	static const uint8_t pkt[] = {
		0x82, 0x11, 0x00, 0x07,
		0x00, 0x04, 'o', 'k', '/', 't', 0x01,
		0x00, 0x05, 'a', '/', '#', '/', 'b', 0x01,
	};

	check_after_connect("SUBSCRIBE a/#/b", pkt, sizeof(pkt));
}

Test(malformed, subscribe_to_a_filter_with_plus_inside_a_level_closes_the_connection)
{
	/* "a+" QoS 0 (MQTT-4.7.1-3). */
	static const uint8_t pkt[] = { 0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 'a', '+', 0x00 };

	check_after_connect("SUBSCRIBE a+", pkt, sizeof(pkt));
}

Test(malformed, subscribe_to_plus_hash_closes_the_connection)
{
	/* "+#" QoS 2: '#' not after a separator (MQTT-4.7.1-2). */
	static const uint8_t pkt[] = { 0x82, 0x07, 0x00, 0x01, 0x00, 0x02, '+', '#', 0x02 };

	check_after_connect("SUBSCRIBE +#", pkt, sizeof(pkt));
}

Test(malformed, unsubscribe_from_an_invalid_filter_closes_the_connection)
{
	/* UNSUBSCRIBE "a/b#": the same rules hold for UNSUBSCRIBE filters. */
	static const uint8_t pkt[] = { 0xA2, 0x08, 0x00, 0x01, 0x00, 0x04, 'a', '/', 'b', '#' };

	check_after_connect("UNSUBSCRIBE a/b#", pkt, sizeof(pkt));
}

/* ---- CONNECT ---------------------------------------------------------------------- */

Test(malformed, connect_with_reserved_flag_set_closes_without_connack)
{
	struct raw_connect_opts o = { .client_id = "rsv", .clean = true, .keepalive = 60,
				      .extra_flags = 0x01 };

	check_bad_connect("CONNECT with the reserved flag set (MQTT-3.1.2-3)", &o);
}

Test(malformed, connect_with_password_but_no_username_closes_without_connack)
{
	struct raw_connect_opts o = { .client_id = "pwonly", .clean = true, .keepalive = 60,
				      .password = "secret" };

	check_bad_connect("CONNECT with password flag but no username flag (MQTT-3.1.2-22)", &o);
}

Test(malformed, connect_with_will_qos_3_closes_without_connack)
{
	struct raw_connect_opts o = { .client_id = "willq3", .clean = true, .keepalive = 60,
				      .will_topic = "w", .will_payload = "x", .will_qos = 3 };

	check_bad_connect("CONNECT with will QoS 3 (MQTT-3.1.2-14)", &o);
}

Test(malformed, connect_with_wrong_protocol_name_closes_without_connack)
{
	struct raw_connect_opts o = { .client_id = "mqtx", .clean = true, .keepalive = 60,
				      .protocol_name = "MQTX" };

	check_bad_connect("CONNECT with protocol name MQTX (MQTT-3.1.2-1)", &o);
}

/* ---- packets only a server sends -------------------------------------------------- */

Test(malformed, client_sending_connack_is_closed)
{
	static const uint8_t pkt[] = { 0x20, 0x02, 0x00, 0x00 };

	check_after_connect("client sent CONNACK", pkt, sizeof(pkt));
}

Test(malformed, client_sending_suback_is_closed)
{
	static const uint8_t pkt[] = { 0x90, 0x03, 0x00, 0x01, 0x00 };

	check_after_connect("client sent SUBACK", pkt, sizeof(pkt));
}

Test(malformed, client_sending_pingresp_is_closed)
{
	static const uint8_t pkt[] = { 0xD0, 0x00 };

	check_after_connect("client sent PINGRESP", pkt, sizeof(pkt));
}

/* ---- size and truncation ---------------------------------------------------------- */

/* Sends a QoS 0 PUBLISH to <topic> whose whole packet (fixed header included) is
 * <total> bytes. */
static int send_publish_of_size(int fd, const char *topic, size_t total)
{
	static struct raw_pkt p;
	size_t topic_len = strlen(topic);
	/* total = 1 + varint(rem) + rem, rem = 2 + topic + payload; rem > 127 here. */
	size_t rem = total - 3;
	size_t payload = rem - 2 - topic_len;

	cr_assert(rem >= 128 && rem < 16384 && payload < sizeof(p.body));
	raw_pkt_init(&p);
	raw_pkt_str(&p, topic);
	for (size_t i = 0; i < payload; i++)
		raw_pkt_u8(&p, (uint8_t)('a' + i % 26));
	return raw_pkt_send(fd, &p, 0x30);
}

Test(malformed, packet_over_max_packet_size_is_refused_and_a_smaller_one_passes)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, "max_packet_size 1024\n");
	struct client *w = watcher_start(&b);

	cr_assert_eq(client_subscribe(w, "big/t", 0), 0);

	int fd = raw_connect(&b);

	cr_assert_eq(raw_mqtt_connect(fd, "big"), 0);
	/* Exactly the limit passes... */
	cr_assert_eq(send_publish_of_size(fd, "big/t", 1024), 0);
	cr_assert(client_wait_msg(w, &m, 2000), "a 1024-byte packet did not pass");
	cr_assert_str_eq(m.topic, "big/t");
	cr_assert_eq(m.payload_len, 1024 - 3 - 2 - 5);
	cr_assert(raw_ping(fd, 2000), "connection closed after a packet within the limit");

	/* ...one byte more closes the connection and is not delivered. */
	send_publish_of_size(fd, "big/t", 1025);
	expect_closed_silently(fd, "1025-byte packet with max_packet_size 1024");
	close(fd);
	watcher_check(&b, w, "after an oversized packet");
	cr_assert_eq(client_pending(w), 0, "the oversized packet was delivered");
	client_disconnect(w);
	client_free(w);
	broker_stop_clean(&b);
}

Test(malformed, truncated_packet_followed_by_close_does_no_harm)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *w = watcher_start(&b);

	/* A CONNECT announcing 100 bytes, of which only 10 arrive. */
	static const uint8_t part_connect[] = { 0x10, 100, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
						0x02, 0x00, 0x3C };
	int fd = raw_connect(&b);

	cr_assert_eq(raw_send(fd, part_connect, sizeof(part_connect)), 0);
	close(fd);

	/* A PUBLISH announcing 200 bytes after a valid CONNECT, of which 8 arrive. */
	static const uint8_t part_publish[] = { 0x30, 0xC8, 0x01, 0x00, 0x07, 'w', 'a', 't', 'c',
						'h', '/' };

	fd = raw_connect(&b);
	cr_assert_eq(raw_mqtt_connect(fd, "truncated"), 0);
	cr_assert_eq(raw_send(fd, part_publish, sizeof(part_publish)), 0);
	close(fd);

	/* Half a fixed header: the length's continuation byte never comes. */
	static const uint8_t part_header[] = { 0x30, 0x80 };

	fd = raw_connect(&b);
	cr_assert_eq(raw_mqtt_connect(fd, "truncated-2"), 0);
	cr_assert_eq(raw_send(fd, part_header, sizeof(part_header)), 0);
	close(fd);

	usleep(100 * 1000);
	watcher_check(&b, w, "after truncated packets");
	cr_assert_eq(client_pending(w), 0, "part of a truncated PUBLISH was delivered");
	client_disconnect(w);
	client_free(w);
	broker_stop_clean(&b);
}

/* ---- fuzz-ish: random garbage ----------------------------------------------------- */

/* xorshift64*: deterministic, so a failure can be replayed with the logged seed. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

Test(malformed, thousand_random_garbage_connections_leave_the_broker_serving)
{
	enum { CONNECTIONS = 1000, TIME_LIMIT_MS = 20000 };
	const uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint64_t rng = seed;
	struct broker b;

	cr_log_info("garbage seed 0x%llx", (unsigned long long)seed);
	broker_start(&b, 2, NULL);
	struct client *w = watcher_start(&b);
	uint64_t deadline = now_ms() + TIME_LIMIT_MS;
	int done = 0;

	for (; done < CONNECTIONS && now_ms() < deadline; done++) {
		uint8_t buf[256];
		size_t len = 0;
		int fd = raw_connect(&b);

		switch (rng_next(&rng) % 3) {
		case 0:
			/* Pure noise. */
			len = 1 + rng_next(&rng) % 64;
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rng_next(&rng);
			break;
		case 1: {
			/* A valid CONNECT, then noise: reaches the packet handlers. */
			struct raw_connect_opts o = { .client_id = "garbage", .clean = true,
						      .keepalive = 60 };

			len = raw_build_connect(buf, sizeof(buf), &o);
			size_t extra = 1 + rng_next(&rng) % 64;

			for (size_t i = 0; i < extra; i++)
				buf[len++] = (uint8_t)rng_next(&rng);
			break;
		}
		default: {
			/* A plausible fixed header (any type, small length) and a noisy body. */
			size_t body = rng_next(&rng) % 100;

			buf[len++] = (uint8_t)rng_next(&rng);
			buf[len++] = (uint8_t)body;
			for (size_t i = 0; i < body; i++)
				buf[len++] = (uint8_t)rng_next(&rng);
			break;
		}
		}
		raw_send(fd, buf, len);
		close(fd);
		if (done % 100 == 99)
			cr_assert(broker_alive(&b), "broker died after %d garbage connections", done + 1);
	}
	cr_log_info("%d garbage connections in %llu ms", done,
		    (unsigned long long)(TIME_LIMIT_MS - (deadline - now_ms())));
	cr_assert(done >= 100, "only %d garbage connections fit in the time limit", done);

	watcher_check(&b, w, "after random garbage");

	/* And a newcomer still gets in. */
	struct client *c = client_new(&b, "after-garbage", true, 60);

	cr_assert_eq(client_connack_rc(c), 0);
	client_disconnect(c);
	client_free(c);
	client_disconnect(w);
	client_free(w);
	broker_stop_clean(&b);
}
