/* test_expiry.c - persistent_client_expiration (dataplane/mqtt/expiry.c): offline
 * cleanSession=0 sessions end once offline that long; online ones never do. A real
 * broker of two workers over the in-memory transport (mem_transport.h) whose clock
 * the test moves; clients connect and go through the real engine. Stored sessions
 * come from a real store (tests/support/tbatch.h) loaded by mqtt_restore, and their
 * end must reach the store (SESSION_DEL through the persist queue, applied with store_apply).
 *
 * MQTT 3.1.1 section 3.1.2.4 leaves how long a server keeps a session to the server;
 * mosquitto's persistent_client_expiration is the model. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/mqtt.h"
#include "petrel/persist.h"
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

TestSuite(expiry, .init = rt_suite_init, .fini = rt_suite_fini, .timeout = 240);

static void broker_up(uint64_t expire_ms)
{
	rt_broker_up(&B, expire_ms, 0);
}

static void broker_down(void)
{
	rt_broker_down(&B);
}

/* The workers' clock moves on by <ms>; each runs one loop turn. */
static void advance(uint64_t ms)
{
	for (unsigned i = 0; i < B.nworkers; i++) {
		B.workers[i]->now_ms += ms;
		B.workers[i]->now_us = B.workers[i]->now_ms * 1000u;
	}
	mem_turn_all(&B);
}

/* <ms> in one-second steps, as a running worker's timer would see it. */
static void advance_by_seconds(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 1000)
		advance(1000);
}

static bool exists(const char *id)
{
	return rt_find(&B, id) != NULL;
}

static uint64_t expired(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < B.nworkers; i++)
		n += B.workers[i]->stats.sessions_expired;
	return n;
}

static struct expiry *expiry_of(unsigned w)
{
	return &mqtt_worker(B.workers[w])->expiry;
}

/* A cleanSession=0 client on worker <w> subscribes and its connection is lost. */
static void offline_client(const char *id, unsigned w, bool subscribe)
{
	struct mem_client cl;

	mem_client_connect(&cl, &B, w, id, false);
	if (subscribe)
		mem_client_subscribe(&cl, "t/#");
	mem_conn_lost(cl.tc, 0);
	mem_worker_turn(B.workers[w]);
}

Test(expiry, an_offline_session_ends_after_its_time)
{
	struct mem_client cl;

	broker_up(5000);
	offline_client("alice", 0, true);
	cr_assert_eq(router_count(B.router), 1);
	advance_by_seconds(4000);
	cr_assert(exists("alice"), "expired early");
	cr_assert_eq(expired(), 0);
	advance_by_seconds(2000);
	cr_assert_not(exists("alice"), "still there 6 s after it went offline");
	cr_assert_eq(expired(), 1);
	cr_assert_eq(router_count(B.router), 0);
	cr_assert_eq(expiry_of(0)->listed, 0);
	/* Whoever comes with the id now starts a new session (MQTT-3.2.2-3). */
	mem_client_connect(&cl, &B, 0, "alice", false);
	broker_down();
}

Test(expiry, an_online_session_stays_and_its_clock_starts_when_it_goes)
{
	struct mem_client cl;

	broker_up(5000);
	mem_client_connect(&cl, &B, 1, "bob", false);
	advance_by_seconds(60000);
	cr_assert(exists("bob"));
	cr_assert_eq(expired(), 0);
	cr_assert_eq(expiry_of(1)->listed, 0);
	mem_conn_lost(cl.tc, 0);
	mem_worker_turn(B.workers[1]);
	cr_assert_eq(expiry_of(1)->listed, 1);
	advance_by_seconds(4000);
	cr_assert(exists("bob"));
	advance_by_seconds(2000);
	cr_assert_not(exists("bob"));
	broker_down();
}

Test(expiry, a_client_that_comes_back_in_time_keeps_its_session)
{
	struct mem_client cl;

	broker_up(5000);
	offline_client("carol", 0, true);
	advance_by_seconds(4000);
	mem_client_send_connect(&cl, &B, 0, "carol", false);
	mem_worker_turn(B.workers[0]);
	mem_client_expect_connack(&cl, true);
	cr_assert_eq(expiry_of(0)->listed, 0);
	advance_by_seconds(10000);
	cr_assert(exists("carol"));
	cr_assert_eq(router_count(B.router), 1);
	broker_down();
}

