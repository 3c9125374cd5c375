/* test_restore.c - start-up with persistence (dataplane/mqtt/restore.c, mqtt_restore):
 * a real store (control/store.c, LMDB in a temporary directory) written through
 * store_apply with change records built by hand (tests/support/tbatch.h, tests/unit/store_test.h), closed and opened
 * again as a restarted petrel would, then loaded into a real broker of two workers
 * over the in-memory transport (tests/support/mem_transport.h). Clients reconnect
 * through the real engine and the test decodes what the broker sends them.
 *
 * Spec clauses (MQTT 3.1.1):
 *   3.1.2.4 / MQTT-3.1.2-4  cleanSession=0: the session resumes from the stored state
 *   MQTT-3.2.2-2            CONNACK session present = 1 for a resumed session
 *   MQTT-4.4.0-1            unacknowledged PUBLISH re-sent with DUP=1 and its packet
 *                           id, unacknowledged PUBREL re-sent
 *   4.3.3 method B          a QoS 2 id awaiting PUBREL: a resent PUBLISH is
 *                           acknowledged (PUBREC), not delivered again; PUBREL ->
 *                           PUBCOMP
 *   MQTT-2.3.1-2            new packet ids never collide with ones in flight
 *   MQTT-3.3.1-6            retained messages to a new subscription
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/mqtt.h"
#include "petrel/retain.h"
#include "petrel/router.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/store.h"
#include "mqtt/proto_int.h"
#include "mem_client.h"
#include "mem_transport.h"
#include "restore_test.h"
#include "store_test.h"
#include "tbatch.h"
#include "unit_util.h"

#define NWORKERS RT_WORKERS

static struct broker B;

TestSuite(restore, .init = rt_suite_init, .fini = rt_suite_fini, .timeout = 240);

static void broker_up(uint64_t expire_ms, unsigned max_inflight)
{
	rt_broker_up(&B, expire_ms, max_inflight);
}

static void broker_down(void)
{
	rt_broker_down(&B);
}

static void restore(struct store_load_stats *stats)
{
	rt_restore(&B, stats);
}

static unsigned owner_of(const char *id)
{
	return sessdir_hash(id, strlen(id)) % NWORKERS;
}

static struct session *find(const char *id)
{
	return rt_find(&B, id);
}

static void expect_publish(struct mem_client *cl, const char *topic, const char *payload,
			   uint8_t qos, bool dup, uint16_t id)
{
	struct mqtt_pkt p;

	mem_client_next(cl, &p, MQTT_PUBLISH);
	cr_assert_eq(p.u.publish.topic.len, strlen(topic), "%s: topic '%.*s', expected '%s'",
		     cl->id, p.u.publish.topic.len, p.u.publish.topic.ptr, topic);
	cr_assert_eq(memcmp(p.u.publish.topic.ptr, topic, strlen(topic)), 0);
	cr_assert_eq(p.u.publish.payload_len, strlen(payload));
	cr_assert_eq(memcmp(p.u.publish.payload, payload, strlen(payload)), 0,
		     "%s: payload of %s", cl->id, topic);
	cr_assert_eq(p.u.publish.qos, qos, "%s: %s at QoS %u", cl->id, topic,
		     p.u.publish.qos);
	cr_assert_eq(p.u.publish.dup, dup, "%s: %s DUP %d", cl->id, topic, p.u.publish.dup);
	if (id != 0)
		cr_assert_eq(p.u.publish.packet_id, id, "%s: %s id %u, expected %u", cl->id,
			     topic, p.u.publish.packet_id, id);
}

static void expect_ack(struct mem_client *cl, enum mqtt_type type, uint16_t id)
{
	struct mqtt_pkt p;

	mem_client_next(cl, &p, type);
	cr_assert_eq(p.u.packet_id, id, "%s: %s id %u, expected %u", cl->id,
		     mqtt_type_name(type), p.u.packet_id, id);
}

static void expect_nothing(struct mem_client *cl)
{
	struct mqtt_pkt p;
	ssize_t n = mem_conn_next(cl->tc, &p);

	cr_assert_eq(n, 0, "%s: expected nothing, got %s", cl->id,
		     n > 0 ? mqtt_type_name(p.type) : "garbage");
}

static void client_ack(struct mem_client *cl, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];

	mem_client_input(cl, buf, mqtt_encode_ack(buf, type, id));
	mem_worker_turn(B.workers[cl->w]);
}

static void publish(struct mem_client *cl, const char *topic, const char *payload,
		    uint8_t qos, bool dup, uint16_t id)
{
	struct mqtt_publish pub = {
		.dup = dup,
		.qos = qos,
		.topic = { topic, (uint16_t)strlen(topic) },
		.packet_id = id,
		.payload = (const uint8_t *)payload,
		.payload_len = strlen(payload),
	};
	uint8_t buf[256];

	mem_client_input(cl, buf, mqtt_encode_publish(buf, sizeof(buf), &pub));
}

/* Enough turns of both workers for a takeover or a cross-worker delivery to land. */
static void settle(void)
{
	for (int i = 0; i < 4; i++)
		mem_turn_all(&B);
}

