/* codec.c - MQTT 3.1 / 3.1.1 packet codec: mqtt_decode() validates a packet in place in
 * the receive buffer, the mqtt_encode_*() helpers write packets into caller buffers.
 *
 * Follows OASIS "MQTT Version 3.1.1" (mqtt-v3.1.1-os, 29 October 2014). MQTT 3.1
 * clients ("MQIsdp", level 3) are decoded with the same rules. Bracketed ids such as
 * [MQTT-2.2.2-1] name the normative statement a check implements. Topic filter
 * wildcard syntax is left to the engine (it answers SUBACK 0x80 for bad filters).
 *
 * No allocation, no I/O, no global state: callable from any thread.
 */
#include <errno.h>
#include <string.h>

#include "petrel/compiler.h"
#include "petrel/mqtt.h"

#define MQTT_PUBLISH_DUP	0x08
#define MQTT_PUBLISH_RETAIN	0x01
#define MQTT_FLAGS_PUBREL	0x02	/* also SUBSCRIBE and UNSUBSCRIBE */

#define MQTT_CF_RESERVED	0x01	/* CONNECT flags, figure 3.4 */
#define MQTT_CF_CLEAN		0x02
#define MQTT_CF_WILL		0x04
#define MQTT_CF_WILL_QOS_SHIFT	3
#define MQTT_CF_WILL_RETAIN	0x20
#define MQTT_CF_PASSWORD	0x40
#define MQTT_CF_USERNAME	0x80

/* ---------------------------------------------------------------------------------- */
/* UTF-8 (section 1.5.3)                                                              */
/* ---------------------------------------------------------------------------------- */

#define MQTT_ONES	0x0101010101010101ull
#define MQTT_HIGHS	0x8080808080808080ull

/* Length of the well-formed multi-byte sequence starting at <s> (lead byte >= 0x80), or
 * 0. Ranges per RFC 3629 section 4: no overlongs, nothing above U+10FFFF, and no
 * surrogates U+D800..U+DFFF [MQTT-1.5.3-1]. */
static size_t mqtt_utf8_seq(const uint8_t *s, size_t left)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		return 0;		/* stray continuation, 0xc0/0xc1 overlong, 0xf5.. */
	}
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
	const uint8_t *end;

	if (len == 0)
		return true;
	end = s + len;
	while (s < end) {
		size_t n;

		/* Fast path: 8 bytes of ASCII with no NUL among them. */
		if (end - s >= 8) {
			uint64_t v;

			memcpy(&v, s, sizeof(v));
			if (((v | ((v - MQTT_ONES) & ~v)) & MQTT_HIGHS) == 0) {
				s += 8;
				continue;
			}
		}
		if (*s < 0x80) {
			if (*s == 0)
				return false;	/* U+0000 [MQTT-1.5.3-2] */
			s++;
			continue;
		}
		n = mqtt_utf8_seq(s, (size_t)(end - s));
		if (n == 0)
			return false;		/* ill-formed [MQTT-1.5.3-1] */
		s += n;
	}
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* Decoding                                                                           */
/* ---------------------------------------------------------------------------------- */

/* Read cursor over the body of one complete packet. Every read is bounds checked; a
 * read past the end means the packet is malformed (its remaining length is short). */
struct mqtt_cur {
	const uint8_t *p;
	const uint8_t *end;
};

static inline size_t mqtt_cur_left(const struct mqtt_cur *c)
{
	return (size_t)(c->end - c->p);
}

static inline uint16_t mqtt_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline int mqtt_get_u8(struct mqtt_cur *c, uint8_t *v)
{
	if (unlikely(c->p >= c->end))
		return -EPROTO;
	*v = *c->p++;
	return 0;
}

static inline int mqtt_get_u16(struct mqtt_cur *c, uint16_t *v)
{
	if (unlikely(mqtt_cur_left(c) < 2))
		return -EPROTO;
	*v = mqtt_be16(c->p);
	c->p += 2;
	return 0;
}

/* Packet identifier: non-zero wherever one is present [MQTT-2.3.1-1]. */
static inline int mqtt_get_packet_id(struct mqtt_cur *c, uint16_t *id)
{
	if (mqtt_get_u16(c, id) < 0 || *id == 0)
		return -EPROTO;
	return 0;
}

