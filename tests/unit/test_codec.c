/* test_codec.c - unit tests for the MQTT 3.1 / 3.1.1 codec (dataplane/mqtt/codec.c):
 * round trips through our own encoders, byte arrays taken from the OASIS MQTT 3.1.1
 * spec's non normative examples, incremental input, size limits, and one test per
 * malformed case that mqtt_decode() must reject. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "petrel/compiler.h"
#include "petrel/mqtt.h"

#define BIG (1u << 24)	/* max_packet_size that never gets in the way */

static uint8_t buf[1 << 16];
static uint8_t payload_buf[40000];

static ssize_t decode(const uint8_t *b, size_t n, struct mqtt_pkt *pkt)
{
	return mqtt_decode(b, n, BIG, pkt);
}

static ssize_t decode_only(const uint8_t *b, size_t n)
{
	struct mqtt_pkt pkt;

	return mqtt_decode(b, n, BIG, &pkt);
}

static struct mqtt_str S(const char *s)
{
	struct mqtt_str r = { s, (uint16_t)strlen(s) };

	return r;
}

static void assert_str(struct mqtt_str got, const char *want)
{
	cr_assert_eq(got.len, strlen(want), "length %u, want %zu (%s)", got.len,
		     strlen(want), want);
	cr_assert(memcmp(got.ptr, want, got.len) == 0, "want %s", want);
}

/* Every proper prefix of a valid packet decodes to 0 (need more), the whole to its size. */
static void assert_prefixes_incomplete(const uint8_t *b, size_t n)
{
	struct mqtt_pkt pkt;
	size_t i;

	for (i = 0; i < n; i++)
		cr_assert_eq(mqtt_decode(b, i, BIG, &pkt), 0, "prefix %zu of %zu", i, n);
	cr_assert_eq(mqtt_decode(b, n, BIG, &pkt), (ssize_t)n);
}

static struct mqtt_connect full_connect(void)
{
	static const uint8_t will_payload[] = { 'b', 'y', 'e', 0x00, 0xff };
	static const uint8_t password[] = { 0x00, 's', 'e', 'c', 0x80 };
	struct mqtt_connect c = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = true,
		.will_flag = true,
		.will_qos = 2,
		.will_retain = true,
		.has_username = true,
		.has_password = true,
		.keep_alive = 0xabcd,
		.client_id = S("client-\xc3\xa9"),
		.will_topic = S("status/client/\xe2\x82\xac"),
		.will_payload = will_payload,
		.will_payload_len = sizeof(will_payload),
		.username = S("user"),
		.password = password,
		.password_len = sizeof(password),
	};

	return c;
}

static struct mqtt_connect min_connect(void)
{
	struct mqtt_connect c = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = true,
		.keep_alive = 60,
		.client_id = S("c1"),
	};

	return c;
}

/* Encodes <c>; CONNECTs built here are < 128 bytes so the fixed header is 2 bytes and
 * for "MQTT" the level is at offset 8, the connect flags at 9. */
static size_t enc_connect(const struct mqtt_connect *c)
{
	size_t n = mqtt_encode_connect(buf, sizeof(buf), c);

	cr_assert_gt(n, 0);
	return n;
}

/* ------------------------------------------------------------------------------- */
/* Round trips                                                                     */
/* ------------------------------------------------------------------------------- */

Test(codec, connect_minimal_roundtrip)
{
	struct mqtt_connect c = min_connect();
	struct mqtt_pkt pkt;
	size_t n = enc_connect(&c);

	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	cr_assert_eq(pkt.type, MQTT_CONNECT);
	cr_assert_eq(pkt.flags, 0);
	cr_assert_eq(pkt.remaining_len, n - 2);
	cr_assert_eq(pkt.u.connect.protocol_level, MQTT_PROTO_V311);
	cr_assert(pkt.u.connect.clean_session);
	cr_assert_not(pkt.u.connect.will_flag);
	cr_assert_not(pkt.u.connect.has_username);
	cr_assert_not(pkt.u.connect.has_password);
	cr_assert_eq(pkt.u.connect.keep_alive, 60);
	assert_str(pkt.u.connect.client_id, "c1");
}

Test(codec, connect_every_optional_field_roundtrip)
{
	struct mqtt_connect c = full_connect();
	struct mqtt_connect *d;
	struct mqtt_pkt pkt;
	size_t n = enc_connect(&c);

	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	d = &pkt.u.connect;
	cr_assert_eq(pkt.type, MQTT_CONNECT);
	cr_assert_eq(d->protocol_level, MQTT_PROTO_V311);
	cr_assert(d->clean_session);
	cr_assert(d->will_flag);
	cr_assert_eq(d->will_qos, 2);
	cr_assert(d->will_retain);
	cr_assert(d->has_username);
	cr_assert(d->has_password);
	cr_assert_eq(d->keep_alive, 0xabcd);
	assert_str(d->client_id, "client-\xc3\xa9");
	assert_str(d->will_topic, "status/client/\xe2\x82\xac");
	cr_assert_eq(d->will_payload_len, c.will_payload_len);
	cr_assert_arr_eq(d->will_payload, c.will_payload, c.will_payload_len);
	assert_str(d->username, "user");
	cr_assert_eq(d->password_len, c.password_len);
	cr_assert_arr_eq(d->password, c.password, c.password_len);
	/* Decoded pointers point into the caller's buffer. */
	cr_assert(d->client_id.ptr > (const char *)buf &&
		  d->client_id.ptr < (const char *)buf + n);
}

Test(codec, connect_empty_client_id_and_empty_will_payload_roundtrip)
{
	struct mqtt_connect c = min_connect();
	struct mqtt_pkt pkt;
	size_t n;

	c.client_id = S("");
	c.will_flag = true;
	c.will_qos = 1;
	c.will_topic = S("w");
	c.will_payload = NULL;
	c.will_payload_len = 0;
	c.has_username = true;
	c.username = S("");
	c.has_password = true;
	c.password = NULL;
	c.password_len = 0;
	n = enc_connect(&c);
	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	cr_assert_eq(pkt.u.connect.client_id.len, 0);
	cr_assert_eq(pkt.u.connect.will_qos, 1);
	cr_assert_not(pkt.u.connect.will_retain);
	assert_str(pkt.u.connect.will_topic, "w");
	cr_assert_eq(pkt.u.connect.will_payload_len, 0);
	cr_assert_eq(pkt.u.connect.username.len, 0);
	cr_assert(pkt.u.connect.has_password);
	cr_assert_eq(pkt.u.connect.password_len, 0);
}

Test(codec, connect_v31_mqisdp_roundtrip)
{
	struct mqtt_connect c = full_connect();
	struct mqtt_pkt pkt;
	size_t n;

	c.protocol_level = MQTT_PROTO_V31;
	c.clean_session = false;
	n = enc_connect(&c);
	cr_assert(memcmp(buf + 2, "\x00\x06MQIsdp\x03", 9) == 0);
	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	cr_assert_eq(pkt.u.connect.protocol_level, MQTT_PROTO_V31);
	cr_assert_not(pkt.u.connect.clean_session);
	assert_str(pkt.u.connect.username, "user");
}

Test(codec, connack_roundtrip)
{
	struct mqtt_pkt pkt;

	cr_assert_eq(mqtt_encode_connack(buf, true, MQTT_CONNACK_ACCEPTED), 4);
	cr_assert_eq(decode(buf, 4, &pkt), 4);
	cr_assert_eq(pkt.type, MQTT_CONNACK);
	cr_assert(pkt.u.connack.session_present);
	cr_assert_eq(pkt.u.connack.return_code, 0);

	cr_assert_eq(mqtt_encode_connack(buf, false, MQTT_CONNACK_NOT_AUTHORIZED), 4);
	cr_assert_eq(decode(buf, 4, &pkt), 4);
	cr_assert_not(pkt.u.connack.session_present);
	cr_assert_eq(pkt.u.connack.return_code, MQTT_CONNACK_NOT_AUTHORIZED);
}

