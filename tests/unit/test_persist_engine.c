/* test_persist_engine.c - the MQTT engine's side of persistence (dataplane/mqtt/durable.c,
 * fence.c and the record points in connect.c, subscribe.c, publish.c, qos.c): which
 * change records each client action appends, in which order, and which output waits
 * behind a fence until the control plane has committed them.
 *
 * The real engine and workers over the in-memory transport, the real persist queue
 * (dataplane/persist.c); the test plays the control plane: it takes what the workers
 * pushed (persist_take), checks it record by record, and "commits" by storing a batch
 * seq in persist_worker.committed, as control/cplane.c does after its transaction.
 * Nothing here waits on a clock: every step is one loop turn of a worker.
 *
 * Contract (docs/architecture.md "Persistence", persist.h):
 *   stored = cleanSession=0 with persistence on; records only for stored sessions, the
 *   retained slots, and never for QoS 0 or clean sessions;
 *   fenced: PUBACK/PUBREC of a PUBLISH that appended records, PUBREC after REL_PUT,
 *   PUBCOMP after REL_DEL, SUBACK/UNSUBACK of a stored session, an outgoing QoS 2
 *   PUBLISH and the PUBREL to a stored session; a QoS 1 PUBLISH out is not.
 *   Bounds: persistence_max_parked_bytes, persistence_max_pending_bytes.
 * Leaks are checked at the end of every test (fails under ASan).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/proto.h"
#include "petrel/session.h"
#include "petrel/store.h"
#include "petrel/worker.h"
#include "mqtt/proto_int.h"
#include "mem_transport.h"
#include "unit_util.h"

/* ---- a broker with persistence, the test as its control plane ---------------------- */

static struct broker B;
static struct persist *P;

