/* mqtt.h - MQTT 3.1 / 3.1.1 packet codec: decode in place with full validation, encode
 * into caller buffers. No I/O, no allocation, no global state: any thread.
 *
 * Decoded strings and payloads point into the caller's buffer and stay valid only as
 * long as that buffer does. Strings are not NUL terminated.
 */
#ifndef PETREL_MQTT_H
#define PETREL_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
};

/* CONNACK return codes (MQTT 3.1.1 table 3.1). */
enum mqtt_connack_rc {
	MQTT_CONNACK_ACCEPTED = 0,
	MQTT_CONNACK_BAD_PROTOCOL = 1,
	MQTT_CONNACK_ID_REJECTED = 2,
	MQTT_CONNACK_UNAVAILABLE = 3,
	MQTT_CONNACK_BAD_CREDENTIALS = 4,
	MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

#define MQTT_SUBACK_FAILURE 0x80
#define MQTT_MAX_REMAINING_LEN 268435455u   /* 4-byte variable length limit */
#define MQTT_PROTO_V31 3                     /* "MQIsdp" */
#define MQTT_PROTO_V311 4                    /* "MQTT" */

struct mqtt_str {
	const char *ptr;
	uint16_t len;
};

struct mqtt_connect {
	uint8_t protocol_level;      /* MQTT_PROTO_V31 or MQTT_PROTO_V311 */
	bool clean_session;
	bool will_flag;
	uint8_t will_qos;
	bool will_retain;
	bool has_username;
	bool has_password;
	uint16_t keep_alive;         /* seconds, 0 = off */
	struct mqtt_str client_id;   /* may be empty */
	struct mqtt_str will_topic;  /* valid if will_flag */
	const uint8_t *will_payload; /* valid if will_flag; binary, may be empty */
	uint16_t will_payload_len;
	struct mqtt_str username;    /* valid if has_username */
	const uint8_t *password;     /* valid if has_password; binary */
	uint16_t password_len;
};

struct mqtt_connack {
	bool session_present;
	uint8_t return_code;
};

struct mqtt_publish {
	bool dup;
	uint8_t qos;
	bool retain;
	struct mqtt_str topic;       /* validated: non-empty, UTF-8, no wildcards */
	uint16_t packet_id;          /* 0 when qos == 0, else non-zero */
	const uint8_t *payload;
	size_t payload_len;
};

/* SUBSCRIBE and UNSUBSCRIBE: the topic list is validated by mqtt_decode and walked
 * with mqtt_topic_iter_*(). <count> >= 1. */
struct mqtt_topic_list {
	uint16_t packet_id;
	const uint8_t *raw;          /* first entry */
	size_t raw_len;
	size_t count;
	bool with_qos;               /* true for SUBSCRIBE */
};

struct mqtt_suback {
	uint16_t packet_id;
	const uint8_t *return_codes;
	size_t count;
};

struct mqtt_pkt {
	enum mqtt_type type;
	uint8_t flags;               /* low nibble of the fixed header */
	size_t remaining_len;
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		uint16_t packet_id;      /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
		struct mqtt_topic_list topics;   /* SUBSCRIBE, UNSUBSCRIBE */
		struct mqtt_suback suback;
	} u;
};

/* Decodes the packet at the start of <buf>.
 * Returns the bytes it occupies (> 0) on success;
 *   0 if <len> does not hold the whole packet yet (read more and call again);
 *   -EMSGSIZE if the packet (fixed header included) is larger than <max_packet_size>,
 *     known as soon as the fixed header is complete, before the body arrives;
 *   -EPROTONOSUPPORT for a CONNECT whose protocol name is valid but whose level is not
 *     3 ("MQIsdp") or 4 ("MQTT"): the caller answers CONNACK 1 (MQTT-3.1.2-2);
 *   -EPROTO for any malformed packet: remaining length over 4 bytes, reserved flags
 *     wrong (MQTT-2.2.2-1/2), QoS 3, DUP set on QoS 0, packet id 0, bad UTF-8 or
 *     U+0000 in a string (MQTT-1.5.3-1/2), wildcards or empty topic in PUBLISH,
 *     empty SUBSCRIBE/UNSUBSCRIBE (MQTT-3.8.3-3, MQTT-3.10.3-2), requested QoS > 2 or
 *     reserved bits (MQTT-3-8.3-4), bad CONNECT flags (MQTT-3.1.2-3/11/13/15/22), bad
 *     protocol name, trailing bytes, wrong remaining length for fixed-size packets,
 *     a CONNECT longer than its largest possible form (known from the fixed header).
 * On < 0 the caller closes the connection (MQTT-4.8.0-1). */
