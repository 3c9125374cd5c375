/* broker.h - the process-wide context: read-only configuration and the structures
 * all workers share (router, retained store, session directory). Everything here is
 * either immutable after start-up or safe for concurrent use as documented in its own
 * header; per-connection and per-session state lives with the owning worker. */
#ifndef PETREL_BROKER_H
#define PETREL_BROKER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "petrel/config.h"

struct router;
struct retain_store;
struct persist;
struct sessdir;
struct worker;

struct broker {
	struct config cfg;               /* read-only once workers run */
	struct router *router;
	struct retain_store *retain;
	struct sessdir *sessdir;
	struct persist *persist;         /* NULL when persistence is off (persist.h) */
	const struct engine_ops *eops;   /* the engine every worker runs */
	const struct transport_ops *tops;/* the transport every worker runs */
	bool tops_ready;                 /* tops->init succeeded: fini at shutdown */
	struct worker **workers;         /* [cfg.workers]; up to CONFIG_WORKERS_MAX */
	unsigned nworkers;
	atomic_int clients_connected;    /* for max_connections */
	atomic_uint_fast64_t next_auto_id;
	atomic_bool stopping;
	atomic_bool max_connections_logged; /* refusals logged; reset when a client leaves */
};

struct engine_ops;
struct transport_ops;

/* Creates the shared structures and <cfg.workers> workers running engine <eops>
 * (mqtt_engine_ops) over transport <tops> (transport_kernel_ops, or DPDK's), after
 * the transport's process-wide init, with their listeners, but starts no thread.
 * Returns 0 or -errno (message logged). */
int broker_init(struct broker *b, const struct config *cfg,
		const struct transport_ops *tops, const struct engine_ops *eops);
/* Starts the worker threads. */
int broker_start_workers(struct broker *b);
/* Asks workers to stop, joins them and releases what was still posted to them; the
 * workers and shared tables stay. With persistence, main calls it, then cplane_stop
 * (the control plane writes the workers' commit notices until it ends), then
 * broker_shutdown. Main thread; again (from broker_shutdown) it does nothing new. */
void broker_stop_workers(struct broker *b);
/* broker_stop_workers() if not done yet, then frees everything (the transport's process-wide
 * fini last). Main thread. (Names differ
 * from the test harness's broker_start/broker_stop, which start a petrel process.) */
void broker_shutdown(struct broker *b);
/* broker_shutdown for a process about to exit: the same stop, totals and transport
 * fini, but the sessions, their messages, the router, the retained messages and the
 * session directory are left to the exit instead of being freed one by one (10M
 * offline sessions took 45-55 s to free, past half of petrel.service's
 * TimeoutStopSec; docs/benchmarks.md). The store must have been committed before
 * (main_store_stop). Builds with AddressSanitizer free everything, as
 * broker_shutdown does, so that leak checks stay meaningful. Main thread; <b> may only
 * be freed afterwards. */
void broker_shutdown_for_exit(struct broker *b);

#endif