static void broker_up_cfg(struct config *cfg)
{
	char err[256];

	cfg->persistence = true;
	cr_assert_eq(config_finalize(cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_WARN);
	cr_assert_eq(mem_broker_init(&B, cfg, 1000000), 0);
	cr_assert_eq(persist_create(&P, 0, 0), 0);
	cr_assert_eq(persist_attach(&B, P), 0);
}

static void broker_up(unsigned workers)
{
	struct config cfg;

	config_defaults(&cfg);
	cfg.workers = workers;
	broker_up_cfg(&cfg);
}

/* One record as the test saw it; strings copied out of the batch. */
struct seen {
	unsigned worker;
	uint64_t seq;
	uint8_t type;
	uint8_t qos;
	uint8_t state;
	bool retain;
	uint16_t packet_id;
	uint64_t sid;
	uint64_t msg_id;
	uint64_t time_ms;
	char str[64];
};

#define SEEN_MAX 256
static struct seen S[SEEN_MAX];
static size_t NS;                       /* records seen by the last take() */
static uint64_t last_seq[8];            /* per worker: newest batch taken */
static struct store *ST;                /* when set, take() applies to it too */

/* Takes everything the workers pushed, as the control plane does, and applies it
 * (nothing: the test only looks). Returns how many records. */
static size_t take(void)
{
	struct persist_batch *bs[64];
	size_t n;

	NS = 0;
	while ((n = persist_take(P, bs, 64)) > 0) {
		if (ST != NULL) {
			char err[256];

			cr_assert_eq(store_apply(ST, bs, n, false, err, sizeof(err)), 0,
				     "store_apply: %s", err);
		}
		for (size_t i = 0; i < n; i++) {
			struct persist_batch *b = bs[i];

			for (uint32_t j = 0; j < b->n; j++) {
				const struct persist_rec *r = &b->recs[j];
				struct seen *x = &S[NS++];

				cr_assert_lt(NS, SEEN_MAX);
				memset(x, 0, sizeof(*x));
				x->worker = b->worker;
				x->seq = b->seq;
				x->type = r->type;
				x->qos = r->qos;
				x->state = r->state;
				x->retain = r->retain;
				x->packet_id = r->packet_id;
				x->sid = r->sid;
				x->msg_id = r->m != NULL ? atomic_load(&r->m->store_id) : r->msg_id;
				x->time_ms = r->time_ms;
				cr_assert_lt(r->str_len, sizeof(x->str));
				memcpy(x->str, b->arena + r->str_off, r->str_len);
			}
			if (b->seq > last_seq[b->worker])
				last_seq[b->worker] = b->seq;
			atomic_fetch_sub(&P->pending_bytes, b->bytes);
			persist_batch_free(b);
		}
	}
	return NS;
}

/* The control plane committed everything taken so far; every worker hears of it at
 * its next turn (persist_turn), which is run here. */
static void commit(void)
{
	for (unsigned i = 0; i < B.nworkers; i++)
		atomic_store(&B.workers[i]->persist->committed, last_seq[i]);
	mem_turn_all(&B);
}

static void broker_down(void)
{
	mem_broker_shutdown(&B);
	take();
	persist_destroy(P);
	P = NULL;
	memset(last_seq, 0, sizeof(last_seq));
	assert_no_leaks_rcu();
}

static void expect_rec(size_t i, enum persist_rec_type type, uint64_t sid)
{
	cr_assert_lt(i, NS, "record %zu expected (type %d), only %zu", i, type, NS);
	cr_assert_eq(S[i].type, type, "record %zu: type %u, expected %d", i, S[i].type, type);
	cr_assert_eq(S[i].sid, sid, "record %zu: sid %llu, expected %llu", i,
		     (unsigned long long)S[i].sid, (unsigned long long)sid);
}

/* The workers pushed exactly one record since the last take: <type> for <sid>. */
static void expect_one_rec(enum persist_rec_type type, uint64_t sid)
{
	cr_assert_eq(take(), 1, "one record expected, %zu taken", NS);
	expect_rec(0, type, sid);
}

/* ---- clients ------------------------------------------------------------------------ */

struct client {
	const char *id;
	unsigned w;
	struct transport_conn *tc;
};

static void turn(struct client *cl)
{
	mem_worker_turn(B.workers[cl->w]);
}

static void feed(struct client *cl, const uint8_t *buf, size_t len)
{
	cr_assert_gt(len, 0, "encoding failed");
	cr_assert_eq(mem_conn_input(cl->tc, buf, len), 0, "engine closed %s", cl->id);
	turn(cl);
}

static bool next_pkt_maybe(struct client *cl, struct mqtt_pkt *p)
{
	ssize_t n = mem_conn_next(cl->tc, p);

	cr_assert_geq(n, 0, "%s: undecodable output", cl->id);
	return n > 0;
}

static void next_pkt(struct client *cl, struct mqtt_pkt *p, enum mqtt_type type)
{
	cr_assert(next_pkt_maybe(cl, p), "%s: expected %s, got nothing", cl->id,
		  mqtt_type_name(type));
	cr_assert_eq(p->type, type, "%s: expected %s, got %s", cl->id, mqtt_type_name(type),
		     mqtt_type_name(p->type));
}

static void expect_nothing(struct client *cl)
{
	struct mqtt_pkt p;

	cr_assert_not(next_pkt_maybe(cl, &p), "%s: expected nothing, got %s", cl->id,
		      mqtt_type_name(p.type));
}

static void expect_ack(struct client *cl, enum mqtt_type type, uint16_t id)
{
	struct mqtt_pkt p;

	next_pkt(cl, &p, type);
	cr_assert_eq(p.u.packet_id, id, "%s: %s id %u, expected %u", cl->id,
		     mqtt_type_name(type), p.u.packet_id, id);
}

/* The next PUBLISH; returns its packet id. */
static uint16_t expect_publish(struct client *cl, const char *payload, uint8_t qos, bool dup)
{
	struct mqtt_pkt p;

	next_pkt(cl, &p, MQTT_PUBLISH);
	cr_assert_eq(p.u.publish.qos, qos, "%s: QoS %u, expected %u", cl->id,
		     p.u.publish.qos, qos);
	cr_assert_eq(p.u.publish.dup, dup);
	cr_assert_eq(p.u.publish.payload_len, strlen(payload));
	cr_assert_eq(memcmp(p.u.publish.payload, payload, strlen(payload)), 0);
	return p.u.publish.packet_id;
}

/* The control plane commits: the acknowledgement that waited goes out. */
static void commit_then_ack(struct client *cl, enum mqtt_type type, uint16_t id)
{
	commit();
	expect_ack(cl, type, id);
}

static void cl_connect_on(struct client *cl, unsigned w, const char *id, bool clean,
			  bool present)
{
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = clean,
		.client_id = { id, (uint16_t)strlen(id) },
	};
	uint8_t buf[256];
	struct mqtt_pkt p;

	cl->id = id;
	cl->w = w;
	cl->tc = mem_conn_open(B.workers[w]);
	cr_assert_not_null(cl->tc);
	cl->tc->keep = true;
	feed(cl, buf, mqtt_encode_connect(buf, sizeof(buf), &cn));
	next_pkt(cl, &p, MQTT_CONNACK);
	cr_assert_eq(p.u.connack.return_code, MQTT_CONNACK_ACCEPTED);
	cr_assert_eq(p.u.connack.session_present, present);
}

static void cl_connect(struct client *cl, const char *id, bool clean, bool present)
{
	cl_connect_on(cl, 0, id, clean, present);
}

static void cl_lost(struct client *cl)
{
	mem_conn_lost(cl->tc, 0);
	turn(cl);
}

