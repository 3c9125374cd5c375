/* proto.c - the MQTT engine's connection layer: accepts connections from the
 * transport, frames and decodes input (in place when a whole packet is in the
 * transport's buffer, from the connection's own buffer otherwise), dispatches packets
 * by state, keeps the output stream the transport sends from (proto_out_*), and
 * closes connections for every reason MQTT 3.1.1 gives.
 * All of it runs on the worker owning the connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/budget.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

/* Per-connection memory at a million connections (docs/benchmarks.md): 368 bytes is
 * a 384-byte malloc chunk; growing past it costs 16 bytes a connection. */
_Static_assert(sizeof(struct mqtt_conn) <= 368, "struct mqtt_conn outgrew its budget");

static const char *reason_name(enum close_reason why)
{
	switch (why) {
	case CLOSE_DISCONNECT: return "client disconnected";
	case CLOSE_PEER: return "connection lost";
	case CLOSE_PROTOCOL: return "protocol error";
	case CLOSE_KEEPALIVE: return "keep-alive timeout";
	case CLOSE_CONNECT_TIMEOUT: return "no CONNECT in time";
	case CLOSE_REFUSED: return "connection refused";
	case CLOSE_TAKEOVER: return "session taken over";
	case CLOSE_SHUTDOWN: return "broker shutting down";
	case CLOSE_NO_MEMORY: return "out of memory";
	case CLOSE_SLOW: return "slow subscriber";
	case CLOSE_OUTPUT_FULL: return "not reading its output";
	case CLOSE_KICKED: return "kicked by the operator";
	}
	return "?";
}

static const char *conn_client_id(const struct mqtt_conn *c)
{
	return c->s != NULL ? c->s->client_id : "-";
}

static void conn_timer_fired(struct timer *t, uint64_t now_ms)
{
	struct mqtt_conn *c = caa_container_of(t, struct mqtt_conn, timer);

	switch (c->state) {
	case CONN_NEW:
	case CONN_TAKEOVER:
		c->w->stats.connect_timeout++;
		conn_close(c, CLOSE_CONNECT_TIMEOUT);
		break;
	case CONN_ACTIVE: {
		/* MQTT-3.1.2-24: silence for 1.5 x keep-alive ends the connection. */
		uint64_t deadline = c->last_rx_ms + (uint64_t)c->keep_alive * 1500u;

		if (c->read_paused) {
			/* Held input full (max_held_input_bytes): we are the ones not
			 * reading the socket, so its silence is ours. That pause is
			 * bounded by backpressure_timeout. A connection merely held
			 * back is still read and counted (last_rx_ms, process()). */
			c->last_rx_ms = now_ms;
			deadline = now_ms + (uint64_t)c->keep_alive * 1500u;
		}
		if (now_ms >= deadline) {
			c->w->stats.keepalive_timeout++;
			conn_close(c, CLOSE_KEEPALIVE);
		} else {
			timer_arm(&c->w->wheel, &c->timer, deadline);
		}
		break;
	}
	case CONN_CLOSED:
		break;
	}
}

void conn_arm_keepalive(struct mqtt_conn *c)
{
	timer_cancel(&c->w->wheel, &c->timer);
	if (c->keep_alive > 0)
		timer_arm(&c->w->wheel, &c->timer,
			  c->last_rx_ms + (uint64_t)c->keep_alive * 1500u);
}

struct mqtt_conn *proto_accept(struct worker *w, struct transport_conn *tc)
{
	struct mqtt_conn *c;

	worker_assert_current(w);
	if (atomic_load_explicit(&w->broker->stopping, memory_order_relaxed))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->w = w;
	c->tc = tc;
	c->state = CONN_NEW;
	c->last_rx_ms = w->now_ms;
	outq_init(&c->out);
	CDS_INIT_LIST_HEAD(&c->dirty_link);
	CDS_INIT_LIST_HEAD(&c->paused_link);
	CDS_INIT_LIST_HEAD(&c->grave_link);
	CDS_INIT_LIST_HEAD(&c->fenced_link);
	cds_list_add(&c->link, &mqtt_worker(w)->conns);
	timer_init(&c->timer, conn_timer_fired);
	flow_conn_init(c);
	timer_arm(&w->wheel, &c->timer,
		  w->now_ms + (uint64_t)w->cfg->connect_timeout * 1000u);
	log_debug("%s: accepted", w->tops->peer(tc));
	return c;
}

