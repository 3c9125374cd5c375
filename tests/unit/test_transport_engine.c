/* test_transport_engine.c - the engine's side of the transport boundary (proto.h), as a
 * TCP stack will drive it, over the in-memory transport (tests/support/mem_transport.h)
 * and a real broker whose workers the test turns:
 *
 * - proto_input() returns the bytes it consumed: a connection whose reading is paused
 *   (a takeover pending, or held input full) takes less than offered, the transport
 *   keeps the rest and offers it after the engine resumes it; nothing is lost or
 *   handled twice, and the order holds (MQTT-4.6.0-6).
 * - the output stream is the send buffer: bytes the transport took but did not
 *   release (a peer that does not ACK) count against max_outgoing_bytes, so the
 *   session queues and then follows queue_full_policy, while the worker goes on
 *   serving its other clients; released bytes let the queue move on, in order.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/proto.h"
#include "petrel/session.h"
#include "petrel/worker.h"
#include "mqtt/proto_int.h"
#include "mem_client.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { W0, W1, NWORKERS };
enum { N = 40 };

static struct broker B;

TestSuite(transport_engine, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 60);

static void broker_up(struct config *cfg)
{
	char err[256];

	cfg->workers = NWORKERS;
	cr_assert_eq(config_finalize(cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_ERR);
	cr_assert_eq(mem_broker_init(&B, cfg, 1000000), 0);
}

static void broker_down(void)
{
	mem_broker_shutdown(&B);
	assert_no_leaks_rcu();
}

/* proto_input() as a transport calls it, returning what the engine consumed. */
static ssize_t offer(struct transport_conn *tc, const uint8_t *buf, size_t len)
{
	int prev = worker_set_current((int)tc->w->id);
	ssize_t r = proto_input(tc->c, buf, len);

	worker_set_current(prev);
	return r;
}

/* Encodes PUBLISH m<first>..m<last> on <topic> at QoS 1 (packet id = seq) into <buf>,
 * each with a payload of <pad> filler bytes after "m<seq> ". Returns the length. */
static size_t encode_run(uint8_t *buf, size_t cap, const char *topic, unsigned first,
			 unsigned last, size_t pad)
{
	size_t len = 0;

	for (unsigned i = first; i <= last; i++) {
		char payload[512];
		struct mqtt_publish p = {
			.qos = 1,
			.topic = { topic, (uint16_t)strlen(topic) },
			.packet_id = (uint16_t)i,
			.payload = (const uint8_t *)payload,
		};
		int n = snprintf(payload, sizeof(payload), "m%u", i);

		cr_assert_lt((size_t)n + pad, sizeof(payload));
		memset(payload + n, 'x', pad);
		p.payload_len = (size_t)n + pad;
		n = (int)mqtt_encode_publish(buf + len, cap - len, &p);
		cr_assert_gt(n, 0);
		len += (size_t)n;
	}
	return len;
}

/* The number in a "m<seq>..." payload. */
static unsigned seq_of(const struct mqtt_pkt *p)
{
	unsigned seq = 0;

	for (size_t i = 1; i < p->u.publish.payload_len; i++) {
		uint8_t ch = p->u.publish.payload[i];

		if (ch < '0' || ch > '9')
			break;
		seq = seq * 10 + (ch - '0');
	}
	return seq;
}

/* Reads every PUBLISH the broker sent <cl> since the last call (any other packet type
 * is skipped); each must be m<*next>, then *next moves on. With <ack>, answers each
 * with PUBACK. Returns how many came. */
static unsigned take_in_order(struct mem_client *cl, unsigned *next, bool ack)
{
	struct mqtt_pkt p;
	unsigned n = 0;

	while (mem_client_next_publish(cl, &p)) {
		cr_assert_eq(seq_of(&p), *next, "%s: got m%u, expected m%u", cl->id,
			     seq_of(&p), *next);
		(*next)++;
		n++;
		if (ack) {
			uint8_t a[4];

			mem_client_input(cl, a, mqtt_encode_ack(a, MQTT_PUBACK,
								p.u.publish.packet_id));
		}
	}
	return n;
}