static void cl_subscribe_nowait(struct client *cl, const char *filter, uint8_t qos)
{
	struct mqtt_str f = { filter, (uint16_t)strlen(filter) };
	uint8_t buf[256];

	feed(cl, buf, mqtt_encode_subscribe(buf, sizeof(buf), 1, &f, &qos, 1));
}

static void expect_suback(struct client *cl, uint8_t qos)
{
	struct mqtt_pkt p;

	next_pkt(cl, &p, MQTT_SUBACK);
	cr_assert_eq(p.u.suback.return_codes[0], qos);
}

/* SUBSCRIBE of a stored session: SUBACK after the commit. */
static void cl_subscribe_stored(struct client *cl, const char *filter, uint8_t qos)
{
	cl_subscribe_nowait(cl, filter, qos);
	expect_nothing(cl);
	take();
	commit();
	expect_suback(cl, qos);
}

static size_t encode_publish(uint8_t *buf, size_t cap, const char *topic,
			     const char *payload, uint8_t qos, uint16_t id, bool retain)
{
	struct mqtt_publish pub = {
		.qos = qos,
		.retain = retain,
		.topic = { topic, (uint16_t)strlen(topic) },
		.packet_id = id,
		.payload = (const uint8_t *)payload,
		.payload_len = strlen(payload),
	};

	return mqtt_encode_publish(buf, cap, &pub);
}

static void cl_publish(struct client *cl, const char *topic, const char *payload, uint8_t qos,
		       uint16_t id, bool retain)
{
	uint8_t buf[512];

	feed(cl, buf, encode_publish(buf, sizeof(buf), topic, payload, qos, id, retain));
}

static void cl_ack(struct client *cl, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];

	feed(cl, buf, mqtt_encode_ack(buf, type, id));
}

/* A stored subscriber "sub" of "t" at <qos>, gone offline, and a clean publisher "pub",
 * everything committed. Returns the subscriber's store id. */
static uint64_t offline_sub_and_pub(struct client *sub, struct client *pub, uint8_t qos);

static uint64_t sid_of(struct client *cl)
{
	struct session *s = cl->tc->c->s;

	cr_assert_not_null(s);
	return session_store_id(s);
}

static uint64_t offline_sub_and_pub(struct client *sub, struct client *pub, uint8_t qos)
{
	uint64_t sid;

	cl_connect(sub, "sub", false, false);
	sid = sid_of(sub);
	cl_subscribe_stored(sub, "t", qos);
	cl_lost(sub);
	cl_connect(pub, "pub", true, false);
	take();
	commit();
	return sid;
}

TestSuite(persist_engine, .init = unit_rcu_init, .fini = unit_rcu_fini);

/* ---- sessions -------------------------------------------------------------------------- */

Test(persist_engine, a_stored_session_is_put_online_offline_and_deleted_by_clean_1)
{
	struct client a, a2, a3;
	uint64_t sid;

	broker_up(1);
	cl_connect(&a, "a", false, false);
	sid = sid_of(&a);
	cr_assert_neq(sid, 0);
	expect_one_rec(PREC_SESSION_PUT, sid);
	cr_assert_str_eq(S[0].str, "a");
	cr_assert_eq(S[0].time_ms, 0, "online");

	cl_lost(&a);
	expect_one_rec(PREC_SESSION_PUT, sid);
	cr_assert_gt(S[0].time_ms, 0, "offline since a wall-clock time");

	/* Resumed: the same id, online again. */
	cl_connect(&a2, "a", false, true);
	cr_assert_eq(sid_of(&a2), sid);
	/* Nothing to kick: only the online put. */
	expect_one_rec(PREC_SESSION_PUT, sid);
	cr_assert_eq(S[0].time_ms, 0);

	/* cleanSession=1 over it (MQTT-3.1.2-6): the old connection goes offline, the
	 * stored session is deleted, the new one is not stored. */
	cl_connect(&a3, "a", true, false);
	cr_assert_eq(sid_of(&a3), 0);
	take();
	cr_assert_eq(S[NS - 1].type, PREC_SESSION_DEL);
	cr_assert_eq(S[NS - 1].sid, sid);
	cl_lost(&a3);
	cr_assert_eq(take(), 0, "a clean session never touches the store");
	broker_down();
}

Test(persist_engine, clean_sessions_and_qos0_append_nothing_and_are_not_fenced)
{
	struct client sub, pub, st;

	broker_up(1);
	cl_connect(&sub, "sub", true, false);
	cl_subscribe_nowait(&sub, "t", 1);
	expect_suback(&sub, 1);
	cl_connect(&pub, "pub", true, false);
	cl_publish(&pub, "t", "one", 1, 3, false);
	expect_ack(&pub, MQTT_PUBACK, 3);
	expect_publish(&sub, "one", 1, false);
	cr_assert_eq(take(), 0);

	/* A stored subscriber, a QoS 0 message: never stored. */
	cl_connect(&st, "st", false, false);
	cl_subscribe_stored(&st, "q", 1);
	cl_lost(&st);
	take();
	cl_publish(&pub, "q", "zero", 0, 0, false);
	cl_publish(&pub, "t", "two", 1, 4, false);
	expect_ack(&pub, MQTT_PUBACK, 4);
	cr_assert_eq(take(), 0);
	broker_down();
}

