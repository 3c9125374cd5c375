/* test_owner.c - owner-only functions check that they run on the owner (issue 6,
 * "Boundaries"): a session, its containers and its connection belong to one worker
 * (session.h, worker.h), and every function documented "owner only" asserts that the
 * current worker of the calling thread (worker_current()) is that owner. A real broker
 * of two workers over the in-memory transport (tests/support/mem_transport.h); the
 * test thread plays whichever worker it makes current, as mem_transport does for
 * mem_worker_turn() and mem_conn_input(). Asserts are on in the debugoptimized and
 * sanitizer builds (b_ndebug=if-release): in a build with NDEBUG the abort tests would
 * fail, which is the point of running them there. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/mqtt.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/worker.h"
#include "mqtt/proto_int.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { W0, W1, NWORKERS };

static struct broker B;
static struct transport_conn *tc;   /* client "owned", connected on worker 0 */
static struct session *S;           /* its session, owned by worker 0; reference */

static void feed(const uint8_t *buf, size_t len)
{
	cr_assert_gt(len, 0, "encoding failed");
	cr_assert_eq(mem_conn_input(tc, buf, len), 0, "engine closed the connection");
	mem_worker_turn(B.workers[W0]);
}

/* Broker up, one client connected on worker 0; the test thread runs no worker. */
static void setup(void)
{
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = false,
		.client_id = { "owned", 5 },
	};
	struct config cfg;
	uint8_t buf[256];
	char err[256];

	unit_rcu_init();
	config_defaults(&cfg);
	cfg.workers = NWORKERS;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_WARN);
	cr_assert_eq(mem_broker_init(&B, &cfg, 1000000), 0);
	tc = mem_conn_open(B.workers[W0]);
	cr_assert_not_null(tc);
	feed(buf, mqtt_encode_connect(buf, sizeof(buf), &cn));
	S = sessdir_lookup(B.sessdir, "owned", 5);
	cr_assert_not_null(S);
	cr_assert_eq(session_owner(S), W0);
	cr_assert_eq(worker_current(), WORKER_NONE, "mem_transport left a worker current");
}

static void teardown(void)
{
	worker_set_current(WORKER_NONE);
	session_unref(S);
	mem_broker_shutdown(&B);
	unit_rcu_fini();
}

TestSuite(owner, .init = setup, .fini = teardown);

Test(owner, session_container_on_the_owner_passes)
{
	worker_set_current(W0);
	cr_assert_eq(session_sub_add(S, "a/b", 3, 1), 0);
	cr_assert_eq(session_sub_remove(S, "a/b", 3), 0);
	worker_set_current(WORKER_NONE);
}

/* The decision for threads that run no worker (main at shutdown, unit tests holding
 * sessions of their own): nothing to check, no worker runs there to race with. */
Test(owner, no_current_worker_is_not_checked)
{
	cr_assert_eq(session_rel_add(S, 7), 0);
	cr_assert(session_rel_contains(S, 7));
	session_rel_remove(S, 7);
}

Test(owner, session_container_on_another_worker_aborts, .signal = SIGABRT)
{
	worker_set_current(W1);
	session_sub_add(S, "a/b", 3, 1);
}

Test(owner, packet_id_on_another_worker_aborts, .signal = SIGABRT)
{
	worker_set_current(W1);
	session_next_packet_id(S);
}

/* The engine's own owner-only functions: another worker delivering straight into a
 * session it does not own (instead of posting to the owner) is caught. */
Test(owner, delivery_by_another_worker_aborts, .signal = SIGABRT)
{
	struct msg *m = msg_create("t", 1, "x", 1, 1, false);

	cr_assert_not_null(m);
	worker_set_current(W1);
	session_deliver(B.workers[W1], S, m, 1, false);
}

Test(owner, flow_on_another_worker_aborts, .signal = SIGABRT)
{
	worker_set_current(W1);
	flow_drained(B.workers[W1], S);
}

/* A connection is touched only by its worker: input handed to it on another
 * worker's thread is caught before a byte is parsed. */
Test(owner, connection_input_on_another_worker_aborts, .signal = SIGABRT)
{
	static const uint8_t pingreq[] = { 0xc0, 0x00 };

	worker_set_current(W1);
	proto_input(tc->c, pingreq, sizeof(pingreq));
}

/* On the owner's thread, an engine call naming another worker is caught too. */
Test(owner, engine_call_naming_the_wrong_worker_aborts, .signal = SIGABRT)
{
	worker_set_current(W0);
	session_pump(B.workers[W1], S);
}