/* PUBACKs the broker sent <cl>: each must be for id *next, then *next moves on. */
static unsigned take_pubacks(struct mem_client *cl, unsigned *next)
{
	struct mqtt_pkt p;
	unsigned n = 0;

	while (mem_conn_next(cl->tc, &p) > 0) {
		cr_assert_eq(p.type, MQTT_PUBACK, "%s: %s", cl->id, mqtt_type_name(p.type));
		cr_assert_eq(p.u.packet_id, *next, "%s: PUBACK %u, expected %u", cl->id,
			     p.u.packet_id, *next);
		(*next)++;
		n++;
	}
	return n;
}

/* A CONNECT that takes over a session owned by the other worker pauses the new
 * connection's reading: the PUBLISHes that arrived with it in the same read are not
 * consumed. The transport keeps them and offers them once the takeover is done. */
Test(transport_engine, input_after_a_takeover_connect_is_left_to_the_transport)
{
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = false,
		.client_id = { "pub", 3 },
	};
	struct mem_client sub, old, pub;
	static uint8_t buf[N * 64 + 128];
	unsigned next_sub = 1, next_ack = 1, got = 0;
	size_t clen, len;
	struct config cfg;
	ssize_t r;

	config_defaults(&cfg);
	broker_up(&cfg);
	mem_client_connect(&sub, &B, W0, "sub", true);
	mem_client_subscribe(&sub, "t");
	mem_client_connect(&old, &B, W0, "pub", false);

	/* The new connection for "pub" comes to W1: its CONNECT and m1..mN in one read. */
	pub = (struct mem_client){ .id = "pub", .b = &B, .w = W1 };
	pub.tc = mem_conn_open(B.workers[W1]);
	cr_assert_not_null(pub.tc);
	pub.tc->keep = true;
	clen = mqtt_encode_connect(buf, sizeof(buf), &cn);
	len = clen + encode_run(buf + clen, sizeof(buf) - clen, "t", 1, N, 0);
	r = offer(pub.tc, buf, len);
	cr_assert_eq(r, (ssize_t)clen, "consumed %zd of %zu: only the CONNECT (%zu)", r, len,
		     clen);
	cr_assert(pub.tc->read_paused, "reading paused while the takeover is pending");
	/* Offered again while paused: nothing consumed; the transport keeps it all. */
	cr_assert_eq(offer(pub.tc, buf + clen, len - clen), 0);
	cr_assert_eq(mem_conn_input(pub.tc, buf + clen, len - clen), 0);
	cr_assert_eq(pub.tc->kept_len, len - clen);

	for (int i = 0; i < 8; i++)
		mem_turn_all(&B);
	cr_assert(old.tc->closed, "the old connection was taken over");
	cr_assert_null(pub.tc->kept, "the kept input was offered and taken");
	mem_client_expect_connack(&pub, true);
	cr_assert_eq(take_pubacks(&pub, &next_ack), N, "PUBACK 1..%u, each once", N);
	/* The subscriber acks as it goes (its inflight window is 20). */
	for (int i = 0; i < 4 * N && got < N; i++) {
		got += take_in_order(&sub, &next_sub, true);
		mem_turn_all(&B);
	}
	cr_assert_eq(got, N, "m1..m%u, each once (got %u)", N, got);
	mem_turn_all(&B);
	cr_assert_eq(take_in_order(&sub, &next_sub, true), 0, "nothing more");
	broker_down();
}

/* A publisher held back by a congested subscriber keeps reading until its held input
 * reaches max_held_input_bytes; then its reading pauses and proto_input() returns less
 * than it was offered. The rest comes through after it resumes, in order. */
