/* raw_client.h - a raw MQTT 3.1.1 client for integration tests that must see and send
 * packets exactly: DUP flags, packet ids, every copy of a PUBLISH, SUBACK slots,
 * withheld acknowledgements. libmosquitto hides all of these and always acknowledges.
 * Built on the project's strict codec (include/petrel/mqtt.h), so a malformed packet
 * from the broker fails the test, and on harness.h's raw sockets for the bytes on the
 * wire. Every function asserts (criterion) on what the test cannot go on without;
 * call them from the test's main thread only. */
#ifndef PETREL_TEST_RAW_CLIENT_H
#define PETREL_TEST_RAW_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "petrel/mqtt.h"

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
 * decodes it with the strict codec. Returns 1 with <p> filled, 0 if nothing arrived in
 * time, -1 on EOF, a short read or a packet the codec rejects. */
int rx_packet(int fd, struct rpkt *p, int timeout_ms);
/* Reads the next packet and asserts it arrived within timeout_ms and is of <type>. */
void rx_expect(int fd, struct rpkt *p, enum mqtt_type type, int timeout_ms);
/* Asserts that the broker sends nothing for <ms> and keeps the connection open. */
void rx_nothing(int fd, int ms);

/* Connects a raw 3.1.1 client (keepalive 60) and asserts CONNACK 0. Returns the fd;
 * <session_present> (may be NULL) gets the CONNACK flag. */
int raw_session(struct broker *b, const char *id, bool clean, bool *session_present);

/* Sends one PUBLISH with exactly these header fields (asserts it was sent). */
void tx_publish(int fd, const char *topic, const void *payload, size_t len, uint8_t qos,
		bool retain, bool dup, uint16_t id);
/* Sends PUBACK, PUBREC, PUBREL or PUBCOMP for <id>. */
void tx_ack(int fd, enum mqtt_type type, uint16_t id);
/* Subscribes to one filter and returns the SUBACK return code. */
uint8_t tx_subscribe(int fd, uint16_t id, const char *filter, uint8_t qos);
/* Sends DISCONNECT and closes: the session (cleanSession 0) stays on the broker. */
void tx_disconnect(int fd);

/* True if the PUBLISH payload of <p> is exactly the string <s> (no NUL). */
bool payload_is(const struct rpkt *p, const char *s);

#endif
