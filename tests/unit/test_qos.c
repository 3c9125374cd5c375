/* test_qos.c - the MQTT engine's QoS 1 and 2 state machines (dataplane/mqtt/qos.c,
 * publish.c, connect.c, proto.c), driven packet by packet through the real engine:
 * a real struct broker (router, retained store, session directory) and a real worker
 * over the in-memory transport (tests/support/mem_transport.h). No socket, no thread:
 * the test thread is the worker (an urcu-qsbr reader), feeds client packets with
 * mem_conn_input(), runs the worker's loop turn, and decodes what the broker wrote.
 * Every test asserts the exact packets.
 *
 * Spec clauses (MQTT 3.1.1):
 *   4.3.2 / MQTT-4.3.2-2  QoS 1: PUBACK to the publisher, same packet id
 *   4.3.3 / MQTT-4.3.3-2  QoS 2: PUBREC, PUBREL -> PUBCOMP; method B, a DUP resend
 *                         before PUBREL is not delivered again
 *   MQTT-4.3.3-1          subscriber leg QoS 2: PUBREL after PUBREC
 *   MQTT-4.4.0-1          on resume (cleanSession=0) resend unacked PUBLISH with DUP=1
 *                         and the same id, and unacked PUBREL
 *   MQTT-3.3.1-1          DUP is 0 on the first attempt
 *   MQTT-3.8.4-6 / 3.3.5  delivery QoS = min(published QoS, granted QoS)
 *   MQTT-2.3.1-1/2        packet ids non-zero, never reused while in flight
 *   4.6                   in-order delivery, within the max_inflight_messages window
 * Leaks are checked at the end of every test (fails under ASan).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/transport.h"
#include "petrel/worker.h"
#include "mqtt/proto_int.h"
#include "mem_transport.h"
#include "unit_util.h"

/* ---- the real broker, over the in-memory transport, the test thread as worker 0 ---- */

static struct broker B;
static struct worker *W;

static void broker_up(unsigned max_inflight)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	cfg.workers = 1;
	cfg.max_inflight_messages = max_inflight;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_WARN);
	/* A fixed clock: no timer comes due in these tests. */
	cr_assert_eq(mem_broker_init(&B, &cfg, 1000000), 0);
	W = B.workers[0];
}

/* One turn of the worker loop after input, as the worker thread runs it. */
static void settle(void)
{
	mem_worker_turn(W);
}

static void broker_down(void)
{
	W = NULL;
	mem_broker_shutdown(&B);
	assert_no_leaks_rcu();
}

/* ---- clients ---------------------------------------------------------------------- */

struct client {
	const char *id;
	struct transport_conn *tc;
	struct mqtt_conn *c;
};

static void feed(struct client *cl, const uint8_t *buf, size_t len)
{
	cr_assert_gt(len, 0, "encoding failed");
	cr_assert_not_null(cl->c, "client %s is not connected", cl->id);
	cr_assert_eq(mem_conn_input(cl->tc, buf, len), 0, "engine closed %s's connection", cl->id);
	settle();
}

/* Decodes the next packet the broker sent to <cl>; fails if there is none. */
static void next_pkt(struct client *cl, struct mqtt_pkt *p)
{
	ssize_t n = mem_conn_next(cl->tc, p);

	cr_assert_neq(n, 0, "%s: expected a packet, got nothing", cl->id);
	cr_assert_gt(n, 0, "%s: undecodable output (%zd)", cl->id, n);
}

static void expect_nothing(struct client *cl)
{
	struct mqtt_pkt p;
	ssize_t n = mem_conn_next(cl->tc, &p);

	if (n != 0) {
		cr_assert_fail("%s: expected nothing, got %s (%zd bytes, id %u)", cl->id,
			       n > 0 ? mqtt_type_name(p.type) : "garbage", n,
			       n > 0 && p.type != MQTT_PUBLISH ? p.u.packet_id :
			       n > 0 ? p.u.publish.packet_id : 0);
	}
}

