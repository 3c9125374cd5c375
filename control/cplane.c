/* cplane.c - the control-plane thread (cplane.h): the only writer of the store while
 * workers run. Per wake-up it takes every batch the workers pushed (persist_take),
 * applies them in one write transaction (group commit: whatever arrived while the
 * last commit synced goes into the next), then tells each worker the highest batch
 * seq of its that is committed and wakes it. It reads no RCU structure: the queue,
 * the workers' <committed> and <sleeping> are atomics.
 *
 * States of the loop:
 *
 *   idle --batches pushed (eventfd)--> commit --ok--> notices --> idle
 *                                        | fails
 *                                        v
 *                   failing: batches kept (and more taken), logged once,
 *                   retried every CPLANE_RETRY_MS --ok--> "succeed again", notices
 *
 * persistence_sync always: a commit syncs before its notices. <ms>: commits without
 * sync, notices at once, store_sync at most <ms> after the first unsynced commit
 * (checked after every commit and on the sleep's timeout, so a busy control plane
 * that never sleeps still syncs). never: the OS writes back when it likes; the
 * orderly stop syncs once in every mode.
 *
 * Issue 9: the thread runs always, persistence or not. Besides the store's queue its
 * epoll set holds the admin calls' reply eventfd, the control socket and its
 * connections (ctl.c), metrics_listener (metrics_http.c) and a 1 s timerfd (the
 * figures' sample, $SYS, the control connections' idle timeouts); each is a watch
 * (cplane_watch) with its own handler. The sleep also ends at the next admin call's
 * deadline (control_request_timeout). It never blocks on a worker or a client. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "petrel/broker.h"
#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/log.h"
#include "petrel/metrics.h"
#include "petrel/persist.h"
#include "petrel/store.h"
#include "petrel/worker.h"

#include "cplane_int.h"

/* A failed commit is tried again after this long (cplane.h). */
#define CPLANE_RETRY_MS 500
/* Batches in one transaction at most: bounds the array, not the rate (the rest
 * goes in the next transaction at once). */
#define CPLANE_MAX_BATCHES 65536u
#define CPLANE_FIRST_BATCHES 256u

/* Events taken per epoll_wait. */
#define CPLANE_EVENTS 32

struct cplane_watch {
	cplane_fd_fn *fn;              /* NULL: not watched */
	void *arg;
};

struct cplane {
	struct broker *b;
	struct persist *p;             /* NULL: persistence off */
	struct store *st;
	pthread_t thread;
	int epfd;
	int wake_fd;                   /* eventfd: stop, quiesce, reload requested */
	int tick_fd;                   /* timerfd, every second */
	atomic_bool stop;
	atomic_bool reload_requested;
	atomic_bool quiesce_requested;

	/* Quiesce hand-shake with main. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool quiesced;

	/* What plugs into the loop (cplane.h). */
	struct cplane_watch *watches;  /* indexed by fd */
	int nwatches;
	struct admin_calls *calls;
	struct ctl *ctl;
	struct metrics *metrics;
	struct metrics_http *http;
	struct config_ref *cfg_ref;    /* NULL: the broker's start configuration */
	const char *config_path;
	const char *const *overrides;

	/* The thread's own. */
	struct persist_batch **held;   /* taken, not yet committed, in queue order */
	size_t n, cap;
	uint64_t *seq;                 /* [nworkers]: highest seq committed so far */
	bool *touched;                 /* [nworkers]: a notice is due */
	bool failing;                  /* in a failure episode */
	uint64_t fail_since_ms, fail_count;
	uint64_t retry_at_ms;          /* failing: next attempt */
	uint64_t sync_at_ms;           /* <ms> policy: unsynced commits, sync due; 0 none */
	int last_rc;                   /* of the last commit (cplane_stop's result) */

	/* cplane_stats, read by any thread. */
	atomic_uint_fast64_t commits, batches, records, commit_failures, syncs,
		last_commit_us;
};

static uint64_t cplane_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cplane_now_ms(void)
{
	return cplane_now_us() / 1000u;
}