/* Two-byte length followed by that many bytes (binary data, figure 3.7). */
static int mqtt_get_bin(struct mqtt_cur *c, const uint8_t **data, uint16_t *len)
{
	uint16_t n;

	if (mqtt_get_u16(c, &n) < 0 || mqtt_cur_left(c) < n)
		return -EPROTO;
	*data = c->p;
	*len = n;
	c->p += n;
	return 0;
}

/* UTF-8 encoded string (figure 1.1): length-prefixed, well-formed, no U+0000. */
static int mqtt_get_str(struct mqtt_cur *c, struct mqtt_str *s)
{
	const uint8_t *data;
	uint16_t n;

	if (mqtt_get_bin(c, &data, &n) < 0 || !mqtt_utf8_valid(data, n))
		return -EPROTO;
	s->ptr = (const char *)data;
	s->len = n;
	return 0;
}

static inline bool mqtt_has_wildcard(const char *s, size_t len)
{
	return memchr(s, '+', len) != NULL || memchr(s, '#', len) != NULL;
}

/* Topic Name of a PUBLISH or a Will: a UTF-8 string [MQTT-3.3.2-1], at least one
 * character long [MQTT-4.7.3-1], without wildcards [MQTT-3.3.2-2]. */
static int mqtt_get_topic_name(struct mqtt_cur *c, struct mqtt_str *s)
{
	if (mqtt_get_str(c, s) < 0 || s->len == 0 || mqtt_has_wildcard(s->ptr, s->len))
		return -EPROTO;
	return 0;
}

/* Fixed header flags, table 2.2: PUBLISH carries DUP/QoS/RETAIN, PUBREL, SUBSCRIBE and
 * UNSUBSCRIBE must be 0010, every other type 0000 [MQTT-2.2.2-1/2]. Packet types 0 and
 * 15 are reserved (table 2.1).
 * MQTT 3.1 (section 2.1, "DUP flag") sets DUP when a client re-delivers a PUBLISH,
 * PUBREL, SUBSCRIBE or UNSUBSCRIBE: those three carry QoS 1 and may carry DUP there,
 * so for a 3.1 connection 1010 is accepted beside 0010. */
static int mqtt_check_flags(unsigned int type, uint8_t flags, uint8_t level)
{
	uint8_t qos;

	switch (type) {
	case MQTT_PUBLISH:
		qos = (flags >> 1) & 3;
		if (qos == 3)
			return -EPROTO;		/* [MQTT-3.3.1-4] */
		if ((flags & MQTT_PUBLISH_DUP) && qos == 0)
			return -EPROTO;		/* [MQTT-3.3.1-2] */
		return 0;
	case MQTT_PUBREL:			/* [MQTT-3.6.1-1] */
	case MQTT_SUBSCRIBE:			/* [MQTT-3.8.1-1] */
	case MQTT_UNSUBSCRIBE:			/* [MQTT-3.10.1-1] */
		if (level == MQTT_PROTO_V31)
			flags &= (uint8_t)~MQTT_PUBLISH_DUP;
		return flags == MQTT_FLAGS_PUBREL ? 0 : -EPROTO;
	case MQTT_CONNECT:
	case MQTT_CONNACK:
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT:
		return flags == 0 ? 0 : -EPROTO;
	default:
		return -EPROTO;
	}
}

/* Remaining length (2.2.3): at most four bytes, so a fourth byte with its continuation
 * bit set is malformed without waiting for a fifth. Returns the fixed header size
 * (2..5), 0 if more bytes are needed, or -EPROTO. */
