/* proto.h - the MQTT engine as a transport sees it. The transport calls these on the
 * worker that owns the connection; the engine answers through transport_ops. */
#ifndef PETREL_PROTO_H
#define PETREL_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct worker;
struct transport_conn;
struct mqtt_conn;

/* A connection was accepted. Returns the engine's state for it, or NULL to refuse
 * (the transport then closes <tc> itself). */
struct mqtt_conn *proto_accept(struct worker *w, struct transport_conn *tc);

/* Bytes arrived. Returns 0, or -1 if the engine closed the connection while handling
 * them (the transport must not use <tc> again). */
int proto_input(struct mqtt_conn *c, const uint8_t *data, size_t len);

/* Output room is available again (after want_write). Returns 0 or -1 as above. */
int proto_writable(struct mqtt_conn *c);

/* The peer closed or the connection broke (err = 0 or -errno). The engine closes the
 * transport connection and forgets <c>. */
void proto_lost(struct mqtt_conn *c, int err);

#endif