static void stat_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Takes what the queue holds into <held>, after what a failed commit kept. */
static void cplane_collect(struct cplane *cp)
{
	for (;;) {
		if (cp->n == cp->cap) {
			size_t cap = cp->cap * 2u;
			struct persist_batch **a;

			if (cap > CPLANE_MAX_BATCHES)
				return;
			a = realloc(cp->held, cap * sizeof(*a));
			if (a == NULL)
				return;    /* commit what we have; take the rest after */
			cp->held = a;
			cp->cap = cap;
		}
		size_t k = persist_take(cp->p, cp->held + cp->n, cp->cap - cp->n);

		cp->n += k;
		if (cp->n < cp->cap)
			return;
	}
}

/* Commit notices: each worker learns the highest seq of its batches committed. */
static void cplane_notify(struct cplane *cp)
{
	struct broker *b = cp->b;

	for (unsigned i = 0; i < b->nworkers; i++) {
		struct worker *w = b->workers[i];

		if (!cp->touched[i])
			continue;
		cp->touched[i] = false;
		/* seq_cst store, then exchange <sleeping>: pairs with the worker that
		 * stores <sleeping>, then looks at <committed> (worker.c). */
		atomic_store(&w->persist->committed, cp->seq[i]);
		if (atomic_exchange(&w->sleeping, 0) == 1)
			worker_wake(w);
	}
}

static void cplane_sync(struct cplane *cp)
{
	int rc = store_sync(cp->st);

	cp->sync_at_ms = 0;
	if (rc < 0) {
		/* The data is committed (in the OS's cache): the next sync tries again. */
		log_err("store: cannot sync %s: %s", store_path(cp->st), strerror(-rc));
		cp->last_rc = rc;
		return;
	}
	stat_add(&cp->syncs, 1);
}

/* One group commit of everything held. */
static void cplane_commit(struct cplane *cp)
{
	const struct config *cfg = &cp->b->cfg;
	bool sync = cfg->persistence_sync == PERSIST_SYNC_ALWAYS;
	uint64_t t0 = cplane_now_us(), records = 0;
	size_t bytes = 0;
	char err[256] = "";
	int rc;

	rc = store_apply(cp->st, cp->held, cp->n, sync, err, sizeof(err));
	cp->last_rc = rc;
	if (rc < 0) {
		stat_add(&cp->commit_failures, 1);
		cp->fail_count++;
		cp->retry_at_ms = cplane_now_ms() + CPLANE_RETRY_MS;
		if (!cp->failing) {
			cp->failing = true;
			cp->fail_since_ms = cplane_now_ms();
			log_err("store: cannot commit to %s: %s; acknowledgements of persistent "
				"messages are held until it can", store_path(cp->st),
				err[0] != '\0' ? err : strerror(-rc));
		}
		return;
	}
	if (cp->failing) {
		log_notice("store: commits to %s succeed again after %" PRIu64
			   " failed attempts in %" PRIu64 " ms", store_path(cp->st),
			   cp->fail_count, cplane_now_ms() - cp->fail_since_ms);
		cp->failing = false;
		cp->fail_count = 0;
	}
	for (size_t i = 0; i < cp->n; i++) {
		struct persist_batch *bt = cp->held[i];

		/* One producer per worker: its batches come in seq order. */
		cp->seq[bt->worker] = bt->seq;
		cp->touched[bt->worker] = true;
		records += bt->n;
		bytes += bt->bytes;
		persist_batch_free(bt);
	}
	atomic_fetch_sub_explicit(&cp->p->pending_bytes, bytes, memory_order_relaxed);
	stat_add(&cp->commits, 1);
	stat_add(&cp->batches, cp->n);
	stat_add(&cp->records, records);
	if (sync)
		stat_add(&cp->syncs, 1);
	else if (cfg->persistence_sync == PERSIST_SYNC_INTERVAL && cp->sync_at_ms == 0)
		cp->sync_at_ms = cplane_now_ms() + cfg->persistence_sync_ms;
	cp->n = 0;
	atomic_store_explicit(&cp->last_commit_us, cplane_now_us() - t0,
			      memory_order_relaxed);
	cplane_notify(cp);
}