Test(expiry, clean_sessions_are_never_listed)
{
	struct mem_client cl;

	broker_up(5000);
	mem_client_connect(&cl, &B, 0, "dave", true);
	mem_conn_lost(cl.tc, 0);
	mem_worker_turn(B.workers[0]);
	cr_assert_eq(expiry_of(0)->listed, 0);
	cr_assert_not(expiry_of(0)->timer.armed);
	broker_down();
}

Test(expiry, without_the_key_nothing_is_listed_or_timed)
{
	broker_up(0);
	offline_client("erin", 0, true);
	cr_assert_eq(expiry_of(0)->listed, 0);
	cr_assert_not(expiry_of(0)->timer.armed);
	advance(365ull * 24 * 3600 * 1000);
	cr_assert(exists("erin"));
	broker_down();
}

Test(expiry, a_session_taken_over_expires_on_its_new_worker)
{
	struct mem_client cl;

	broker_up(5000);
	offline_client("frank", 0, true);
	cr_assert_eq(expiry_of(0)->listed, 1);
	/* Taken up on worker 1: off worker 0's list, onto worker 1's when it goes. */
	mem_client_send_connect(&cl, &B, 1, "frank", false);
	for (int i = 0; i < 4; i++)
		mem_turn_all(&B);
	mem_client_expect_connack(&cl, true);
	cr_assert_eq(expiry_of(0)->listed, 0);
	cr_assert_eq(expiry_of(1)->listed, 0);
	mem_conn_lost(cl.tc, 0);
	mem_worker_turn(B.workers[1]);
	cr_assert_eq(expiry_of(1)->listed, 1);
	advance_by_seconds(6000);
	cr_assert_not(exists("frank"));
	cr_assert_eq(B.workers[1]->stats.sessions_expired, 1);
	broker_down();
}

/* The new connection goes while its takeover request is out: the session arrives on
 * worker 1 offline, and must still expire there, counted from its first disconnect. */
Test(expiry, a_session_whose_taker_left_mid_takeover_still_expires)
{
	struct mem_client cl;

	broker_up(5000);
	offline_client("gina", 0, true);
	advance(3000);
	mem_client_send_connect(&cl, &B, 1, "gina", false);
	mem_conn_lost(cl.tc, 0);        /* before worker 0 answers */
	for (int i = 0; i < 4; i++)
		mem_turn_all(&B);
	cr_assert(exists("gina"));
	cr_assert_eq(expiry_of(0)->listed, 0);
	cr_assert_eq(expiry_of(1)->listed, 1, "offline on worker 1 but not listed there");
	advance_by_seconds(2000);       /* 5 s after the first disconnect */
	cr_assert_not(exists("gina"));
	cr_assert_eq(B.workers[1]->stats.sessions_expired, 1);
	broker_down();
}

/* The cost is per expired session: with many offline and none due, each check looks
 * at the head only; when they all fall due, no turn ends more than EXPIRY_BATCH. */
Test(expiry, a_check_looks_at_one_session_until_sessions_are_due, .timeout = 600)
{
	const unsigned n = 10000;
	uint64_t looked, turns = 0;
	char id[32];

	broker_up(3600u * 1000u);
	for (unsigned i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "dev-%u", i);
		offline_client(id, 0, false);
	}
	cr_assert_eq(expiry_of(0)->listed, n);
	looked = expiry_of(0)->looked;
	cr_assert_eq(looked, 0);
	for (unsigned s = 1; s <= 10; s++) {
		advance(1000);
		cr_assert_eq(expiry_of(0)->looked, s, "check %u looked at %" PRIu64 " sessions",
			     s, expiry_of(0)->looked);
	}
	cr_assert_eq(expired(), 0);
	/* All due at once: bounded batches, a tick apart. */
	advance(3600u * 1000u);
	cr_assert_eq(expired(), EXPIRY_BATCH);
	while (expired() < n && turns++ < 100) {
		uint64_t before = expired();

		advance(TIMER_TICK_MS);
		cr_assert_leq(expired() - before, EXPIRY_BATCH);
	}
	cr_assert_eq(expired(), n);
	cr_assert_eq(sessdir_count(B.sessdir), 0);
	cr_assert_eq(expiry_of(0)->listed, 0);
	broker_down();
}

