/* fuzz_engine.c - libFuzzer target for the whole MQTT engine: a real broker (router,
 * session directory, retained store, QoS state machines, takeover, will, backpressure)
 * with two unstarted workers over the in-memory transport (tests/support), driven from
 * the fuzzing thread as mem_transport.h describes. Each input is one broker's life:
 * start, a script of client actions over up to FUZZ_SLOTS connections, then the same
 * teardown main() runs, so LeakSanitizer sees anything left behind.
 *
 * Input: three config bytes (see fuzz_config), then operations until the input ends. An
 * operation byte holds the opcode (high 3 bits) and a connection slot (low 3 bits);
 * bits 3-4 are the operation's argument:
 *
 *   OPEN     accept a connection in the slot, on worker <arg & 1> (of one or two)
 *   DATA     raw client bytes: length byte (+ 256 x arg), then that many bytes
 *   PACKET   one well-formed client packet built from the next bytes (fuzz_packet):
 *            CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, acks, PINGREQ, DISCONNECT,
 *            over a handful of client ids and topics so that takeovers, overlapping
 *            subscriptions and retained messages come quickly
 *   TURN     advance the clock by slot + 8 x arg times 250 ms, one loop turn of each
 *            worker, then check the output of every connection
 *   LOST     the peer goes away (proto_lost)
 *   LIMIT    the socket buffer fills: output takes at most 64 x arg more bytes
 *   DRAIN    the buffer empties: unlimited again, and what waited goes (EPOLLOUT)
 *   BREAK    the next output fails with EPIPE (arg 0), or the buffer is full (arg != 0)
 *
 * Invariants: whatever the broker writes decodes as whole MQTT packets of a type a
 * server sends, CONNACK first; nothing is written to a connection after it closed;
 * a new PUBLISH never reuses a packet id the client holds unacknowledged (MQTT-2.3.1-2);
 * after a loop turn nothing is left unsent on a connection whose socket has room, and
 * a session's queue waits only behind a full inflight window (no stalled output);
 * no input bytes are referenced after proto_input() returns (each DATA chunk lives in
 * its own allocation, freed at once, so ASan sees a late read); after shutdown no
 * connection is counted and nothing leaks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/engine.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/outq.h"
#include "petrel/proto.h"
#include "petrel/session.h"
#include "petrel/timer.h"
#include "petrel/worker.h"
#include "mqtt/proto_int.h"
#include "mem_transport.h"
#include "fuzz.h"

#define FUZZ_SLOTS 8
#define FUZZ_WORKERS 2
/* A fixed clock, so that an input replays the same way on every run. */
#define FUZZ_T0_MS 1000000u

enum fuzz_op {
	OP_OPEN, OP_DATA, OP_PACKET, OP_TURN, OP_LOST, OP_LIMIT, OP_DRAIN, OP_BREAK,
};

struct fuzz_slot {
	struct transport_conn *tc;     /* kept by the transport until teardown */
	bool saw_connack;
	bool refused;                  /* CONNACK with a non-zero code came */
	/* MQTT-2.3.1-2 as the client sees it: ids of PUBLISH QoS 1/2 it received and
	 * has not acknowledged (PUBACK / PUBCOMP) yet, and ids it acknowledged before
	 * seeing them (a guess the broker may honour: not checked any more). */
	uint64_t in_flight[65536 / 64];
	uint64_t guessed[65536 / 64];
	uint8_t *cin;                  /* client bytes not yet framed into packets */
	size_t cin_len;
	bool cin_bad;                  /* the client sent garbage: stop following it */
};

struct fuzz_run {
	struct broker b;
	struct fuzz_slot slot[FUZZ_SLOTS];
	const uint8_t *p;
	const uint8_t *end;
};

static struct fuzz_run *fuzz_cur;   /* for the transport wrapper below */
static bool fuzz_trace;             /* PETREL_FUZZ_TRACE set: print the broker's output */

/* ---- the memory transport, with a socket buffer that can fill and break ---------- */