void conn_mark_dirty(struct mqtt_conn *c)
{
	if (c->in_dirty || c->state == CONN_CLOSED)
		return;
	c->in_dirty = true;
	cds_list_add_tail(&c->dirty_link, &mqtt_worker(c->w)->dirty);
}

int conn_send(struct mqtt_conn *c, const void *pkt, size_t len)
{
	int rc;

	worker_assert_current(c->w);
	if (c->out.ctrl_bytes + len > conn_cfg(c)->max_outgoing_control_bytes) {
		/* A client that sends but never reads: its acks (PUBACK, PUBREC, PUBCOMP,
		 * PINGRESP) would pile up without bound. PUBLISHes to it are bounded by
		 * max_outgoing_bytes already; this bounds the rest. */
		c->w->stats.output_overflow++;
		log_notice("%s (%s): %zu bytes of acks unread, over "
			   "max_outgoing_control_bytes: closing", c->w->tops->peer(c->tc),
			   conn_client_id(c), c->out.ctrl_bytes);
		conn_close(c, CLOSE_OUTPUT_FULL);
		return -ENOBUFS;
	}
	rc = outq_push_bytes(&c->out, pkt, len);
	if (rc == 0) {
		c->w->stats.packets_out++;
		conn_mark_dirty(c);
	}
	return rc;
}

void conn_output(struct mqtt_conn *c)
{
	int rc;

	worker_assert_current(c->w);
	if (c->state == CONN_CLOSED || outq_empty(&c->out))
		return;
	rc = c->w->tops->output(c->tc);
	if (rc < 0) {
		log_info("%s (%s): write failed: %s", c->w->tops->peer(c->tc),
			 conn_client_id(c), strerror(-rc));
		conn_close(c, CLOSE_PEER);
	}
}

size_t proto_out_len(const struct mqtt_conn *c)
{
	/* Bytes behind a fence wait for the store (fence.c): the transport sees the
	 * stream up to the first one only. */
	return fence_out_len(c);
}

int proto_out_view(const struct mqtt_conn *c, size_t off, struct tx_span *sp, int max)
{
	size_t len = proto_out_len(c), left;
	int n;

	if (off >= len)
		return 0;
	/* The queue's view hint is a cache, not state the caller can see: the const of
	 * the contract holds for the bytes. <c> itself is never a const object. */
	n = outq_view((struct outq *)(uintptr_t)&c->out, off, sp, max);
	left = len - off;
	for (int i = 0; i < n; i++) {
		if (sp[i].len >= left) {
			sp[i].len = (uint32_t)left;
			return i + 1;
		}
		left -= sp[i].len;
	}
	return n;
}

void proto_out_release(struct mqtt_conn *c, size_t n)
{
	worker_assert_current(c->w);
	if (n > c->out.bytes)
		n = c->out.bytes;
	c->out_released += n;
	outq_release(&c->out, n);
	/* Room in the send buffer: the session may move more messages into its window
	 * (session_send_new marks the connection for output; the engine's end of turn
	 * calls the transport, never this call). */
	if (c->state == CONN_ACTIVE && c->s != NULL && c->s->queue.len > 0)
		session_pump(c->w, c->s);
}

void proto_span_hold(void *ref)
{
	msg_ref(ref);
}

void proto_span_release(void *ref)
{
	msg_unref(ref);
}

/* Stops or resumes reading at the transport (takeover, held input full, output
 * parked behind fences). A parked connection resumes only when its fences open
 * (fence.c), whoever else asks. */
void conn_pause_read(struct mqtt_conn *c, bool paused)
{
	if (c->read_paused == paused || c->state == CONN_CLOSED || (!paused && c->parked))
		return;
	c->read_paused = paused;
	c->w->tops->pause_read(c->tc, paused);
}