static void expect_ack(struct client *cl, enum mqtt_type type, uint16_t id)
{
	struct mqtt_pkt p;

	next_pkt(cl, &p);
	cr_assert_eq(p.type, type, "%s: expected %s %u, got %s", cl->id, mqtt_type_name(type),
		     id, mqtt_type_name(p.type));
	cr_assert_eq(p.u.packet_id, id, "%s: %s id %u, expected %u", cl->id,
		     mqtt_type_name(type), p.u.packet_id, id);
}

/* Next packet must be a PUBLISH on <topic> with <payload> at <qos> and <dup>. Returns
 * its packet id. */
static uint16_t expect_publish(struct client *cl, const char *topic, const char *payload,
			       uint8_t qos, bool dup)
{
	struct mqtt_pkt p;

	next_pkt(cl, &p);
	cr_assert_eq(p.type, MQTT_PUBLISH, "%s: expected PUBLISH, got %s", cl->id,
		     mqtt_type_name(p.type));
	cr_assert_eq(p.u.publish.topic.len, strlen(topic));
	cr_assert_eq(memcmp(p.u.publish.topic.ptr, topic, strlen(topic)), 0);
	cr_assert_eq(p.u.publish.payload_len, strlen(payload), "%s: payload length", cl->id);
	cr_assert_eq(memcmp(p.u.publish.payload, payload, strlen(payload)), 0,
		     "%s: expected payload '%s', got '%.*s'", cl->id, payload,
		     (int)p.u.publish.payload_len, (const char *)p.u.publish.payload);
	cr_assert_eq(p.u.publish.qos, qos, "%s: QoS %u, expected %u", cl->id,
		     p.u.publish.qos, qos);
	cr_assert_eq(p.u.publish.dup, dup, "%s: DUP %d, expected %d", cl->id,
		     p.u.publish.dup, dup);
	cr_assert_eq(p.u.publish.retain, false);
	if (qos > 0)
		cr_assert_neq(p.u.publish.packet_id, 0, "%s: packet id 0", cl->id);
	return p.u.publish.packet_id;
}

/* Accepts a connection and sends CONNECT; expects CONNACK 0 with <present>. */
static void cl_connect(struct client *cl, const char *id, bool clean, bool present)
{
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = clean,
		.keep_alive = 0,
		.client_id = { id, (uint16_t)strlen(id) },
	};
	uint8_t buf[256];
	struct mqtt_pkt p;

	cl->id = id;
	cl->tc = mem_conn_open(W);
	cr_assert_not_null(cl->tc);
	cl->c = cl->tc->c;
	feed(cl, buf, mqtt_encode_connect(buf, sizeof(buf), &cn));
	next_pkt(cl, &p);
	cr_assert_eq(p.type, MQTT_CONNACK, "%s: expected CONNACK, got %s", id,
		     mqtt_type_name(p.type));
	cr_assert_eq(p.u.connack.return_code, MQTT_CONNACK_ACCEPTED);
	cr_assert_eq(p.u.connack.session_present, present, "%s: session present %d", id,
		     p.u.connack.session_present);
}

/* The network drops: the engine closes, the transport frees at reap. */
static void cl_lost(struct client *cl)
{
	mem_conn_lost(cl->tc, 0);
	cl->c = NULL;
	cl->tc = NULL;
	settle();
}

static void cl_subscribe(struct client *cl, const char *filter, uint8_t qos)
{
	struct mqtt_str f = { filter, (uint16_t)strlen(filter) };
	uint8_t buf[256];
	struct mqtt_pkt p;

	feed(cl, buf, mqtt_encode_subscribe(buf, sizeof(buf), 1, &f, &qos, 1));
	next_pkt(cl, &p);
	cr_assert_eq(p.type, MQTT_SUBACK);
	cr_assert_eq(p.u.suback.packet_id, 1);
	cr_assert_eq(p.u.suback.count, 1);
	cr_assert_eq(p.u.suback.return_codes[0], qos);
}

