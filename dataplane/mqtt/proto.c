/* proto.c - the MQTT engine's connection layer: accepts connections from the
 * transport, frames and decodes input (in place when a whole packet is in the
 * transport's buffer, from the connection's own buffer otherwise), dispatches packets
 * by state, writes output, and closes connections for every reason MQTT 3.1.1 gives.
 * All of it runs on the worker owning the connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/budget.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

/* iovecs per sendmsg: 64 PUBLISH packets (4 pieces each) per system call. */
#define CONN_IOV_MAX 256

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
			/* Backpressure: we are the ones not reading; its silence is ours. */
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
	cds_list_add(&c->link, &w->conns);
	timer_init(&c->timer, conn_timer_fired);
	timer_arm(&w->wheel, &c->timer,
		  w->now_ms + (uint64_t)w->broker->cfg.connect_timeout * 1000u);
	log_debug("%s: accepted", w->tops->peer(tc));
	return c;
}

void conn_mark_dirty(struct mqtt_conn *c)
{
	if (c->in_dirty || c->state == CONN_CLOSED)
		return;
	c->in_dirty = true;
	cds_list_add_tail(&c->dirty_link, &c->w->dirty);
}

int conn_send(struct mqtt_conn *c, const void *pkt, size_t len)
{
	int rc = outq_push_bytes(&c->out, pkt, len);

	if (rc == 0)
		conn_mark_dirty(c);
	return rc;
}

/* Writes until done or the transport is full. Returns 0 (maybe partial), or -errno. */
static int conn_write_out(struct mqtt_conn *c)
{
	while (!outq_empty(&c->out)) {
		struct iovec iov[CONN_IOV_MAX];
		int n = outq_iov(&c->out, iov, CONN_IOV_MAX);
		size_t want = 0;
		ssize_t r;

		if (n == 0)
			return -EAGAIN;   /* cannot happen with CONN_IOV_MAX >= 4; never spin */
		for (int i = 0; i < n; i++)
			want += iov[i].iov_len;
		r = c->w->tops->writev(c->tc, iov, n);
		if (r == -EAGAIN)
			return -EAGAIN;
		if (r < 0)
			return (int)r;
		outq_consume(&c->out, (size_t)r);
		if ((size_t)r < want)
			return -EAGAIN;
	}
	return 0;
}

int conn_flush(struct mqtt_conn *c)
{
	int rc;

	if (c->state == CONN_CLOSED)
		return -1;
	rc = conn_write_out(c);
	if (rc == -EAGAIN) {
		if (!c->want_write) {
			c->want_write = true;
			c->w->tops->want_write(c->tc, true);
		}
		return 0;
	}
	if (rc < 0) {
		log_info("%s (%s): write failed: %s", c->w->tops->peer(c->tc),
			 conn_client_id(c), strerror(-rc));
		conn_close(c, CLOSE_PEER);
		return -1;
	}
	if (c->want_write) {
		c->want_write = false;
		c->w->tops->want_write(c->tc, false);
	}
	/* Output drained: the session may move more messages into its window. */
	if (c->s != NULL && c->state == CONN_ACTIVE && c->s->queue.len > 0)
		session_pump(c->w, c->s);
	return 0;
}

void conn_pause_read(struct mqtt_conn *c, bool paused)
{
	if (c->read_paused == paused || c->state == CONN_CLOSED)
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

/* Decodes and handles whole packets in [buf, buf+len). Sets *used to the bytes
 * consumed. Stops early while the connection is paused or waiting for a takeover.
 * Returns 0, or -1 if the connection closed. */
static int process(struct mqtt_conn *c, const uint8_t *buf, size_t len, size_t *used)
{
	size_t off = 0;

	*used = 0;
	while (off < len && !c->read_paused && c->state != CONN_TAKEOVER) {
		struct mqtt_pkt pkt;
		ssize_t n;

		/* MQTT-3.1.0-1: the first packet must be CONNECT. Its type is in the
		 * first byte, so refuse now instead of buffering the body it announces
		 * (up to 256 MB) until it arrives or connect_timeout fires. */
		if (c->state == CONN_NEW && buf[off] >> 4 != MQTT_CONNECT) {
			protocol_error(c, "first packet is not CONNECT");
			return -1;
		}
		n = mqtt_decode_level(buf + off, len - off, conn_cfg(c)->max_packet_size,
				      c->protocol_level, &pkt);

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
		if (dispatch(c, &pkt) < 0)
			return -1;
	}
	return 0;
}

static int in_append(struct mqtt_conn *c, const uint8_t *data, size_t len)
{
	if (c->in_len + len > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 256;
		uint8_t *n;

		while (cap < c->in_len + len)
			cap *= 2;
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
		c->in = n;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	return 0;
}

/* Handles what is buffered in c->in. Returns 0, or -1 if the connection closed. */
static int process_buffered(struct mqtt_conn *c)
{
	size_t used;

	if (process(c, c->in, c->in_len, &used) < 0)
		return -1;
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	if (c->in_len == 0 && c->in_cap > 4096) {
		/* A large packet went through: don't keep its buffer for good. */
		budget_add(-(ssize_t)c->in_cap);
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	return 0;
}

int proto_input(struct mqtt_conn *c, const uint8_t *data, size_t len)
{
	size_t used;

	if (c->state == CONN_CLOSED)
		return -1;
	c->last_rx_ms = c->w->now_ms;
	if (c->in_len > 0 || c->read_paused || c->state == CONN_TAKEOVER) {
		if (in_append(c, data, len) < 0) {
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
		if (c->read_paused || c->state == CONN_TAKEOVER)
			return 0;
		return process_buffered(c);
	}
	/* Common case: whole packets straight from the transport's buffer. */
	if (process(c, data, len, &used) < 0)
		return -1;
	if (used < len && in_append(c, data + used, len - used) < 0) {
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	return 0;
}

void conn_resume_input(struct mqtt_conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	conn_pause_read(c, false);
	if (c->in_len > 0)
		process_buffered(c);
}

int proto_writable(struct mqtt_conn *c)
{
	return conn_flush(c);
}

void proto_lost(struct mqtt_conn *c, int err)
{
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

	if (prev == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	timer_cancel(&w->wheel, &c->timer);
	if (why != CLOSE_PEER && why != CLOSE_SHUTDOWN)
		log_info("%s (%s): %s", w->tops->peer(c->tc), conn_client_id(c),
			 reason_name(why));
	/* Last words first (a CONNACK with an error code), best effort. */
	if (!outq_empty(&c->out) && why != CLOSE_PEER)
		conn_write_out(c);
	if (c->in_dirty) {
		cds_list_del(&c->dirty_link);
		c->in_dirty = false;
	}
	if (c->in_paused) {
		cds_list_del(&c->paused_link);
		c->in_paused = false;
	}
	if (c->blocked_on != NULL) {
		session_unref(c->blocked_on);
		c->blocked_on = NULL;
	}
	if (c->counted) {
		atomic_fetch_sub(&w->broker->clients_connected, 1);
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
		cds_list_add_tail(&c->grave_link, &w->graveyard);
}

void conn_free(struct mqtt_conn *c)
{
	outq_fini(&c->out);
	budget_add(-(ssize_t)c->in_cap);
	free(c->in);
	free(c);
}
