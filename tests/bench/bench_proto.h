/* bench_proto.h - the client side of MQTT 3.1.1 the generator needs: CONNECT,
 * SUBSCRIBE and DISCONNECT during set-up and teardown, and the QoS 1/2 handshakes of
 * OASIS mqtt-v3.1.1 section 4.3 for publishers (PUBACK, PUBREC -> PUBREL, PUBCOMP) and
 * subscribers (PUBLISH -> PUBACK or PUBREC, PUBREL -> PUBCOMP). Bytes go to the
 * connection's control buffer, sent at the end of the loop turn. Loop thread only. */
#ifndef BENCH_PROTO_H
#define BENCH_PROTO_H

#include <petrel/mqtt.h>

struct bench_thread;
struct bench_conn;

/* The TCP connection is up: queues CONNECT. 0 or -ENOMEM. */
int bench_proto_connected(struct bench_thread *th, struct bench_conn *c);

/* Handles one decoded packet from the broker. 0, or < 0 to close the connection
 * (th->detail then says why, if it is not plain -errno). */
int bench_proto_packet(struct bench_thread *th, struct bench_conn *c,
		       const struct mqtt_pkt *pkt);

/* Queues a 2-byte PINGREQ or DISCONNECT. 0 or -ENOMEM. */
int bench_proto_empty(struct bench_thread *th, struct bench_conn *c, enum mqtt_type type);

#endif