static void cl_publish(struct client *cl, const char *topic, const char *payload, uint8_t qos,
		       uint16_t id, bool dup)
{
	struct mqtt_publish pub = {
		.dup = dup,
		.qos = qos,
		.retain = false,
		.topic = { topic, (uint16_t)strlen(topic) },
		.packet_id = id,
		.payload = (const uint8_t *)payload,
		.payload_len = strlen(payload),
	};
	uint8_t buf[512];

	feed(cl, buf, mqtt_encode_publish(buf, sizeof(buf), &pub));
}

static void cl_ack(struct client *cl, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];

	feed(cl, buf, mqtt_encode_ack(buf, type, id));
}

TestSuite(qos, .init = unit_rcu_init, .fini = unit_rcu_fini);

/* ---- publisher leg ---------------------------------------------------------------- */

Test(qos, qos1_publisher_gets_one_puback_with_its_id)
{
	struct client pub;

	broker_up(20);
	cl_connect(&pub, "pub", true, false);
	cl_publish(&pub, "a/b", "hello", 1, 5, false);
	expect_ack(&pub, MQTT_PUBACK, 5);
	expect_nothing(&pub);
	broker_down();
}

Test(qos, qos2_publisher_leg_is_exactly_once_method_b)
{
	struct client pub, sub;
	uint16_t first, second;

	broker_up(20);
	cl_connect(&sub, "sub", true, false);
	cl_subscribe(&sub, "t", 2);
	cl_connect(&pub, "pub", true, false);

	cl_publish(&pub, "t", "one", 2, 7, false);
	expect_ack(&pub, MQTT_PUBREC, 7);
	expect_nothing(&pub);
	first = expect_publish(&sub, "t", "one", 2, false);
	expect_nothing(&sub);

	/* The publisher missed the PUBREC and resends: acknowledged, not delivered. */
	cl_publish(&pub, "t", "one", 2, 7, true);
	expect_ack(&pub, MQTT_PUBREC, 7);
	expect_nothing(&pub);
	expect_nothing(&sub);

	cl_ack(&pub, MQTT_PUBREL, 7);
	expect_ack(&pub, MQTT_PUBCOMP, 7);
	expect_nothing(&pub);
	expect_nothing(&sub);

	/* After PUBCOMP the id is free: the same id is a new message. */
	cl_publish(&pub, "t", "two", 2, 7, false);
	expect_ack(&pub, MQTT_PUBREC, 7);
	expect_nothing(&pub);
	second = expect_publish(&sub, "t", "two", 2, false);
	cr_assert_neq(second, first, "id %u reused while %u is in flight", second, first);
	expect_nothing(&sub);
	broker_down();
}

/* ---- subscriber leg --------------------------------------------------------------- */

Test(qos, qos1_subscriber_resend_on_resume_with_dup_and_same_id)
{
	struct client pub, sub;
	uint16_t id, again;

	broker_up(20);
	cl_connect(&sub, "sub", false, false);
	cl_subscribe(&sub, "t", 1);
	cl_connect(&pub, "pub", true, false);

	cl_publish(&pub, "t", "m", 1, 1, false);
	expect_ack(&pub, MQTT_PUBACK, 1);
	id = expect_publish(&sub, "t", "m", 1, false);
	expect_nothing(&sub);

	/* No PUBACK; the connection drops; the client resumes its session. */
	cl_lost(&sub);
	cl_connect(&sub, "sub", false, true);
	again = expect_publish(&sub, "t", "m", 1, true);
	cr_assert_eq(again, id, "resent with id %u, first sent with %u", again, id);
	expect_nothing(&sub);

	cl_ack(&sub, MQTT_PUBACK, id);
	expect_nothing(&sub);

	/* Acknowledged: a further resume resends nothing. */
	cl_lost(&sub);
	cl_connect(&sub, "sub", false, true);
	expect_nothing(&sub);
	broker_down();
}