/* Sessions restored from a store: their offline time is the stored one. */
Test(expiry, restored_sessions_expire_by_their_stored_offline_time)
{
	struct store *st = rt_store_open();
	struct persist_batch *b = tbatch_create(0, 1);
	uint64_t now = rt_wall_ms();

	tbatch_session_put(b, 1, "s50", strlen("s50"), now - 50000);   /* offline 50 s */
	tbatch_session_put(b, 2, "s20", strlen("s20"), now - 20000);
	tbatch_session_put(b, 3, "s0", strlen("s0"), 0);              /* online when written */
	tbatch_session_put(b, 4, "s35", strlen("s35"), now - 35000);
	apply_ok(st, b);
	store_close(st);
	broker_up(30000);
	rt_restore(&B, NULL);
	advance(1000);
	cr_assert_not(exists("s50"));
	cr_assert_not(exists("s35"));
	cr_assert(exists("s20"));
	cr_assert(exists("s0"));
	advance_by_seconds(10000);      /* s20 now 31 s offline */
	cr_assert_not(exists("s20"));
	cr_assert(exists("s0"));
	advance_by_seconds(20000);      /* s0: 31 s since the load */
	cr_assert_not(exists("s0"));
	cr_assert_eq(expired(), 4);
	broker_down();
}

/* A stored session that expires leaves the store too: its SESSION_DEL goes through
 * the persist queue into the store; an online stored session stays there. */
Test(expiry, a_stored_session_that_expires_is_deleted_from_the_store)
{
	struct store *st = rt_store_open();
	struct persist_batch *b = tbatch_create(0, 1);
	struct msg *m = mkmsg("t/x", strlen("t/x"), "kept", strlen("kept"), 7, 1, false);
	struct store_load_stats stats;
	struct persist_batch *taken[16];
	struct persist *p;
	struct mem_client cl;
	uint64_t now = rt_wall_ms();
	char err[512];
	size_t n;

	tbatch_session_put(b, 1, "gone", strlen("gone"), now - 60000);
	tbatch_sub_put(b, 1, "t/#", strlen("t/#"), 1);
	tbatch_entry_put(b, 1, m, 1, false);
	tbatch_session_put(b, 2, "back", strlen("back"), now - 60000);
	tbatch_sub_put(b, 2, "t/#", strlen("t/#"), 1);
	apply_ok(st, b);
	msg_unref(m);
	store_close(st);

	broker_up(30000);
	st = rt_store_open();
	cr_assert_eq(mqtt_restore(&B, st, &stats, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_create(&p, stats.max_sid, stats.max_msg_id), 0);
	cr_assert_eq(persist_attach(&B, p), 0);
	/* "back" reconnects before the check; "gone" does not. */
	mem_client_send_connect(&cl, &B, sessdir_hash("back", 4) % NWORKERS, "back", false);
	mem_turn_all(&B);
	mem_client_expect_connack(&cl, true);
	advance(1000);
	cr_assert_not(exists("gone"));
	cr_assert(exists("back"));
	/* Every loop turn pushed what it appended. */
	n = persist_take(p, taken, 16);
	cr_assert_gt(n, 0);
	cr_assert_eq(store_apply(st, taken, n, true, err, sizeof(err)), 0, "%s", err);
	for (size_t i = 0; i < n; i++)
		persist_batch_free(taken[i]);
	store_close(st);

	/* What the next start finds: "back" only, "gone" with its subscription and its
	 * message deleted. */
	st = rt_store_open();
	{
		struct store_stats ss;

		cr_assert_eq(store_stats(st, &ss), 0);
		cr_assert_eq(ss.sessions, 1);
		cr_assert_eq(ss.subs, 1);
		cr_assert_eq(ss.entries, 0);
		cr_assert_eq(ss.msgs, 0);
	}
	store_close(st);
	/* The workers go (and their sides with them), then the queue. */
	mem_broker_shutdown(&B);
	persist_destroy(p);
	assert_no_leaks_rcu();
}
