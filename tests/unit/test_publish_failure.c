/* test_publish_failure.c - what a failure inside PUBLISH handling leaves behind. For
 * QoS 2 (MQTT 4.3.3, method B) the broker records the packet id as awaiting PUBREL
 * before it routes the message: if recording fails, the connection closes and the
 * message has gone nowhere, so the client's resend after reconnecting is delivered
 * exactly once. Recording after routing would deliver it twice. The failure is forced
 * at link time: this suite alone is linked with -Wl,--wrap=session_rel_add. The real
 * engine over the in-memory transport, driven from the test thread. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/proto.h"
#include "petrel/session.h"
#include "petrel/worker.h"
#include "mem_client.h"
#include "mem_transport.h"
#include "unit_util.h"

int __real_session_rel_add(struct session *s, uint16_t id);
int __wrap_session_rel_add(struct session *s, uint16_t id);

static bool rel_add_fails;

int __wrap_session_rel_add(struct session *s, uint16_t id)
{
	if (rel_add_fails)
		return -ENOMEM;
	return __real_session_rel_add(s, id);
}

static struct broker B;

TestSuite(publish_failure, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 30);

/* The PUBLISH packets written to <cl> so far, by payload number, into <seq>. */
static unsigned received(struct mem_client *cl, unsigned *seq, unsigned cap)
{
	struct mqtt_pkt p;
	unsigned n = 0;

	while (mem_client_next_publish(cl, &p)) {
		cr_assert_lt(n, cap);
		seq[n++] = mem_client_seq(&p);
	}
	return n;
}

Test(publish_failure, qos2_id_not_recorded_means_not_routed)
{
	struct config cfg;
	struct mem_client sub, pub, pub2;
	char err[256];
	unsigned seq[8], n;
	struct mqtt_publish m1 = {
		.qos = 2, .topic = { "t", 1 }, .packet_id = 1,
		.payload = (const uint8_t *)"m1", .payload_len = 2,
	};
	uint8_t buf[64];

	config_defaults(&cfg);
	cfg.workers = 1;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_ERR);
	cr_assert_eq(mem_broker_init(&B, &cfg, 1000000), 0);
	mem_client_connect(&sub, &B, 0, "sub", true);
	mem_client_subscribe(&sub, "t");
	mem_client_connect(&pub, &B, 0, "pub", false);

	/* Recording the id fails: the engine closes the publisher's connection. */
	rel_add_fails = true;
	cr_assert_eq(mem_conn_input(pub.tc, buf, mqtt_encode_publish(buf, sizeof(buf), &m1)),
		     -1, "a PUBLISH that cannot be recorded closes the connection");
	rel_add_fails = false;
	mem_worker_turn(B.workers[0]);
	cr_assert(pub.tc->closed);
	cr_assert_eq(received(&sub, seq, 8), 0, "and is routed nowhere");

	/* MQTT-4.4.0-1: the client resends it with DUP after reconnecting. */
	mem_client_send_connect(&pub2, &B, 0, "pub", false);
	mem_worker_turn(B.workers[0]);
	mem_client_expect_connack(&pub2, true);
	mem_client_publish_seq(&pub2, "t", 1, 2);
	mem_worker_turn(B.workers[0]);
	n = received(&sub, seq, 8);
	cr_assert_eq(n, 1, "delivered exactly once, got %u", n);
	cr_assert_eq(seq[0], 1);
	mem_broker_shutdown(&B);
	assert_no_leaks_rcu();
}