Test(qos, qos2_subscriber_resume_after_pubrec_resends_pubrel)
{
	struct client pub, sub;
	uint16_t id;

	broker_up(20);
	cl_connect(&sub, "sub", false, false);
	cl_subscribe(&sub, "t", 2);
	cl_connect(&pub, "pub", true, false);

	cl_publish(&pub, "t", "m", 2, 3, false);
	expect_ack(&pub, MQTT_PUBREC, 3);
	cl_ack(&pub, MQTT_PUBREL, 3);
	expect_ack(&pub, MQTT_PUBCOMP, 3);
	expect_nothing(&pub);

	id = expect_publish(&sub, "t", "m", 2, false);
	expect_nothing(&sub);
	cl_ack(&sub, MQTT_PUBREC, id);
	expect_ack(&sub, MQTT_PUBREL, id);
	expect_nothing(&sub);

	/* Lost before PUBCOMP: the resume resends the PUBREL, not the PUBLISH. */
	cl_lost(&sub);
	cl_connect(&sub, "sub", false, true);
	expect_ack(&sub, MQTT_PUBREL, id);
	expect_nothing(&sub);

	cl_ack(&sub, MQTT_PUBCOMP, id);
	expect_nothing(&sub);

	/* Completed: a further resume resends nothing. */
	cl_lost(&sub);
	cl_connect(&sub, "sub", false, true);
	expect_nothing(&sub);
	broker_down();
}

Test(qos, inflight_window_holds_back_and_releases_in_order)
{
	struct client pub, sub;
	static const char *const payloads[] = { "m0", "m1", "m2", "m3", "m4" };
	uint16_t id0, id1, id2;

	broker_up(2);
	cl_connect(&sub, "sub", true, false);
	cl_subscribe(&sub, "t", 1);
	cl_connect(&pub, "pub", true, false);

	for (uint16_t i = 0; i < 5; i++) {
		cl_publish(&pub, "t", payloads[i], 1, (uint16_t)(i + 1), false);
		expect_ack(&pub, MQTT_PUBACK, (uint16_t)(i + 1));
	}
	expect_nothing(&pub);
	id0 = expect_publish(&sub, "t", "m0", 1, false);
	id1 = expect_publish(&sub, "t", "m1", 1, false);
	expect_nothing(&sub);

	cl_ack(&sub, MQTT_PUBACK, id0);
	id2 = expect_publish(&sub, "t", "m2", 1, false);
	expect_nothing(&sub);
	cr_assert_neq(id2, id1);

	/* The rest, one per ack, still in order. */
	cl_ack(&sub, MQTT_PUBACK, id1);
	id0 = expect_publish(&sub, "t", "m3", 1, false);
	expect_nothing(&sub);
	cl_ack(&sub, MQTT_PUBACK, id2);
	id1 = expect_publish(&sub, "t", "m4", 1, false);
	expect_nothing(&sub);
	cl_ack(&sub, MQTT_PUBACK, id0);
	cl_ack(&sub, MQTT_PUBACK, id1);
	expect_nothing(&sub);
	broker_down();
}

Test(qos, delivery_qos_is_min_of_published_and_granted)
{
	struct client pub, sub;
	uint16_t id;

	broker_up(20);
	cl_connect(&sub, "sub", true, false);
	cl_subscribe(&sub, "t", 1);
	cl_connect(&pub, "pub", true, false);

	/* Published at 2, granted 1: delivered at 1 (PUBACK completes it). */
	cl_publish(&pub, "t", "q2", 2, 9, false);
	expect_ack(&pub, MQTT_PUBREC, 9);
	id = expect_publish(&sub, "t", "q2", 1, false);
	expect_nothing(&sub);
	cl_ack(&sub, MQTT_PUBACK, id);
	expect_nothing(&sub);

	/* Published at 0, granted 1: delivered at 0, no packet id. */
	cl_publish(&pub, "t", "q0", 0, 0, false);
	expect_nothing(&pub);
	id = expect_publish(&sub, "t", "q0", 0, false);
	cr_assert_eq(id, 0);
	expect_nothing(&sub);
	broker_down();
}

/* Next PUBLISH on <sub>, at QoS 1; checks its id is none of the <n> in <live>. */
static uint16_t expect_fresh_id(struct client *sub, const char *payload, const uint16_t *live,
				size_t n)
{
	uint16_t id = expect_publish(sub, "t", payload, 1, false);

	for (size_t i = 0; i < n; i++)
		cr_assert_neq(id, live[i], "id %u handed out while still in flight", id);
	return id;
}