/* ---- subscriptions --------------------------------------------------------------------- */

Test(persist_engine, subscribe_and_unsubscribe_of_a_stored_session_wait_for_their_records)
{
	struct client a;
	struct mqtt_str f[2] = { { "x/+", 3 }, { "y/#", 3 } };
	uint8_t qos[2] = { 1, 2 };
	uint8_t buf[256];
	struct mqtt_pkt p;
	uint64_t sid;

	broker_up(1);
	cl_connect(&a, "a", false, false);
	sid = sid_of(&a);
	take();
	commit();
	feed(&a, buf, mqtt_encode_subscribe(buf, sizeof(buf), 9, f, qos, 2));
	expect_nothing(&a);
	cr_assert_eq(take(), 2);
	expect_rec(0, PREC_SUB_PUT, sid);
	cr_assert_str_eq(S[0].str, "x/+");
	cr_assert_eq(S[0].qos, 1);
	expect_rec(1, PREC_SUB_PUT, sid);
	cr_assert_str_eq(S[1].str, "y/#");
	cr_assert_eq(S[1].qos, 2);
	/* Committed, but the worker has not heard yet: still nothing. */
	atomic_store(&B.workers[0]->persist->committed, last_seq[0] - 1);
	mem_turn_all(&B);
	expect_nothing(&a);
	commit();
	next_pkt(&a, &p, MQTT_SUBACK);
	cr_assert_eq(p.u.suback.packet_id, 9);

	feed(&a, buf, mqtt_encode_unsubscribe(buf, sizeof(buf), 10, f, 1));
	expect_nothing(&a);
	expect_one_rec(PREC_SUB_DEL, sid);
	cr_assert_str_eq(S[0].str, "x/+");
	commit_then_ack(&a, MQTT_UNSUBACK, 10);
	broker_down();
}

/* ---- publisher leg ----------------------------------------------------------------------- */

Test(persist_engine, puback_waits_until_the_copy_for_an_offline_stored_session_is_committed)
{
	struct client sub, pub;
	uint64_t sid;

	broker_up(1);
	sid = offline_sub_and_pub(&sub, &pub, 1);

	cl_publish(&pub, "t", "one", 1, 5, false);
	expect_nothing(&pub);
	/* What a transport sees: nothing, though the PUBACK is queued. */
	cr_assert_eq(pub.tc->c->out.bytes, 4);
	cr_assert_eq(proto_out_len(pub.tc->c), 0);
	expect_one_rec(PREC_ENTRY_PUT, sid);
	cr_assert_eq(S[0].qos, 1);
	cr_assert_eq(S[0].retain, false);
	cr_assert_neq(S[0].msg_id, 0);
	mem_turn_all(&B);
	expect_nothing(&pub);
	commit_then_ack(&pub, MQTT_PUBACK, 5);
	expect_nothing(&pub);
	broker_down();
}

Test(persist_engine, qos2_from_a_stored_publisher_records_its_id_before_pubrec_and_pubcomp)
{
	struct client pub;
	uint64_t sid;

	broker_up(1);
	cl_connect(&pub, "pub", false, false);
	sid = sid_of(&pub);
	take();
	commit();

	cl_publish(&pub, "nobody", "m", 2, 7, false);
	expect_nothing(&pub);
	expect_one_rec(PREC_REL_PUT, sid);
	cr_assert_eq(S[0].packet_id, 7);
	commit_then_ack(&pub, MQTT_PUBREC, 7);

	cl_ack(&pub, MQTT_PUBREL, 7);
	expect_nothing(&pub);
	expect_one_rec(PREC_REL_DEL, sid);
	cr_assert_eq(S[0].packet_id, 7);
	commit_then_ack(&pub, MQTT_PUBCOMP, 7);

	/* A PUBREL again (the PUBCOMP was lost): nothing left to record, no fence. */
	cl_ack(&pub, MQTT_PUBREL, 7);
	expect_ack(&pub, MQTT_PUBCOMP, 7);
	cr_assert_eq(take(), 0);
	broker_down();
}

