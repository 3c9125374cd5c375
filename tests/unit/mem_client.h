/* mem_client.h - an MQTT client for unit suites that drive the real engine over the
 * in-memory transport (tests/support/mem_transport.h): it encodes packets with the
 * project's codec, feeds them to proto_input() on the connection's worker and decodes
 * what the broker wrote. Every call asserts (criterion) on what a test cannot go on
 * without. The broker's workers are turned by the test, except where a call says. */
#ifndef PETREL_TEST_MEM_CLIENT_H
#define PETREL_TEST_MEM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/mqtt.h"

struct broker;
struct transport_conn;

struct mem_client {
	const char *id;
	struct broker *b;
	unsigned w;                  /* worker the connection was accepted on */
	struct transport_conn *tc;   /* kept readable after a takeover closes it */
};

/* Feeds <len> bytes; asserts the engine did not close the connection. */
void mem_client_input(struct mem_client *cl, const uint8_t *buf, size_t len);
/* Decodes the next PUBLISH the broker wrote into <p>, skipping other packets. Returns
 * false when there is none (asserts the output decodes). */
bool mem_client_next_publish(struct mem_client *cl, struct mqtt_pkt *p);
/* Decodes the next packet the broker wrote and asserts it is of <type>. */
void mem_client_next(struct mem_client *cl, struct mqtt_pkt *p, enum mqtt_type type);
/* Opens a connection on worker <w> and sends CONNECT (3.1.1); nothing is turned. */
void mem_client_send_connect(struct mem_client *cl, struct broker *b, unsigned w,
			     const char *id, bool clean);
void mem_client_expect_connack(struct mem_client *cl, bool session_present);
/* CONNECT handled on a worker that owns or creates the session: one turn of <w>. */
void mem_client_connect(struct mem_client *cl, struct broker *b, unsigned w,
			const char *id, bool clean);
/* SUBSCRIBE to <filter> at QoS 2 and expect SUBACK granting it: one turn. */
void mem_client_subscribe(struct mem_client *cl, const char *filter);
/* PUBLISH "m<seq>" on <topic> at <qos> (packet id <seq>), handled at once; no turn. */
void mem_client_publish_seq(struct mem_client *cl, const char *topic, unsigned seq,
			    uint8_t qos);
/* The number in a "m<seq>" payload of PUBLISH <p>. */
unsigned mem_client_seq(const struct mqtt_pkt *p);

#endif