Test(qos, subscriber_packet_ids_nonzero_and_not_reused_in_flight)
{
	struct client pub, sub;
	uint16_t a, b, c, d, e;

	broker_up(3);
	cl_connect(&sub, "sub", true, false);
	cl_subscribe(&sub, "t", 1);
	cl_connect(&pub, "pub", true, false);

	/* Fill the window. */
	cl_publish(&pub, "t", "a", 1, 1, false);
	cl_publish(&pub, "t", "b", 1, 2, false);
	cl_publish(&pub, "t", "c", 1, 3, false);
	a = expect_fresh_id(&sub, "a", NULL, 0);
	b = expect_fresh_id(&sub, "b", (uint16_t[]){ a }, 1);
	c = expect_fresh_id(&sub, "c", (uint16_t[]){ a, b }, 2);
	expect_nothing(&sub);

	/* Queued behind the window. */
	cl_publish(&pub, "t", "d", 1, 4, false);
	cl_publish(&pub, "t", "e", 1, 5, false);
	expect_nothing(&sub);

	/* Ack the middle one: the next id is not a or c. */
	cl_ack(&sub, MQTT_PUBACK, b);
	d = expect_fresh_id(&sub, "d", (uint16_t[]){ a, c }, 2);
	expect_nothing(&sub);

	/* Ack the newest: the next id is not a or d. */
	cl_ack(&sub, MQTT_PUBACK, c);
	e = expect_fresh_id(&sub, "e", (uint16_t[]){ a, d }, 2);
	expect_nothing(&sub);

	/* Hold <a> for good and cycle the other slots past the 16-bit wrap: no id is ever
	 * 0 (expect_publish checks) nor <a>, nor the other one still in flight. */
	cl_ack(&sub, MQTT_PUBACK, d);
	for (unsigned i = 0; i < 66000; i++) {
		uint16_t live[2] = { a, e };
		uint16_t id;

		cl_publish(&pub, "t", "x", 1, 1, false);
		id = expect_fresh_id(&sub, "x", live, 2);
		cl_ack(&sub, MQTT_PUBACK, e);
		e = id;
	}
	pub.tc->rd = pub.tc->len;   /* 66000 PUBACKs, not the point here */
	expect_nothing(&sub);
	broker_down();
}

/* ---- input buffering (proto.c in_append) ------------------------------------------- */

/* Feeds a PUBLISH announcing <remaining> bytes, <total_fed> bytes of it in <piece>-byte
 * reads, and after each read checks the connection's input buffer: it holds at most
 * the announced packet, at most twice what arrived (or its 256-byte minimum), and the
 * worker's in_buffer_bytes gauge counts exactly it. Returns the final capacity. */
static size_t feed_partial_publish(struct client *cl, uint32_t remaining, size_t total_fed,
				   size_t piece)
{
	static uint8_t chunk[65536];
	uint8_t hdr[8];
	size_t hlen = 1, fed;
	size_t announced;

	cr_assert_leq(piece, sizeof(chunk));
	hdr[0] = 0x30;   /* PUBLISH QoS 0 */
	for (uint32_t rl = remaining;; ) {
		hdr[hlen++] = (uint8_t)((rl & 0x7f) | (rl > 0x7f ? 0x80 : 0));
		rl >>= 7;
		if (rl == 0)
			break;
	}
	hdr[hlen++] = 0;
	hdr[hlen++] = 1;
	hdr[hlen++] = 't';
	announced = hlen - 3 + remaining;
	memset(chunk, 'p', sizeof(chunk));
	feed(cl, hdr, hlen);
	for (fed = hlen; fed < total_fed; fed += piece) {
		size_t n = PETREL_MIN(piece, total_fed - fed);

		feed(cl, chunk, n);
		cr_assert_eq(cl->c->in_len, fed + n, "bytes kept %u, fed %zu", cl->c->in_len,
			     fed + n);
		cr_assert_leq(cl->c->in_cap, announced, "buffer %u past the announced "
			      "packet of %zu bytes", cl->c->in_cap, announced);
		cr_assert_leq(cl->c->in_cap, PETREL_MAX((size_t)256, 2 * (fed + n)),
			      "buffer %u ahead of the %zu bytes that arrived",
			      cl->c->in_cap, fed + n);
		cr_assert_eq(W->stats.in_buffer_bytes, cl->c->in_cap, "gauge %lu, buffer %u",
			     (unsigned long)W->stats.in_buffer_bytes, cl->c->in_cap);
	}
	return cl->c->in_cap;
}

