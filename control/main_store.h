/* main_store.h - private to control/main.c: persistence at start-up and shutdown
 * (docs/operations.md "Persistence", docs/architecture.md "Persistence"). With
 * persistence off every call returns at once and nothing is created on disk.
 *
 * Start-up, main thread, in this order:
 *   main_store_open   before the transport and the broker: a store that cannot be
 *                     used stops petrel before anything else starts
 *   (broker_init)
 *   main_store_start  mqtt_restore, persist_create, persist_attach (every worker's
 *                     side); the workers are not running yet
 *   (cplane_start: main starts the control plane, persistence or not)
 *   (broker_start_workers)
 * Shutdown:
 *   (cplane_quiesce, broker_stop_workers: every worker joined, its last batch pushed)
 *   main_store_stop   cplane_stop: applies and syncs everything queued
 *   (broker_shutdown)
 *   main_store_close  persist_destroy, store_close */
#ifndef PETREL_MAIN_STORE_H
#define PETREL_MAIN_STORE_H

#include <stdbool.h>

struct broker;
struct config;
struct cplane;
struct persist;
struct store;

struct main_store {
	struct store *st;       /* NULL: persistence off, or not opened */
	struct persist *p;
};

/* Opens the store of <cfg> (creating persistence_location if missing). Returns 0, or
 * 1 (the exit status) with one line "petrel: <why>" on stderr: the store's reason,
 * which names the file and what to do; the files are left untouched. */
int main_store_open(struct main_store *ms, const struct config *cfg);
/* Loads the store into <b> (workers created, not running), creates the queue to the
 * control plane with ids counting on from the loaded ones and attaches every worker
 * to it. Returns 0 or 1 (logged). */
int main_store_start(struct main_store *ms, struct broker *b);
/* After every worker was joined: stops <cp> (NULL: not started), which applies and
 * syncs what is still queued. Returns 0, or 1 if that last commit failed (logged:
 * what was lost). */
int main_store_stop(struct main_store *ms, struct cplane *cp);
/* After broker_shutdown: frees the queue, closes the store. */
void main_store_close(struct main_store *ms, struct broker *b);

#endif
