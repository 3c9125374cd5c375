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

#include <stddef.h>
#include <stdint.h>

struct broker;
struct cplane;
struct ctl;
struct metrics;
struct metrics_info;
struct store;

/* What the control plane is started with; everything outlives it. */
struct cplane_params {
	struct broker *b;
	struct store *st;                  /* NULL: persistence off (b->persist NULL too) */
	int ctl_fd;                        /* ctl_listen's socket (taken over), or -1 */
	const char *config_path;           /* the -c file, or NULL */
	const char *const *overrides;      /* command line: key, value, ..., NULL; or NULL */
	const struct metrics_info *metrics_info;
};

/* Starts the thread: the store's group commits when <p->st> is set, the control
 * socket, the figures, metrics_listener. Main thread, after the store was loaded and
 * before the workers start. Returns 0, or -errno with one line in <err> (e.g. the
 * metrics_listener that cannot bind): main stops with it. */
int cplane_start(struct cplane **out, const struct cplane_params *p, char *err,
		 size_t errlen);
/* Main, before the workers are stopped: the control plane closes the control socket's
 * connections and posts no more admin messages (so none is left on a stopped worker's
 * queue); the store's commits go on. Waits until it has done so. */
void cplane_quiesce(struct cplane *cp);
/* Orderly stop, after every worker was joined (their last batches pushed): applies
 * and syncs everything still queued, then ends the thread. Returns 0, or -errno if the
 * last commit failed (logged: what was not stored). */
int cplane_stop(struct cplane *cp);

/* ---- issue 9: the control plane runs always (persistence or not) ---------------
 * It also serves the control socket (ctl.h), samples the figures once a second and
 * publishes $SYS (metrics.h), serves metrics_listener, and applies reloads. The
 * pieces plug into its loop through these. Control plane thread unless said. */

/* Calls <fn>(cp, arg, events) when <fd> is ready for <events> (EPOLLIN, ...). Returns
 * 0 or -errno. cplane_unwatch before closing <fd>. */
typedef void cplane_fd_fn(struct cplane *cp, void *arg, unsigned events);
int cplane_watch(struct cplane *cp, int fd, unsigned events, cplane_fd_fn *fn, void *arg);
int cplane_rewatch(struct cplane *cp, int fd, unsigned events);
void cplane_unwatch(struct cplane *cp, int fd);

struct broker *cplane_broker(const struct cplane *cp);
/* NULL when persistence is off. */
struct store *cplane_store(const struct cplane *cp);
struct metrics *cplane_metrics(const struct cplane *cp);
/* NULL when control_socket is none. */
struct ctl *cplane_ctl(const struct cplane *cp);
/* The configuration in force: the start one, then each reload's (owned by the
 * control plane; workers have their own reference, worker->cfg). */
const struct config *cplane_config(const struct cplane *cp);
/* Makes <ref> (its reference taken) the control plane's configuration. */
struct config_ref;
void cplane_set_config(struct cplane *cp, struct config_ref *ref);
/* What reload re-reads: the -c file (NULL: none, reload only re-applies the
 * defaults) and the command line's overrides, as "key value" pairs applied after it. */
const char *cplane_config_path(const struct cplane *cp);
const char *const *cplane_overrides(const struct cplane *cp); /* key, value, ..., NULL */
/* Any thread (main on SIGHUP): the control plane reloads at its next wake-up, as
 * `petrelctl reload` does, logging what changed. */
void cplane_request_reload(struct cplane *cp);

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
