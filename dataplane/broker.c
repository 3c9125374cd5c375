/* broker.c - start-up and orderly shutdown of the shared structures and workers
 * (see broker.h). Main thread only. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/budget.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/retain.h"
#include "petrel/router.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/transport.h"
#include "petrel/worker.h"

static void router_hold(void *sub)
{
	session_ref(sub);
}

static void router_release(void *sub)
{
	session_unref(sub);
}

static const struct router_params broker_router_params = {
	.hold = router_hold,
	.release = router_release,
};

int broker_init(struct broker *b, const struct config *cfg,
		const struct transport_ops *tops, const struct engine_ops *eops)
{
	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
	b->eops = eops;
	b->tops = tops;
	/* config_finalize() enforces the same limit; this guards other callers. */
	if (b->cfg.workers == 0 || b->cfg.workers > CONFIG_WORKERS_MAX) {
		log_err("workers must be from 1 to %u, got %u", CONFIG_WORKERS_MAX,
			b->cfg.workers);
		return -EINVAL;
	}
	budget_configure(b->cfg.memory_limit == CONFIG_MEMORY_LIMIT_AUTO ? 0 : b->cfg.memory_limit);
	atomic_init(&b->clients_connected, 0);
	atomic_init(&b->next_auto_id, 0);
	atomic_init(&b->stopping, false);
	atomic_init(&b->max_connections_logged, false);
	b->router = router_create(&broker_router_params);
	b->retain = retain_create();
	/* Over DPDK the TCP limit says how many clients the operator expects. */
	b->sessdir = sessdir_create_sized(b->cfg.dataplane == DATAPLANE_DPDK ?
					  (size_t)b->cfg.tcp_max_connections * b->cfg.workers : 0);
	b->workers = calloc(b->cfg.workers, sizeof(*b->workers));
	if (b->router == NULL || b->retain == NULL || b->sessdir == NULL ||
	    b->workers == NULL) {
		log_err("out of memory creating shared tables");
		broker_shutdown(b);
		return -ENOMEM;
	}
	/* Process-wide transport state (EAL, ports, mempools) before any worker. */
	if (tops->init != NULL) {
		int rc = tops->init(b);

		if (rc < 0) {
			log_err("%s transport: %s", tops->name, strerror(-rc));
			broker_shutdown(b);
			return rc;
		}
	}
	b->tops_ready = true;
	for (unsigned i = 0; i < b->cfg.workers; i++) {
		b->workers[i] = worker_create(b, i, tops, eops);
		if (b->workers[i] == NULL) {
			broker_shutdown(b);
			return -EIO;
		}
		b->nworkers = i + 1;
	}
	return 0;
}

int broker_start_workers(struct broker *b)
{
	for (unsigned i = 0; i < b->nworkers; i++) {
		int rc = worker_start(b->workers[i]);

		if (rc < 0) {
			log_err("starting worker %u: %s", i, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static void end_session(void *arg, struct session *s)
{
	struct broker *b = arg;

	/* Every worker has stopped: the main thread is the only one left to own it.
	 * Subscriptions stay: router_destroy() releases them all at once, instead of
	 * one copy-on-write removal per filter. */
	b->eops->session_end(s);
	sessdir_remove(b->sessdir, s);
}

/* One line of every non-zero counter, summed over workers, so a run's drops and
 * closes are on record even before the control socket exists. */
static void log_totals(const struct broker *b)
{
	char line[2048];
	size_t off = 0;

#define X(name)                                                                        \
	do {                                                                           \
		uint64_t sum = 0;                                                      \
		for (unsigned i = 0; i < b->nworkers; i++)                             \
			sum += b->workers[i]->stats.name;                              \
		if (sum != 0 && off < sizeof(line))                                    \
			off += (size_t)snprintf(line + off, sizeof(line) - off,        \
						" %s=%" PRIu64, #name, sum);          \
	} while (0);
	WORKER_STATS_FIELDS(X)
#undef X
	log_notice("totals:%s", off ? line : " none");
}

void broker_stop_workers(struct broker *b)
{
	atomic_store(&b->stopping, true);
	for (unsigned i = 0; i < b->nworkers; i++)
		worker_wake(b->workers[i]);
	for (unsigned i = 0; i < b->nworkers; i++)
		worker_join(b->workers[i]);
	/* A takeover's order fence posts to a worker from a call_rcu callback
	 * (mqtt/handover.c): let every pending one land before the queues are emptied. */
	rcu_barrier();
	for (unsigned i = 0; i < b->nworkers; i++)
		worker_discard_inbound(b->workers[i]);
}

/* What the workers still own once they stopped, each session's last unref and the
 * shared tables: freed one by one, the way a leak checker wants it. */
static void broker_free_state(struct broker *b)
{
	if (b->sessdir != NULL && b->nworkers > 0) {
		rcu_register_thread();
		rcu_read_lock();
		sessdir_for_each(b->sessdir, end_session, b);
		rcu_read_unlock();
		rcu_unregister_thread();
	}
	/* Let every deferred free (router entries, sessions, retained) run. */
	rcu_barrier();
	for (unsigned i = 0; i < b->nworkers; i++)
		worker_destroy(b->workers[i]);
	b->nworkers = 0;
	free(b->workers);
	b->workers = NULL;
	if (b->router != NULL)
		router_destroy(b->router);
	if (b->retain != NULL)
		retain_destroy(b->retain);
	if (b->sessdir != NULL)
		sessdir_destroy(b->sessdir);
	b->router = NULL;
	b->retain = NULL;
	b->sessdir = NULL;
}

static void broker_close(struct broker *b, bool free_state)
{
	broker_stop_workers(b);
	/* A start-up that failed after broker_init (a metrics_listener that cannot
	 * bind, a pid_file) leaves workers that never ran: their thread would have torn
	 * them down as it exited, so do it here (transport state, timers). */
	for (unsigned i = 0; i < b->nworkers; i++) {
		if (b->workers[i]->torn_down)
			continue;
		rcu_register_thread();
		worker_teardown(b->workers[i]);
		rcu_unregister_thread();
	}
	if (b->nworkers > 0)
		log_totals(b);
	if (free_state)
		broker_free_state(b);
	if (b->tops_ready && b->tops->fini != NULL)
		b->tops->fini(b);
	b->tops_ready = false;
}

void broker_shutdown(struct broker *b)
{
	broker_close(b, true);
}

/* A build with a leak checker gets everything freed, or every exit would be a leak
 * report. */
#if defined(__SANITIZE_ADDRESS__)
#define BROKER_EXIT_FREES true
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define BROKER_EXIT_FREES true
#endif
#endif
#ifndef BROKER_EXIT_FREES
#define BROKER_EXIT_FREES false
#endif

void broker_shutdown_for_exit(struct broker *b)
{
	broker_close(b, BROKER_EXIT_FREES);
}