Test(transport_engine, input_of_a_held_publisher_past_its_held_bytes_is_left)
{
	struct mem_client sub, pub;
	static uint8_t buf[N * 64];
	unsigned next_sub = 1, next_ack = 1, got = 0;
	struct config cfg;
	size_t len;
	ssize_t r;

	config_defaults(&cfg);
	cfg.queue_full_policy = QUEUE_FULL_BACKPRESSURE;
	cfg.max_inflight_messages = 1;
	cfg.max_queued_messages = 2;
	cfg.max_held_input_bytes = 64;
	cfg.backpressure_timeout = 60000;   /* no slow marking while the test turns */
	broker_up(&cfg);
	mem_client_connect(&sub, &B, W0, "sub", true);
	mem_client_subscribe(&sub, "t");
	mem_client_connect(&pub, &B, W0, "pub", true);

	len = encode_run(buf, sizeof(buf), "t", 1, N, 0);
	r = offer(pub.tc, buf, len);
	cr_assert_gt(r, 0);
	cr_assert_lt(r, (ssize_t)len, "held input full: not everything consumed");
	cr_assert(pub.tc->read_paused);
	cr_assert_eq(mem_conn_input(pub.tc, buf + r, len - (size_t)r), 0);
	cr_assert_eq(pub.tc->kept_len, len - (size_t)r, "the transport keeps the rest");

	/* The subscriber acks what it gets; the queue drains, the publisher resumes,
	 * the kept input comes through. */
	for (int i = 0; i < 4 * N && got < N; i++) {
		mem_turn_all(&B);
		got += take_in_order(&sub, &next_sub, true);
	}
	cr_assert_eq(got, N, "m1..m%u each once, in order (got %u)", N, got);
	mem_turn_all(&B);
	cr_assert_null(pub.tc->kept);
	cr_assert_eq(take_pubacks(&pub, &next_ack), N);
	broker_down();
}

/* A subscriber whose peer takes bytes but never acknowledges them (TCP: in flight):
 * they stay in the engine's send buffer and count against max_outgoing_bytes. Past it
 * the session queues, then drops by queue_full_policy drop_new (counted); another
 * client on the same worker is served meanwhile. Released, the queue moves on. */
Test(transport_engine, unreleased_bytes_count_against_max_outgoing_bytes)
{
	enum { MSGS = 60, PAD = 200, QUEUED = 5 };
	struct mem_client slow, other, pub;
	static uint8_t buf[PAD + 64];
	unsigned next_slow = 1, next_other = 1, sent, queued;
	struct config cfg;
	struct mqtt_pkt p;
	struct session *s;

	config_defaults(&cfg);
	cfg.max_outgoing_bytes = 2048;
	cfg.max_inflight_messages = 1000;
	cfg.max_queued_messages = QUEUED;
	cfg.queue_full_policy = QUEUE_FULL_DROP_NEW;
	broker_up(&cfg);
	mem_client_connect(&slow, &B, W0, "slow", true);
	mem_client_subscribe(&slow, "t");
	mem_client_connect(&other, &B, W0, "other", true);
	mem_client_subscribe(&other, "u");
	mem_client_connect(&pub, &B, W0, "pub", true);
	slow.tc->hold_release = true;

	for (unsigned i = 1; i <= MSGS; i++) {
		mem_client_input(&pub, buf, encode_run(buf, sizeof(buf), "t", i, i, PAD));
		mem_worker_turn(B.workers[W0]);
		/* The client acks at MQTT level: only the transport holds bytes back. */
		take_in_order(&slow, &next_slow, true);
		mem_worker_turn(B.workers[W0]);
		cr_assert_leq(proto_out_len(slow.tc->c), cfg.max_outgoing_bytes + PAD + 16,
			      "unreleased bytes bounded by max_outgoing_bytes + one message");
	}
	sent = next_slow - 1;
	s = slow.tc->c->s;
	queued = s->queue.len;
	cr_assert_eq(proto_out_len(slow.tc->c), slow.tc->taken, "taken, none released");
	cr_assert_gt(slow.tc->taken, cfg.max_outgoing_bytes);
	cr_assert_lt(sent, MSGS);
	cr_assert_eq(queued, QUEUED, "the session queued up to its limit");
	cr_assert_eq(B.workers[W0]->stats.drop_queue_full, MSGS - sent - QUEUED,
		     "drop_new for the rest");

	/* The worker serves the others meanwhile. */
	mem_client_input(&pub, buf, encode_run(buf, sizeof(buf), "u", 1, 1, 0));
	mem_worker_turn(B.workers[W0]);
	cr_assert_eq(take_in_order(&other, &next_other, true), 1);
	mem_client_input(&other, buf, mqtt_encode_empty(buf, MQTT_PINGREQ));
	mem_worker_turn(B.workers[W0]);
	mem_client_next(&other, &p, MQTT_PINGRESP);

	/* The peer acknowledges everything: the queue goes out, in order. */
	mem_conn_release(slow.tc, slow.tc->taken);
	for (int i = 0; i < 4; i++)
		mem_turn_all(&B);
	cr_assert_eq(take_in_order(&slow, &next_slow, true), QUEUED);
	cr_assert_eq(s->queue.len, 0);
	broker_down();
}