/* The sleep's timeout: the next retry or sync due, else none. */
static int cplane_timeout(const struct cplane *cp)
{
	uint64_t now = cplane_now_ms(), due = 0;

	if (cp->failing && cp->n > 0)
		due = cp->retry_at_ms;
	if (cp->sync_at_ms != 0 && (due == 0 || cp->sync_at_ms < due))
		due = cp->sync_at_ms;
	if (due == 0)
		return -1;
	return due <= now ? 0 : (int)PETREL_MIN(due - now, (uint64_t)CPLANE_RETRY_MS);
}

/* Sleeps until a watched fd is ready (a worker pushed, a reply came back, a control
 * client wrote, the tick, cplane_stop) or <timeout_ms>, then runs the handlers. */
static void cplane_wait(struct cplane *cp, int timeout_ms)
{
	struct epoll_event ev[CPLANE_EVENTS];
	struct persist *p = cp->p;
	bool advertised = false;
	int n;

	/* While failing, pushes need not wake us: they wait for the retry anyway. */
	if (p != NULL && timeout_ms != 0 && !cp->failing) {
		/* Pairs with persist_push: it enqueues, then exchanges the flag; we
		 * store the flag, then look at the queue. */
		atomic_store(&p->cplane_sleeping, 1);
		advertised = true;
		if (!cds_wfcq_empty(&p->head, &p->tail))
			timeout_ms = 0;
	}
	if (atomic_load(&cp->stop))
		timeout_ms = 0;
	n = epoll_wait(cp->epfd, ev, CPLANE_EVENTS, timeout_ms);
	if (advertised)
		atomic_store(&p->cplane_sleeping, 0);
	if (n < 0 && errno != EINTR)
		log_err("control plane: epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;

		/* An earlier handler may have unwatched it. */
		if (fd < cp->nwatches && cp->watches[fd].fn != NULL)
			cp->watches[fd].fn(cp, cp->watches[fd].arg, ev[i].events);
	}
}

static void cplane_drain_fd(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));

	(void)r;   /* EAGAIN: someone else's wake-up took it */
}

static void cplane_persist_woken(struct cplane *cp, void *arg, unsigned events)
{
	(void)arg;
	(void)events;
	cplane_drain_fd(cp->p->wake_fd);
}

static void cplane_woken(struct cplane *cp, void *arg, unsigned events)
{
	(void)arg;
	(void)events;
	cplane_drain_fd(cp->wake_fd);
}

static void cplane_tick(struct cplane *cp, void *arg, unsigned events)
{
	(void)arg;
	(void)events;
	cplane_drain_fd(cp->tick_fd);
	if (cp->metrics != NULL)
		metrics_tick(cp->metrics);
	if (cp->ctl != NULL)
		ctl_tick(cp->ctl);
}

/* SIGHUP: ctl_reload_run logs what it applied, or why nothing was. */
static void cplane_reload(struct cplane *cp)
{
	json_t *result = NULL;
	char err[4096] = "";

	ctl_reload_run(cp, &result, err, sizeof(err));
	json_decref(result);
}

static void cplane_quiesce_now(struct cplane *cp)
{
	if (cp->ctl != NULL)
		ctl_close_all(cp->ctl);
	admin_calls_close(cp->calls);
	pthread_mutex_lock(&cp->lock);
	cp->quiesced = true;
	pthread_cond_broadcast(&cp->cond);
	pthread_mutex_unlock(&cp->lock);
}

/* cplane_stop: what is queued now is everything (the workers were joined). One
 * attempt: a store that keeps failing must not hold the shutdown for ever. */
