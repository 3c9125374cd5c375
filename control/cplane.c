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
 * orderly stop syncs once in every mode. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "petrel/broker.h"
#include "petrel/cplane.h"
#include "petrel/log.h"
#include "petrel/persist.h"
#include "petrel/store.h"
#include "petrel/worker.h"

/* A failed commit is tried again after this long (cplane.h). */
#define CPLANE_RETRY_MS 500
/* Batches in one transaction at most: bounds the array, not the rate (the rest
 * goes in the next transaction at once). */
#define CPLANE_MAX_BATCHES 65536u
#define CPLANE_FIRST_BATCHES 256u

struct cplane {
	struct broker *b;
	struct persist *p;
	struct store *st;
	pthread_t thread;
	int epfd;
	atomic_bool stop;

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

static uint64_t cplane_now_ms(void)
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

/* Sleeps until a worker pushes, cplane_stop, or <timeout_ms>. */
static void cplane_sleep(struct cplane *cp, int timeout_ms)
{
	struct persist *p = cp->p;
	struct epoll_event ev;
	uint64_t v;
	ssize_t r;

	/* While failing, pushes need not wake us: they wait for the retry anyway. */
	if (!cp->failing) {
		/* Pairs with persist_push: it enqueues, then exchanges the flag; we
		 * store the flag, then look at the queue. */
		atomic_store(&p->cplane_sleeping, 1);
		if (!cds_wfcq_empty(&p->head, &p->tail) || atomic_load(&cp->stop)) {
			atomic_store(&p->cplane_sleeping, 0);
			return;
		}
	}
	if (epoll_wait(cp->epfd, &ev, 1, timeout_ms) < 0 && errno != EINTR)
		log_err("control plane: epoll_wait: %s", strerror(errno));
	atomic_store(&p->cplane_sleeping, 0);
	r = read(p->wake_fd, &v, sizeof(v));
	(void)r;   /* EAGAIN: woken by the timeout */
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

static void *cplane_main(void *arg)
{
	struct cplane *cp = arg;

	log_set_thread_name("cplane");
	pthread_setname_np(pthread_self(), "petrel-cplane");
	for (;;) {
		/* Read before taking: everything pushed before cplane_stop is seen. */
		bool stop = atomic_load(&cp->stop);

		if (stop) {
			cplane_drain(cp);
			break;
		}
		cplane_collect(cp);
		if (cp->n > 0 && (!cp->failing || cplane_now_ms() >= cp->retry_at_ms)) {
			cplane_commit(cp);
			if (!cp->failing)
				continue;    /* more may have come while it synced */
		}
		if (cp->sync_at_ms != 0 && cplane_now_ms() >= cp->sync_at_ms) {
			cplane_sync(cp);
			continue;
		}
		cplane_sleep(cp, cplane_timeout(cp));
	}
	return NULL;
}

static void cplane_free(struct cplane *cp)
{
	if (cp->epfd >= 0)
		close(cp->epfd);
	free(cp->held);
	free(cp->seq);
	free(cp->touched);
	free(cp);
}

int cplane_start(struct cplane **out, struct broker *b, struct store *st)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct cplane *cp;
	int rc;

	if (b->persist == NULL)
		return -EINVAL;
	cp = calloc(1, sizeof(*cp));
	if (cp == NULL)
		return -ENOMEM;
	cp->b = b;
	cp->p = b->persist;
	cp->st = st;
	cp->epfd = -1;
	atomic_init(&cp->stop, false);
	cp->cap = CPLANE_FIRST_BATCHES;
	cp->held = malloc(cp->cap * sizeof(*cp->held));
	cp->seq = calloc(b->nworkers ? b->nworkers : 1, sizeof(*cp->seq));
	cp->touched = calloc(b->nworkers ? b->nworkers : 1, sizeof(*cp->touched));
	if (cp->held == NULL || cp->seq == NULL || cp->touched == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	cp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cp->epfd < 0 || epoll_ctl(cp->epfd, EPOLL_CTL_ADD, b->persist->wake_fd, &ev) < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = pthread_create(&cp->thread, NULL, cplane_main, cp);
	if (rc != 0) {
		rc = -rc;
		goto err_free;
	}
	*out = cp;
	return 0;

err_free:
	log_err("control plane: cannot start: %s", strerror(-rc));
	cplane_free(cp);
	return rc;
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
	r = write(cp->p->wake_fd, &one, sizeof(one));
	(void)r;
	pthread_join(cp->thread, NULL);
	rc = cp->last_rc;
	cplane_free(cp);
	return rc;
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