Test(persist_engine, retained_messages_are_put_and_deleted_and_their_ack_waits)
{
	struct client pub;

	broker_up(1);
	cl_connect(&pub, "pub", true, false);
	cl_publish(&pub, "r/1", "kept", 1, 1, true);
	expect_nothing(&pub);
	expect_one_rec(PREC_RETAIN_PUT, 0);
	cr_assert_neq(S[0].msg_id, 0);
	commit_then_ack(&pub, MQTT_PUBACK, 1);

	cl_publish(&pub, "r/1", "", 1, 2, true);
	expect_nothing(&pub);
	expect_one_rec(PREC_RETAIN_DEL, 0);
	cr_assert_str_eq(S[0].str, "r/1");
	commit_then_ack(&pub, MQTT_PUBACK, 2);
	broker_down();
}

Test(persist_engine, the_publishing_worker_records_copies_for_sessions_of_other_workers)
{
	struct client sub, pub;
	uint64_t sid;

	broker_up(2);
	cl_connect_on(&sub, 1, "sub", false, false);
	sid = sid_of(&sub);
	cl_subscribe_stored(&sub, "t", 2);
	cl_connect_on(&pub, 0, "pub", true, false);
	take();
	commit();

	cl_publish(&pub, "t", "far", 1, 4, false);
	cr_assert_eq(take(), 1, "the publisher's batch went before its delivery");
	expect_rec(0, PREC_ENTRY_PUT, sid);
	cr_assert_eq(S[0].worker, 0);
	cr_assert_eq(S[0].qos, 1);
	expect_nothing(&pub);
	/* Worker 1 takes the delivery: its ENTRY_STATE comes after, from worker 1. */
	turn(&sub);
	expect_publish(&sub, "far", 1, false);
	expect_one_rec(PREC_ENTRY_STATE, sid);
	cr_assert_eq(S[0].worker, 1);
	commit_then_ack(&pub, MQTT_PUBACK, 4);
	broker_down();
}

/* ---- subscriber leg ----------------------------------------------------------------------- */

Test(persist_engine, qos1_out_is_sent_at_once_and_its_puback_deletes_the_entry)
{
	struct client sub, pub;
	uint64_t sid, msg_id;
	uint16_t id;

	broker_up(1);
	cl_connect(&sub, "sub", false, false);
	sid = sid_of(&sub);
	cl_subscribe_stored(&sub, "t", 1);
	cl_connect(&pub, "pub", true, false);

	cl_publish(&pub, "t", "one", 1, 2, false);
	id = expect_publish(&sub, "one", 1, false);
	cr_assert_eq(take(), 2);
	expect_rec(0, PREC_ENTRY_PUT, sid);
	msg_id = S[0].msg_id;
	expect_rec(1, PREC_ENTRY_STATE, sid);
	cr_assert_eq(S[1].msg_id, msg_id);
	cr_assert_eq(S[1].packet_id, id);
	cr_assert_eq(S[1].state, INFLIGHT_WAIT_PUBACK);

	cl_ack(&sub, MQTT_PUBACK, id);
	expect_one_rec(PREC_ENTRY_DEL, sid);
	cr_assert_eq(S[0].msg_id, msg_id);
	broker_down();
}

Test(persist_engine, qos2_out_publish_and_pubrel_wait_for_their_state_records)
{
	struct client sub, pub;
	uint64_t sid, msg_id;
	uint16_t id;

	broker_up(1);
	cl_connect(&sub, "sub", false, false);
	sid = sid_of(&sub);
	cl_subscribe_stored(&sub, "t", 2);
	cl_connect(&pub, "pub", true, false);

	cl_publish(&pub, "t", "two", 2, 3, false);
	expect_nothing(&sub);
	expect_nothing(&pub);
	cr_assert_eq(take(), 2);
	expect_rec(0, PREC_ENTRY_PUT, sid);
	cr_assert_eq(S[0].qos, 2);
	msg_id = S[0].msg_id;
	expect_rec(1, PREC_ENTRY_STATE, sid);
	cr_assert_eq(S[1].state, INFLIGHT_WAIT_PUBREC);
	commit();
	id = expect_publish(&sub, "two", 2, false);
	cr_assert_eq(id, S[1].packet_id);
	expect_ack(&pub, MQTT_PUBREC, 3);

	cl_ack(&sub, MQTT_PUBREC, id);
	expect_nothing(&sub);
	expect_one_rec(PREC_ENTRY_STATE, sid);
	cr_assert_eq(S[0].msg_id, msg_id);
	cr_assert_eq(S[0].packet_id, id);
	cr_assert_eq(S[0].state, INFLIGHT_WAIT_PUBCOMP);
	commit_then_ack(&sub, MQTT_PUBREL, id);

	cl_ack(&sub, MQTT_PUBCOMP, id);
	expect_one_rec(PREC_ENTRY_DEL, sid);
	cr_assert_eq(S[0].msg_id, msg_id);
	broker_down();
}

