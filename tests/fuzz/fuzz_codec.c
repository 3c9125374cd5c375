/* fuzz_codec.c - libFuzzer target for the MQTT codec (include/petrel/mqtt.h), no I/O,
 * no engine.
 *
 * Input: byte 0 picks the max_packet_size class (low 3 bits: the configured minimum, both
 * sides of each remaining-length byte boundary, the protocol maximum) and whether the
 * topic-list iterator also walks the raw bytes (bit 3). The rest is a byte stream that is
 * decoded packet after packet, as proto.c frames a connection's input, until the decoder
 * wants more bytes or reports an error (the connection would close there).
 *
 * Invariants checked for every decoded packet:
 *   - consumed <= bytes given, = fixed header + remaining length;
 *   - every decoded string, payload and list lies inside the consumed bytes;
 *   - strings are MQTT UTF-8 (1.5.3), as a plain byte-by-byte reference decoder sees it;
 *   - packet ids are non-zero where present (MQTT-2.3.1-1), QoS <= 2, DUP only with
 *     QoS > 0, topic names non-empty and without wildcards, lists not empty;
 *   - every proper prefix of the packet asks for more bytes (returns 0), and the
 *     protocol maximum size class decodes it the same way;
 *   - the encoder (where the codec has one for the type) writes the same body back, and
 *     that re-encoding decodes to the same length;
 * and for every error: only -EPROTO, -EMSGSIZE (packet really over the limit) or
 * -EPROTONOSUPPORT (CONNECT only). mqtt_utf8_valid() is checked against the reference
 * decoder on the whole input as well.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/mqtt.h"
#include "fuzz.h"

/* The smallest max_packet_size config accepts (20), both sides of the 1->2, 2->3 and
 * 3->4 byte remaining-length boundaries (127, 16383, 2097151 plus a 2..4 byte fixed
 * header), and the protocol maximum (268435455 + 5). */
static const size_t fuzz_max_sizes[8] = {
	20, 129, 130, 16386, 16387, 2097155, 2097156, (size_t)MQTT_MAX_REMAINING_LEN + 5,
};
#define FUZZ_MAX_SIZE_ANY ((size_t)MQTT_MAX_REMAINING_LEN + 5)

/* MQTT UTF-8 the slow and obvious way: decode each code point, then reject overlong
 * forms, surrogates, anything above U+10FFFF and U+0000 (MQTT-1.5.3-1/2). */
static bool ref_utf8_valid(const uint8_t *s, size_t n)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		uint32_t cp;
		size_t len;

		if (b < 0x80) {
			cp = b;
			len = 1;
		} else if ((b & 0xe0) == 0xc0) {
			cp = b & 0x1f;
			len = 2;
		} else if ((b & 0xf0) == 0xe0) {
			cp = b & 0x0f;
			len = 3;
		} else if ((b & 0xf8) == 0xf0) {
			cp = b & 0x07;
			len = 4;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp == 0)
			return false;
		i += len;
	}
	return true;
}

/* [p, p + n) lies within [lo, hi). */
static bool inside(const void *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
	const uint8_t *q = p;

	return q >= lo && q <= hi && n <= (size_t)(hi - q);
}

static void check_str(const struct mqtt_str *s, const uint8_t *lo, const uint8_t *hi)
{
	FUZZ_CHECK(inside(s->ptr, s->len, lo, hi));
	FUZZ_CHECK(ref_utf8_valid((const uint8_t *)s->ptr, s->len));
}

static void check_topic_name(const struct mqtt_str *s, const uint8_t *lo, const uint8_t *hi)
{
	check_str(s, lo, hi);
	FUZZ_CHECK(s->len > 0);
	FUZZ_CHECK(memchr(s->ptr, '+', s->len) == NULL && memchr(s->ptr, '#', s->len) == NULL);
}

/* The re-encoding <enc> (<enc_len> bytes, 0 if the encoder refused) carries the same
 * type/flags byte and body as the decoded packet <pkt> of <n> bytes, and decodes again
 * to its own length. The fixed header may differ in length only: a sender may pad the
 * remaining length with 0x80 bytes, our encoder never does. */
static void check_same_packet(const uint8_t *enc, size_t enc_len, const uint8_t *pkt,
			      size_t n, size_t rl)
{
	struct mqtt_pkt again;

	FUZZ_CHECK(enc_len > 0);
	FUZZ_CHECK(enc_len >= rl + 2 && enc_len <= n);
	FUZZ_CHECK(enc[0] == pkt[0]);
	FUZZ_CHECK(memcmp(enc + enc_len - rl, pkt + n - rl, rl) == 0);
	FUZZ_CHECK(mqtt_decode(enc, enc_len, FUZZ_MAX_SIZE_ANY, &again) == (ssize_t)enc_len);
	FUZZ_CHECK(again.remaining_len == rl);
}