static void cplane_drain(struct cplane *cp)
{
	uint64_t records = 0;

	cplane_collect(cp);
	while (cp->n > 0) {
		cplane_commit(cp);
		if (cp->n > 0)
			break;
		cplane_collect(cp);
	}
	if (cp->n > 0) {
		for (size_t i = 0; i < cp->n; i++) {
			records += cp->held[i]->n;
			atomic_fetch_sub_explicit(&cp->p->pending_bytes, cp->held[i]->bytes,
						  memory_order_relaxed);
			persist_batch_free(cp->held[i]);
		}
		log_err("store: stopping with %zu batches (%" PRIu64 " records) not stored in "
			"%s: %s", cp->n, records, store_path(cp->st), strerror(-cp->last_rc));
		cp->n = 0;
		return;
	}
	/* Every mode ends on the disk: an orderly stop loses nothing. */
	if (cp->b->cfg.persistence_sync != PERSIST_SYNC_ALWAYS)
		cplane_sync(cp);
}

/* The store's part of a turn. Returns the sleep's timeout. */
static int cplane_store_turn(struct cplane *cp)
{
	cplane_collect(cp);
	if (cp->n > 0 && (!cp->failing || cplane_now_ms() >= cp->retry_at_ms)) {
		cplane_commit(cp);
		if (!cp->failing)
			return 0;    /* more may have come while it synced */
	}
	if (cp->sync_at_ms != 0 && cplane_now_ms() >= cp->sync_at_ms) {
		cplane_sync(cp);
		return 0;
	}
	return cplane_timeout(cp);
}

/* <timeout_ms>, shortened to the next admin call deadline. */
static int cplane_calls_timeout(const struct cplane *cp, int timeout_ms)
{
	uint64_t due = admin_calls_next_deadline(cp->calls), now = cplane_now_ms();
	int left;

	if (due == 0 || timeout_ms == 0)
		return timeout_ms;
	left = due <= now ? 0 : (int)PETREL_MIN(due - now, (uint64_t)INT32_MAX);
	return timeout_ms < 0 ? left : PETREL_MIN(timeout_ms, left);
}

static void *cplane_main(void *arg)
{
	struct cplane *cp = arg;

	log_set_thread_name("cplane");
	pthread_setname_np(pthread_self(), "petrel-cplane");
	for (;;) {
		/* Read before taking: everything pushed before cplane_stop is seen. */
		bool stop = atomic_load(&cp->stop);

		if (stop) {
			if (cp->p != NULL)
				cplane_drain(cp);
			break;
		}
		if (atomic_exchange(&cp->quiesce_requested, false))
			cplane_quiesce_now(cp);
		if (atomic_exchange(&cp->reload_requested, false))
			cplane_reload(cp);
		cplane_wait(cp, cplane_calls_timeout(cp,
					cp->p != NULL ? cplane_store_turn(cp) : -1));
		admin_calls_tick(cp->calls, cplane_now_ms());
	}
	return NULL;
}

static void cplane_free(struct cplane *cp)
{
	if (cp->epfd >= 0)
		close(cp->epfd);
	if (cp->wake_fd >= 0)
		close(cp->wake_fd);
	if (cp->tick_fd >= 0)
		close(cp->tick_fd);
	if (cp->cfg_ref != NULL)
		config_ref_put(cp->cfg_ref);
	pthread_mutex_destroy(&cp->lock);
	pthread_cond_destroy(&cp->cond);
	free(cp->watches);
	free(cp->held);
	free(cp->seq);
	free(cp->touched);
	free(cp);
}

/* The parts the loop serves, torn down in the reverse order of cplane_parts_up. */
static void cplane_parts_down(struct cplane *cp)
{
	admin_calls_destroy(cp->calls);
	cp->calls = NULL;
	if (cp->ctl != NULL)
		ctl_destroy(cp->ctl);
	cp->ctl = NULL;
	if (cp->http != NULL)
		metrics_http_stop(cp->http);
	cp->http = NULL;
	if (cp->metrics != NULL)
		metrics_destroy(cp->metrics);
	cp->metrics = NULL;
}