/* ---- a store with every kind of state --------------------------------------------- */

enum { SID_ALICE = 1, SID_BOB = 2 };

/* alice, offline 5 s: two filters, three messages in flight (QoS 1 awaiting PUBACK
 * as id 7, QoS 2 awaiting PUBREC as id 8, QoS 2 awaiting PUBCOMP as id 9), two queued,
 * QoS 2 id 42 of hers awaiting PUBREL. bob, online when it was written: one filter.
 * One retained message. Written in two commits, as two loop turns would. */
static void write_full_store(void)
{
	struct store *st = rt_store_open();
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m[6];

	m[0] = mkmsg("t/a", strlen("t/a"), "i1", strlen("i1"), 101, 1, false);
	m[1] = mkmsg("t/b", strlen("t/b"), "i2", strlen("i2"), 102, 2, false);
	m[2] = mkmsg("t/c", strlen("t/c"), "i3", strlen("i3"), 103, 2, false);
	m[3] = mkmsg("t/d", strlen("t/d"), "q1", strlen("q1"), 104, 1, false);
	m[4] = mkmsg("t/e", strlen("t/e"), "q2", strlen("q2"), 105, 2, false);
	m[5] = mkmsg("r/1", strlen("r/1"), "ret", strlen("ret"), 106, 1, true);

	tbatch_session_put(b, SID_ALICE, "alice", strlen("alice"), 0);
	tbatch_sub_put(b, SID_ALICE, "t/#", strlen("t/#"), 2);
	tbatch_sub_put(b, SID_ALICE, "x/+", strlen("x/+"), 1);
	tbatch_session_put(b, SID_BOB, "bob", strlen("bob"), 0);
	tbatch_sub_put(b, SID_BOB, "t/#", strlen("t/#"), 1);
	for (int i = 0; i < 5; i++)
		tbatch_entry_put(b, SID_ALICE, m[i], m[i]->qos, false);
	tbatch_retain_put(b, m[5]);
	apply_ok(st, b);

	b = tbatch_create(0, 2);
	tbatch_entry_state(b, SID_ALICE, 101, 7, INFLIGHT_WAIT_PUBACK);
	tbatch_entry_state(b, SID_ALICE, 102, 8, INFLIGHT_WAIT_PUBREC);
	tbatch_entry_state(b, SID_ALICE, 103, 9, INFLIGHT_WAIT_PUBCOMP);
	tbatch_rel_put(b, SID_ALICE, 42);
	tbatch_session_put(b, SID_ALICE, "alice", strlen("alice"), rt_wall_ms() - 5000);
	apply_ok(st, b);
	for (int i = 0; i < 6; i++)
		msg_unref(m[i]);
	store_close(st);
}

/* The full store restored (max_inflight_messages <max_inflight>, 0: default), alice
 * reconnects with cleanSession=0 on her worker: session present, and MQTT-4.4.0-1,
 * what was in flight, in order, with DUP and its ids. */
static void alice_comes_back(struct mem_client *a, unsigned max_inflight)
{
	unsigned wa = owner_of("alice");

	write_full_store();
	broker_up(0, max_inflight);
	restore(NULL);
	mem_client_send_connect(a, &B, wa, "alice", false);
	mem_worker_turn(B.workers[wa]);
	mem_client_expect_connack(a, true);
	expect_publish(a, "t/a", "i1", 1, true, 7);
	expect_publish(a, "t/b", "i2", 2, true, 8);
	expect_ack(a, MQTT_PUBREL, 9);
}