/* Each check_<type>() below gets <enc>, <cap> bytes of room for the re-encoding. */
static void check_connect(const struct mqtt_pkt *p, const uint8_t *pkt, size_t n,
			  uint8_t *enc, size_t cap)
{
	const struct mqtt_connect *cn = &p->u.connect;
	const uint8_t *end = pkt + n;

	FUZZ_CHECK(cn->protocol_level == MQTT_PROTO_V31 ||
		   cn->protocol_level == MQTT_PROTO_V311);
	check_str(&cn->client_id, pkt, end);
	if (cn->will_flag) {
		check_topic_name(&cn->will_topic, pkt, end);
		FUZZ_CHECK(cn->will_qos <= 2);
		FUZZ_CHECK(inside(cn->will_payload, cn->will_payload_len, pkt, end));
	} else {
		FUZZ_CHECK(cn->will_qos == 0 && !cn->will_retain);
	}
	if (cn->has_username)
		check_str(&cn->username, pkt, end);
	if (cn->has_password) {
		FUZZ_CHECK(cn->has_username);
		FUZZ_CHECK(inside(cn->password, cn->password_len, pkt, end));
	}
	check_same_packet(enc, mqtt_encode_connect(enc, cap, cn), pkt, n, p->remaining_len);
}

static void check_publish(const struct mqtt_pkt *p, const uint8_t *pkt, size_t n,
			  uint8_t *enc, size_t cap)
{
	const struct mqtt_publish *pb = &p->u.publish;

	check_topic_name(&pb->topic, pkt, pkt + n);
	FUZZ_CHECK(pb->qos <= 2);
	FUZZ_CHECK((pb->qos > 0) == (pb->packet_id != 0));
	FUZZ_CHECK(!pb->dup || pb->qos > 0);
	FUZZ_CHECK(inside(pb->payload, pb->payload_len, pkt, pkt + n));
	FUZZ_CHECK(pb->payload + pb->payload_len == pkt + n);
	FUZZ_CHECK(pb->payload_len == p->remaining_len - 2 - pb->topic.len - (pb->qos ? 2 : 0));
	check_same_packet(enc, mqtt_encode_publish(enc, cap, pb), pkt, n, p->remaining_len);
}

/* SUBSCRIBE / UNSUBSCRIBE: the iterator yields exactly <count> valid entries that tile
 * the list, and the encoder writes the same list back. */
static void check_topics(const struct mqtt_pkt *p, const uint8_t *pkt, size_t n,
			 uint8_t *enc, size_t cap)
{
	const struct mqtt_topic_list *tl = &p->u.topics;
	struct mqtt_topic_iter it;
	struct mqtt_str f, *filters;
	uint8_t q, *qos;
	size_t i = 0, enc_len;

	FUZZ_CHECK(tl->packet_id != 0);
	FUZZ_CHECK(tl->count >= 1);
	FUZZ_CHECK(tl->with_qos == (p->type == MQTT_SUBSCRIBE));
	FUZZ_CHECK(inside(tl->raw, tl->raw_len, pkt, pkt + n));
	filters = calloc(tl->count, sizeof(*filters));
	qos = calloc(tl->count, 1);
	FUZZ_CHECK(filters != NULL && qos != NULL);
	mqtt_topic_iter_init(&it, tl);
	while (mqtt_topic_iter_next(&it, &f, &q)) {
		FUZZ_CHECK(i < tl->count);
		check_str(&f, tl->raw, tl->raw + tl->raw_len);
		FUZZ_CHECK(f.len > 0);
		FUZZ_CHECK(q <= 2);
		FUZZ_CHECK(tl->with_qos || q == 0);
		filters[i] = f;
		qos[i] = q;
		i++;
	}
	FUZZ_CHECK(i == tl->count);
	FUZZ_CHECK(it.pos == tl->raw + tl->raw_len);
	if (tl->with_qos)
		enc_len = mqtt_encode_subscribe(enc, cap, tl->packet_id, filters, qos, i);
	else
		enc_len = mqtt_encode_unsubscribe(enc, cap, tl->packet_id, filters, i);
	check_same_packet(enc, enc_len, pkt, n, p->remaining_len);
	free(qos);
	free(filters);
}