Test(persist_engine, retained_copies_on_subscribe_are_recorded_by_the_owner_with_retain)
{
	struct client pub, sub;
	uint64_t sid, retained_id;

	broker_up(1);
	cl_connect(&pub, "pub", true, false);
	cl_publish(&pub, "r/1", "kept", 1, 1, true);
	take();
	retained_id = S[0].msg_id;
	commit();
	cl_connect(&sub, "sub", false, false);
	sid = sid_of(&sub);
	take();
	cl_subscribe_nowait(&sub, "r/#", 1);
	cr_assert_eq(take(), 3);
	expect_rec(0, PREC_SUB_PUT, sid);
	expect_rec(1, PREC_ENTRY_PUT, sid);
	cr_assert_eq(S[1].msg_id, retained_id, "stored once, referenced");
	cr_assert_eq(S[1].retain, true);
	expect_rec(2, PREC_ENTRY_STATE, sid);
	commit();
	expect_suback(&sub, 1);
	broker_down();
}

Test(persist_engine, a_copy_dropped_by_queue_policy_is_deleted_from_the_store)
{
	struct config cfg;
	struct client sub, pub;
	uint64_t sid, first;

	config_defaults(&cfg);
	cfg.workers = 1;
	cfg.max_queued_messages = 1;
	cfg.queue_full_policy = QUEUE_FULL_DROP_OLDEST;
	broker_up_cfg(&cfg);
	sid = offline_sub_and_pub(&sub, &pub, 1);

	cl_publish(&pub, "t", "1", 1, 1, false);
	cl_publish(&pub, "t", "2", 1, 2, false);
	cr_assert_eq(take(), 3);
	expect_rec(0, PREC_ENTRY_PUT, sid);
	first = S[0].msg_id;
	expect_rec(1, PREC_ENTRY_PUT, sid);
	expect_rec(2, PREC_ENTRY_DEL, sid);
	cr_assert_eq(S[2].msg_id, first, "drop_oldest evicted the first");
	broker_down();
}

Test(persist_engine, a_will_to_a_stored_session_is_recorded)
{
	struct client sub, dying;
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = true,
		.client_id = { "dying", 5 },
		.will_flag = true,
		.will_qos = 1,
		.will_topic = { "w", 1 },
		.will_payload = (const uint8_t *)"bye",
		.will_payload_len = 3,
	};
	uint8_t buf[256];
	struct mqtt_pkt p;
	uint64_t sid;

	broker_up(1);
	cl_connect(&sub, "sub", false, false);
	sid = sid_of(&sub);
	cl_subscribe_stored(&sub, "w", 1);
	cl_lost(&sub);
	take();
	dying.id = "dying";
	dying.w = 0;
	dying.tc = mem_conn_open(B.workers[0]);
	dying.tc->keep = true;
	feed(&dying, buf, mqtt_encode_connect(buf, sizeof(buf), &cn));
	next_pkt(&dying, &p, MQTT_CONNACK);
	cl_lost(&dying);
	expect_one_rec(PREC_ENTRY_PUT, sid);
	cr_assert_eq(S[0].qos, 1);
	broker_down();
}

Test(persist_engine, a_resumed_session_resends_after_its_records_are_committed)
{
	struct client sub, sub2, pub;
	uint64_t sid;
	uint16_t id;

	broker_up(1);
	cl_connect(&sub, "sub", false, false);
	sid = sid_of(&sub);
	cl_subscribe_stored(&sub, "t", 1);
	cl_connect(&pub, "pub", true, false);
	cl_publish(&pub, "t", "one", 1, 2, false);
	id = expect_publish(&sub, "one", 1, false);
	take();
	commit();
	cl_lost(&sub);

	cl_connect(&sub2, "sub", false, true);
	expect_nothing(&sub2);
	take();
	expect_rec(NS - 1, PREC_SESSION_PUT, sid);
	commit();
	cr_assert_eq(expect_publish(&sub2, "one", 1, true), id, "MQTT-4.4.0-1: same id, DUP");
	broker_down();
}

/* ---- bounds ------------------------------------------------------------------------------- */