static int fuzz_output(struct transport_conn *tc)
{
	/* transport.h: no call for a connection the engine has closed. */
	FUZZ_CHECK(!tc->closed);
	return mem_transport_ops.output(tc);
}

static void fuzz_pause_read(struct transport_conn *tc, bool paused)
{
	FUZZ_CHECK(!tc->closed);
	mem_transport_ops.pause_read(tc, paused);
}

static void fuzz_close(struct transport_conn *tc)
{
	FUZZ_CHECK(!tc->closed);   /* closed once */
	mem_transport_ops.close(tc);
}

static struct transport_ops fuzz_ops;

static void fuzz_ops_init(void)
{
	fuzz_ops = mem_transport_ops;
	fuzz_ops.name = "fuzz";
	fuzz_ops.output = fuzz_output;
	fuzz_ops.pause_read = fuzz_pause_read;
	fuzz_ops.close = fuzz_close;
}

/* ---- input ----------------------------------------------------------------------- */

static uint8_t next_byte(struct fuzz_run *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

/* The limits the fuzzer may hit, from three bytes: small windows, queues, packet sizes
 * and output budgets, each policy, with and without retain, empty client ids and
 * anonymous clients, one worker or two. */
static void fuzz_config(struct config *c, uint8_t a, uint8_t b, uint8_t d)
{
	static const unsigned inflight[4] = { 1, 2, 3, 20 };
	static const unsigned queued[4] = { 1, 3, 1000, 0 };
	static const size_t outgoing[4] = { 1, 64, 4096, 1024 * 1024 };
	static const unsigned keepalive[4] = { 0, 1, 60, 65535 };
	char err[256];

	config_defaults(c);
	c->workers = FUZZ_WORKERS;
	c->max_inflight_messages = inflight[a & 3];
	c->queue_full_policy = (a >> 2 & 3) == 0 ? QUEUE_FULL_DROP_NEW :
			       (a >> 2 & 3) == 1 ? QUEUE_FULL_DROP_OLDEST :
						   QUEUE_FULL_BACKPRESSURE;
	c->queue_qos0_messages = a & 0x10;
	c->retain_available = !(a & 0x20);
	c->allow_zero_length_clientid = !(a & 0x40);
	c->max_packet_size = (a & 0x80) ? 64 : 0;
	c->max_queued_messages = queued[b & 3];
	c->max_outgoing_bytes = outgoing[b >> 2 & 3];
	c->max_keepalive = keepalive[b >> 4 & 3];
	c->max_connections = (b & 0x40) ? 3 : -1;
	c->max_queued_bytes = (b & 0x80) ? 100 : 0;
	c->allow_anonymous = !(d & 1);
	c->connect_timeout = (d & 2) ? 10 : 2;
	c->workers = (d & 4) ? 1 : FUZZ_WORKERS;
	FUZZ_CHECK(config_finalize(c, err, sizeof(err)) == 0);
}

static const char *const fuzz_ids[4] = { "a", "b", "c", "" };
static const char *const fuzz_filters[8] = {
	"t/a", "t/+", "t/#", "#", "+/+", "t/a/#", "$SYS/#", "x",
};
static const char *const fuzz_topics[4] = { "t/a", "t/b", "x", "t/a/b" };

/* One well-formed client packet from the next bytes; returns its length in <buf>. */
static size_t fuzz_packet(struct fuzz_run *r, uint8_t *buf, size_t cap)
{
	uint8_t k = next_byte(r), p = next_byte(r), q = next_byte(r);
	static const uint8_t payload[400];
	struct mqtt_str f = { fuzz_filters[p & 7], (uint16_t)strlen(fuzz_filters[p & 7]) };
	uint16_t id = q != 0 ? q : 1;

	switch (k & 7) {
	case 0: {
		const char *cid = fuzz_ids[p & 3];
		struct mqtt_connect cn = {
			.protocol_level = (p & 0x80) ? MQTT_PROTO_V31 : MQTT_PROTO_V311,
			.clean_session = p & 4,
			.will_flag = p & 8,
			.will_qos = (uint8_t)(((p >> 4) & 3) % 3),
			.will_retain = (p & 8) && (p & 0x40),
			.keep_alive = q & 3,
			.has_username = q & 4,
			.has_password = (q & 4) && (q & 8),
			.username = { "user", 4 },
			.password = (const uint8_t *)"pw",
			.password_len = 2,
			.client_id = { cid, (uint16_t)strlen(cid) },
			.will_topic = { "t/a", 3 },
			.will_payload = (const uint8_t *)"will",
			.will_payload_len = 4,
		};

		if (!cn.will_flag)
			cn.will_qos = 0;
		return mqtt_encode_connect(buf, cap, &cn);
	}
	case 1: {
		uint8_t qos = (uint8_t)((p >> 3) % 3);

		return mqtt_encode_subscribe(buf, cap, id, &f, &qos, 1);
	}
	case 2:
		return mqtt_encode_unsubscribe(buf, cap, id, &f, 1);
	case 3:
	case 4: {
		const char *t = fuzz_topics[p & 3];
		struct mqtt_publish pb = {
			.qos = (uint8_t)(((p >> 2) & 3) % 3),
			.retain = p & 0x10,
			.topic = { t, (uint16_t)strlen(t) },
			.payload = payload,
			/* Empty retained payloads clear; case 4 sends a large one. */
			.payload_len = (k & 7) == 4 ? sizeof(payload) : (p & 0x20) ? 0 : 3,
		};

		pb.dup = pb.qos > 0 && (p & 0x40);
		pb.packet_id = pb.qos > 0 ? id : 0;
		return mqtt_encode_publish(buf, cap, &pb);
	}
	case 5:
		return mqtt_encode_ack(buf, (enum mqtt_type)(MQTT_PUBACK + (p & 3)), id);
	case 6:
		return mqtt_encode_empty(buf, MQTT_PINGREQ);
	default:
		return mqtt_encode_empty(buf, MQTT_DISCONNECT);
	}
}

/* ---- checks ------------------------------------------------------------------------ */

static bool bit_get(const uint64_t *set, uint16_t id)
{
	return set[id / 64] >> (id % 64) & 1;
}

static void bit_put(uint64_t *set, uint16_t id, bool on)
{
	if (on)
		set[id / 64] |= 1ull << (id % 64);
	else
		set[id / 64] &= ~(1ull << (id % 64));
}

/* A PUBLISH the broker sent: a new one (DUP 0) must not reuse an id the client still
 * holds unacknowledged (MQTT-2.3.1-2); a resend (DUP 1, after a resume) keeps its id. */
static void track_publish(struct fuzz_slot *s, const struct mqtt_publish *pb)
{
	if (pb->qos == 0)
		return;
	if (!pb->dup && !bit_get(s->guessed, pb->packet_id))
		FUZZ_CHECK(!bit_get(s->in_flight, pb->packet_id));
	bit_put(s->in_flight, pb->packet_id, true);
}

/* The client's own bytes, framed as the broker frames them: its PUBACK and PUBCOMP
 * release ids. Called before the broker sees them, after its earlier output was
 * checked, so the order is the one on the wire. */
static void track_client(struct fuzz_slot *s, const uint8_t *data, size_t len)
{
	size_t off = 0;
	uint8_t *n;

	if (s->cin_bad)
		return;
	n = realloc(s->cin, s->cin_len + len);
	FUZZ_CHECK(n != NULL);
	s->cin = n;
	memcpy(s->cin + s->cin_len, data, len);
	s->cin_len += len;
	for (;;) {
		struct mqtt_pkt p;
		ssize_t k = mqtt_decode(s->cin + off, s->cin_len - off,
					(size_t)MQTT_MAX_REMAINING_LEN + 5, &p);

		if (k == 0)
			break;
		if (k < 0) {
			s->cin_bad = true;   /* the broker closes it */
			break;
		}
		off += (size_t)k;
		if (p.type != MQTT_PUBACK && p.type != MQTT_PUBCOMP)
			continue;
		if (!bit_get(s->in_flight, p.u.packet_id))
			bit_put(s->guessed, p.u.packet_id, true);
		bit_put(s->in_flight, p.u.packet_id, false);
	}
	memmove(s->cin, s->cin + off, s->cin_len - off);
	s->cin_len -= off;
}

/* Everything the broker wrote on <s> since the last check: valid packets of server
 * types, CONNACK first, nothing after a refusal. A packet may stay incomplete while
 * the socket buffer is full (LIMIT): the rest comes with a later write. */
static void check_output(struct fuzz_slot *s)
{
	struct transport_conn *tc = s->tc;
	struct mqtt_pkt p;
	ssize_t n = 0;

	if (tc == NULL)
		return;
	while (tc->rd < tc->len && (n = mqtt_decode(tc->out + tc->rd, tc->len - tc->rd,
						    (size_t)MQTT_MAX_REMAINING_LEN + 5,
						    &p)) > 0) {
		tc->rd += (size_t)n;
		if (fuzz_trace)
			fprintf(stderr, "slot %ld: %s%s\n", (long)(s - fuzz_cur->slot),
				mqtt_type_name(p.type), p.type == MQTT_CONNACK ?
				(p.u.connack.return_code ? " refused" : " accepted") : "");
		FUZZ_CHECK(!s->refused);
		if (!s->saw_connack) {
			FUZZ_CHECK(p.type == MQTT_CONNACK);
			s->saw_connack = true;
			s->refused = p.u.connack.return_code != MQTT_CONNACK_ACCEPTED;
			FUZZ_CHECK(!s->refused || !p.u.connack.session_present);
			continue;
		}
		FUZZ_CHECK(p.type == MQTT_PUBLISH || p.type == MQTT_PUBACK ||
			   p.type == MQTT_PUBREC || p.type == MQTT_PUBREL ||
			   p.type == MQTT_PUBCOMP || p.type == MQTT_SUBACK ||
			   p.type == MQTT_UNSUBACK || p.type == MQTT_PINGRESP);
		if (p.type == MQTT_PUBLISH)
			track_publish(s, &p.u.publish);
	}
	if (n < 0) {
		/* Never a malformed packet: show it before failing. */
		fprintf(stderr, "undecodable output (%zd) at offset %zu of %zu:", n, tc->rd,
			tc->len);
		for (size_t i = tc->rd; i < tc->len && i < tc->rd + 32; i++)
			fprintf(stderr, " %02x", tc->out[i]);
		fprintf(stderr, "\n");
	}
	FUZZ_CHECK(n >= 0);
}

/* After a loop turn, on a connection whose socket takes everything: the output queue
 * is empty, and a queued message waits only because the inflight window is full (a
 * QoS 0 message never waits behind an empty window). Anything else is output the
 * engine forgot to flush or pump, which a real client would wait for forever. */
static void check_not_stalled(struct fuzz_slot *s)
{
	struct mqtt_conn *c;
	struct session *ss;

	if (s->tc == NULL || s->tc->closed || s->tc->room != SIZE_MAX || s->tc->fail != 0)
		return;
	c = s->tc->c;
	FUZZ_CHECK(outq_empty(&c->out));
	ss = c->s;
	if (c->state != CONN_ACTIVE || ss == NULL || ss->queue.len == 0)
		return;
	FUZZ_CHECK(ss->queue.e[ss->queue.head].qos > 0);
	FUZZ_CHECK(ss->inflight.live >= c->w->broker->cfg.max_inflight_messages);
}

static void check_all(struct fuzz_run *r)
{
	for (unsigned i = 0; i < FUZZ_SLOTS; i++) {
		check_output(&r->slot[i]);
		check_not_stalled(&r->slot[i]);
	}
}

/* ---- operations ---------------------------------------------------------------------- */

static struct mqtt_conn *live(struct fuzz_slot *s)
{
	return s->tc != NULL && !s->tc->closed ? s->tc->c : NULL;
}

/* Hands <len> bytes to the engine from an allocation of their own, freed at once. */
static void feed(struct fuzz_slot *s, const uint8_t *data, size_t len)
{
	struct mqtt_conn *c = live(s);
	uint8_t *copy;

	if (c == NULL || len == 0)
		return;
	check_output(s);
	track_client(s, data, len);
	copy = malloc(len);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, len);
	/* What the engine does not take (paused) the transport keeps, in a copy. */
	mem_conn_input(s->tc, copy, len);
	free(copy);
}