static void publish_roundtrip(bool dup, uint8_t qos, bool retain, uint16_t id,
			      const char *topic, size_t payload_len)
{
	struct mqtt_publish p = {
		.dup = dup, .qos = qos, .retain = retain, .topic = S(topic),
		.packet_id = id, .payload = payload_buf, .payload_len = payload_len,
	};
	struct mqtt_pkt pkt;
	size_t i, n;

	for (i = 0; i < payload_len; i++)
		payload_buf[i] = (uint8_t)(i * 7 + 3);
	n = mqtt_encode_publish(buf, sizeof(buf), &p);
	cr_assert_gt(n, 0);
	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	cr_assert_eq(pkt.type, MQTT_PUBLISH);
	cr_assert_eq(pkt.u.publish.dup, dup);
	cr_assert_eq(pkt.u.publish.qos, qos);
	cr_assert_eq(pkt.u.publish.retain, retain);
	assert_str(pkt.u.publish.topic, topic);
	cr_assert_eq(pkt.u.publish.packet_id, qos > 0 ? id : 0);
	cr_assert_eq(pkt.u.publish.payload_len, payload_len);
	if (payload_len > 0)
		cr_assert_arr_eq(pkt.u.publish.payload, payload_buf, payload_len);
}

Test(codec, publish_qos0_roundtrip)
{
	publish_roundtrip(false, 0, false, 0, "sensors/1/temp", 5);
}

Test(codec, publish_qos1_retain_roundtrip)
{
	publish_roundtrip(false, 1, true, 1, "a", 100);
}

Test(codec, publish_qos2_dup_roundtrip)
{
	publish_roundtrip(true, 2, false, 0xffff, "x/\xf0\x9f\x98\x80/y", 1);
}

Test(codec, publish_empty_payload_roundtrip)
{
	publish_roundtrip(false, 0, true, 0, "retained/clear", 0);
}

Test(codec, publish_three_byte_remaining_length_roundtrip)
{
	/* 2 + 3 + 2 + 20000 = 20007: remaining length takes 3 bytes. */
	publish_roundtrip(false, 1, false, 7, "big", 20000);
	cr_assert_eq(buf[0], 0x32);
	cr_assert_eq(buf[3] & 0x80, 0);
	cr_assert_eq(buf[2] & 0x80, 0x80);
}

Test(codec, publish_header_plus_payload_equals_full_publish)
{
	static const char topic[] = "t/1";
	uint8_t hdr[5 + 2 + sizeof(topic) + 2];
	struct mqtt_publish p = {
		.qos = 1, .retain = true, .topic = S(topic), .packet_id = 42,
		.payload = (const uint8_t *)"hello", .payload_len = 5,
	};
	size_t h, n;

	h = mqtt_encode_publish_header(hdr, sizeof(hdr), false, 1, true, topic,
				       strlen(topic), 42, 5);
	n = mqtt_encode_publish(buf, sizeof(buf), &p);
	cr_assert_eq(h + 5, n);
	cr_assert_arr_eq(hdr, buf, h);
	cr_assert(memcmp(buf + h, "hello", 5) == 0);
}

Test(codec, publish_header_four_byte_length_fits_documented_bound)
{
	uint8_t hdr[5 + 2 + 3 + 2];
	size_t h;

	/* 3 MB payload: remaining length needs 4 bytes. */
	h = mqtt_encode_publish_header(hdr, sizeof(hdr), true, 2, false, "a/b", 3, 9,
				       3u << 20);
	cr_assert_eq(h, sizeof(hdr));
	cr_assert_eq(hdr[0], 0x3c);
	cr_assert_eq(hdr[4] & 0x80, 0);
	cr_assert_eq(mqtt_encode_publish_header(hdr, sizeof(hdr) - 1, true, 2, false, "a/b",
						3, 9, 3u << 20), 0);
}

Test(codec, publish_header_rejects_oversize_and_bad_args)
{
	uint8_t hdr[64];

	cr_assert_eq(mqtt_encode_publish_header(hdr, sizeof(hdr), false, 0, false, "a", 1, 0,
						MQTT_MAX_REMAINING_LEN), 0);
	cr_assert_gt(mqtt_encode_publish_header(hdr, sizeof(hdr), false, 0, false, "a", 1, 0,
						MQTT_MAX_REMAINING_LEN - 3), 0);
	cr_assert_eq(mqtt_encode_publish_header(hdr, sizeof(hdr), false, 3, false, "a", 1, 1,
						0), 0);
	/* DUP is never written for QoS 0 [MQTT-3.3.1-2]. */
	cr_assert_eq(mqtt_encode_publish_header(hdr, sizeof(hdr), true, 0, false, "a", 1, 0,
						0), 5);
	cr_assert_eq(hdr[0], 0x30);
}

Test(codec, ack_roundtrip_every_type)
{
	static const enum mqtt_type types[] = {
		MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP, MQTT_UNSUBACK,
	};
	struct mqtt_pkt pkt;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		cr_assert_eq(mqtt_encode_ack(buf, types[i], (uint16_t)(0x1234 + i)), 4);
		cr_assert_eq(decode(buf, 4, &pkt), 4);
		cr_assert_eq(pkt.type, types[i]);
		cr_assert_eq(pkt.flags, types[i] == MQTT_PUBREL ? 2 : 0);
		cr_assert_eq(pkt.u.packet_id, 0x1234 + i);
	}
	cr_assert_eq(mqtt_encode_ack(buf, MQTT_PUBLISH, 1), 0);
}

Test(codec, subscribe_roundtrip_with_iterator)
{
	const struct mqtt_str filters[] = { S("a/+/c"), S("#"), S("\xc3\xa9t\xc3\xa9/#") };
	const uint8_t qos[] = { 0, 1, 2 };
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	struct mqtt_pkt pkt;
	uint8_t q;
	size_t n, i;

	n = mqtt_encode_subscribe(buf, sizeof(buf), 99, filters, qos, 3);
	cr_assert_gt(n, 0);
	cr_assert_eq(buf[0], 0x82);
	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	cr_assert_eq(pkt.type, MQTT_SUBSCRIBE);
	cr_assert_eq(pkt.u.topics.packet_id, 99);
	cr_assert_eq(pkt.u.topics.count, 3);
	cr_assert(pkt.u.topics.with_qos);
	mqtt_topic_iter_init(&it, &pkt.u.topics);
	for (i = 0; i < 3; i++) {
		cr_assert(mqtt_topic_iter_next(&it, &f, &q));
		cr_assert_eq(f.len, filters[i].len);
		cr_assert(memcmp(f.ptr, filters[i].ptr, f.len) == 0);
		cr_assert_eq(q, qos[i]);
	}
	cr_assert_not(mqtt_topic_iter_next(&it, &f, &q));
}