Test(persist_engine, a_connection_over_max_parked_bytes_is_not_read_until_commits_come)
{
	struct config cfg;
	struct client sub, pub;
	uint8_t buf[2048];
	size_t len = 0;

	config_defaults(&cfg);
	cfg.workers = 1;
	cfg.persistence_max_parked_bytes = 8;   /* two PUBACKs */
	broker_up_cfg(&cfg);
	offline_sub_and_pub(&sub, &pub, 1);

	for (unsigned i = 1; i <= 10; i++) {
		char payload[8];

		snprintf(payload, sizeof(payload), "%u", i);
		len += encode_publish(buf + len, sizeof(buf) - len, "t", payload, 1,
				      (uint16_t)i, false);
	}
	feed(&pub, buf, len);
	cr_assert(pub.tc->read_paused, "parked");
	cr_assert_not_null(pub.tc->kept, "the rest stays with the transport");
	cr_assert_eq(B.workers[0]->stats.persist_parked_pause, 1);
	expect_nothing(&pub);
	/* Commits until everything is through; each lets a few more in. */
	for (unsigned i = 0; i < 20 && (pub.tc->kept != NULL || pub.tc->read_paused); i++) {
		take();
		commit();
	}
	take();
	commit();
	for (unsigned i = 1; i <= 10; i++)
		expect_ack(&pub, MQTT_PUBACK, (uint16_t)i);
	cr_assert_not(pub.tc->read_paused);
	broker_down();
}

Test(persist_engine, pending_bytes_over_the_limit_hold_a_stored_publisher_not_others)
{
	struct config cfg;
	struct client sub, clean_sub, pub, other;

	config_defaults(&cfg);
	cfg.workers = 1;
	cfg.persistence_max_pending_bytes = 1;
	broker_up_cfg(&cfg);
	cl_connect(&sub, "sub", false, false);
	cl_subscribe_stored(&sub, "t", 1);
	cl_lost(&sub);
	cl_connect(&clean_sub, "cs", true, false);
	cl_subscribe_nowait(&clean_sub, "c", 1);
	expect_suback(&clean_sub, 1);
	cl_connect(&pub, "pub", true, false);
	cl_connect(&other, "other", true, false);
	take();
	commit();
	cr_assert_eq(atomic_load(&P->pending_bytes), 0);

	/* The first goes (nothing pending yet), and its batch is pushed. */
	cl_publish(&pub, "t", "1", 1, 1, false);
	cr_assert_gt(atomic_load(&P->pending_bytes), 1);
	/* The second finds the control plane behind: routed, then the publisher waits. */
	cl_publish(&pub, "t", "2", 1, 2, false);
	cr_assert_eq(B.workers[0]->stats.persist_pending_hold, 1);
	cl_publish(&pub, "t", "3", 1, 3, false);
	/* Others go on: a clean subscriber's traffic appends nothing. */
	cl_publish(&other, "c", "x", 1, 9, false);
	expect_ack(&other, MQTT_PUBACK, 9);
	expect_publish(&clean_sub, "x", 1, false);

	/* The control plane applies everything: the held PUBLISH goes on within a tick. */
	take();
	cr_assert_eq(NS, 2, "the third waits unread");
	commit();
	for (unsigned i = 0; i < 4; i++) {
		B.workers[0]->now_ms += TIMER_TICK_MS;
		mem_worker_turn(B.workers[0]);
	}
	cr_assert_eq(take(), 1, "the held third went through");
	commit_then_ack(&pub, MQTT_PUBACK, 1);
	expect_ack(&pub, MQTT_PUBACK, 2);
	expect_ack(&pub, MQTT_PUBACK, 3);
	broker_down();
}

/* ---- failures ------------------------------------------------------------------------------ */

/* persist_entry_put is wrapped (tests/unit/meson.build): out of memory on demand. */
static bool fail_entry_put;
int __real_persist_entry_put(struct worker *w, uint64_t sid, struct msg *m, uint8_t qos,
			     bool retain);
int __wrap_persist_entry_put(struct worker *w, uint64_t sid, struct msg *m, uint8_t qos,
			     bool retain);
int __wrap_persist_entry_put(struct worker *w, uint64_t sid, struct msg *m, uint8_t qos,
			     bool retain)
{
	if (fail_entry_put)
		return -ENOMEM;
	return __real_persist_entry_put(w, sid, m, qos, retain);
}

Test(persist_engine, no_puback_when_a_copy_cannot_be_recorded)
{
	struct client sub, pub;
	uint8_t buf[128];

	broker_up(1);
	offline_sub_and_pub(&sub, &pub, 1);

	fail_entry_put = true;
	cr_assert_eq(mem_conn_input(pub.tc, buf, encode_publish(buf, sizeof(buf), "t", "x", 1,
								 6, false)), -1,
		     "closed without the ack");
	fail_entry_put = false;
	turn(&pub);
	cr_assert(pub.tc->closed);
	expect_nothing(&pub);
	cr_assert_eq(B.workers[0]->stats.conn_no_memory, 1);
	broker_down();
}

Test(persist_engine, fenced_output_of_a_closed_connection_never_goes_out)
{
	struct client sub, pub;
	uint8_t buf[4];

	broker_up(1);
	offline_sub_and_pub(&sub, &pub, 1);

	cl_publish(&pub, "t", "x", 1, 6, false);
	expect_nothing(&pub);
	/* DISCONNECT: the transport's close sends what is left (last words), but not
	 * what waits for the store. */
	cr_assert_eq(mem_conn_input(pub.tc, buf, mqtt_encode_empty(buf, MQTT_DISCONNECT)), -1);
	turn(&pub);
	cr_assert(pub.tc->closed);
	expect_nothing(&pub);
	take();
	commit();
	expect_nothing(&pub);
	broker_down();
}

