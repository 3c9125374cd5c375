/* test_transport_hooks.c - the worker drives its transport through transport_ops
 * (include/petrel/transport.h) as issue 7's DPDK transport needs: init once before any
 * worker and fini once after the last one is gone, worker threads run by the
 * transport's launch/join when it has them, the transport's flush once per loop turn
 * after the engine handed over its output, and the transport's clock. The in-memory
 * transport with counting hooks stands in for the DPDK one; the engine is the real
 * MQTT engine. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/proto.h"
#include "petrel/worker.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { NWORKERS = 2 };

static struct {
	int inits, finis, setups_at_init, workers_at_fini;
	int init_rc;
	atomic_int launches, joins, flushes;
	unsigned outputs_at_flush;          /* the probe connection's, at its last flush */
	struct transport_conn *probe;
} hk;

static struct transport_ops hooked;

static int hk_init(struct broker *b)
{
	hk.inits++;
	hk.setups_at_init = (int)b->nworkers;
	return hk.init_rc;
}

static void hk_fini(struct broker *b)
{
	hk.finis++;
	hk.workers_at_fini = (int)b->nworkers;
}

static int hk_launch(struct worker *w, void *(*fn)(void *))
{
	atomic_fetch_add(&hk.launches, 1);
	return -pthread_create(&w->thread, NULL, fn, w);
}

static void hk_join(struct worker *w)
{
	atomic_fetch_add(&hk.joins, 1);
	pthread_join(w->thread, NULL);
}

static void hk_flush(struct worker *w)
{
	(void)w;
	atomic_fetch_add(&hk.flushes, 1);
	if (hk.probe != NULL)
		hk.outputs_at_flush = hk.probe->outputs;
}

static uint64_t hk_now_us(void)
{
	return 5000000;
}

static void hooks_reset(void)
{
	memset(&hk, 0, sizeof(hk));
	hooked = mem_transport_ops;
	hooked.name = "hooked";
	hooked.init = hk_init;
	hooked.fini = hk_fini;
	hooked.launch = hk_launch;
	hooked.join = hk_join;
	hooked.flush = hk_flush;
	hooked.now_us = hk_now_us;
	log_set_level(LOG_ERR);
}

static void config_for(struct config *cfg)
{
	char err[256];

	config_defaults(cfg);
	cfg->workers = NWORKERS;
	cr_assert_eq(config_finalize(cfg, err, sizeof(err)), 0, "config: %s", err);
}

/* A connection on worker 0 of <b> whose CONNECT (clean, client id <id>) was fed. */
static struct transport_conn *connect_sent(struct broker *b, const char *id)
{
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = true,
		.client_id = { id, (uint16_t)strlen(id) },
	};
	struct transport_conn *tc = mem_conn_open(b->workers[0]);
	uint8_t buf[64];

	cr_assert_not_null(tc);
	tc->keep = true;
	cr_assert_eq(mem_conn_input(tc, buf, mqtt_encode_connect(buf, sizeof(buf), &cn)), 0);
	return tc;
}

Test(transport_hooks, init_and_fini_once_around_the_workers_launched_by_the_transport,
     .timeout = 60)
{
	struct broker b;
	struct config cfg;

	hooks_reset();
	config_for(&cfg);
	cr_assert_eq(broker_init(&b, &cfg, &hooked, &mqtt_engine_ops), 0);
	cr_assert_eq(hk.inits, 1);
	cr_assert_eq(hk.setups_at_init, 0, "init comes before any worker exists");
	cr_assert_eq(b.workers[0]->now_us, 5000000, "the transport's clock");
	cr_assert_eq(b.workers[0]->now_ms, 5000);
	cr_assert_eq(broker_start_workers(&b), 0);
	cr_assert_eq(atomic_load(&hk.launches), NWORKERS);
	/* The workers turn by themselves; each turn ends with the transport's flush. */
	for (int i = 0; i < 5000 && atomic_load(&hk.flushes) < 2 * NWORKERS; i++)
		usleep(1000);
	cr_assert_geq(atomic_load(&hk.flushes), 2 * NWORKERS);
	broker_shutdown(&b);
	cr_assert_eq(atomic_load(&hk.joins), NWORKERS, "joined through the transport");
	cr_assert_eq(hk.finis, 1);
	cr_assert_eq(hk.workers_at_fini, 0, "fini comes after every worker is gone");
}