Test(codec, unsubscribe_roundtrip_with_iterator)
{
	const struct mqtt_str filters[] = { S("a/b"), S("+/x/#") };
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	struct mqtt_pkt pkt;
	uint8_t q = 77;
	size_t n;

	n = mqtt_encode_unsubscribe(buf, sizeof(buf), 3, filters, 2);
	cr_assert_gt(n, 0);
	cr_assert_eq(buf[0], 0xa2);
	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	cr_assert_eq(pkt.type, MQTT_UNSUBSCRIBE);
	cr_assert_eq(pkt.u.topics.packet_id, 3);
	cr_assert_eq(pkt.u.topics.count, 2);
	cr_assert_not(pkt.u.topics.with_qos);
	mqtt_topic_iter_init(&it, &pkt.u.topics);
	cr_assert(mqtt_topic_iter_next(&it, &f, &q));
	assert_str(f, "a/b");
	cr_assert_eq(q, 0);
	cr_assert(mqtt_topic_iter_next(&it, &f, NULL));
	assert_str(f, "+/x/#");
	cr_assert_not(mqtt_topic_iter_next(&it, &f, &q));
}

Test(codec, suback_roundtrip)
{
	const uint8_t codes[] = { 0, 1, 2, MQTT_SUBACK_FAILURE };
	struct mqtt_pkt pkt;
	size_t n;

	n = mqtt_encode_suback(buf, sizeof(buf), 500, codes, 4);
	cr_assert_eq(n, 8);
	cr_assert_eq(decode(buf, n, &pkt), (ssize_t)n);
	cr_assert_eq(pkt.type, MQTT_SUBACK);
	cr_assert_eq(pkt.u.suback.packet_id, 500);
	cr_assert_eq(pkt.u.suback.count, 4);
	cr_assert_arr_eq(pkt.u.suback.return_codes, codes, 4);
	cr_assert_eq(mqtt_encode_suback(buf, 7, 500, codes, 4), 0);
}

Test(codec, empty_packets_roundtrip)
{
	static const enum mqtt_type types[] = { MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT };
	struct mqtt_pkt pkt;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		cr_assert_eq(mqtt_encode_empty(buf, types[i]), 2);
		cr_assert_eq(decode(buf, 2, &pkt), 2);
		cr_assert_eq(pkt.type, types[i]);
		cr_assert_eq(pkt.remaining_len, 0);
	}
	cr_assert_eq(mqtt_encode_pingresp(buf), 2);
	cr_assert_eq(buf[0], 0xd0);
	cr_assert_eq(buf[1], 0x00);
	cr_assert_eq(mqtt_encode_empty(buf, MQTT_CONNECT), 0);
}

Test(codec, decode_stops_at_first_packet)
{
	struct mqtt_pkt pkt;
	size_t n;

	n = mqtt_encode_ack(buf, MQTT_PUBACK, 1);
	n += mqtt_encode_empty(buf + n, MQTT_PINGREQ);
	cr_assert_eq(decode(buf, n, &pkt), 4);
	cr_assert_eq(pkt.type, MQTT_PUBACK);
	cr_assert_eq(decode(buf + 4, n - 4, &pkt), 2);
	cr_assert_eq(pkt.type, MQTT_PINGREQ);
}

Test(codec, encoders_report_small_buffer)
{
	struct mqtt_connect c = full_connect();
	struct mqtt_publish p = { .qos = 1, .topic = S("t"), .packet_id = 1,
				  .payload = (const uint8_t *)"abc", .payload_len = 3 };
	const struct mqtt_str f[] = { S("a/b") };
	size_t n;

	n = mqtt_encode_connect(buf, sizeof(buf), &c);
	cr_assert_eq(mqtt_encode_connect(buf, n - 1, &c), 0);
	n = mqtt_encode_publish(buf, sizeof(buf), &p);
	cr_assert_eq(n, 10);
	cr_assert_eq(mqtt_encode_publish(buf, n - 1, &p), 0);
	cr_assert_eq(mqtt_encode_publish(buf, 6, &p), 0);
	n = mqtt_encode_subscribe(buf, sizeof(buf), 1, f, NULL, 1);
	cr_assert_eq(n, 10);
	cr_assert_eq(buf[9], 0);
	cr_assert_eq(mqtt_encode_subscribe(buf, n - 1, 1, f, NULL, 1), 0);
	n = mqtt_encode_unsubscribe(buf, sizeof(buf), 1, f, 1);
	cr_assert_eq(mqtt_encode_unsubscribe(buf, n - 1, 1, f, 1), 0);
}

Test(codec, type_names)
{
	cr_assert_str_eq(mqtt_type_name(MQTT_CONNECT), "CONNECT");
	cr_assert_str_eq(mqtt_type_name(MQTT_PUBLISH), "PUBLISH");
	cr_assert_str_eq(mqtt_type_name(MQTT_PUBREL), "PUBREL");
	cr_assert_str_eq(mqtt_type_name(MQTT_UNSUBACK), "UNSUBACK");
	cr_assert_str_eq(mqtt_type_name(MQTT_DISCONNECT), "DISCONNECT");
	cr_assert_str_eq(mqtt_type_name((enum mqtt_type)0), "UNKNOWN");
	cr_assert_str_eq(mqtt_type_name((enum mqtt_type)15), "UNKNOWN");
	cr_assert_str_eq(mqtt_type_name((enum mqtt_type)-1), "UNKNOWN");
}

/* ------------------------------------------------------------------------------- */
/* Packets written from the spec's non normative examples                          */
/* ------------------------------------------------------------------------------- */

Test(codec, spec_remaining_length_table)
{
	/* Table 2.4 and the 2.2.3 comments (64 -> 0x40, 321 -> 0xC1 0x02). */
	static const struct {
		uint32_t value;
		uint8_t bytes[4];
		size_t n;
	} t[] = {
		{ 0, { 0x00 }, 1 },
		{ 64, { 0x40 }, 1 },
		{ 127, { 0x7f }, 1 },
		{ 128, { 0x80, 0x01 }, 2 },
		{ 321, { 0xc1, 0x02 }, 2 },
		{ 16383, { 0xff, 0x7f }, 2 },
		{ 16384, { 0x80, 0x80, 0x01 }, 3 },
		{ 2097151, { 0xff, 0xff, 0x7f }, 3 },
		{ 2097152, { 0x80, 0x80, 0x80, 0x01 }, 4 },
		{ 268435455, { 0xff, 0xff, 0xff, 0x7f }, 4 },
	};
	uint8_t out[4];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		uint8_t pkt[5] = { 0x30 };
		struct mqtt_pkt p;

		cr_assert_eq(mqtt_varint_encode(out, t[i].value), t[i].n, "value %u",
			     t[i].value);
		cr_assert_arr_eq(out, t[i].bytes, t[i].n);
		/* The decoder reads the same bytes back: header complete, body missing. */
		memcpy(pkt + 1, t[i].bytes, t[i].n);
		cr_assert_eq(mqtt_decode(pkt, 1 + t[i].n, SIZE_MAX, &p),
			     t[i].value == 0 ? -EPROTO : 0, "value %u", t[i].value);
	}
}

