/* proto.h - the MQTT engine as a transport sees it. The transport calls these on the
 * worker that owns the connection; the engine answers through transport_ops. */
#ifndef PETREL_PROTO_H
#define PETREL_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "petrel/span.h"

struct worker;
struct transport_conn;
struct mqtt_conn;

/* A connection was accepted. Returns the engine's state for it, or NULL to refuse
 * (the transport then closes <tc> itself). */
struct mqtt_conn *proto_accept(struct worker *w, struct transport_conn *tc);

/* Bytes arrived. Returns how many the engine consumed (>= 0): it takes everything
 * unless its reading is paused (takeover, held input full); the transport keeps the
 * rest and offers it again after pause_read(false). The engine itself keeps at most a
 * trailing partial packet. Or -1: the engine closed the connection while handling
 * them (the transport must not use <tc> again). */
ssize_t proto_input(struct mqtt_conn *c, const uint8_t *data, size_t len);

/* The connection's output stream is the send buffer: bytes stay in the engine until
 * released. proto_out_len: bytes not yet released (sent-but-unacknowledged included).
 * proto_out_view: spans (span.h) from byte <off> of them (0 = oldest unreleased), at
 * most <max>; returns the count. proto_out_release: the oldest <n> bytes are done
 * with (kernel: written to the socket; TCP: acknowledged by the peer). The engine
 * frees them and may move more queued messages into its window (marking the
 * connection for output); it never calls back into the transport from inside
 * proto_out_release. Valid on a closed connection only inside transport close(). */
size_t proto_out_len(const struct mqtt_conn *c);
int proto_out_view(const struct mqtt_conn *c, size_t off, struct tx_span *sp, int max);
void proto_out_release(struct mqtt_conn *c, size_t n);

/* A PUBLISH payload span's ref is its msg: hold it while anything (an mbuf, a
 * retransmission) points into it, release it after. Any thread. */
void proto_span_hold(void *ref);
void proto_span_release(void *ref);

/* The peer closed or the connection broke (err = 0 or -errno). The engine closes the
 * transport connection and forgets <c>. */
void proto_lost(struct mqtt_conn *c, int err);

#endif