ssize_t mqtt_decode(const uint8_t *buf, size_t len, size_t max_packet_size,
		    struct mqtt_pkt *out);
/* mqtt_decode with the rules of the connection's protocol <level>: MQTT_PROTO_V31
 * also accepts DUP on PUBREL, SUBSCRIBE and UNSUBSCRIBE (3.1 section 2.1); any other
 * value (0 before CONNECT, MQTT_PROTO_V311) is 3.1.1 and strict. mqtt_decode() is
 * this with MQTT_PROTO_V311. */
ssize_t mqtt_decode_level(const uint8_t *buf, size_t len, size_t max_packet_size,
			  uint8_t level, struct mqtt_pkt *out);

/* Validates MQTT UTF-8 (MQTT 1.5.3): well-formed, no surrogates, no U+0000. */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);

/* Walks a SUBSCRIBE/UNSUBSCRIBE list that mqtt_decode accepted. qos is 0 for
 * UNSUBSCRIBE. Returns false after the last entry. */
struct mqtt_topic_iter {
	const uint8_t *pos;
	const uint8_t *end;
	bool with_qos;
};
void mqtt_topic_iter_init(struct mqtt_topic_iter *it, const struct mqtt_topic_list *l);
bool mqtt_topic_iter_next(struct mqtt_topic_iter *it, struct mqtt_str *filter, uint8_t *qos);

/* Writes the variable-length encoding of <value> (<= MQTT_MAX_REMAINING_LEN) into
 * <buf> (room for 4 bytes). Returns bytes written (1..4). */
size_t mqtt_varint_encode(uint8_t *buf, uint32_t value);

/* Fixed-size server packets. Each returns bytes written; buf needs 4 (2 for PINGRESP). */
size_t mqtt_encode_connack(uint8_t *buf, bool session_present, uint8_t return_code);
/* PUBACK, PUBREC, PUBREL (flags 0x2 set for it), PUBCOMP, UNSUBACK. */
size_t mqtt_encode_ack(uint8_t *buf, enum mqtt_type type, uint16_t packet_id);
size_t mqtt_encode_pingresp(uint8_t *buf);

/* SUBACK with <count> return codes. Returns bytes written, or 0 if <cap> is too small. */
size_t mqtt_encode_suback(uint8_t *buf, size_t cap, uint16_t packet_id,
			  const uint8_t *return_codes, size_t count);

/* PUBLISH fixed header, topic and packet id (omitted for qos 0), to be followed by the
 * <payload_len> payload bytes which the caller sends from the msg itself (zero copy).
 * Returns header bytes written, or 0 if <cap> is too small (5 + 2 + topic + 2 always
 * suffices) or the packet would exceed MQTT_MAX_REMAINING_LEN. */
size_t mqtt_encode_publish_header(uint8_t *buf, size_t cap, bool dup, uint8_t qos,
				  bool retain, const char *topic, size_t topic_len,
				  uint16_t packet_id, size_t payload_len);

/* Client packets, for tests and the load generator. Each returns bytes written, or 0 if
 * <cap> is too small. The connect encoder honours every field of <c>, including the
 * protocol level (3 writes "MQIsdp", anything else "MQTT"). */
size_t mqtt_encode_connect(uint8_t *buf, size_t cap, const struct mqtt_connect *c);
size_t mqtt_encode_publish(uint8_t *buf, size_t cap, const struct mqtt_publish *p);
size_t mqtt_encode_subscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
			     const struct mqtt_str *filters, const uint8_t *qos, size_t count);
size_t mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
			       const struct mqtt_str *filters, size_t count);
/* PINGREQ and DISCONNECT: 2 bytes. */
size_t mqtt_encode_empty(uint8_t *buf, enum mqtt_type type);

const char *mqtt_type_name(enum mqtt_type type);

#endif