Test(codec, spec_connect_variable_header_example)
{
	/* Figure 3.6 variable header ("MQTT", level 4, flags 0xCE, keep alive 10), then a
	 * payload in the order of 3.1.3: client id, will topic, will message, user name,
	 * password. */
	static const uint8_t pkt[] = {
		0x10, 0x26,
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xce, 0x00, 0x0a,
		0x00, 0x03, 'c', 'i', 'd',
		0x00, 0x05, 'w', 'i', 'l', 'l', 's',
		0x00, 0x02, 'g', 'o',
		0x00, 0x04, 'u', 's', 'e', 'r',
		0x00, 0x04, 'p', 'a', 's', 's',
	};
	struct mqtt_connect *c;
	struct mqtt_pkt p;

	cr_assert_eq(decode(pkt, sizeof(pkt), &p), (ssize_t)sizeof(pkt));
	c = &p.u.connect;
	cr_assert_eq(c->protocol_level, 4);
	cr_assert(c->has_username);
	cr_assert(c->has_password);
	cr_assert_not(c->will_retain);
	cr_assert_eq(c->will_qos, 1);
	cr_assert(c->will_flag);
	cr_assert(c->clean_session);
	cr_assert_eq(c->keep_alive, 10);
	assert_str(c->client_id, "cid");
	assert_str(c->will_topic, "wills");
	cr_assert_eq(c->will_payload_len, 2);
	cr_assert(memcmp(c->will_payload, "go", 2) == 0);
	assert_str(c->username, "user");
	cr_assert_eq(c->password_len, 4);
	cr_assert(memcmp(c->password, "pass", 4) == 0);

	/* Our encoder produces exactly these bytes for the same fields. */
	{
		struct mqtt_connect e = *c;

		cr_assert_eq(mqtt_encode_connect(buf, sizeof(buf), &e), sizeof(pkt));
		cr_assert_arr_eq(buf, pkt, sizeof(pkt));
	}
}

Test(codec, spec_publish_variable_header_example)
{
	/* Figure 3.11: topic "a/b", packet id 10; QoS 1 and a 2-byte payload around it. */
	static const uint8_t pkt[] = {
		0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0a, 'h', 'i',
	};
	struct mqtt_publish e = { .qos = 1, .topic = S("a/b"), .packet_id = 10,
				  .payload = (const uint8_t *)"hi", .payload_len = 2 };
	struct mqtt_pkt p;

	cr_assert_eq(decode(pkt, sizeof(pkt), &p), (ssize_t)sizeof(pkt));
	cr_assert_eq(p.type, MQTT_PUBLISH);
	cr_assert_eq(p.u.publish.qos, 1);
	cr_assert_not(p.u.publish.dup);
	cr_assert_not(p.u.publish.retain);
	assert_str(p.u.publish.topic, "a/b");
	cr_assert_eq(p.u.publish.packet_id, 10);
	cr_assert_eq(p.u.publish.payload_len, 2);
	cr_assert(memcmp(p.u.publish.payload, "hi", 2) == 0);
	cr_assert_eq(mqtt_encode_publish(buf, sizeof(buf), &e), sizeof(pkt));
	cr_assert_arr_eq(buf, pkt, sizeof(pkt));
}

Test(codec, spec_subscribe_example)
{
	/* Figure 3.20 fixed header, 3.21 packet id 10, 3.23 payload: "a/b" QoS 1,
	 * "c/d" QoS 2. */
	static const uint8_t pkt[] = {
		0x82, 0x0e, 0x00, 0x0a,
		0x00, 0x03, 'a', '/', 'b', 0x01,
		0x00, 0x03, 'c', '/', 'd', 0x02,
	};
	const struct mqtt_str filters[] = { S("a/b"), S("c/d") };
	const uint8_t qos[] = { 1, 2 };
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	struct mqtt_pkt p;
	uint8_t q;

	cr_assert_eq(decode(pkt, sizeof(pkt), &p), (ssize_t)sizeof(pkt));
	cr_assert_eq(p.type, MQTT_SUBSCRIBE);
	cr_assert_eq(p.u.topics.packet_id, 10);
	cr_assert_eq(p.u.topics.count, 2);
	mqtt_topic_iter_init(&it, &p.u.topics);
	cr_assert(mqtt_topic_iter_next(&it, &f, &q));
	assert_str(f, "a/b");
	cr_assert_eq(q, 1);
	cr_assert(mqtt_topic_iter_next(&it, &f, &q));
	assert_str(f, "c/d");
	cr_assert_eq(q, 2);
	cr_assert_not(mqtt_topic_iter_next(&it, &f, &q));
	cr_assert_eq(mqtt_encode_subscribe(buf, sizeof(buf), 10, filters, qos, 2),
		     sizeof(pkt));
	cr_assert_arr_eq(buf, pkt, sizeof(pkt));
}

Test(codec, spec_suback_example)
{
	/* Figure 3.24 fixed header, 3.27 payload: 0, 2, 128. */
	static const uint8_t pkt[] = { 0x90, 0x05, 0x00, 0x0a, 0x00, 0x02, 0x80 };
	struct mqtt_pkt p;

	cr_assert_eq(decode(pkt, sizeof(pkt), &p), (ssize_t)sizeof(pkt));
	cr_assert_eq(p.type, MQTT_SUBACK);
	cr_assert_eq(p.u.suback.packet_id, 10);
	cr_assert_eq(p.u.suback.count, 3);
	cr_assert_arr_eq(p.u.suback.return_codes, pkt + 4, 3);
	cr_assert_eq(mqtt_encode_suback(buf, sizeof(buf), 10, pkt + 4, 3), sizeof(pkt));
	cr_assert_arr_eq(buf, pkt, sizeof(pkt));
}

Test(codec, spec_unsubscribe_example)
{
	/* Figure 3.28 fixed header, 3.30 payload: "a/b", "c/d". */
	static const uint8_t pkt[] = {
		0xa2, 0x0c, 0x00, 0x0a,
		0x00, 0x03, 'a', '/', 'b',
		0x00, 0x03, 'c', '/', 'd',
	};
	const struct mqtt_str filters[] = { S("a/b"), S("c/d") };
	struct mqtt_pkt p;

	cr_assert_eq(decode(pkt, sizeof(pkt), &p), (ssize_t)sizeof(pkt));
	cr_assert_eq(p.type, MQTT_UNSUBSCRIBE);
	cr_assert_eq(p.u.topics.packet_id, 10);
	cr_assert_eq(p.u.topics.count, 2);
	cr_assert_eq(mqtt_encode_unsubscribe(buf, sizeof(buf), 10, filters, 2), sizeof(pkt));
	cr_assert_arr_eq(buf, pkt, sizeof(pkt));
}

Test(codec, spec_fixed_size_packets)
{
	/* Figures 3.8, 3.12, 3.14, 3.16, 3.18, 3.31, 3.33, 3.34, 3.35. */
	static const uint8_t connack[] = { 0x20, 0x02, 0x01, 0x00 };
	static const uint8_t puback[] = { 0x40, 0x02, 0x00, 0x0a };
	static const uint8_t pubrec[] = { 0x50, 0x02, 0x00, 0x0a };
	static const uint8_t pubrel[] = { 0x62, 0x02, 0x00, 0x0a };
	static const uint8_t pubcomp[] = { 0x70, 0x02, 0x00, 0x0a };
	static const uint8_t unsuback[] = { 0xb0, 0x02, 0x00, 0x0a };
	static const uint8_t pingreq[] = { 0xc0, 0x00 };
	static const uint8_t pingresp[] = { 0xd0, 0x00 };
	static const uint8_t disconnect[] = { 0xe0, 0x00 };
	struct mqtt_pkt p;

	cr_assert_eq(decode(connack, 4, &p), 4);
	cr_assert(p.u.connack.session_present);
	cr_assert_eq(mqtt_encode_connack(buf, true, 0), 4);
	cr_assert_arr_eq(buf, connack, 4);

	cr_assert_eq(decode(puback, 4, &p), 4);
	cr_assert_eq(p.type, MQTT_PUBACK);
	cr_assert_eq(p.u.packet_id, 10);
	mqtt_encode_ack(buf, MQTT_PUBACK, 10);
	cr_assert_arr_eq(buf, puback, 4);
	cr_assert_eq(decode(pubrec, 4, &p), 4);
	cr_assert_eq(p.type, MQTT_PUBREC);
	mqtt_encode_ack(buf, MQTT_PUBREC, 10);
	cr_assert_arr_eq(buf, pubrec, 4);
	cr_assert_eq(decode(pubrel, 4, &p), 4);
	cr_assert_eq(p.type, MQTT_PUBREL);
	mqtt_encode_ack(buf, MQTT_PUBREL, 10);
	cr_assert_arr_eq(buf, pubrel, 4);
	cr_assert_eq(decode(pubcomp, 4, &p), 4);
	cr_assert_eq(p.type, MQTT_PUBCOMP);
	mqtt_encode_ack(buf, MQTT_PUBCOMP, 10);
	cr_assert_arr_eq(buf, pubcomp, 4);
	cr_assert_eq(decode(unsuback, 4, &p), 4);
	cr_assert_eq(p.type, MQTT_UNSUBACK);
	mqtt_encode_ack(buf, MQTT_UNSUBACK, 10);
	cr_assert_arr_eq(buf, unsuback, 4);

	cr_assert_eq(decode(pingreq, 2, &p), 2);
	cr_assert_eq(p.type, MQTT_PINGREQ);
	mqtt_encode_empty(buf, MQTT_PINGREQ);
	cr_assert_arr_eq(buf, pingreq, 2);
	cr_assert_eq(decode(pingresp, 2, &p), 2);
	cr_assert_eq(p.type, MQTT_PINGRESP);
	mqtt_encode_pingresp(buf);
	cr_assert_arr_eq(buf, pingresp, 2);
	cr_assert_eq(decode(disconnect, 2, &p), 2);
	cr_assert_eq(p.type, MQTT_DISCONNECT);
	mqtt_encode_empty(buf, MQTT_DISCONNECT);
	cr_assert_arr_eq(buf, disconnect, 2);
}

