/* test_engine_hooks.c - the worker drives its engine only through engine_ops
 * (include/petrel/engine.h): a broker built with a counting engine instead of the MQTT
 * one, over the in-memory transport, runs its real workers' turns, teardown and
 * shutdown, and every call the worker makes is seen here, on the right worker. This
 * is how tests (and a DPDK build's own engine or transport) plug in. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/worker.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { NWORKERS = 2 };

/* Per worker, what the worker asked of the engine. */
struct count_engine {
	unsigned handled;
	unsigned turn_ends;
	unsigned teardowns;
	bool busy;            /* what busy() answers */
};

static struct {
	unsigned attached;
	unsigned detached;
	unsigned discarded;
	unsigned sessions_ended;
} totals;

struct count_msg {
	struct wmsg h;
	int posted_to;
};

static int count_attach(struct worker *w)
{
	w->engine = calloc(1, sizeof(struct count_engine));
	if (w->engine == NULL)
		return -ENOMEM;
	totals.attached++;
	return 0;
}

static void count_detach(struct worker *w)
{
	free(w->engine);
	w->engine = NULL;
	totals.detached++;
}

static void count_handle(struct worker *w, struct wmsg *m)
{
	struct count_msg *cm = caa_container_of(m, struct count_msg, h);
	struct count_engine *e = w->engine;

	/* Handled by the worker it was posted to, with that worker current. */
	cr_assert_eq(cm->posted_to, (int)w->id);
	cr_assert_eq(worker_current(), (int)w->id);
	e->handled++;
	free(cm);
}

static void count_discard(struct wmsg *m)
{
	totals.discarded++;
	free(caa_container_of(m, struct count_msg, h));
}

static bool count_busy(struct worker *w)
{
	return ((struct count_engine *)w->engine)->busy;
}

static void count_turn_end(struct worker *w)
{
	cr_assert_eq(worker_current(), (int)w->id);
	((struct count_engine *)w->engine)->turn_ends++;
}

static void count_teardown(struct worker *w)
{
	cr_assert_eq(worker_current(), (int)w->id);
	((struct count_engine *)w->engine)->teardowns++;
}

static void count_session_end(struct session *s)
{
	(void)s;
	totals.sessions_ended++;
}

static const struct engine_ops count_engine_ops = {
	.name = "counting",
	.attach = count_attach,
	.detach = count_detach,
	.handle = count_handle,
	.discard = count_discard,
	.busy = count_busy,
	.turn_end = count_turn_end,
	.teardown = count_teardown,
	.session_end = count_session_end,
};

static struct broker B;

static struct count_engine *engine_of(unsigned w)
{
	return B.workers[w]->engine;
}

static void post(unsigned w)
{
	struct count_msg *cm = calloc(1, sizeof(*cm));

	cr_assert_not_null(cm);
	cm->posted_to = (int)w;
	worker_post(B.workers[w], &cm->h);
}

static void setup(void)
{
	struct config cfg;
	char err[256];

	unit_rcu_init();
	memset(&totals, 0, sizeof(totals));
	config_defaults(&cfg);
	cfg.workers = NWORKERS;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_WARN);
	cr_assert_eq(broker_init(&B, &cfg, &mem_transport_ops, &count_engine_ops), 0);
	cr_assert_eq(totals.attached, NWORKERS);
}

TestSuite(engine_hooks, .init = setup, .fini = unit_rcu_fini);

Test(engine_hooks, turn_hands_each_message_to_its_worker_then_ends_the_turn)
{
	post(1);
	post(1);
	post(0);
	worker_turn(B.workers[1]);
	cr_assert_eq(engine_of(1)->handled, 2);
	cr_assert_eq(engine_of(1)->turn_ends, 1);
	cr_assert_eq(engine_of(0)->handled, 0, "worker 0 has not turned yet");
	cr_assert_eq(worker_current(), WORKER_NONE, "worker_turn left its worker current");
	worker_turn(B.workers[0]);
	cr_assert_eq(engine_of(0)->handled, 1);
	mem_broker_shutdown(&B);
	cr_assert_eq(totals.detached, NWORKERS);
	cr_assert_eq(totals.discarded, 0);
	assert_no_leaks_rcu();
}

/* Shutdown: teardown on every worker (which drains what is queued), then what was
 * posted after a worker's last drain is discarded, sessions left in the directory
 * are ended through the engine, and the engine state is detached. */
Test(engine_hooks, shutdown_tears_down_discards_and_ends_sessions)
{
	struct session *s = session_create("left", 4, 0);

	cr_assert_not_null(s);
	cr_assert_eq(sessdir_insert(B.sessdir, s), 0);
	post(0);
	worker_teardown(B.workers[0]);
	cr_assert_eq(engine_of(0)->teardowns, 1);
	cr_assert_eq(engine_of(0)->handled, 1, "teardown drains the queue");
	/* Worker 0 is gone; a message still posted to it is the engine's to discard. */
	post(0);
	worker_teardown(B.workers[1]);
	rcu_unregister_thread();
	broker_shutdown(&B);
	rcu_register_thread();
	cr_assert_eq(totals.discarded, 1);
	cr_assert_eq(totals.sessions_ended, 1);
	cr_assert_eq(totals.detached, NWORKERS);
	session_unref(s);
	assert_no_leaks_rcu();
}