static void op_open(struct fuzz_run *r, struct fuzz_slot *s, unsigned arg)
{
	struct transport_conn *tc;

	if (live(s) != NULL)
		return;
	check_output(s);
	free(s->cin);
	memset(s, 0, sizeof(*s));
	tc = mem_conn_open(r->b.workers[(arg & 1) % r->b.nworkers]);
	if (tc == NULL)
		return;
	tc->keep = true;   /* readable until teardown, for check_output */
	s->tc = tc;
}

static void op_turn(struct fuzz_run *r, unsigned steps)
{
	for (unsigned i = 0; i < r->b.nworkers; i++)
		r->b.workers[i]->now_ms += (uint64_t)steps * 250u;
	mem_turn_all(&r->b);
	check_all(r);
}

static void op_drain(struct fuzz_slot *s)
{
	if (live(s) != NULL)
		mem_conn_drain(s->tc);
}

static void run_op(struct fuzz_run *r, uint8_t op)
{
	struct fuzz_slot *s = &r->slot[op & 7];
	unsigned arg = (op >> 3) & 3;

	switch ((enum fuzz_op)(op >> 5)) {
	case OP_OPEN:
		op_open(r, s, arg);
		break;
	case OP_DATA: {
		size_t len = next_byte(r) + 256u * arg;

		if (len > (size_t)(r->end - r->p))
			len = (size_t)(r->end - r->p);
		feed(s, r->p, len);
		r->p += len;
		break;
	}
	case OP_PACKET: {
		uint8_t buf[512];

		feed(s, buf, fuzz_packet(r, buf, sizeof(buf)));
		break;
	}
	case OP_TURN:
		op_turn(r, (op & 7) + 8 * arg);
		break;
	case OP_LOST:
		if (live(s) != NULL)
			mem_conn_lost(s->tc, arg ? -ECONNRESET : 0);
		break;
	case OP_LIMIT:
		if (live(s) != NULL)
			s->tc->room = 64u * arg;
		break;
	case OP_DRAIN:
		op_drain(s);
		break;
	case OP_BREAK:
		if (live(s) == NULL)
			break;
		if (arg == 0)
			s->tc->fail = -EPIPE;
		else
			s->tc->room = 0;
		break;
	}
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	static bool ready;
	struct fuzz_run *r;
	struct config cfg;

	if (size < 3)
		return 0;
	if (!ready) {
		/* This thread plays every worker: it must be an urcu-qsbr reader. */
		rcu_register_thread();
		log_set_level(LOG_ERR);
		fuzz_ops_init();
		fuzz_trace = getenv("PETREL_FUZZ_TRACE") != NULL;
		ready = true;
	}
	r = calloc(1, sizeof(*r));
	FUZZ_CHECK(r != NULL);
	fuzz_cur = r;
	fuzz_config(&cfg, data[0], data[1], data[2]);
	r->p = data + 3;
	r->end = data + size;
	FUZZ_CHECK(broker_init(&r->b, &cfg, &fuzz_ops, &mqtt_engine_ops) == 0);
	for (unsigned i = 0; i < r->b.nworkers; i++) {
		/* Nothing is armed yet: restart each wheel at the fixed clock. */
		timer_wheel_init(&r->b.workers[i]->wheel, FUZZ_T0_MS, TIMER_TICK_MS);
		r->b.workers[i]->now_ms = FUZZ_T0_MS;
		r->b.workers[i]->now_us = FUZZ_T0_MS * 1000u;
	}

	while (r->p < r->end)
		run_op(r, next_byte(r));
	op_turn(r, 0);

	mem_broker_shutdown(&r->b);
	FUZZ_CHECK(atomic_load(&r->b.clients_connected) == 0);
	for (unsigned i = 0; i < FUZZ_SLOTS; i++)
		free(r->slot[i].cin);
	fuzz_cur = NULL;
	free(r);
	return 0;
}
