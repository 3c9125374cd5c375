/* worker.c - the run-to-completion loop (DESIGN.md "The worker loop"), the inbound
 * queue other threads use to reach a worker, the worker's QSBR states (online while it
 * works, offline while it blocks in the transport's poll) and the thread's current
 * worker. It knows neither MQTT nor sockets: the engine and the transport it drives
 * are ops tables (engine.h, transport.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <urcu-qsbr.h>
#include <urcu/wfcqueue.h>

#include "petrel/broker.h"
#include "petrel/budget.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/persist.h"
#include "petrel/transport.h"
#include "petrel/worker.h"

/* Longest a worker sleeps in poll with nothing to do: bounds timer lateness. */
#define WORKER_IDLE_POLL_MS TIMER_TICK_MS

_Thread_local int worker_current_id = WORKER_NONE;

int worker_set_current(int id)
{
	int prev = worker_current_id;

	worker_current_id = id;
	return prev;
}

/* Reads the transport's clock into now_us and now_ms, once per loop turn. */
static void worker_clock(struct worker *w)
{
	w->now_us = w->tops->now_us();
	w->now_ms = w->now_us / 1000u;
}

struct worker *worker_create(struct broker *b, unsigned id, const struct transport_ops *t,
			     const struct engine_ops *e)
{
	struct worker *w;
	int rc;

	if (posix_memalign((void **)&w, PETREL_CACHE_LINE, sizeof(*w)) != 0)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cpu = worker_pick_cpu(id);
	w->broker = b;
	w->cfg = &b->cfg;
	w->tops = t;
	w->eops = e;
	cds_wfcq_init(&w->inbound_head, &w->inbound_tail);
	atomic_init(&w->sleeping, 0);
	atomic_init(&w->cpu_clock_set, false);
	worker_clock(w);
	timer_wheel_init(&w->wheel, w->now_ms, TIMER_TICK_MS);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		log_err("worker %u: %s", id, strerror(errno));
		goto err_free;
	}
	rc = e->attach(w);
	if (rc < 0) {
		log_err("worker %u: %s engine: %s", id, e->name, strerror(-rc));
		goto err_close;
	}
	rc = t->setup(w);
	if (rc < 0) {
		log_err("worker %u: cannot listen on %s:%u (%s transport): %s", id,
			b->cfg.bind_address, b->cfg.port, t->name, strerror(-rc));
		goto err_detach;
	}
	return w;

err_detach:
	e->detach(w);
err_close:
	close(w->wake_fd);
err_free:
	free(w);
	return NULL;
}

void worker_post(struct worker *dst, struct wmsg *m)
{
	/* The records the calling worker appended so far go to the control plane
	 * before <dst> can see <m> and append its own that depend on them (persist.h
	 * "Ordering": an ENTRY_PUT ahead of the subscriber's ENTRY_DEL on PUBACK). */
	persist_push_current(dst->broker);
	cds_wfcq_node_init(&m->node);
	cds_wfcq_enqueue(&dst->inbound_head, &dst->inbound_tail, &m->node);
	/* Pairs with the sleeper's store of <sleeping> before its emptiness check: one
	 * of the two sides sees the other, so a message never waits out a full poll. */
	if (atomic_exchange(&dst->sleeping, 0) == 1)
		worker_wake(dst);
}

void worker_quiescent_point(void)
{
	if (rcu_read_ongoing())
		rcu_quiescent_state();
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->wake_fd, &one, sizeof(one));

	(void)n;   /* EAGAIN means a wake-up is already pending */
}

/* Returns the number of messages handled. */
static unsigned drain_inbound(struct worker *w)
{
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	struct cds_wfcq_node *node, *next;
	unsigned n = 0;

	/* Take the whole queue at once; producers keep appending to the emptied one. */
	cds_wfcq_init(&head, &tail);
	if (__cds_wfcq_splice_blocking(&head, &tail, &w->inbound_head, &w->inbound_tail) ==
	    CDS_WFCQ_RET_SRC_EMPTY)
		return 0;
	__cds_wfcq_for_each_blocking_safe(&head, &tail, node, next) {
		w->eops->handle(w, caa_container_of(node, struct wmsg, node));
		n++;
	}
	return n;
}

void worker_discard_inbound(struct worker *w)
{
	struct cds_wfcq_node *node;

	while ((node = __cds_wfcq_dequeue_blocking(&w->inbound_head, &w->inbound_tail)) != NULL)
		w->eops->discard(caa_container_of(node, struct wmsg, node));
}

static bool inbound_empty(struct worker *w)
{
	return cds_wfcq_empty(&w->inbound_head, &w->inbound_tail);
}