Test(codec, spec_utf8_string_example)
{
	/* Figure 1.2: "A" U+2A6D4 = 0x41 0xF0 0xAA 0x9B 0x94, as a PUBLISH topic. */
	static const uint8_t pkt[] = { 0x30, 0x07, 0x00, 0x05, 0x41, 0xf0, 0xaa, 0x9b, 0x94 };
	struct mqtt_pkt p;

	cr_assert(mqtt_utf8_valid(pkt + 4, 5));
	cr_assert_eq(decode(pkt, sizeof(pkt), &p), (ssize_t)sizeof(pkt));
	cr_assert_eq(p.u.publish.topic.len, 5);
	cr_assert_eq(p.u.publish.payload_len, 0);
}

/* ------------------------------------------------------------------------------- */
/* Incremental input and size limits                                               */
/* ------------------------------------------------------------------------------- */

Test(codec, partial_input_returns_zero_for_every_prefix)
{
	struct mqtt_connect c = full_connect();
	struct mqtt_publish p = { .qos = 2, .topic = S("a/b/c"), .packet_id = 5,
				  .payload = payload_buf, .payload_len = 300 };
	const struct mqtt_str f[] = { S("a/#"), S("b") };
	const uint8_t q[] = { 1, 0 };
	const uint8_t codes[] = { 1, 0x80 };
	size_t n;

	n = enc_connect(&c);
	assert_prefixes_incomplete(buf, n);
	n = mqtt_encode_publish(buf, sizeof(buf), &p);
	assert_prefixes_incomplete(buf, n);
	n = mqtt_encode_subscribe(buf, sizeof(buf), 8, f, q, 2);
	assert_prefixes_incomplete(buf, n);
	n = mqtt_encode_unsubscribe(buf, sizeof(buf), 8, f, 2);
	assert_prefixes_incomplete(buf, n);
	n = mqtt_encode_suback(buf, sizeof(buf), 8, codes, 2);
	assert_prefixes_incomplete(buf, n);
	n = mqtt_encode_connack(buf, false, 0);
	assert_prefixes_incomplete(buf, n);
	n = mqtt_encode_ack(buf, MQTT_PUBREL, 8);
	assert_prefixes_incomplete(buf, n);
	n = mqtt_encode_empty(buf, MQTT_PINGREQ);
	assert_prefixes_incomplete(buf, n);
}

Test(codec, emsgsize_as_soon_as_fixed_header_is_complete)
{
	/* PUBLISH announcing 16383 bytes; only the 3 header bytes have arrived. */
	static const uint8_t hdr[] = { 0x30, 0xff, 0x7f };
	struct mqtt_pkt p;

	cr_assert_eq(mqtt_decode(hdr, 2, 1024, &p), 0);	/* length still incomplete */
	cr_assert_eq(mqtt_decode(hdr, 3, 1024, &p), -EMSGSIZE);
	cr_assert_eq(mqtt_decode(hdr, 3, 16386, &p), 0);	/* fits: wait for body */
	cr_assert_eq(mqtt_decode(hdr, 3, 16385, &p), -EMSGSIZE);
}

Test(codec, max_packet_size_counts_the_fixed_header)
{
	struct mqtt_publish pb = { .topic = S("t"), .payload = payload_buf,
				   .payload_len = 10 };
	struct mqtt_pkt p;
	size_t n = mqtt_encode_publish(buf, sizeof(buf), &pb);

	cr_assert_eq(n, 15);
	cr_assert_eq(mqtt_decode(buf, n, n, &p), (ssize_t)n);
	cr_assert_eq(mqtt_decode(buf, n, n - 1, &p), -EMSGSIZE);
}

/* ------------------------------------------------------------------------------- */
/* Malformed packets                                                               */
/* ------------------------------------------------------------------------------- */

