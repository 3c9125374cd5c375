/* cplane.h - the control-plane thread (DESIGN.md "Threads"): the only user of the store
 * while workers run. It sleeps on one epoll set (the persist queue's eventfd, a timerfd
 * for persistence_sync <ms>; issue 9 adds the control socket), and per wake-up:
 *
 *   take every batch queued (persist_take) -> store_apply in ONE transaction (group
 *   commit: whatever arrived while the last commit synced) -> for each worker, store
 *   the highest seq applied in persist_worker.committed (release) and worker_wake it.
 *
 * persistence_sync always: the commit syncs before the notices. <ms>: commits without
 * sync, notices at once, store_sync every <ms>. never: commits without sync.
 *
 * A failed commit (full disk, full map, I/O error) keeps the batches, logs once per
 * episode why acknowledgements are held ("store: cannot commit to PATH: No space left on
 * device; acknowledgements of persistent messages are held until it can"), counts it,
 * retries every 500 ms, and logs when commits succeed again. Workers keep serving: only
 * output behind fences waits. */
#ifndef PETREL_CPLANE_H
#define PETREL_CPLANE_H

#include <stdint.h>

struct broker;
struct cplane;
struct store;

/* Starts the thread over <b>->persist and <st> (both outlive it). Main thread, after
 * the store was loaded and before the workers start. Returns 0 or -errno. */
int cplane_start(struct cplane **out, struct broker *b, struct store *st);
/* Orderly stop, after every worker was joined (their last batches pushed): applies
 * and syncs everything still queued, then ends the thread. Returns 0, or -errno if the
 * last commit failed (logged: what was not stored). */
int cplane_stop(struct cplane *cp);

/* Counters, read without locks by any thread (issue 9's status/metrics). */
struct cplane_stats {
	uint64_t commits;
	uint64_t batches;
	uint64_t records;
	uint64_t commit_failures;
	uint64_t syncs;
	uint64_t last_commit_us;   /* duration of the last commit (+ sync) */
};
void cplane_stats_read(const struct cplane *cp, struct cplane_stats *out);

#endif