static void protocol_error(struct mqtt_conn *c, const char *why)
{
	log_notice("%s (%s): closing: %s", c->w->tops->peer(c->tc), conn_client_id(c), why);
	c->w->stats.protocol_error++;
	conn_close(c, CLOSE_PROTOCOL);
}

/* Returns 0 to go on, -1 if the connection closed. */
static int dispatch(struct mqtt_conn *c, struct mqtt_pkt *p)
{
	if (c->state == CONN_NEW) {
		if (p->type != MQTT_CONNECT) {
			/* MQTT-3.1.0-1: the first packet must be CONNECT. */
			protocol_error(c, "first packet is not CONNECT");
			return -1;
		}
		return handle_connect(c, &p->u.connect);
	}
	switch (p->type) {
	case MQTT_PUBLISH:
		return handle_publish(c, &p->u.publish);
	case MQTT_PUBACK:
		return handle_puback(c, p->u.packet_id);
	case MQTT_PUBREC:
		return handle_pubrec(c, p->u.packet_id);
	case MQTT_PUBREL:
		return handle_pubrel(c, p->u.packet_id);
	case MQTT_PUBCOMP:
		return handle_pubcomp(c, p->u.packet_id);
	case MQTT_SUBSCRIBE:
		return handle_subscribe(c, &p->u.topics);
	case MQTT_UNSUBSCRIBE:
		return handle_unsubscribe(c, &p->u.topics);
	case MQTT_PINGREQ: {
		uint8_t buf[2];

		if (conn_send(c, buf, mqtt_encode_pingresp(buf)) < 0) {
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
		return 0;
	}
	case MQTT_DISCONNECT:
		conn_close(c, CLOSE_DISCONNECT);
		return -1;
	case MQTT_CONNECT:
		/* MQTT-3.1.0-2: a second CONNECT is a protocol violation. */
		protocol_error(c, "second CONNECT");
		return -1;
	default:
		protocol_error(c, "packet type a client may not send");
		return -1;
	}
}

/* Packets a held-back connection keeps for later, in order. Everything else is
 * handled at once: PUBACK, PUBREC, PUBREL, PUBCOMP and PINGREQ, so a client never
 * deadlocks on itself (a subscriber of its own topic) or with a peer (request and
 * response), and DISCONNECT. Acks overtaking held PUBLISHes is fine: MQTT 4.6 orders
 * messages per direction, and an ack belongs to the other direction (PUBACK, PUBREC,
 * PUBCOMP answer the broker's PUBLISH/PUBREL) or to a QoS 2 PUBLISH already handled
 * (PUBREL: the client had our PUBREC, sent only after its PUBLISH was routed). */
static bool packet_held(enum mqtt_type t)
{
	return t == MQTT_PUBLISH || t == MQTT_SUBSCRIBE || t == MQTT_UNSUBSCRIBE;
}

static size_t held_pending(const struct mqtt_conn *c)
{
	return c->held_len - c->held_off;
}

static int held_append(struct mqtt_conn *c, const uint8_t *pkt, size_t len)
{
	if (c->held_len + len > c->held_cap) {
		size_t cap = c->held_cap ? c->held_cap : 256;
		uint8_t *n;

		while (cap < c->held_len + len)
			cap *= 2;
		n = realloc(c->held, cap);
		if (n == NULL)
			return -ENOMEM;
		budget_add((ssize_t)(cap - c->held_cap));
		c->held = n;
		c->held_cap = (uint32_t)cap;
	}
	memcpy(c->held + c->held_len, pkt, len);
	c->held_len += (uint32_t)len;
	return 0;
}

static void held_release(struct mqtt_conn *c)
{
	budget_add(-(ssize_t)c->held_cap);
	free(c->held);
	c->held = NULL;
	c->held_cap = 0;
}

static int dispatch_held(struct mqtt_conn *c, bool all);

/* Decodes and handles whole packets in [buf, buf+len). Sets *used to the bytes
 * consumed. While the connection is held back, keeps what packet_held() names for
 * later. Stops early when reading is paused or a takeover is pending. Returns 0, or
 * -1 if the connection closed. */
static int process(struct mqtt_conn *c, const uint8_t *buf, size_t len, size_t *used)
{
	const struct config *cfg = conn_cfg(c);
	size_t off = 0;

	*used = 0;
	while (off < len && !c->read_paused && c->state != CONN_TAKEOVER) {
		struct mqtt_pkt pkt;
		const uint8_t *raw = buf + off;
		ssize_t n;

		/* MQTT-3.1.0-1: the first packet must be CONNECT. Its type is in the
		 * first byte, so refuse now instead of buffering the body it announces
		 * (up to 256 MB) until it arrives or connect_timeout fires. */
		if (c->state == CONN_NEW && raw[0] >> 4 != MQTT_CONNECT) {
			protocol_error(c, "first packet is not CONNECT");
			return -1;
		}
		n = mqtt_decode_level(raw, len - off, cfg->max_packet_size, c->protocol_level,
				      &pkt);

		if (n == 0)
			break;
		if (n < 0) {
			if (n == -EPROTONOSUPPORT && c->state == CONN_NEW) {
				uint8_t ack[4];

				/* MQTT-3.1.2-2: answer CONNACK 1, then close. */
				log_notice("%s: unsupported protocol level, refused",
					   c->w->tops->peer(c->tc));
				c->w->stats.connect_refused++;
				conn_send(c, ack, mqtt_encode_connack(ack, false,
								      MQTT_CONNACK_BAD_PROTOCOL));
				conn_close(c, CLOSE_REFUSED);
			} else if (n == -EMSGSIZE) {
				c->w->stats.packet_too_large++;
				protocol_error(c, "packet larger than max_packet_size");
			} else {
				protocol_error(c, "malformed packet");
			}
			return -1;
		}
		off += (size_t)n;
		*used = off;
		/* Counted once, here: a held packet is decoded again when replayed. */
		c->w->stats.packets_in++;
		/* MQTT-3.1.2-24 counts Control Packets: only a whole one is a sign of
		 * life, not a byte of one that never ends. */
		c->last_rx_ms = c->w->now_ms;
		if (c->in_paused && packet_held(pkt.type)) {
			if (held_append(c, raw, (size_t)n) < 0) {
				conn_close(c, CLOSE_NO_MEMORY);
				return -1;
			}
			if (held_pending(c) >= cfg->max_held_input_bytes) {
				/* Bounded: stop reading the socket. The hold itself ends by
				 * backpressure_timeout at the latest. */
				c->w->stats.held_input_full++;
				log_notice("%s (%s): held back with %zu bytes of input kept, "
					   "max_held_input_bytes: reading stopped until it "
					   "resumes", c->w->tops->peer(c->tc),
					   conn_client_id(c), held_pending(c));
				conn_pause_read(c, true);
			}
			continue;
		}
		/* DISCONNECT: what came before it goes first, QoS 0 included (bounded by
		 * max_held_input_bytes), then the connection closes. */
		if (pkt.type == MQTT_DISCONNECT && held_pending(c) > 0 &&
		    dispatch_held(c, true) < 0)
			return -1;
		if (dispatch(c, &pkt) < 0)
			return -1;
		/* Its answer may be behind a fence: bounded per connection. */
		fence_check_parked(c);
	}
	return 0;
}

/* Handles held packets in order until one holds the connection back again, or all of
 * them with <all>. Returns 0, or -1 if the connection closed. */
static int dispatch_held(struct mqtt_conn *c, bool all)
{
	while (held_pending(c) > 0 && (all || !c->in_paused)) {
		struct mqtt_pkt pkt;
		ssize_t n = mqtt_decode_level(c->held + c->held_off, held_pending(c),
					      conn_cfg(c)->max_packet_size, c->protocol_level,
					      &pkt);

		if (n <= 0) {
			/* Decoded once already: cannot happen. */
			protocol_error(c, "held packet undecodable");
			return -1;
		}
		c->held_off += (uint32_t)n;
		if (dispatch(c, &pkt) < 0)
			return -1;
		fence_check_parked(c);
	}
	if (held_pending(c) == 0) {
		c->held_off = 0;
		c->held_len = 0;
		if (c->held_cap > 4096)
			held_release(c);
	} else if (c->held_off > 0) {
		memmove(c->held, c->held + c->held_off, held_pending(c));
		c->held_len = (uint32_t)held_pending(c);
		c->held_off = 0;
	}
	return 0;
}

/* Total size of the packet starting at <buf> (fixed header included) once its fixed
 * header is complete; 0 before that, or if the length is malformed (the decoder
 * reports that one). */
static size_t announced_len(const uint8_t *buf, size_t len)
{
	size_t rl = 0;

	for (size_t i = 1; i < len && i <= 4; i++) {
		rl |= (size_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if ((buf[i] & 0x80) == 0)
			return rl + i + 1;
	}
	return 0;
}

/* Appends to the connection's input buffer. It grows with what arrives (doubling, so
 * copies stay amortised) but never past the packet's announced length once its fixed
 * header is known: a client announcing a 256 MiB packet and sending slowly costs
 * about what it sent, and the largest packet never doubles into 512 MiB. */
static int in_append(struct mqtt_conn *c, const uint8_t *data, size_t len)
{
	size_t need = c->in_len + len;

	if (need > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 256;
		uint8_t hdr[5];
		size_t hlen, total;
		uint8_t *n;

		/* The first bytes, wherever they are, to read the fixed header. */
		for (hlen = 0; hlen < sizeof(hdr) && hlen < need; hlen++)
			hdr[hlen] = hlen < c->in_len ? c->in[hlen] : data[hlen - c->in_len];
		total = announced_len(hdr, hlen);
		while (cap < need)
			cap *= 2;
		if (total >= need && cap > total)
			cap = total;
		/* memory_limit covers partial packets: a client announcing a large
		 * packet pays for what it sent, and the budget bounds the sum. */
		if (!budget_allows(cap - c->in_cap)) {
			c->w->stats.conn_memory_limit++;
			budget_note_refusal("connections whose partial packet would grow are "
					    "closed");
			return -ENOBUFS;
		}
		n = realloc(c->in, cap);
		if (n == NULL)
			return -ENOMEM;
		budget_add((ssize_t)(cap - c->in_cap));
		c->w->stats.in_buffer_bytes += cap - c->in_cap;
		c->in = n;
		c->in_cap = (uint32_t)cap;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += (uint32_t)len;
	return 0;
}

static void in_release(struct mqtt_conn *c)
{
	budget_add(-(ssize_t)c->in_cap);
	c->w->stats.in_buffer_bytes -= c->in_cap;
	free(c->in);
	c->in = NULL;
	c->in_cap = 0;
	c->in_len = 0;
}

/* Handles what is buffered in c->in. Returns 0, or -1 if the connection closed. */
static int process_buffered(struct mqtt_conn *c)
{
	size_t used;

	if (process(c, c->in, c->in_len, &used) < 0)
		return -1;
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= (uint32_t)used;
	if (c->in_len == 0 && c->in_cap > 4096)
		/* A large packet went through: don't keep its buffer for good. */
		in_release(c);
	return 0;
}

/* Bytes of <data, len> that complete the partial packet in c->in: up to its announced
 * end once its fixed header is known, else everything (the header is at most 5 bytes;
 * a malformed one is the decoder's to report). */
static size_t in_missing(const struct mqtt_conn *c, const uint8_t *data, size_t len)
{
	uint8_t hdr[5];
	size_t hlen, total;

	for (hlen = 0; hlen < sizeof(hdr) && hlen < c->in_len + len; hlen++)
		hdr[hlen] = hlen < c->in_len ? c->in[hlen] : data[hlen - c->in_len];
	total = announced_len(hdr, hlen);
	if (total == 0 || total - c->in_len >= len)
		return len;
	return total - c->in_len;
}

static bool conn_reading(const struct mqtt_conn *c)
{
	return !c->read_paused && c->state != CONN_TAKEOVER && c->state != CONN_CLOSED;
}

ssize_t proto_input(struct mqtt_conn *c, const uint8_t *data, size_t len)
{
	size_t off = 0, used;

	worker_assert_current(c->w);
	if (c->state == CONN_CLOSED)
		return -1;
	if (!conn_reading(c))
		return 0;
	if (c->in_len > 0) {
		/* Finish the partial packet kept from before, and only it: whole packets
		 * after it are handled from the transport's buffer, or left there. */
		off = in_missing(c, data, len);
		if (in_append(c, data, off) < 0) {
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
		if (process_buffered(c) < 0)
			return -1;
		if (c->in_len > 0)
			return (ssize_t)off;   /* still partial: off == len */
	}
	if (off < len && conn_reading(c)) {
		/* Common case: whole packets straight from the transport's buffer. */
		if (process(c, data + off, len - off, &used) < 0)
			return -1;
		off += used;
		/* process() stops early only when reading pauses; otherwise what is left
		 * is the start of a packet, which the engine keeps. */
		if (off < len && conn_reading(c)) {
			if (in_append(c, data + off, len - off) < 0) {
				conn_close(c, CLOSE_NO_MEMORY);
				return -1;
			}
			off = len;
		}
	}
	return (ssize_t)off;
}

void conn_resume_input(struct mqtt_conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	/* Held packets first, in order; one of them may hold it back again. Input the
	 * transport kept comes after them, from its next poll (proto_input). */
	if (dispatch_held(c, false) < 0)
		return;
	if (held_pending(c) < conn_cfg(c)->max_held_input_bytes)
		conn_pause_read(c, false);
}

void proto_lost(struct mqtt_conn *c, int err)
{
	worker_assert_current(c->w);
	if (c->state == CONN_CLOSED)
		return;
	log_info("%s (%s): %s", c->w->tops->peer(c->tc), conn_client_id(c),
		 err ? strerror(-err) : "closed by peer");
	conn_close(c, CLOSE_PEER);
}

void conn_close(struct mqtt_conn *c, enum close_reason why)
{
	struct worker *w = c->w;
	enum conn_state prev = c->state;

	worker_assert_current(c->w);
	if (prev == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	timer_cancel(&w->wheel, &c->timer);
	timer_cancel(&w->wheel, &c->flow_timer);
	if (why != CLOSE_PEER && why != CLOSE_SHUTDOWN)
		log_info("%s (%s): %s", w->tops->peer(c->tc), conn_client_id(c),
			 reason_name(why));
	/* Last words (a CONNACK with an error code) go out with the transport's close:
	 * the output stream stays valid during close() (a TCP stack sends what is left,
	 * in flight included, before its FIN). Whether the peer can still take them is
	 * the transport's call (transport.h). */
	if (c->in_dirty) {
		cds_list_del(&c->dirty_link);
		c->in_dirty = false;
	}
	flow_unhold(c);
	fence_conn_closed(c);
	if (c->counted) {
		atomic_fetch_sub(&w->broker->clients_connected, 1);
		atomic_store_explicit(&w->broker->max_connections_logged, false,
				      memory_order_relaxed);
		c->counted = false;
	}
	if (prev == CONN_ACTIVE) {
		conn_detach_session(c);
		/* MQTT-3.1.2-8: the will goes out on any close but DISCONNECT
		 * (MQTT-3.14.4-3); a stopping broker sends none. */
		if (c->will != NULL && why != CLOSE_DISCONNECT && why != CLOSE_SHUTDOWN)
			will_publish(c);
	}
	msg_unref(c->will);
	c->will = NULL;
	w->tops->close(c->tc);
	c->tc = NULL;
	cds_list_del(&c->link);
	w->stats.conn_closed++;
	if (why == CLOSE_NO_MEMORY)
		w->stats.conn_no_memory++;
	/* A takeover answer still has to find this connection; it frees it then. */
	if (!c->takeover_pending)
		cds_list_add_tail(&c->grave_link, &mqtt_worker(w)->graveyard);
}

void conn_free(struct mqtt_conn *c)
{
	outq_fini(&c->out);
	in_release(c);
	held_release(c);
	free(c);
}