/* ---- the real store --------------------------------------------------------------------- */

struct counted {
	unsigned sessions, subs, entries, rels, retained;
	uint8_t entry_qos[8];
	uint16_t rel_id;
};

static int c_session(void *arg, uint64_t sid, const char *id, size_t len, uint64_t since)
{
	(void)sid, (void)id, (void)len, (void)since;
	((struct counted *)arg)->sessions++;
	return 0;
}

static int c_sub(void *arg, uint64_t sid, const char *f, size_t len, uint8_t qos)
{
	(void)sid, (void)f, (void)len, (void)qos;
	((struct counted *)arg)->subs++;
	return 0;
}

static int c_entry(void *arg, uint64_t sid, struct msg *m, uint8_t qos, bool retain,
		   uint16_t packet_id, uint8_t state)
{
	struct counted *c = arg;

	(void)sid, (void)m, (void)retain, (void)packet_id, (void)state;
	if (c->entries < 8)
		c->entry_qos[c->entries] = qos;
	c->entries++;
	return 0;
}

static int c_rel(void *arg, uint64_t sid, uint16_t packet_id)
{
	(void)sid;
	((struct counted *)arg)->rels++;
	((struct counted *)arg)->rel_id = packet_id;
	return 0;
}

static int c_retained(void *arg, struct msg *m)
{
	(void)m;
	((struct counted *)arg)->retained++;
	return 0;
}

static const struct store_load_ops count_ops = {
	c_session, c_sub, c_entry, c_rel, c_retained,
};

static struct counted load_counts(void)
{
	struct store_load_stats st;
	struct counted c = { 0 };
	char err[256];

	cr_assert_eq(store_load(ST, &count_ops, &c, &st, err, sizeof(err)), 0, "%s", err);
	return c;
}

Test(persist_engine, the_records_applied_to_a_real_store_hold_what_a_restart_needs)
{
	char dir[] = "/tmp/petrel-engine-store-XXXXXX";
	char err[256], cmd[64];
	struct client sub, pub, sub2;
	struct counted c;
	uint16_t id1, id2;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(store_open(&ST, dir, 64u << 20, err, sizeof(err)), 0, "%s", err);
	broker_up(2);
	cl_connect_on(&sub, 1, "sub", false, false);
	cl_subscribe_stored(&sub, "t", 2);
	cl_lost(&sub);
	cl_connect_on(&pub, 0, "pub", false, false);
	take();
	commit();

	cl_publish(&pub, "t", "a", 1, 1, false);
	cl_publish(&pub, "t", "b", 2, 7, false);
	cl_publish(&pub, "r", "kept", 1, 2, true);
	turn(&sub);
	take();
	commit_then_ack(&pub, MQTT_PUBACK, 1);
	expect_ack(&pub, MQTT_PUBREC, 7);
	expect_ack(&pub, MQTT_PUBACK, 2);
	c = load_counts();
	cr_assert_eq(c.sessions, 2);
	cr_assert_eq(c.subs, 1);
	cr_assert_eq(c.entries, 2, "both copies queued for the offline subscriber");
	cr_assert_eq(c.entry_qos[0], 1);
	cr_assert_eq(c.entry_qos[1], 2);
	cr_assert_eq(c.rels, 1);
	cr_assert_eq(c.rel_id, 7);
	cr_assert_eq(c.retained, 1);

	/* Every flow completed: only the sessions, the subscription and the retained
	 * message are left (the store does not grow with delivered messages). */
	cl_ack(&pub, MQTT_PUBREL, 7);
	cl_connect_on(&sub2, 1, "sub", false, true);
	take();
	commit_then_ack(&pub, MQTT_PUBCOMP, 7);
	id1 = expect_publish(&sub2, "a", 1, false);
	id2 = expect_publish(&sub2, "b", 2, false);
	cl_ack(&sub2, MQTT_PUBACK, id1);
	cl_ack(&sub2, MQTT_PUBREC, id2);
	take();
	commit_then_ack(&sub2, MQTT_PUBREL, id2);
	cl_ack(&sub2, MQTT_PUBCOMP, id2);
	take();
	c = load_counts();
	cr_assert_eq(c.sessions, 2);
	cr_assert_eq(c.subs, 1);
	cr_assert_eq(c.entries, 0);
	cr_assert_eq(c.rels, 0);
	cr_assert_eq(c.retained, 1);
	broker_down();
	store_close(ST);
	ST = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