Test(restore, the_store_comes_back_as_it_was_written)
{
	struct store_load_stats stats;
	struct session *a, *bob;

	write_full_store();
	broker_up(0, 0);
	restore(&stats);
	cr_assert_eq(stats.sessions, 2);
	cr_assert_eq(stats.subs, 3);
	cr_assert_eq(stats.entries, 5);
	cr_assert_eq(stats.rels, 1);
	cr_assert_eq(stats.retained, 1);
	cr_assert_eq(sessdir_count(B.sessdir), 2);
	cr_assert_eq(router_count(B.router), 3);
	cr_assert_eq(retain_count(B.retain), 1);

	a = find("alice");
	cr_assert_not_null(a);
	cr_assert_eq(session_owner(a), (int)owner_of("alice"));
	cr_assert_eq(atomic_load(&a->store_id), SID_ALICE);
	cr_assert_not(a->clean);
	cr_assert_null(a->conn);
	cr_assert(a->listed);
	cr_assert_eq(session_sub_count(a), 2);
	cr_assert_eq(session_sub_find(a, "x/+", 3)->qos, 1);
	cr_assert_eq(a->queue.len, 2);
	cr_assert_eq(a->inflight.live, 3);
	cr_assert_eq(a->last_packet_id, 9);
	cr_assert(session_rel_contains(a, 42));
	cr_assert_lt(rt_wall_ms() - a->offline_since_ms, 5000 + 60000, "offline time kept");
	cr_assert_geq(rt_wall_ms() - a->offline_since_ms, 5000);
	/* Only the id remains of a QoS 2 message past PUBREC; its store id stays. */
	for (uint32_t i = 0; i < a->inflight.span; i++) {
		struct inflight *e = inflight_at(&a->inflight, i);

		cr_assert_eq(e->packet_id, 7 + i);
		cr_assert_eq(e->msg_id, 101 + i);
		cr_assert_eq(e->m == NULL, e->state == INFLIGHT_WAIT_PUBCOMP);
	}
	bob = find("bob");
	cr_assert_not_null(bob);
	cr_assert_eq(session_owner(bob), (int)owner_of("bob"));
	cr_assert_eq(atomic_load(&bob->store_id), SID_BOB);
	broker_down();
}

Test(restore, a_client_that_reconnects_gets_its_session_back)
{
	struct mem_client a, pub, bob, carol;
	unsigned wa = owner_of("alice");

	alice_comes_back(&a, 0);
	/* ...then the queue, under new ids past them (MQTT-2.3.1-2). */
	expect_publish(&a, "t/d", "q1", 1, false, 10);
	expect_publish(&a, "t/e", "q2", 2, false, 11);
	expect_nothing(&a);

	/* The flows go on from where they were. */
	client_ack(&a, MQTT_PUBACK, 7);
	client_ack(&a, MQTT_PUBREC, 8);
	expect_ack(&a, MQTT_PUBREL, 8);
	client_ack(&a, MQTT_PUBCOMP, 8);
	client_ack(&a, MQTT_PUBCOMP, 9);
	cr_assert_eq(find("alice")->inflight.live, 2);

	/* 4.3.3 method B: id 42 awaits PUBREL, so this PUBLISH is a resend of one
	 * routed before the restart: acknowledged again, delivered to nobody. */
	publish(&a, "t/z", "dup", 2, true, 42);
	mem_worker_turn(B.workers[wa]);
	settle();
	expect_ack(&a, MQTT_PUBREC, 42);
	expect_nothing(&a);
	client_ack(&a, MQTT_PUBREL, 42);
	expect_ack(&a, MQTT_PUBCOMP, 42);
	cr_assert_eq(B.workers[wa]->stats.publish_dup_qos2, 1);
	cr_assert_not(session_rel_contains(find("alice"), 42));

	/* Its subscriptions route: a publisher on the other worker. */
	mem_client_send_connect(&pub, &B, 1 - wa, "pub", true);
	mem_worker_turn(B.workers[1 - wa]);
	mem_client_expect_connack(&pub, false);
	publish(&pub, "x/y", "live", 1, false, 1);
	settle();
	expect_ack(&pub, MQTT_PUBACK, 1);
	expect_publish(&a, "x/y", "live", 1, false, 12);
	publish(&pub, "t/n", "news", 1, false, 2);
	settle();
	expect_ack(&pub, MQTT_PUBACK, 2);
	expect_publish(&a, "t/n", "news", 1, false, 13);
	expect_nothing(&a);

	/* bob, offline since the load, queued it; he comes back on the worker that
	 * does not own him (a takeover of a restored session). */
	mem_client_send_connect(&bob, &B, 1 - owner_of("bob"), "bob", false);
	settle();
	mem_client_expect_connack(&bob, true);
	expect_publish(&bob, "t/n", "news", 1, false, 0);
	expect_nothing(&bob);

	/* The retained message, to a new subscriber (MQTT-3.3.1-6). */
	mem_client_connect(&carol, &B, 0, "carol", true);
	mem_client_subscribe(&carol, "r/#");
	{
		struct mqtt_pkt p;

		mem_client_next(&carol, &p, MQTT_PUBLISH);
		cr_assert(p.u.publish.retain);
		cr_assert_eq(p.u.publish.payload_len, 3);
		cr_assert_eq(memcmp(p.u.publish.payload, "ret", 3), 0);
		cr_assert_eq(p.u.publish.qos, 1);
	}
	broker_down();
}