static int cplane_parts_up(struct cplane *cp, const struct cplane_params *prm, char *err,
			   size_t errlen)
{
	struct itimerspec second = { { 1, 0 }, { 1, 0 } };
	int rc;

	cp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cp->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (cp->wake_fd < 0 || cp->tick_fd < 0 ||
	    timerfd_settime(cp->tick_fd, 0, &second, NULL) < 0)
		goto fail_errno;
	if ((rc = cplane_watch(cp, cp->wake_fd, EPOLLIN, cplane_woken, NULL)) < 0 ||
	    (rc = cplane_watch(cp, cp->tick_fd, EPOLLIN, cplane_tick, NULL)) < 0 ||
	    (cp->p != NULL && (rc = cplane_watch(cp, cp->p->wake_fd, EPOLLIN,
						   cplane_persist_woken, NULL)) < 0))
		goto fail;
	cp->calls = admin_calls_create(cp);
	if (cp->calls == NULL)
		goto fail_errno;
	if (prm->metrics_info != NULL) {
		cp->metrics = metrics_create(cp, prm->metrics_info);
		if (cp->metrics == NULL)
			goto fail_errno;
		rc = metrics_http_start(&cp->http, cp, cp->metrics, err, errlen);
		if (rc < 0)
			return rc;   /* its line is in <err> */
	}
	if (prm->ctl_fd >= 0) {
		cp->ctl = ctl_create(cp, prm->ctl_fd);
		if (cp->ctl == NULL)
			goto fail_errno;
	}
	return 0;

fail_errno:
	rc = errno ? -errno : -ENOMEM;
fail:
	snprintf(err, errlen, "control plane: cannot start: %s", strerror(-rc));
	return rc;
}