static void check_suback(const struct mqtt_pkt *p, const uint8_t *pkt, size_t n,
			 uint8_t *enc, size_t cap)
{
	const struct mqtt_suback *sa = &p->u.suback;

	FUZZ_CHECK(sa->packet_id != 0);
	FUZZ_CHECK(sa->count >= 1);
	FUZZ_CHECK(inside(sa->return_codes, sa->count, pkt, pkt + n));
	for (size_t i = 0; i < sa->count; i++)
		FUZZ_CHECK(sa->return_codes[i] <= 2 ||
			   sa->return_codes[i] == MQTT_SUBACK_FAILURE);
	check_same_packet(enc, mqtt_encode_suback(enc, cap, sa->packet_id, sa->return_codes,
						  sa->count), pkt, n, p->remaining_len);
}

/* The re-encoding is never longer than the packet (our fixed header is minimal). */
static void check_packet(const struct mqtt_pkt *p, const uint8_t *pkt, size_t n)
{
	size_t cap = n + 8;
	uint8_t *enc = malloc(cap);

	FUZZ_CHECK(enc != NULL);
	FUZZ_CHECK(p->type >= MQTT_CONNECT && p->type <= MQTT_DISCONNECT);
	FUZZ_CHECK((pkt[0] >> 4) == p->type && (pkt[0] & 0x0f) == p->flags);
	switch (p->type) {
	case MQTT_CONNECT:
		check_connect(p, pkt, n, enc, cap);
		break;
	case MQTT_CONNACK:
		check_same_packet(enc, mqtt_encode_connack(enc, p->u.connack.session_present,
							   p->u.connack.return_code),
				  pkt, n, p->remaining_len);
		break;
	case MQTT_PUBLISH:
		check_publish(p, pkt, n, enc, cap);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		FUZZ_CHECK(p->u.packet_id != 0);
		check_same_packet(enc, mqtt_encode_ack(enc, p->type, p->u.packet_id), pkt, n,
				  p->remaining_len);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		check_topics(p, pkt, n, enc, cap);
		break;
	case MQTT_SUBACK:
		check_suback(p, pkt, n, enc, cap);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT:
		FUZZ_CHECK(p->remaining_len == 0);
		check_same_packet(enc, mqtt_encode_empty(enc, p->type), pkt, n, 0);
		break;
	}
	free(enc);
}

/* Every proper prefix of a whole packet is "need more", never an error: the decoder
 * must not condemn a connection whose packet is merely split across reads. Checks the
 * interesting lengths rather than all of them, to keep big packets cheap. */
static void check_prefixes(const uint8_t *pkt, size_t n, size_t max)
{
	size_t lens[4] = { 1, 2, n / 2, n - 1 };
	struct mqtt_pkt p;

	for (size_t i = 0; i < 4; i++)
		if (lens[i] < n)
			FUZZ_CHECK(mqtt_decode(pkt, lens[i], max, &p) == 0);
}

/* Walks a topic list over raw, unvalidated bytes: the iterator must stay inside them. */
static void walk_raw_topics(const uint8_t *data, size_t size, bool with_qos)
{
	struct mqtt_topic_list tl = {
		.raw = data, .raw_len = size, .count = 1, .with_qos = with_qos,
	};
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t q;

	mqtt_topic_iter_init(&it, &tl);
	while (mqtt_topic_iter_next(&it, &f, &q))
		FUZZ_CHECK(inside(f.ptr, f.len, data, data + size));
	FUZZ_CHECK(it.pos <= data + size);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	size_t max, off = 0;

	if (size < 1)
		return 0;
	max = fuzz_max_sizes[data[0] & 7];
	if (data[0] & 8)
		walk_raw_topics(data + 1, size - 1, data[0] & 16);
	data++;
	size--;
	FUZZ_CHECK(mqtt_utf8_valid(data, size) == ref_utf8_valid(data, size));

	while (off < size) {
		struct mqtt_pkt p;
		ssize_t n = mqtt_decode(data + off, size - off, max, &p);

		if (n == 0)
			break;
		if (n < 0) {
			FUZZ_CHECK(n == -EPROTO || n == -EMSGSIZE || n == -EPROTONOSUPPORT);
			FUZZ_CHECK(n != -EPROTONOSUPPORT || (data[off] >> 4) == MQTT_CONNECT);
			if (n == -EMSGSIZE)
				FUZZ_CHECK(max < FUZZ_MAX_SIZE_ANY);
			break;
		}
		FUZZ_CHECK((size_t)n <= size - off);
		FUZZ_CHECK(p.remaining_len < (size_t)n && (size_t)n - p.remaining_len >= 2 &&
			   (size_t)n - p.remaining_len <= 5);
		check_packet(&p, data + off, (size_t)n);
		check_prefixes(data + off, (size_t)n, max);
		if (max < FUZZ_MAX_SIZE_ANY) {
			struct mqtt_pkt q;

			FUZZ_CHECK(mqtt_decode(data + off, size - off, FUZZ_MAX_SIZE_ANY, &q) == n);
		}
		off += (size_t)n;
	}
	return 0;
}