Test(restore, sessions_land_on_the_worker_the_directory_hash_names)
{
	struct store *st = rt_store_open();
	struct persist_batch *b = tbatch_create(0, 1);
	unsigned per_worker[NWORKERS] = { 0 };
	char id[32];

	for (unsigned i = 0; i < 64; i++) {
		snprintf(id, sizeof(id), "client-%u", i);
		tbatch_session_put(b, 100 + i, id, strlen(id), rt_wall_ms() - 1000);
		tbatch_sub_put(b, 100 + i, "a/b", strlen("a/b"), 1);
	}
	apply_ok(st, b);
	store_close(st);
	broker_up(0, 0);
	restore(NULL);
	for (unsigned i = 0; i < 64; i++) {
		struct session *s, *x;
		bool listed = false;

		snprintf(id, sizeof(id), "client-%u", i);
		s = find(id);
		cr_assert_not_null(s, "%s missing", id);
		cr_assert_eq(session_owner(s), (int)(sessdir_hash(id, strlen(id)) % NWORKERS));
		cr_assert_eq(atomic_load(&s->store_id), 100 + i);
		cr_assert_null(s->conn);
		/* On its owner's sessions list, as a session that went offline there. */
		cds_list_for_each_entry(x, &mqtt_worker(B.workers[session_owner(s)])->sessions,
					owner_link)
			listed |= x == s;
		cr_assert(listed, "%s not on worker %d's list", id, session_owner(s));
		per_worker[session_owner(s)]++;
	}
	cr_assert_gt(per_worker[0], 0);
	cr_assert_gt(per_worker[1], 0);
	cr_assert_eq(router_count(B.router), 64);
	broker_down();
}

Test(restore, a_window_larger_than_max_inflight_comes_back_whole)
{
	struct mem_client a;

	alice_comes_back(&a, 2);     /* max_inflight_messages 2, three were in flight */
	expect_nothing(&a);
	/* Two acks bring the window under its limit: the queue moves one in. */
	client_ack(&a, MQTT_PUBACK, 7);
	expect_nothing(&a);
	client_ack(&a, MQTT_PUBCOMP, 9);
	expect_publish(&a, "t/d", "q1", 1, false, 10);
	expect_nothing(&a);
	broker_down();
}

Test(restore, records_that_cannot_be_right_are_skipped_not_fatal)
{
	struct store *st = rt_store_open();
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m1 = mkmsg("t/1", strlen("t/1"), "one", strlen("one"), 11, 1, false);
	struct msg *m2 = mkmsg("t/2", strlen("t/2"), "two", strlen("two"), 12, 1, false);
	struct store_load_stats stats;
	struct session *s;

	tbatch_session_put(b, 1, "carl", strlen("carl"), rt_wall_ms());
	tbatch_sub_put(b, 1, "a/#/b", strlen("a/#/b"), 1);        /* '#' not last: MQTT-4.7.1-2 */
	tbatch_sub_put(b, 1, "ok/+", strlen("ok/+"), 1);
	tbatch_entry_put(b, 1, m1, 2, false);    /* QoS above the message's */
	tbatch_entry_put(b, 1, m2, 1, false);
	/* The same client id again under a newer store id: the first one stays. */
	tbatch_session_put(b, 2, "carl", strlen("carl"), rt_wall_ms());
	tbatch_sub_put(b, 2, "other", strlen("other"), 1);
	apply_ok(st, b);
	b = tbatch_create(0, 2);
	tbatch_entry_state(b, 1, 12, 5, INFLIGHT_WAIT_PUBREC);  /* QoS 1 cannot */
	apply_ok(st, b);
	msg_unref(m1);
	msg_unref(m2);
	store_close(st);

	broker_up(0, 0);
	restore(&stats);
	s = find("carl");
	cr_assert_not_null(s);
	cr_assert_eq(atomic_load(&s->store_id), 1);
	cr_assert_eq(session_sub_count(s), 1);
	cr_assert_not_null(session_sub_find(s, "ok/+", 4));
	cr_assert_eq(router_count(B.router), 1);
	/* The entry in a state its QoS cannot have goes again as new. */
	cr_assert_eq(s->inflight.live, 0);
	cr_assert_eq(s->queue.len, 1);
	cr_assert_eq(atomic_load(&s->queue.e[s->queue.head].m->store_id), 12);
	broker_down();
}