TestSuite(input, .init = unit_rcu_init, .fini = unit_rcu_fini);

/* A 3003-byte packet arriving in 100-byte reads: doubling alone would reach 4096. */
Test(input, buffer_stops_at_the_announced_packet_length)
{
	struct client cl;

	broker_up(20);
	cl_connect(&cl, "slowsender", true, false);
	cr_assert_eq(feed_partial_publish(&cl, 3000, 3002, 100), 3003);
	cl_lost(&cl);
	cr_assert_eq(W->stats.in_buffer_bytes, 0, "gauge not back to 0 after close");
	broker_down();
}

/* A client announcing the largest packet (256 MiB) and sending 1 MiB of it costs
 * about 1 MiB, not what it announced. */
Test(input, huge_announcement_costs_what_arrived)
{
	struct client cl;

	broker_up(20);
	cl_connect(&cl, "announcer", true, false);
	cr_assert_leq(feed_partial_publish(&cl, MQTT_MAX_REMAINING_LEN, 1 << 20, 4096),
		      2u << 20);
	cl_lost(&cl);
	broker_down();
}

/* ---- quiescent states inside one big SUBSCRIBE (issue 6) ---------------------------- */

#define QS_RETAINED 300

/* One SUBSCRIBE whose filters send many retained copies is handled in one call of the
 * engine; the worker (this thread) passes quiescent states inside it, so another
 * thread's grace period completes before the worker's turn ends. The old code passed
 * none until the end of the turn. Not about QoS: it lives here for the engine
 * harness. */
Test(qos, big_subscribe_lets_grace_periods_complete_before_the_turn_ends)
{
	struct client pub, sub;
	struct mqtt_str f[4] = { { "#", 1 }, { "#", 1 }, { "#", 1 }, { "#", 1 } };
	uint8_t q[4] = { 0, 0, 0, 0 };
	uint8_t buf[256];
	struct unit_gp_waiter g;
	size_t n;
	int rounds;

	broker_up(20);
	cl_connect(&pub, "pub", true, false);
	for (int i = 0; i < QS_RETAINED; i++) {
		char topic[32];
		struct mqtt_publish p = { .qos = 0, .retain = true, .payload = (const uint8_t *)"r",
					  .payload_len = 1 };

		p.topic.ptr = topic;
		p.topic.len = (uint16_t)snprintf(topic, sizeof(topic), "r/%d", i);
		feed(&pub, buf, mqtt_encode_publish(buf, sizeof(buf), &p));
	}
	cl_connect(&sub, "sub", true, false);
	n = mqtt_encode_subscribe(buf, sizeof(buf), 9, f, q, 4);
	cr_assert_gt(n, 0);

	unit_gp_waiter_start(&g);
	/* Input without the rest of the turn (no settle): only the SUBSCRIBE
	 * itself may pass quiescent states. The waiter may begin its grace period late:
	 * a few SUBSCRIBEs at most. */
	for (rounds = 0; rounds < 20; rounds++) {
		cr_assert_eq(mem_conn_input(sub.tc, buf, n), 0);
		if (unit_gp_waiter_done(&g, 100))
			break;
	}
	cr_assert(rounds < 20, "no grace period completed during 20 SUBSCRIBEs of 4 x %d "
		  "retained copies", QS_RETAINED);
	unit_gp_waiter_stop(&g);
	settle();
	broker_down();
}
