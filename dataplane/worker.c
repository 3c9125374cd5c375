/* worker.c - the run-to-completion loop (DESIGN.md "The worker loop"), the inbound
 * queue other threads use to reach a worker, and the worker's QSBR states: online
 * while it works, offline while it blocks in the transport's poll. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>
#include <urcu/wfcqueue.h>

#include "petrel/broker.h"
#include "petrel/budget.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/session.h"
#include "petrel/transport.h"
#include "petrel/worker.h"
#include "mqtt/proto_int.h"

/* Longest a worker sleeps in poll with nothing to do: bounds timer lateness. */
#define WORKER_IDLE_POLL_MS TIMER_TICK_MS

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct worker *worker_create(struct broker *b, unsigned id, const struct transport_ops *t)
{
	struct worker *w;
	int rc;

	if (posix_memalign((void **)&w, PETREL_CACHE_LINE, sizeof(*w)) != 0)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cpu = worker_pick_cpu(id);
	w->broker = b;
	w->tops = t;
	cds_wfcq_init(&w->inbound_head, &w->inbound_tail);
	atomic_init(&w->sleeping, 0);
	atomic_init(&w->recheck_paused, false);
	atomic_init(&w->held_publishers, 0);
	atomic_init(&w->inbound_deliveries, 0);
	atomic_init(&w->inbound_full, false);
	CDS_INIT_LIST_HEAD(&w->conns);
	CDS_INIT_LIST_HEAD(&w->dirty);
	CDS_INIT_LIST_HEAD(&w->paused);
	CDS_INIT_LIST_HEAD(&w->sessions);
	CDS_INIT_LIST_HEAD(&w->graveyard);
	w->now_ms = monotonic_ms();
	timer_wheel_init(&w->wheel, w->now_ms);
	w->fanout = calloc(b->cfg.workers, sizeof(*w->fanout));
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fanout == NULL || w->wake_fd < 0) {
		log_err("worker %u: %s", id, strerror(errno));
		goto err_free;
	}
	rc = t->setup(w);
	if (rc < 0) {
		log_err("worker %u: cannot listen on %s:%u (%s transport): %s", id,
			b->cfg.bind_address, b->cfg.port, t->name, strerror(-rc));
		goto err_free;
	}
	return w;

err_free:
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	free(w->fanout);
	free(w);
	return NULL;
}

void worker_post(struct worker *dst, struct wmsg *m)
{
	cds_wfcq_node_init(&m->node);
	cds_wfcq_enqueue(&dst->inbound_head, &dst->inbound_tail, &m->node);
	/* Pairs with the sleeper's store of <sleeping> before its emptiness check: one
	 * of the two sides sees the other, so a message never waits out a full poll. */
	if (atomic_exchange(&dst->sleeping, 0) == 1)
		worker_wake(dst);
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->wake_fd, &one, sizeof(one));

	(void)n;   /* EAGAIN means a wake-up is already pending */
}

void worker_adopt_session(struct worker *w, struct session *s)
{
	if (s->listed)
		return;
	s->listed = true;
	cds_list_add_tail(&s->owner_link, &w->sessions);
}

void worker_drop_session(struct worker *w, struct session *s)
{
	(void)w;
	if (!s->listed)
		return;
	s->listed = false;
	cds_list_del(&s->owner_link);
	CDS_INIT_LIST_HEAD(&s->owner_link);
}

void worker_handle(struct worker *w, struct wmsg *m)
{
	switch (m->type) {
	case WMSG_DELIVER:
		deliver_batch(w, caa_container_of(m, struct wmsg_deliver, h));
		break;
	case WMSG_TAKEOVER_REQ:
		takeover_request(w, caa_container_of(m, struct wmsg_takeover, h));
		break;
	case WMSG_TAKEOVER_DONE:
		takeover_done(w, caa_container_of(m, struct wmsg_takeover, h));
		break;
	case WMSG_HANDOVER_DRAINED:
		handover_drained(w, caa_container_of(m, struct wmsg_handover, h));
		break;
	case WMSG_HANDOVER_FENCE:
		handover_fence(w, caa_container_of(m, struct wmsg_handover, h));
		break;
	}
}