#define assert_decode(arr, want) \
	cr_assert_eq(decode_only((arr), sizeof(arr)), (want), "%s", #arr)

Test(codec, remaining_length_over_four_bytes_is_malformed)
{
	static const uint8_t five[] = { 0x30, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t four_cont[] = { 0x30, 0x80, 0x80, 0x80, 0x80 };

	assert_decode(five, -EPROTO);
	/* The fourth byte with its continuation bit is enough to know. */
	assert_decode(four_cont, -EPROTO);
}

Test(codec, reserved_packet_types_are_malformed)
{
	static const uint8_t type0[] = { 0x00, 0x00 };
	static const uint8_t type15[] = { 0xf0, 0x00 };

	assert_decode(type0, -EPROTO);
	assert_decode(type15, -EPROTO);
	/* Rejected from the first byte alone. */
	cr_assert_eq(decode_only(type15, 1), -EPROTO);
}

Test(codec, pubrel_flags_other_than_2_are_malformed)
{
	static const uint8_t f0[] = { 0x60, 0x02, 0x00, 0x01 };
	static const uint8_t f3[] = { 0x63, 0x02, 0x00, 0x01 };
	static const uint8_t fa[] = { 0x6a, 0x02, 0x00, 0x01 };

	assert_decode(f0, -EPROTO);
	assert_decode(f3, -EPROTO);
	assert_decode(fa, -EPROTO);
}

Test(codec, subscribe_flags_other_than_2_are_malformed)
{
	static const uint8_t f0[] = { 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00 };
	static const uint8_t fa[] = { 0x8a, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00 };
	static const uint8_t ok[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00 };

	assert_decode(f0, -EPROTO);
	assert_decode(fa, -EPROTO);
	assert_decode(ok, (ssize_t)sizeof(ok));
}

Test(codec, unsubscribe_flags_other_than_2_are_malformed)
{
	static const uint8_t f0[] = { 0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a' };
	static const uint8_t f6[] = { 0xa6, 0x05, 0x00, 0x01, 0x00, 0x01, 'a' };

	assert_decode(f0, -EPROTO);
	assert_decode(f6, -EPROTO);
}

Test(codec, nonzero_reserved_flags_are_malformed)
{
	static const uint8_t connect[] = { 0x12, 0x00 };
	static const uint8_t connack[] = { 0x21, 0x02, 0x00, 0x00 };
	static const uint8_t puback[] = { 0x42, 0x02, 0x00, 0x01 };
	static const uint8_t pubrec[] = { 0x58, 0x02, 0x00, 0x01 };
	static const uint8_t pubcomp[] = { 0x72, 0x02, 0x00, 0x01 };
	static const uint8_t suback[] = { 0x92, 0x03, 0x00, 0x01, 0x00 };
	static const uint8_t unsuback[] = { 0xb2, 0x02, 0x00, 0x01 };
	static const uint8_t pingreq[] = { 0xc1, 0x00 };
	static const uint8_t pingresp[] = { 0xd8, 0x00 };
	static const uint8_t disconnect[] = { 0xe4, 0x00 };

	assert_decode(connect, -EPROTO);
	assert_decode(connack, -EPROTO);
	assert_decode(puback, -EPROTO);
	assert_decode(pubrec, -EPROTO);
	assert_decode(pubcomp, -EPROTO);
	assert_decode(suback, -EPROTO);
	assert_decode(unsuback, -EPROTO);
	assert_decode(pingreq, -EPROTO);
	assert_decode(pingresp, -EPROTO);
	assert_decode(disconnect, -EPROTO);
}

Test(codec, publish_qos3_is_malformed)
{
	static const uint8_t pkt[] = { 0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01 };

	assert_decode(pkt, -EPROTO);
	cr_assert_eq(decode_only(pkt, 1), -EPROTO);
}

Test(codec, publish_dup_with_qos0_is_malformed)
{
	static const uint8_t pkt[] = { 0x38, 0x03, 0x00, 0x01, 'a' };
	static const uint8_t ok[] = { 0x3a, 0x05, 0x00, 0x01, 'a', 0x00, 0x01 };

	assert_decode(pkt, -EPROTO);
	assert_decode(ok, (ssize_t)sizeof(ok));
}

Test(codec, publish_qos1_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, publish_qos2_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, publish_qos1_missing_packet_id_is_malformed)
{
	static const uint8_t pkt[] = { 0x32, 0x04, 0x00, 0x01, 'a', 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, publish_empty_topic_is_malformed)
{
	static const uint8_t pkt[] = { 0x30, 0x04, 0x00, 0x00, 'x', 'y' };

	assert_decode(pkt, -EPROTO);
}

Test(codec, publish_topic_with_plus_is_malformed)
{
	static const uint8_t pkt[] = { 0x30, 0x05, 0x00, 0x03, 'a', '/', '+' };

	assert_decode(pkt, -EPROTO);
}

Test(codec, publish_topic_with_hash_is_malformed)
{
	static const uint8_t pkt[] = { 0x30, 0x05, 0x00, 0x03, 'a', '/', '#' };

	assert_decode(pkt, -EPROTO);
}

Test(codec, publish_topic_with_bad_utf8_is_malformed)
{
	static const uint8_t overlong[] = { 0x30, 0x04, 0x00, 0x02, 0xc0, 0xaf };
	static const uint8_t nul[] = { 0x30, 0x05, 0x00, 0x03, 'a', 0x00, 'b' };

	assert_decode(overlong, -EPROTO);
	assert_decode(nul, -EPROTO);
}

Test(codec, publish_topic_longer_than_packet_is_malformed)
{
	static const uint8_t pkt[] = { 0x30, 0x04, 0x00, 0x05, 'a', 'b' };
	static const uint8_t short_len[] = { 0x30, 0x01, 0x00 };

	assert_decode(pkt, -EPROTO);
	assert_decode(short_len, -EPROTO);
}

Test(codec, subscribe_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, unsubscribe_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a' };

	assert_decode(pkt, -EPROTO);
}

Test(codec, puback_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0x40, 0x02, 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, pubrec_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0x50, 0x02, 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, pubrel_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0x62, 0x02, 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, pubcomp_packet_id_0_is_malformed)
{
	static const uint8_t pkt[] = { 0x70, 0x02, 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, unsuback_and_suback_packet_id_0_are_malformed)
{
	static const uint8_t unsuback[] = { 0xb0, 0x02, 0x00, 0x00 };
	static const uint8_t suback[] = { 0x90, 0x03, 0x00, 0x00, 0x00 };

	assert_decode(unsuback, -EPROTO);
	assert_decode(suback, -EPROTO);
}

Test(codec, pingreq_with_nonzero_length_is_malformed)
{
	static const uint8_t pkt[] = { 0xc0, 0x01, 0x00 };

	assert_decode(pkt, -EPROTO);
	/* Known from the fixed header alone. */
	cr_assert_eq(decode_only(pkt, 2), -EPROTO);
}

Test(codec, pingresp_with_nonzero_length_is_malformed)
{
	static const uint8_t pkt[] = { 0xd0, 0x01, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, disconnect_with_nonzero_length_is_malformed)
{
	static const uint8_t pkt[] = { 0xe0, 0x02, 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, acks_with_length_other_than_2_are_malformed)
{
	static const uint8_t puback1[] = { 0x40, 0x01, 0x01 };
	static const uint8_t puback3[] = { 0x40, 0x03, 0x00, 0x01, 0x00 };
	static const uint8_t pubrec3[] = { 0x50, 0x03, 0x00, 0x01, 0x00 };
	static const uint8_t pubrel0[] = { 0x62, 0x00 };
	static const uint8_t pubcomp4[] = { 0x70, 0x04, 0x00, 0x01, 0x00, 0x00 };
	static const uint8_t unsuback3[] = { 0xb0, 0x03, 0x00, 0x01, 0x00 };

	assert_decode(puback1, -EPROTO);
	assert_decode(puback3, -EPROTO);
	assert_decode(pubrec3, -EPROTO);
	assert_decode(pubrel0, -EPROTO);
	assert_decode(pubcomp4, -EPROTO);
	assert_decode(unsuback3, -EPROTO);
}

Test(codec, connack_with_length_other_than_2_is_malformed)
{
	static const uint8_t len3[] = { 0x20, 0x03, 0x00, 0x00, 0x00 };
	static const uint8_t len1[] = { 0x20, 0x01, 0x00 };

	assert_decode(len3, -EPROTO);
	assert_decode(len1, -EPROTO);
}

Test(codec, connack_reserved_bits_are_malformed)
{
	static const uint8_t pkt[] = { 0x20, 0x02, 0x02, 0x00 };
	static const uint8_t high[] = { 0x20, 0x02, 0x81, 0x00 };

	assert_decode(pkt, -EPROTO);
	assert_decode(high, -EPROTO);
}

Test(codec, connect_level_5_is_unsupported)
{
	struct mqtt_connect c = min_connect();
	size_t n;

	c.protocol_level = 5;
	n = enc_connect(&c);
	cr_assert_eq(buf[8], 5);
	cr_assert_eq(decode_only(buf, n), -EPROTONOSUPPORT);
}

Test(codec, connect_mqtt_name_with_level_3_is_unsupported)
{
	struct mqtt_connect c = min_connect();
	size_t n = enc_connect(&c);

	buf[8] = 3;
	cr_assert_eq(decode_only(buf, n), -EPROTONOSUPPORT);
}

Test(codec, connect_mqisdp_name_with_level_4_is_unsupported)
{
	static const uint8_t pkt[] = {
		0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x3c,
		0x00, 0x02, 'c', '1',
	};

	assert_decode(pkt, -EPROTONOSUPPORT);
}

Test(codec, connect_bad_protocol_name_is_malformed)
{
	static const uint8_t lower[] = {
		0x10, 0x0e, 0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x3c,
		0x00, 0x02, 'c', '1',
	};
	static const uint8_t other[] = {
		0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x05, 0x02, 0x00, 0x3c,
		0x00, 0x02, 'c', '1',
	};
	static const uint8_t mqis[] = {
		0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'I', 's', 0x03, 0x02, 0x00, 0x3c,
		0x00, 0x02, 'c', '1',
	};

	assert_decode(lower, -EPROTO);
	assert_decode(other, -EPROTO);
	assert_decode(mqis, -EPROTO);
}

Test(codec, connect_reserved_flag_is_malformed)
{
	struct mqtt_connect c = min_connect();
	size_t n = enc_connect(&c);

	buf[9] |= 0x01;
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_will_qos_without_will_flag_is_malformed)
{
	struct mqtt_connect c = min_connect();
	size_t n;

	c.will_qos = 1;
	n = enc_connect(&c);
	cr_assert_eq(buf[9], 0x0a);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_will_retain_without_will_flag_is_malformed)
{
	struct mqtt_connect c = min_connect();
	size_t n;

	c.will_retain = true;
	n = enc_connect(&c);
	cr_assert_eq(buf[9], 0x22);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_will_qos3_is_malformed)
{
	struct mqtt_connect c = full_connect();
	size_t n;

	c.will_qos = 3;
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_password_without_username_is_malformed)
{
	struct mqtt_connect c = full_connect();
	size_t n;

	c.has_username = false;
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_client_id_with_bad_utf8_is_malformed)
{
	struct mqtt_connect c = min_connect();
	size_t n;

	c.client_id.ptr = "ab\xed\xa0\x80";	/* U+D800 */
	c.client_id.len = 5;
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_client_id_with_nul_is_malformed)
{
	struct mqtt_connect c = min_connect();
	size_t n;

	c.client_id.ptr = "a\0b";
	c.client_id.len = 3;
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_will_topic_with_bad_utf8_is_malformed)
{
	struct mqtt_connect c = full_connect();
	size_t n;

	c.will_topic.ptr = "w/\xe2\x82";	/* truncated sequence */
	c.will_topic.len = 4;
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_will_topic_with_wildcard_is_malformed)
{
	struct mqtt_connect c = full_connect();
	size_t n;

	c.will_topic = S("status/+");
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
	c.will_topic = S("#");
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_empty_will_topic_is_malformed)
{
	struct mqtt_connect c = full_connect();
	size_t n;

	c.will_topic = S("");
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_username_with_bad_utf8_is_malformed)
{
	struct mqtt_connect c = full_connect();
	size_t n;

	c.username.ptr = "us\xc1\xbf";		/* overlong */
	c.username.len = 4;
	n = enc_connect(&c);
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_trailing_bytes_are_malformed)
{
	struct mqtt_connect c = min_connect();
	size_t n = enc_connect(&c);

	buf[1]++;
	buf[n++] = 0x00;
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_missing_flagged_field_is_malformed)
{
	struct mqtt_connect c = min_connect();
	size_t n = enc_connect(&c);

	/* Claims a user name the payload does not carry. */
	buf[9] |= 0x80;
	cr_assert_eq(decode_only(buf, n), -EPROTO);
}

Test(codec, connect_truncated_variable_header_is_malformed)
{
	static const uint8_t pkt[] = { 0x10, 0x07, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04 };
	static const uint8_t no_level[] = { 0x10, 0x06, 0x00, 0x04, 'M', 'Q', 'T', 'T' };

	assert_decode(pkt, -EPROTO);
	assert_decode(no_level, -EPROTO);
}

Test(codec, subscribe_without_filters_is_malformed)
{
	static const uint8_t pkt[] = { 0x82, 0x02, 0x00, 0x01 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, subscribe_requested_qos3_is_malformed)
{
	static const uint8_t pkt[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, subscribe_reserved_qos_bits_are_malformed)
{
	static const uint8_t bit2[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04 };
	static const uint8_t bit7[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x81 };
	static const uint8_t second[] = {
		0x82, 0x0a, 0x00, 0x01, 0x00, 0x01, 'a', 0x01, 0x00, 0x01, 'b', 0x40,
	};

	assert_decode(bit2, -EPROTO);
	assert_decode(bit7, -EPROTO);
	assert_decode(second, -EPROTO);
}

Test(codec, subscribe_missing_qos_byte_is_malformed)
{
	static const uint8_t pkt[] = { 0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a' };

	assert_decode(pkt, -EPROTO);
}

Test(codec, subscribe_empty_filter_is_malformed)
{
	static const uint8_t pkt[] = { 0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, subscribe_filter_with_bad_utf8_is_malformed)
{
	static const uint8_t pkt[] = { 0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0xff, 'a', 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, subscribe_filter_wildcard_syntax_is_not_checked)
{
	/* "a/#/b" and "a+" are invalid filters, but that is the engine's SUBACK 0x80. */
	const struct mqtt_str f[] = { S("a/#/b"), S("a+") };
	const uint8_t q[] = { 0, 1 };
	struct mqtt_pkt p;
	size_t n = mqtt_encode_subscribe(buf, sizeof(buf), 1, f, q, 2);

	cr_assert_eq(decode(buf, n, &p), (ssize_t)n);
	cr_assert_eq(p.u.topics.count, 2);
}

Test(codec, unsubscribe_without_filters_is_malformed)
{
	static const uint8_t pkt[] = { 0xa2, 0x02, 0x00, 0x01 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, unsubscribe_empty_filter_is_malformed)
{
	static const uint8_t pkt[] = { 0xa2, 0x07, 0x00, 0x01, 0x00, 0x01, 'a', 0x00, 0x00 };

	assert_decode(pkt, -EPROTO);
}

Test(codec, unsubscribe_truncated_filter_is_malformed)
{
	static const uint8_t pkt[] = { 0xa2, 0x05, 0x00, 0x01, 0x00, 0x02, 'a' };

	assert_decode(pkt, -EPROTO);
}

Test(codec, suback_reserved_return_code_is_malformed)
{
	static const uint8_t pkt[] = { 0x90, 0x04, 0x00, 0x01, 0x00, 0x03 };
	static const uint8_t empty[] = { 0x90, 0x02, 0x00, 0x01 };

	assert_decode(pkt, -EPROTO);
	assert_decode(empty, -EPROTO);
}

/* ------------------------------------------------------------------------------- */
/* UTF-8                                                                           */
/* ------------------------------------------------------------------------------- */

#define U(lit) ((const uint8_t *)(lit)), (sizeof(lit) - 1)

Test(codec, utf8_overlong_is_invalid)
{
	cr_assert_not(mqtt_utf8_valid(U("\xc0\x80")));		/* overlong U+0000 */
	cr_assert_not(mqtt_utf8_valid(U("\xc1\xbf")));
	cr_assert_not(mqtt_utf8_valid(U("\xe0\x80\xaf")));	/* overlong '/' */
	cr_assert_not(mqtt_utf8_valid(U("\xe0\x9f\xbf")));
	cr_assert_not(mqtt_utf8_valid(U("\xf0\x80\x80\xaf")));
	cr_assert_not(mqtt_utf8_valid(U("\xf0\x8f\xbf\xbf")));
	cr_assert(mqtt_utf8_valid(U("\xc2\x80")));		/* U+0080 */
	cr_assert(mqtt_utf8_valid(U("\xe0\xa0\x80")));		/* U+0800 */
	cr_assert(mqtt_utf8_valid(U("\xf0\x90\x80\x80")));	/* U+10000 */
}

Test(codec, utf8_surrogate_is_invalid)
{
	cr_assert_not(mqtt_utf8_valid(U("\xed\xa0\x80")));	/* U+D800 */
	cr_assert_not(mqtt_utf8_valid(U("\xed\xbf\xbf")));	/* U+DFFF */
	cr_assert_not(mqtt_utf8_valid(U("\xed\xa0\xbd\xed\xb8\x80")));	/* CESU pair */
	cr_assert(mqtt_utf8_valid(U("\xed\x9f\xbf")));		/* U+D7FF */
	cr_assert(mqtt_utf8_valid(U("\xee\x80\x80")));		/* U+E000 */
}

Test(codec, utf8_nul_is_invalid)
{
	cr_assert_not(mqtt_utf8_valid(U("\x00")));
	cr_assert_not(mqtt_utf8_valid(U("abc\x00")));
	/* In the middle of a run long enough for the 8-byte fast path. */
	cr_assert_not(mqtt_utf8_valid(U("abcdefghijklm\x00nopqrstuvwxyz")));
	cr_assert_not(mqtt_utf8_valid(U("abcdefg\x00")));
}

Test(codec, utf8_truncated_sequence_is_invalid)
{
	cr_assert_not(mqtt_utf8_valid(U("\xc3")));
	cr_assert_not(mqtt_utf8_valid(U("\xe2\x82")));
	cr_assert_not(mqtt_utf8_valid(U("\xf0\x9f\x98")));
	cr_assert_not(mqtt_utf8_valid(U("\xe2\x82" "a")));
	cr_assert_not(mqtt_utf8_valid(U("abcdefgh\xf0\x9f")));
}

Test(codec, utf8_stray_and_invalid_bytes_are_invalid)
{
	cr_assert_not(mqtt_utf8_valid(U("\x80")));
	cr_assert_not(mqtt_utf8_valid(U("a\xbf")));
	cr_assert_not(mqtt_utf8_valid(U("\xf5\x80\x80\x80")));
	cr_assert_not(mqtt_utf8_valid(U("\xf8\x88\x80\x80\x80")));
	cr_assert_not(mqtt_utf8_valid(U("\xff")));
	cr_assert_not(mqtt_utf8_valid(U("\xc3\x28")));	/* bad continuation */
}

Test(codec, utf8_above_u10ffff_is_invalid)
{
	cr_assert_not(mqtt_utf8_valid(U("\xf4\x90\x80\x80")));	/* U+110000 */
	cr_assert(mqtt_utf8_valid(U("\xf4\x8f\xbf\xbf")));	/* U+10FFFF */
}

Test(codec, utf8_valid_four_byte_sequence)
{
	cr_assert(mqtt_utf8_valid(U("\xf0\x9f\x98\x80")));	/* U+1F600 */
	cr_assert(mqtt_utf8_valid(U("sensor/\xf0\x9f\x98\x80/temp/\xc3\xa9t\xc3\xa9")));
	cr_assert(mqtt_utf8_valid(U("\xef\xbb\xbf" "bom")));	/* U+FEFF kept [MQTT-1.5.3-3] */
	cr_assert(mqtt_utf8_valid(U("a perfectly ordinary ascii topic name/with/levels")));
	cr_assert(mqtt_utf8_valid(NULL, 0));
}

Test(codec, utf8_checked_at_every_alignment)
{
	/* An invalid byte at each position of a long ASCII run is found whichever 8-byte
	 * block it falls into. */
	uint8_t s[40];
	size_t i;

	for (i = 0; i < sizeof(s); i++) {
		memset(s, 'x', sizeof(s));
		cr_assert(mqtt_utf8_valid(s, sizeof(s)));
		s[i] = 0x80;
		cr_assert_not(mqtt_utf8_valid(s, sizeof(s)), "at %zu", i);
		s[i] = 0x00;
		cr_assert_not(mqtt_utf8_valid(s, sizeof(s)), "NUL at %zu", i);
		s[i] = 0x7f;
		cr_assert(mqtt_utf8_valid(s, sizeof(s)));
	}
}

/* ------------------------------------------------------------------------------- */
/* Protocol level: MQTT 3.1 relaxes the fixed flags of three packets                */
/* ------------------------------------------------------------------------------- */

Test(codec, mqtt31_accepts_dup_on_pubrel_subscribe_unsubscribe)
{
	/* 3.1 section 2.1: DUP marks a re-delivered PUBREL, SUBSCRIBE or UNSUBSCRIBE. */
	static const uint8_t pubrel[] = { 0x6a, 0x02, 0x00, 0x05 };
	static const uint8_t sub[] = { 0x8a, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x01 };
	static const uint8_t unsub[] = { 0xaa, 0x05, 0x00, 0x01, 0x00, 0x01, 'a' };
	struct mqtt_pkt p;

	cr_assert_eq(mqtt_decode_level(pubrel, 4, BIG, MQTT_PROTO_V31, &p), 4);
	cr_assert_eq(p.type, MQTT_PUBREL);
	cr_assert_eq(p.u.packet_id, 5);
	cr_assert_eq(mqtt_decode_level(sub, 8, BIG, MQTT_PROTO_V31, &p), 8);
	cr_assert_eq(p.u.topics.count, 1);
	cr_assert_eq(mqtt_decode_level(unsub, 7, BIG, MQTT_PROTO_V31, &p), 7);

	/* 3.1.1 (and mqtt_decode) stay strict: 0010 only [MQTT-3.6.1-1, 3.8.1-1, 3.10.1-1]. */
	cr_assert_eq(mqtt_decode_level(pubrel, 4, BIG, MQTT_PROTO_V311, &p), -EPROTO);
	cr_assert_eq(mqtt_decode_level(sub, 8, BIG, MQTT_PROTO_V311, &p), -EPROTO);
	cr_assert_eq(mqtt_decode(unsub, 7, BIG, &p), -EPROTO);
	/* Before CONNECT the level is unknown (0): strict. */
	cr_assert_eq(mqtt_decode_level(sub, 8, BIG, 0, &p), -EPROTO);
}

Test(codec, mqtt31_still_refuses_other_flag_bits)
{
	/* QoS 0 or RETAIN on PUBREL, and DUP on PUBACK, are wrong in 3.1 too. */
	static const uint8_t rel_qos0[] = { 0x60, 0x02, 0x00, 0x05 };
	static const uint8_t rel_retain[] = { 0x63, 0x02, 0x00, 0x05 };
	static const uint8_t puback_dup[] = { 0x48, 0x02, 0x00, 0x05 };
	struct mqtt_pkt p;

	cr_assert_eq(mqtt_decode_level(rel_qos0, 4, BIG, MQTT_PROTO_V31, &p), -EPROTO);
	cr_assert_eq(mqtt_decode_level(rel_retain, 4, BIG, MQTT_PROTO_V31, &p), -EPROTO);
	cr_assert_eq(mqtt_decode_level(puback_dup, 4, BIG, MQTT_PROTO_V31, &p), -EPROTO);
}

Test(codec, connect_longer_than_any_valid_connect_is_refused_from_its_header)
{
	/* 12 bytes of fixed fields ("MQIsdp") + five 2+65535 byte fields = 327697. */
	uint8_t hdr[5] = { MQTT_CONNECT << 4 };
	struct mqtt_pkt p;
	size_t n = 1 + mqtt_varint_encode(hdr + 1, 327698);

	cr_assert_eq(mqtt_decode(hdr, n, SIZE_MAX, &p), -EPROTO);
	n = 1 + mqtt_varint_encode(hdr + 1, 327697);
	cr_assert_eq(mqtt_decode(hdr, n, SIZE_MAX, &p), 0, "largest CONNECT: wait for it");
}