Test(restore, offline_lists_are_ordered_by_offline_time)
{
	struct store *st = rt_store_open();
	struct persist_batch *b = tbatch_create(0, 1);
	uint64_t now = rt_wall_ms(), before, after;
	/* Store id order is not offline order; one was online (0) when written. */
	static const uint64_t ages_s[] = { 20, 50, 0, 35, 5, 45, 0, 10 };
	unsigned n = sizeof(ages_s) / sizeof(ages_s[0]), listed = 0;
	char id[32];

	for (unsigned i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "c%u", i);
		tbatch_session_put(b, 1 + i, id, strlen(id), ages_s[i] ? now - ages_s[i] * 1000 : 0);
	}
	apply_ok(st, b);
	store_close(st);
	broker_up(3600 * 1000, 0);
	before = rt_wall_ms();
	restore(NULL);
	after = rt_wall_ms();
	for (unsigned w = 0; w < NWORKERS; w++) {
		struct expiry *ex = &mqtt_worker(B.workers[w])->expiry;
		uint64_t prev = 0, here = 0;
		struct session *s;

		cds_list_for_each_entry(s, &ex->offline, offline_link) {
			cr_assert_geq(s->offline_mono_ms, prev, "worker %u: not in order", w);
			cr_assert_eq(session_owner(s), (int)w);
			prev = s->offline_mono_ms;
			here++;
		}
		cr_assert_eq(ex->listed, here);
		cr_assert(here == 0 || ex->timer.armed);
		listed += here;
	}
	cr_assert_eq(listed, n);
	/* Online when written: offline from the load on. */
	for (unsigned i = 0; i < n; i++) {
		struct session *s;

		snprintf(id, sizeof(id), "c%u", i);
		s = find(id);
		if (ages_s[i] != 0)
			continue;
		cr_assert_geq(s->offline_since_ms, before);
		cr_assert_leq(s->offline_since_ms, after);
	}
	broker_down();
}

/* Not a performance assertion: the figure is printed for the report. */
Test(restore, a_hundred_thousand_sessions, .timeout = 600)
{
	const unsigned n = 100000, per_commit = 10000;
	struct store *st = rt_store_open();
	struct store_load_stats stats;
	struct timespec t0, t1;
	char id[32], topic[32];
	double s;

	for (unsigned c = 0; c < n / per_commit; c++) {
		struct persist_batch *b = tbatch_create(0, c + 1);

		for (unsigned i = c * per_commit; i < (c + 1) * per_commit; i++) {
			struct msg *m;

			snprintf(id, sizeof(id), "dev-%u", i);
			snprintf(topic, sizeof(topic), "dev/%u/cmd", i);
			m = mkmsg(topic, strlen(topic), "payload", strlen("payload"), 1 + i, 1, false);
			tbatch_session_put(b, 1 + i, id, strlen(id), rt_wall_ms() - 1000);
			tbatch_sub_put(b, 1 + i, topic, strlen(topic), 1);
			tbatch_entry_put(b, 1 + i, m, 1, false);
			msg_unref(m);
		}
		apply_ok(st, b);
	}
	store_close(st);
	broker_up(0, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	restore(&stats);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(stats.sessions, n);
	cr_assert_eq(stats.entries, n);
	cr_assert_eq(sessdir_count(B.sessdir), n);
	cr_assert_eq(router_count(B.router), n);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "restore: %u sessions (1 subscription, 1 queued message each) in "
		"%.3f s: %.0f sessions/s\n", n, s, n / s);
	broker_down();
}