static ssize_t mqtt_get_remaining_len(const uint8_t *buf, size_t len, uint32_t *rl)
{
	uint32_t value = 0;
	size_t i;

	for (i = 1; i <= 4; i++) {
		if (i >= len)
			return 0;
		value |= (uint32_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if (!(buf[i] & 0x80)) {
			*rl = value;
			return (ssize_t)i + 1;
		}
	}
	return -EPROTO;
}

/* The largest CONNECT body: protocol name ("MQIsdp", the longer one), level, flags and
 * keep-alive, then at most five length-prefixed fields of up to 65535 bytes each
 * (client id, will topic, will message, user name, password; 3.1.3). */
#define MQTT_CONNECT_MAX_RL (2u + 6u + 1u + 1u + 2u + 5u * (2u + 65535u))

/* Packets whose remaining length is fixed or bounded by the spec (sections 3.1, 3.2,
 * 3.4-3.7, 3.11-3.14), checked before the body arrives. */
static int mqtt_check_fixed_len(unsigned int type, uint32_t rl)
{
	switch (type) {
	case MQTT_CONNECT:
		/* A longer CONNECT cannot be well formed: refuse it now rather than
		 * buffer the hundreds of MB it announces. */
		return rl <= MQTT_CONNECT_MAX_RL ? 0 : -EPROTO;
	case MQTT_CONNACK:
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		return rl == 2 ? 0 : -EPROTO;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT:
		return rl == 0 ? 0 : -EPROTO;
	default:
		return 0;
	}
}

/* Protocol name and level (3.1.2.1, 3.1.2.2). A name other than "MQTT" or "MQIsdp" is a
 * protocol violation [MQTT-3.1.2-1]; a known name with another level gets CONNACK 1
 * from the caller [MQTT-3.1.2-2]. */
static int mqtt_decode_protocol(struct mqtt_cur *c, uint8_t *level)
{
	const uint8_t *name;
	uint16_t name_len;
	uint8_t want;

	if (mqtt_get_bin(c, &name, &name_len) < 0 || mqtt_get_u8(c, level) < 0)
		return -EPROTO;
	if (name_len == 4 && memcmp(name, "MQTT", 4) == 0)
		want = MQTT_PROTO_V311;
	else if (name_len == 6 && memcmp(name, "MQIsdp", 6) == 0)
		want = MQTT_PROTO_V31;
	else
		return -EPROTO;
	return *level == want ? 0 : -EPROTONOSUPPORT;
}

/* Connect flags (3.1.2.3 - 3.1.2.9). */
static int mqtt_decode_connect_flags(uint8_t f, struct mqtt_connect *cn)
{
	if (f & MQTT_CF_RESERVED)
		return -EPROTO;			/* [MQTT-3.1.2-3] */
	cn->clean_session = f & MQTT_CF_CLEAN;
	cn->will_flag = f & MQTT_CF_WILL;
	cn->will_qos = (f >> MQTT_CF_WILL_QOS_SHIFT) & 3;
	cn->will_retain = f & MQTT_CF_WILL_RETAIN;
	cn->has_username = f & MQTT_CF_USERNAME;
	cn->has_password = f & MQTT_CF_PASSWORD;
	if (!cn->will_flag && (cn->will_qos != 0 || cn->will_retain))
		return -EPROTO;			/* [MQTT-3.1.2-11/13/15] */
	if (cn->will_qos == 3)
		return -EPROTO;			/* [MQTT-3.1.2-14] */
	if (cn->has_password && !cn->has_username)
		return -EPROTO;			/* [MQTT-3.1.2-22] */
	return 0;
}

/* CONNECT payload (3.1.3): fields in the order Client Identifier, Will Topic, Will
 * Message, User Name, Password [MQTT-3.1.3-1], nothing after them. */
static int mqtt_decode_connect_payload(struct mqtt_cur *c, struct mqtt_connect *cn)
{
	if (mqtt_get_str(c, &cn->client_id) < 0)
		return -EPROTO;			/* [MQTT-3.1.3-3/4] */
	if (cn->will_flag) {
		if (mqtt_get_topic_name(c, &cn->will_topic) < 0)
			return -EPROTO;		/* [MQTT-3.1.3-10] */
		if (mqtt_get_bin(c, &cn->will_payload, &cn->will_payload_len) < 0)
			return -EPROTO;
	}
	if (cn->has_username && mqtt_get_str(c, &cn->username) < 0)
		return -EPROTO;			/* [MQTT-3.1.3-11] */
	if (cn->has_password && mqtt_get_bin(c, &cn->password, &cn->password_len) < 0)
		return -EPROTO;
	return mqtt_cur_left(c) == 0 ? 0 : -EPROTO;
}

static int mqtt_decode_connect(struct mqtt_cur *c, struct mqtt_connect *cn)
{
	uint8_t flags;
	int err;

	memset(cn, 0, sizeof(*cn));
	err = mqtt_decode_protocol(c, &cn->protocol_level);
	if (err < 0)
		return err;
	if (mqtt_get_u8(c, &flags) < 0 || mqtt_get_u16(c, &cn->keep_alive) < 0)
		return -EPROTO;
	err = mqtt_decode_connect_flags(flags, cn);
	if (err < 0)
		return err;
	return mqtt_decode_connect_payload(c, cn);
}

/* CONNACK (3.2): acknowledge flags bits 7-1 are reserved and must be 0 (3.2.2.1). The
 * body is exactly 2 bytes (mqtt_check_fixed_len). Return codes 6-255 are reserved but
 * passed through: answering them is the client's business. */
static int mqtt_decode_connack(struct mqtt_cur *c, struct mqtt_connack *ca)
{
	const uint8_t *p = c->p;

	if (p[0] & 0xfe)
		return -EPROTO;
	ca->session_present = p[0] & 1;
	ca->return_code = p[1];
	return 0;
}

/* PUBLISH (3.3): topic, packet id only when QoS > 0 [MQTT-2.3.1-5], then the payload,
 * which may be empty. */
static int mqtt_decode_publish(struct mqtt_cur *c, uint8_t flags, struct mqtt_publish *pb)
{
	pb->dup = flags & MQTT_PUBLISH_DUP;
	pb->qos = (flags >> 1) & 3;
	pb->retain = flags & MQTT_PUBLISH_RETAIN;
	if (mqtt_get_topic_name(c, &pb->topic) < 0)
		return -EPROTO;
	pb->packet_id = 0;
	if (pb->qos > 0 && mqtt_get_packet_id(c, &pb->packet_id) < 0)
		return -EPROTO;
	pb->payload = c->p;
	pb->payload_len = mqtt_cur_left(c);
	return 0;
}

/* SUBSCRIBE (3.8) and UNSUBSCRIBE (3.10): packet id, then one or more topic filters
 * [MQTT-3.8.3-3, MQTT-3.10.3-2], each a non-empty UTF-8 string [MQTT-3.8.3-1,
 * MQTT-3.10.3-1, MQTT-4.7.3-1]; SUBSCRIBE follows each with a requested QoS byte whose
 * upper 6 bits are reserved and whose QoS is 0..2 [MQTT-3-8.3-4]. */
static int mqtt_decode_topics(struct mqtt_cur *c, bool with_qos, struct mqtt_topic_list *tl)
{
	struct mqtt_str filter;
	uint8_t qos;

	if (mqtt_get_packet_id(c, &tl->packet_id) < 0)
		return -EPROTO;
	tl->raw = c->p;
	tl->raw_len = mqtt_cur_left(c);
	tl->with_qos = with_qos;
	tl->count = 0;
	if (tl->raw_len == 0)
		return -EPROTO;
	while (mqtt_cur_left(c) > 0) {
		if (mqtt_get_str(c, &filter) < 0 || filter.len == 0)
			return -EPROTO;
		if (with_qos && (mqtt_get_u8(c, &qos) < 0 || qos > 2))
			return -EPROTO;
		tl->count++;
	}
	return 0;
}

/* SUBACK (3.9): packet id, then one return code per filter; only 0x00, 0x01, 0x02 and
 * 0x80 are allowed [MQTT-3.9.3-2]. */
static int mqtt_decode_suback(struct mqtt_cur *c, struct mqtt_suback *sa)
{
	size_t i;

	if (mqtt_get_packet_id(c, &sa->packet_id) < 0 || mqtt_cur_left(c) == 0)
		return -EPROTO;
	sa->return_codes = c->p;
	sa->count = mqtt_cur_left(c);
	for (i = 0; i < sa->count; i++)
		if (sa->return_codes[i] > 2 && sa->return_codes[i] != MQTT_SUBACK_FAILURE)
			return -EPROTO;
	return 0;
}

static int mqtt_decode_body(struct mqtt_cur *c, struct mqtt_pkt *out)
{
	switch (out->type) {
	case MQTT_CONNECT:
		return mqtt_decode_connect(c, &out->u.connect);
	case MQTT_CONNACK:
		return mqtt_decode_connack(c, &out->u.connack);
	case MQTT_PUBLISH:
		return mqtt_decode_publish(c, out->flags, &out->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		/* Same id as the packet acknowledged, which is non-zero [MQTT-2.3.1-6/7]. */
		return mqtt_get_packet_id(c, &out->u.packet_id);
	case MQTT_SUBSCRIBE:
		return mqtt_decode_topics(c, true, &out->u.topics);
	case MQTT_UNSUBSCRIBE:
		return mqtt_decode_topics(c, false, &out->u.topics);
	case MQTT_SUBACK:
		return mqtt_decode_suback(c, &out->u.suback);
	default:
		return 0;	/* PINGREQ, PINGRESP, DISCONNECT: no body */
	}
}

ssize_t mqtt_decode(const uint8_t *buf, size_t len, size_t max_packet_size,
		    struct mqtt_pkt *out)
{
	return mqtt_decode_level(buf, len, max_packet_size, MQTT_PROTO_V311, out);
}

ssize_t mqtt_decode_level(const uint8_t *buf, size_t len, size_t max_packet_size,
			  uint8_t level, struct mqtt_pkt *out)
{
	struct mqtt_cur c;
	unsigned int type;
	uint8_t flags;
	uint32_t rl;
	ssize_t hdr;
	size_t total;
	int err;

	if (len == 0)
		return 0;
	type = buf[0] >> 4;
	flags = buf[0] & 0x0f;
	err = mqtt_check_flags(type, flags, level);
	if (err < 0)
		return err;
	hdr = mqtt_get_remaining_len(buf, len, &rl);
	if (hdr <= 0)
		return hdr;
	err = mqtt_check_fixed_len(type, rl);
	if (err < 0)
		return err;
	total = (size_t)hdr + rl;
	if (total > max_packet_size)
		return -EMSGSIZE;
	if (len < total)
		return 0;

	out->type = (enum mqtt_type)type;
	out->flags = flags;
	out->remaining_len = rl;
	c.p = buf + hdr;
	c.end = buf + total;
	err = mqtt_decode_body(&c, out);
	if (err < 0)
		return err;
	return (ssize_t)total;
}

void mqtt_topic_iter_init(struct mqtt_topic_iter *it, const struct mqtt_topic_list *l)
{
	it->pos = l->raw;
	it->end = l->raw + l->raw_len;
	it->with_qos = l->with_qos;
}

/* The list was validated by mqtt_decode(); the bounds checks only keep a misuse (an
 * iterator over unvalidated bytes) from reading past the end. */
bool mqtt_topic_iter_next(struct mqtt_topic_iter *it, struct mqtt_str *filter, uint8_t *qos)
{
	size_t left = (size_t)(it->end - it->pos);
	size_t need;
	uint16_t n;

	if (left < 2)
		return false;
	n = mqtt_be16(it->pos);
	need = 2 + (size_t)n + (it->with_qos ? 1 : 0);
	if (left < need)
		return false;
	filter->ptr = (const char *)it->pos + 2;
	filter->len = n;
	if (qos != NULL)
		*qos = it->with_qos ? it->pos[2 + n] : 0;
	it->pos += need;
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* Encoding                                                                           */
/* ---------------------------------------------------------------------------------- */

static inline size_t mqtt_varint_len(size_t value)
{
	if (value < 128)
		return 1;
	if (value < 16384)
		return 2;
	if (value < 2097152)
		return 3;
	return 4;
}

static inline uint8_t *mqtt_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *mqtt_put_bin(uint8_t *p, const void *data, uint16_t len)
{
	p = mqtt_put_u16(p, len);
	if (len > 0)
		memcpy(p, data, len);
	return p + len;
}

/* Fixed header: type/flags byte and remaining length. Returns the next write position. */
static inline uint8_t *mqtt_put_fixed(uint8_t *p, unsigned int type, uint8_t flags,
				      size_t rl)
{
	p[0] = (uint8_t)(type << 4 | flags);
	return p + 1 + mqtt_varint_encode(p + 1, (uint32_t)rl);
}

size_t mqtt_varint_encode(uint8_t *buf, uint32_t value)
{
	size_t n = 0;

	do {
		uint8_t b = value & 0x7f;

		value >>= 7;
		if (value > 0)
			b |= 0x80;
		buf[n++] = b;
	} while (value > 0 && n < 4);
	return n;
}

size_t mqtt_encode_connack(uint8_t *buf, bool session_present, uint8_t return_code)
{
	buf[0] = MQTT_CONNACK << 4;
	buf[1] = 2;
	buf[2] = session_present ? 1 : 0;
	buf[3] = return_code;
	return 4;
}

size_t mqtt_encode_ack(uint8_t *buf, enum mqtt_type type, uint16_t packet_id)
{
	switch (type) {
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		buf[0] = (uint8_t)(type << 4);
		break;
	case MQTT_PUBREL:
		buf[0] = (uint8_t)(type << 4 | MQTT_FLAGS_PUBREL);
		break;
	default:
		return 0;
	}
	buf[1] = 2;
	mqtt_put_u16(buf + 2, packet_id);
	return 4;
}

size_t mqtt_encode_pingresp(uint8_t *buf)
{
	return mqtt_encode_empty(buf, MQTT_PINGRESP);
}

size_t mqtt_encode_empty(uint8_t *buf, enum mqtt_type type)
{
	if (type != MQTT_PINGREQ && type != MQTT_PINGRESP && type != MQTT_DISCONNECT)
		return 0;
	buf[0] = (uint8_t)(type << 4);
	buf[1] = 0;
	return 2;
}

size_t mqtt_encode_suback(uint8_t *buf, size_t cap, uint16_t packet_id,
			  const uint8_t *return_codes, size_t count)
{
	size_t rl, total;
	uint8_t *p;

	if (count > MQTT_MAX_REMAINING_LEN - 2)
		return 0;
	rl = 2 + count;
	total = 1 + mqtt_varint_len(rl) + rl;
	if (total > cap)
		return 0;
	p = mqtt_put_fixed(buf, MQTT_SUBACK, 0, rl);
	p = mqtt_put_u16(p, packet_id);
	if (count > 0)
		memcpy(p, return_codes, count);
	return total;
}

/* Runs once per delivered message: straight-line, no loops but the varint. DUP is
 * dropped for QoS 0, where it must be 0 [MQTT-3.3.1-2]. */
size_t mqtt_encode_publish_header(uint8_t *buf, size_t cap, bool dup, uint8_t qos,
				  bool retain, const char *topic, size_t topic_len,
				  uint16_t packet_id, size_t payload_len)
{
	size_t vh, rl, total;
	uint8_t flags;
	uint8_t *p;

	if (unlikely(qos > 2 || topic_len > UINT16_MAX))
		return 0;
	vh = 2 + topic_len + (qos > 0 ? 2 : 0);
	if (unlikely(payload_len > MQTT_MAX_REMAINING_LEN - vh))
		return 0;
	rl = vh + payload_len;
	total = 1 + mqtt_varint_len(rl) + vh;
	if (unlikely(total > cap))
		return 0;
	flags = (uint8_t)(qos << 1);
	if (dup && qos > 0)
		flags |= MQTT_PUBLISH_DUP;
	if (retain)
		flags |= MQTT_PUBLISH_RETAIN;
	p = mqtt_put_fixed(buf, MQTT_PUBLISH, flags, rl);
	p = mqtt_put_bin(p, topic, (uint16_t)topic_len);
	if (qos > 0)
		mqtt_put_u16(p, packet_id);
	return total;
}

size_t mqtt_encode_publish(uint8_t *buf, size_t cap, const struct mqtt_publish *pb)
{
	size_t n;

	n = mqtt_encode_publish_header(buf, cap, pb->dup, pb->qos, pb->retain,
				       pb->topic.ptr, pb->topic.len, pb->packet_id,
				       pb->payload_len);
	if (n == 0 || cap - n < pb->payload_len)
		return 0;
	if (pb->payload_len > 0)
		memcpy(buf + n, pb->payload, pb->payload_len);
	return n + pb->payload_len;
}

static uint8_t mqtt_connect_flags(const struct mqtt_connect *c)
{
	uint8_t f = (uint8_t)((c->will_qos & 3) << MQTT_CF_WILL_QOS_SHIFT);

	if (c->clean_session)
		f |= MQTT_CF_CLEAN;
	if (c->will_flag)
		f |= MQTT_CF_WILL;
	if (c->will_retain)
		f |= MQTT_CF_WILL_RETAIN;
	if (c->has_password)
		f |= MQTT_CF_PASSWORD;
	if (c->has_username)
		f |= MQTT_CF_USERNAME;
	return f;
}

/* Writes exactly what <c> says, even combinations mqtt_decode() rejects, so tests can
 * build malformed CONNECTs. Largest possible packet is ~320 KiB: no overflow. */
size_t mqtt_encode_connect(uint8_t *buf, size_t cap, const struct mqtt_connect *c)
{
	bool v31 = c->protocol_level == MQTT_PROTO_V31;
	const char *name = v31 ? "MQIsdp" : "MQTT";
	uint16_t name_len = v31 ? 6 : 4;
	size_t rl, total;
	uint8_t *p;

	rl = 2 + name_len + 1 + 1 + 2 + 2 + (size_t)c->client_id.len;
	if (c->will_flag)
		rl += 2 + (size_t)c->will_topic.len + 2 + c->will_payload_len;
	if (c->has_username)
		rl += 2 + (size_t)c->username.len;
	if (c->has_password)
		rl += 2 + (size_t)c->password_len;
	total = 1 + mqtt_varint_len(rl) + rl;
	if (total > cap)
		return 0;

	p = mqtt_put_fixed(buf, MQTT_CONNECT, 0, rl);
	p = mqtt_put_bin(p, name, name_len);
	*p++ = c->protocol_level;
	*p++ = mqtt_connect_flags(c);
	p = mqtt_put_u16(p, c->keep_alive);
	p = mqtt_put_bin(p, c->client_id.ptr, c->client_id.len);
	if (c->will_flag) {
		p = mqtt_put_bin(p, c->will_topic.ptr, c->will_topic.len);
		p = mqtt_put_bin(p, c->will_payload, c->will_payload_len);
	}
	if (c->has_username)
		p = mqtt_put_bin(p, c->username.ptr, c->username.len);
	if (c->has_password)
		mqtt_put_bin(p, c->password, c->password_len);
	return total;
}

/* SUBSCRIBE and UNSUBSCRIBE share a layout; only SUBSCRIBE (<with_qos>) has a requested
 * QoS byte after each filter, taken from <qos> (all 0 if it is NULL). Written as given,
 * an empty list or a QoS of 3 included, so tests can build malformed packets. */
static size_t mqtt_encode_topics(uint8_t *buf, size_t cap, unsigned int type,
				 uint16_t packet_id, const struct mqtt_str *filters,
				 bool with_qos, const uint8_t *qos, size_t count)
{
	size_t rl = 2, total, i;
	uint8_t *p;

	for (i = 0; i < count; i++) {
		rl += 2 + (size_t)filters[i].len + (with_qos ? 1 : 0);
		if (rl > MQTT_MAX_REMAINING_LEN)
			return 0;
	}
	total = 1 + mqtt_varint_len(rl) + rl;
	if (total > cap)
		return 0;
	p = mqtt_put_fixed(buf, type, MQTT_FLAGS_PUBREL, rl);
	p = mqtt_put_u16(p, packet_id);
	for (i = 0; i < count; i++) {
		p = mqtt_put_bin(p, filters[i].ptr, filters[i].len);
		if (with_qos)
			*p++ = qos != NULL ? qos[i] : 0;
	}
	return total;
}

size_t mqtt_encode_subscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
			     const struct mqtt_str *filters, const uint8_t *qos, size_t count)
{
	return mqtt_encode_topics(buf, cap, MQTT_SUBSCRIBE, packet_id, filters, true, qos,
				  count);
}

size_t mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
			       const struct mqtt_str *filters, size_t count)
{
	return mqtt_encode_topics(buf, cap, MQTT_UNSUBSCRIBE, packet_id, filters, false,
				  NULL, count);
}

const char *mqtt_type_name(enum mqtt_type type)
{
	static const char *const names[] = {
		[MQTT_CONNECT] = "CONNECT",
		[MQTT_CONNACK] = "CONNACK",
		[MQTT_PUBLISH] = "PUBLISH",
		[MQTT_PUBACK] = "PUBACK",
		[MQTT_PUBREC] = "PUBREC",
		[MQTT_PUBREL] = "PUBREL",
		[MQTT_PUBCOMP] = "PUBCOMP",
		[MQTT_SUBSCRIBE] = "SUBSCRIBE",
		[MQTT_SUBACK] = "SUBACK",
		[MQTT_UNSUBSCRIBE] = "UNSUBSCRIBE",
		[MQTT_UNSUBACK] = "UNSUBACK",
		[MQTT_PINGREQ] = "PINGREQ",
		[MQTT_PINGRESP] = "PINGRESP",
		[MQTT_DISCONNECT] = "DISCONNECT",
	};

	if ((unsigned int)type >= ARRAY_SIZE(names) || names[type] == NULL)
		return "UNKNOWN";
	return names[type];
}