void worker_turn(struct worker *w)
{
	int prev = worker_set_current((int)w->id);

	drain_inbound(w);
	timer_wheel_run(&w->wheel, w->now_ms);
	/* Commit notices: output that waited behind fences joins this turn's flush. */
	persist_turn(w);
	w->eops->turn_end(w);
	/* The turn's records go now, so the control plane commits them while we
	 * flush; and again after reap, for any a close appended there: the worker
	 * never sleeps with an open batch. */
	persist_push(w);
	if (w->tops->flush != NULL)
		w->tops->flush(w);
	w->tops->reap(w);
	persist_push(w);
	worker_set_current(prev);
	rcu_quiescent_state();
}

/* Work that must not wait for the poll timeout: inbound messages, the engine's own,
 * a commit notice not yet handed to the engine. */
static bool worker_has_work(struct worker *w)
{
	return !inbound_empty(w) || w->eops->busy(w) || persist_notice_pending(w);
}

static void worker_loop(struct worker *w)
{
	struct broker *b = w->broker;

	while (!atomic_load_explicit(&b->stopping, memory_order_relaxed)) {
		int timeout = 0;

		if (!worker_has_work(w)) {
			timeout = WORKER_IDLE_POLL_MS;
			/* Pairs with worker_post, the engine's wake-ups (mqtt/flow.c) and
			 * the control plane's commit notices (cplane.c): they write, then
			 * exchange <sleeping>; we store it, then look. */
			atomic_store(&w->sleeping, 1);
			if (worker_has_work(w))
				timeout = 0;
		}
		int work = w->tops->poll(w, timeout);

		atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
		worker_clock(w);
		/* Load figures: the share of turns that found work is the worker's
		 * busyness, whether the transport sleeps (epoll) or spins (dpdk). */
		w->stats.loop_turns++;
		if (work > 0)
			w->stats.loop_busy_turns++;
		worker_turn(w);
	}
}

void worker_teardown(struct worker *w)
{
	int prev = worker_set_current((int)w->id);

	w->eops->teardown(w);
	/* Messages still queued for us: release what they hold. */
	while (drain_inbound(w) > 0)
		;
	w->eops->turn_end(w);
	if (w->tops->flush != NULL)
		w->tops->flush(w);
	w->tops->reap(w);
	w->tops->teardown(w);
	/* The last records (sessions gone offline) before the control plane's final
	 * commit: cplane_stop runs after every worker was joined. */
	persist_push(w);
	timer_wheel_fini(&w->wheel);
	w->torn_down = true;
	worker_set_current(prev);
}

int worker_pick_cpu(unsigned id)
{
	cpu_set_t set;
	int n, cpu;

	/* The main thread still has the mask the process started with. (More than
	 * CPU_SETSIZE = 1024 CPUs fails here with EINVAL: workers then run unpinned.) */
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	n = CPU_COUNT(&set);
	if (n <= 0)
		return -1;
	id %= (unsigned)n;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &set) && id-- == 0)
			return cpu;
	}
	return -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "w%u", w->id);
	log_set_thread_name(name);
	pthread_setname_np(pthread_self(), name);
	if (w->tops->launch != NULL) {
		/* Its launcher placed the thread (an EAL lcore is pinned already). */
	} else if (w->cpu >= 0) {
		cpu_set_t set;
		int rc;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (rc != 0)
			log_warn("could not pin to cpu %d: %s", w->cpu, strerror(rc));
		else
			log_info("pinned to cpu %d", w->cpu);
	} else {
		log_warn("CPU affinity unknown: running unpinned");
	}
	if (pthread_getcpuclockid(pthread_self(), &w->cpu_clock) == 0)
		atomic_store_explicit(&w->cpu_clock_set, true, memory_order_release);
	/* For the thread's whole life: the transport's poll runs the engine too. */
	worker_set_current((int)w->id);
	rcu_register_thread();
	budget_thread_enter();
	worker_loop(w);
	worker_teardown(w);
	budget_thread_exit();
	rcu_unregister_thread();
	/* The clock dies with the thread: the last figures stay as they were. */
	atomic_store_explicit(&w->cpu_clock_set, false, memory_order_release);
	return NULL;
}

int worker_start(struct worker *w)
{
	int rc;

	/* The dpdk transport runs workers as EAL lcores; the kernel one as pthreads. */
	if (w->tops->launch != NULL) {
		rc = w->tops->launch(w, worker_main);
		if (rc < 0)
			return rc;
	} else {
		rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0)
			return -rc;
	}
	w->started = true;
	return 0;
}

void worker_join(struct worker *w)
{
	if (w->started) {
		if (w->tops->join != NULL)
			w->tops->join(w);
		else
			pthread_join(w->thread, NULL);
	}
	w->started = false;
}

void worker_destroy(struct worker *w)
{
	if (w == NULL)
		return;
	w->eops->detach(w);
	persist_worker_destroy(w);
	config_ref_put(w->cfg_ref);
	close(w->wake_fd);
	free(w);
}

void worker_set_config(struct worker *w, struct config_ref *ref)
{
	struct config_ref *old = w->cfg_ref;

	worker_assert_current(w);
	w->cfg_ref = ref;
	w->cfg = &ref->cfg;
	config_ref_put(old);
}