Test(transport_hooks, a_failing_init_creates_no_worker_and_runs_no_fini)
{
	struct broker b;
	struct config cfg;

	hooks_reset();
	hk.init_rc = -ENODEV;
	config_for(&cfg);
	cr_assert_eq(broker_init(&b, &cfg, &hooked, &mqtt_engine_ops), -ENODEV);
	cr_assert_eq(hk.inits, 1);
	cr_assert_eq(b.nworkers, 0);
	cr_assert_eq(hk.finis, 0);
}

/* One flush per turn, after the engine's end of turn handed its output over. */
Test(transport_hooks, flush_follows_the_engines_output_once_per_turn)
{
	struct broker b;
	struct config cfg;

	hooks_reset();
	unit_rcu_init();
	config_for(&cfg);
	cr_assert_eq(broker_init(&b, &cfg, &hooked, &mqtt_engine_ops), 0);
	hk.probe = connect_sent(&b, "probe");
	cr_assert_eq(hk.probe->outputs, 0, "output goes at the end of the turn");
	mem_worker_turn(b.workers[0]);
	cr_assert_eq(atomic_load(&hk.flushes), 1);
	cr_assert_eq(hk.outputs_at_flush, 1, "the CONNACK was handed over before the flush");
	cr_assert_gt(hk.probe->len, 0);
	mem_worker_turn(b.workers[0]);
	cr_assert_eq(atomic_load(&hk.flushes), 2);
	cr_assert_eq(hk.probe->outputs, 1, "no new output, no output() call");
	hk.probe = NULL;
	mem_broker_shutdown(&b);
	cr_assert_eq(hk.finis, 1);
	unit_rcu_fini();
}

static size_t close_saw_len;
static uint8_t close_saw_first;

static void hk_close(struct transport_conn *tc)
{
	struct tx_span sp[4];

	/* transport.h: the engine's stream is still valid here, whatever the reason. */
	close_saw_len = proto_out_len(tc->c);
	if (proto_out_view(tc->c, 0, sp, 4) > 0)
		close_saw_first = *(const uint8_t *)sp[0].base;
	mem_transport_ops.close(tc);
}

/* A peer's FIN (proto_lost) closes the connection with output still unreleased: a TCP
 * stack must still find it at close() (it sends it, in flight included, before its
 * FIN), so the engine keeps its stream until close() returns. */
Test(transport_hooks, close_finds_the_unreleased_output_after_the_peer_left)
{
	struct broker b;
	struct config cfg;
	struct transport_conn *tc;

	hooks_reset();
	hooked.close = hk_close;
	close_saw_len = 0;
	close_saw_first = 0;
	unit_rcu_init();
	config_for(&cfg);
	cr_assert_eq(broker_init(&b, &cfg, &hooked, &mqtt_engine_ops), 0);
	tc = connect_sent(&b, "leaver");
	tc->hold_release = true;     /* the CONNACK goes out but is never acknowledged */
	mem_worker_turn(b.workers[0]);
	cr_assert_eq(tc->taken, 4, "CONNACK sent, unreleased");
	mem_conn_lost(tc, 0);
	cr_assert(tc->closed);
	cr_assert_eq(close_saw_len, 4, "the stream was gone at close()");
	cr_assert_eq(close_saw_first, MQTT_CONNACK << 4);
	mem_broker_shutdown(&b);
	unit_rcu_fini();
}