int cplane_start(struct cplane **out, const struct cplane_params *prm, char *err,
		 size_t errlen)
{
	struct broker *b = prm->b;
	unsigned nw = b->nworkers ? b->nworkers : 1;
	struct cplane *cp;
	int rc;

	if ((prm->st != NULL) != (b->persist != NULL)) {
		snprintf(err, errlen, "control plane: a store needs the persist queue");
		return -EINVAL;
	}
	cp = calloc(1, sizeof(*cp));
	if (cp == NULL) {
		snprintf(err, errlen, "control plane: cannot start: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	cp->b = b;
	cp->p = b->persist;
	cp->st = prm->st;
	cp->config_path = prm->config_path;
	cp->overrides = prm->overrides;
	cp->epfd = cp->wake_fd = cp->tick_fd = -1;
	atomic_init(&cp->stop, false);
	atomic_init(&cp->reload_requested, false);
	atomic_init(&cp->quiesce_requested, false);
	pthread_mutex_init(&cp->lock, NULL);
	pthread_cond_init(&cp->cond, NULL);
	if (cp->p != NULL) {
		cp->cap = CPLANE_FIRST_BATCHES;
		cp->held = malloc(cp->cap * sizeof(*cp->held));
		cp->seq = calloc(nw, sizeof(*cp->seq));
		cp->touched = calloc(nw, sizeof(*cp->touched));
		if (cp->held == NULL || cp->seq == NULL || cp->touched == NULL) {
			rc = -ENOMEM;
			snprintf(err, errlen, "control plane: cannot start: %s", strerror(-rc));
			goto err_free;
		}
	}
	cp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cp->epfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control plane: cannot start: %s", strerror(-rc));
		goto err_free;
	}
	rc = cplane_parts_up(cp, prm, err, errlen);
	if (rc < 0)
		goto err_free;
	rc = pthread_create(&cp->thread, NULL, cplane_main, cp);
	if (rc != 0) {
		rc = -rc;
		snprintf(err, errlen, "control plane: cannot start: %s", strerror(-rc));
		goto err_free;
	}
	*out = cp;
	return 0;

err_free:
	cplane_parts_down(cp);
	cplane_free(cp);
	return rc;
}

void cplane_quiesce(struct cplane *cp)
{
	uint64_t one = 1;
	ssize_t r;

	if (cp == NULL)
		return;
	atomic_store(&cp->quiesce_requested, true);
	r = write(cp->wake_fd, &one, sizeof(one));
	(void)r;
	pthread_mutex_lock(&cp->lock);
	while (!cp->quiesced)
		pthread_cond_wait(&cp->cond, &cp->lock);
	pthread_mutex_unlock(&cp->lock);
}

int cplane_stop(struct cplane *cp)
{
	uint64_t one = 1;
	ssize_t r;
	int rc;

	if (cp == NULL)
		return 0;
	atomic_store(&cp->stop, true);
	/* Unconditional: a failing control plane sleeps without advertising it. */
	r = write(cp->wake_fd, &one, sizeof(one));
	(void)r;
	pthread_join(cp->thread, NULL);
	rc = cp->last_rc;
	cplane_parts_down(cp);
	cplane_free(cp);
	return rc;
}

void cplane_request_reload(struct cplane *cp)
{
	uint64_t one = 1;
	ssize_t r;

	atomic_store(&cp->reload_requested, true);
	r = write(cp->wake_fd, &one, sizeof(one));
	(void)r;
}

/* ---- the watch API and accessors (cplane.h) --------------------------------------- */

int cplane_watch(struct cplane *cp, int fd, unsigned events, cplane_fd_fn *fn, void *arg)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (fd < 0 || fn == NULL)
		return -EINVAL;
	if (fd >= cp->nwatches) {
		int n = PETREL_MAX(PETREL_MAX(fd + 1, cp->nwatches * 2), 64);
		struct cplane_watch *w = realloc(cp->watches, (size_t)n * sizeof(*w));

		if (w == NULL)
			return -ENOMEM;
		memset(w + cp->nwatches, 0, (size_t)(n - cp->nwatches) * sizeof(*w));
		cp->watches = w;
		cp->nwatches = n;
	}
	if (epoll_ctl(cp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	cp->watches[fd].fn = fn;
	cp->watches[fd].arg = arg;
	return 0;
}

int cplane_rewatch(struct cplane *cp, int fd, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(cp->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void cplane_unwatch(struct cplane *cp, int fd)
{
	if (fd < 0 || fd >= cp->nwatches || cp->watches[fd].fn == NULL)
		return;
	epoll_ctl(cp->epfd, EPOLL_CTL_DEL, fd, NULL);
	cp->watches[fd].fn = NULL;
	cp->watches[fd].arg = NULL;
}

struct broker *cplane_broker(const struct cplane *cp)
{
	return cp->b;
}

struct store *cplane_store(const struct cplane *cp)
{
	return cp->st;
}

struct metrics *cplane_metrics(const struct cplane *cp)
{
	return cp->metrics;
}

struct ctl *cplane_ctl(const struct cplane *cp)
{
	return cp->ctl;
}

struct admin_calls *cplane_admin_calls(const struct cplane *cp)
{
	return cp->calls;
}

const struct config *cplane_config(const struct cplane *cp)
{
	return cp->cfg_ref != NULL ? &cp->cfg_ref->cfg : &cp->b->cfg;
}

void cplane_set_config(struct cplane *cp, struct config_ref *ref)
{
	if (cp->cfg_ref != NULL)
		config_ref_put(cp->cfg_ref);
	cp->cfg_ref = ref;
}

const char *cplane_config_path(const struct cplane *cp)
{
	return cp->config_path;
}

const char *const *cplane_overrides(const struct cplane *cp)
{
	return cp->overrides;
}

void cplane_stats_read(const struct cplane *cp, struct cplane_stats *out)
{
	out->commits = atomic_load_explicit(&cp->commits, memory_order_relaxed);
	out->batches = atomic_load_explicit(&cp->batches, memory_order_relaxed);
	out->records = atomic_load_explicit(&cp->records, memory_order_relaxed);
	out->commit_failures = atomic_load_explicit(&cp->commit_failures, memory_order_relaxed);
	out->syncs = atomic_load_explicit(&cp->syncs, memory_order_relaxed);
	out->last_commit_us = atomic_load_explicit(&cp->last_commit_us, memory_order_relaxed);
}