void worker_discard(struct wmsg *m)
{
	switch (m->type) {
	case WMSG_DELIVER:
		deliver_discard(caa_container_of(m, struct wmsg_deliver, h));
		break;
	case WMSG_TAKEOVER_REQ:
	case WMSG_TAKEOVER_DONE:
		takeover_discard(caa_container_of(m, struct wmsg_takeover, h));
		break;
	case WMSG_HANDOVER_DRAINED:
	case WMSG_HANDOVER_FENCE:
		handover_discard(caa_container_of(m, struct wmsg_handover, h));
		break;
	}
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
		worker_handle(w, caa_container_of(node, struct wmsg, node));
		n++;
	}
	return n;
}

void worker_discard_inbound(struct worker *w)
{
	struct cds_wfcq_node *node;

	while ((node = __cds_wfcq_dequeue_blocking(&w->inbound_head, &w->inbound_tail)) != NULL)
		worker_discard(caa_container_of(node, struct wmsg, node));
}

static void flush_dirty(struct worker *w)
{
	while (!cds_list_empty(&w->dirty)) {
		struct mqtt_conn *c = cds_list_first_entry(&w->dirty, struct mqtt_conn,
							   dirty_link);

		cds_list_del(&c->dirty_link);
		c->in_dirty = false;
		conn_flush(c);
	}
}

static void reap(struct worker *w)
{
	while (!cds_list_empty(&w->graveyard)) {
		struct mqtt_conn *c = cds_list_first_entry(&w->graveyard, struct mqtt_conn,
							   grave_link);

		cds_list_del(&c->grave_link);
		conn_free(c);
	}
	w->tops->reap(w);
}

static bool inbound_empty(struct worker *w)
{
	return cds_wfcq_empty(&w->inbound_head, &w->inbound_tail);
}

void worker_turn(struct worker *w)
{
	drain_inbound(w);
	timer_wheel_run(&w->wheel, w->now_ms);
	flow_check_paused(w);
	flush_dirty(w);
	reap(w);
	rcu_quiescent_state();
}

static void worker_loop(struct worker *w)
{
	struct broker *b = w->broker;

	while (!atomic_load_explicit(&b->stopping, memory_order_relaxed)) {
		int timeout = 0;

		if (inbound_empty(w) && cds_list_empty(&w->dirty) &&
		    !atomic_load_explicit(&w->recheck_paused, memory_order_relaxed)) {
			timeout = WORKER_IDLE_POLL_MS;
			/* Pairs with worker_post and flow_release: they write, then
			 * exchange <sleeping>; we store it, then look. */
			atomic_store(&w->sleeping, 1);
			if (!inbound_empty(w) || atomic_load(&w->recheck_paused))
				timeout = 0;
		}
		w->tops->poll(w, timeout);
		atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
		w->now_ms = monotonic_ms();
		worker_turn(w);
	}
}

void worker_teardown(struct worker *w)
{
	struct mqtt_conn *c, *tmp;

	cds_list_for_each_entry_safe(c, tmp, &w->conns, link)
		conn_close(c, CLOSE_SHUTDOWN);
	/* Messages still queued for us: release what they hold. */
	while (drain_inbound(w) > 0)
		;
	reap(w);
	w->tops->teardown(w);
	timer_wheel_fini(&w->wheel);
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
	if (w->cpu >= 0) {
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
	rcu_register_thread();
	budget_thread_enter();
	worker_loop(w);
	worker_teardown(w);
	budget_thread_exit();
	rcu_unregister_thread();
	return NULL;
}

int worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0)
		return -rc;
	w->started = true;
	return 0;
}

void worker_join(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}

void worker_destroy(struct worker *w)
{
	if (w == NULL)
		return;
	for (unsigned i = 0; i < w->broker->cfg.workers; i++)
		free(w->fanout[i].t);
	free(w->fanout);
	close(w->wake_fd);
	free(w);
}
