/* flow.c - flow control without head-of-line blocking (docs/architecture.md
 * "Backpressure"). A session whose queue goes over its limit is congested: the
 * publishers feeding it are held back, but for at most backpressure_timeout. If it has
 * not drained to half its limit by then it is marked slow, its publishers go on, and
 * its own new messages follow slow_subscriber_policy until it drains. So one stuck
 * subscriber never stalls the others for long.
 *
 * Episode states of a session (owner only, except <congested>, read by publishers):
 *
 *   normal -queue over limit-> congested -drained to half-> normal
 *                                 |  \--offline/ended---> normal
 *                   backpressure_timeout
 *                                 v
 *                               slow -drained to half, offline or ended-> normal
 *
 * Held-back publishers are resumed by an event, not by polling: whoever clears
 * <congested> (the owner) raises <recheck_paused> on every worker that holds a
 * publisher back (its <held_publishers> count is not zero), waking it if it sleeps.
 * Looking at every worker's count costs O(workers) per episode's end, not per
 * message, and needs no per-session state that would cap the number of workers. */
#include <stdatomic.h>

#include "petrel/log.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

static bool queue_below_half(const struct config *cfg, const struct session *s)
{
	if (cfg->max_queued_messages > 0 && s->queue.len > cfg->max_queued_messages / 2)
		return false;
	if (cfg->max_queued_messages == 0 && cfg->max_queued_bytes == 0 && s->queue.len > 0)
		return false;
	return cfg->max_queued_bytes == 0 || s->queue.bytes <= cfg->max_queued_bytes / 2;
}

/* Makes <dst> look at its held-back publishers at its next loop turn. */
static void flow_recheck(struct worker *self, struct worker *dst)
{
	atomic_store(&mqtt_worker(dst)->recheck_paused, true);
	/* As worker_post: <dst> stores <sleeping> before it looks at the flag. */
	if (dst != self && atomic_exchange(&dst->sleeping, 0) == 1)
		worker_wake(dst);
}

/* Ends congestion of <s> and tells every worker that may hold a publisher back on it.
 * Owner only. The order (clear <congested>, then read the counts; seq_cst both) pairs
 * with flow_hold_publisher (count up, then re-read <congested>): either we see its
 * count or it sees <congested> cleared. */
static void flow_wake_holders(struct worker *w)
{
	struct broker *b = w->broker;

	for (unsigned i = 0; i < b->nworkers; i++)
		if (atomic_load(&mqtt_worker(b->workers[i])->held_publishers) > 0)
			flow_recheck(w, b->workers[i]);
}

static void flow_release(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	/* No early return when it was not congested: session_drop_messages may have
	 * cleared the flag already, and publishers held on it must still hear. */
	atomic_store(&s->congested, false);
	flow_wake_holders(w);
}

void flow_congest(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	if (atomic_load_explicit(&s->congested, memory_order_relaxed))
		return;
	atomic_store_explicit(&s->congested, true, memory_order_relaxed);
	timer_arm(&w->wheel, &s->conn->flow_timer,
		  w->now_ms + w->cfg->backpressure_timeout);
}

void flow_slow_disconnect(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	if (s->slow_disconnect)
		return;
	s->slow_disconnect = true;
	/* Not here: we may be inside router_match for another client's PUBLISH, and
	 * closing runs the will through the router. The timer closes it this turn. */
	timer_arm(&w->wheel, &s->conn->flow_timer, w->now_ms);
}

static void flow_timer_fired(struct timer *t, uint64_t now_ms)
{
	struct mqtt_conn *c = caa_container_of(t, struct mqtt_conn, flow_timer);
	struct worker *w = c->w;
	const struct config *cfg = conn_cfg(c);
	struct session *s = c->s;

	(void)now_ms;
	if (c->state != CONN_ACTIVE || s == NULL)
		return;
	if (s->slow_disconnect) {
		w->stats.slow_disconnect++;
		log_notice("client '%s': slow subscriber disconnected "
			   "(slow_subscriber_policy disconnect)", s->client_id);
		conn_close(c, CLOSE_SLOW);
		return;
	}
	if (!atomic_load_explicit(&s->congested, memory_order_relaxed))
		return;
	if (queue_below_half(cfg, s)) {
		flow_release(w, s);
		return;
	}
	s->slow = true;
	w->stats.slow_marked++;
	log_notice("client '%s': queue over its limit for %u ms, marked slow: publishers "
		   "resume, its new messages are handled by slow_subscriber_policy %s until "
		   "it drains (counted; logged once per episode)", s->client_id,
		   cfg->backpressure_timeout, slow_policy_name(cfg->slow_subscriber_policy));
	flow_release(w, s);
}

void flow_conn_init(struct mqtt_conn *c)
{
	timer_init(&c->flow_timer, flow_timer_fired);
}

void flow_drained(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	if (!queue_below_half(w->cfg, s))
		return;
	if (atomic_load_explicit(&s->congested, memory_order_relaxed)) {
		timer_cancel(&w->wheel, &s->conn->flow_timer);
		flow_release(w, s);
	}
	if (s->slow && !s->slow_disconnect) {
		s->slow = false;
		log_info("client '%s': queue drained, no longer slow", s->client_id);
	}
}

void flow_session_offline(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	if (s->conn != NULL)
		timer_cancel(&w->wheel, &s->conn->flow_timer);
	s->slow = false;
	s->slow_disconnect = false;
	/* Publishers held back on it go on: an offline session holds nobody. */
	flow_release(w, s);
}

/* True while <dst>'s inbound queue has not drained under half its limit. */
static bool worker_inbound_busy(const struct worker *dst)
{
	return atomic_load(&mqtt_worker(dst)->inbound_deliveries) >=
	       dst->broker->cfg.max_worker_inbound / 2;   /* restart-only: b->cfg */
}

void flow_hold_publisher(struct mqtt_conn *c)
{
	struct worker *w = c->w;
	struct mqtt_worker *mw = mqtt_worker(w);
	struct session *s = c->blocked_on;

	worker_assert_current(w);
	if (s != NULL)
		w->stats.backpressure_pause++;
	else if (c->blocked_worker != NULL)
		w->stats.worker_queue_hold++;
	if (c->persist_held)
		fence_pending_hold(c);
	c->in_paused = true;
	cds_list_add_tail(&c->paused_link, &mw->paused);
	atomic_fetch_add(&mw->held_publishers, 1);
	/* The owner may have cleared <congested> (the target worker drained its queue)
	 * before it could see our count. */
	if ((s != NULL && !atomic_load(&s->congested)) ||
	    (c->blocked_worker != NULL && !worker_inbound_busy(c->blocked_worker)) ||
	    (c->persist_held && !fence_pending_over(w, true)))
		atomic_store(&mw->recheck_paused, true);
}

/* Cross-worker queues (DESIGN.md "The worker loop": the inbound queue) are bounded by
 * credit: fan-out counts the deliveries it posts to a worker, the worker counts them
 * off as it takes them. Over max_worker_inbound a QoS 0 delivery is dropped and a
 * publisher whose QoS 1/2 message went there is held back, as for a congested
 * session, until the queue is under half; an acknowledged message is never dropped
 * for it. The overshoot is one PUBLISH per publisher, plus wills and forwards. */
bool flow_worker_full(struct worker *w, struct worker *dst)
{
	const struct config *cfg = w->cfg;
	struct mqtt_worker *mdst = mqtt_worker(dst);

	worker_assert_current(w);
	if (atomic_load_explicit(&mdst->inbound_deliveries, memory_order_relaxed) <
	    cfg->max_worker_inbound)
		return false;
	if (!atomic_exchange(&mdst->inbound_full, true))
		log_warn("worker %u: %u deliveries wait in its inbound queue "
			 "(max_worker_inbound): QoS 0 to it is dropped and publishers wait "
			 "until it drains to half (counted; logged once per episode)", dst->id,
			 cfg->max_worker_inbound);
	return true;
}

void flow_worker_taken(struct worker *w, uint32_t n)
{
	struct mqtt_worker *mw = mqtt_worker(w);
	unsigned left = atomic_fetch_sub(&mw->inbound_deliveries, n) - n;

	worker_assert_current(w);
	/* seq_cst: pairs with flow_hold_publisher, which counts itself held and then
	 * reads <inbound_deliveries>. */
	if (left < w->cfg->max_worker_inbound / 2 && atomic_load(&mw->inbound_full) &&
	    atomic_exchange(&mw->inbound_full, false))
		flow_wake_holders(w);
}

void flow_unhold(struct mqtt_conn *c)
{
	worker_assert_current(c->w);
	if (c->in_paused) {
		cds_list_del(&c->paused_link);
		c->in_paused = false;
		atomic_fetch_sub_explicit(&mqtt_worker(c->w)->held_publishers, 1,
					  memory_order_relaxed);
	}
	if (c->blocked_on != NULL) {
		session_unref(c->blocked_on);
		c->blocked_on = NULL;
	}
	c->blocked_worker = NULL;
	c->persist_held = false;
}

void flow_check_paused(struct worker *w)
{
	struct mqtt_worker *mw = mqtt_worker(w);
	struct mqtt_conn *c, *tmp;

	worker_assert_current(w);
	if (!atomic_load_explicit(&mw->recheck_paused, memory_order_relaxed) ||
	    !atomic_exchange(&mw->recheck_paused, false))
		return;
	cds_list_for_each_entry_safe(c, tmp, &mw->paused, paused_link) {
		struct session *s = c->blocked_on;

		if (s != NULL && atomic_load(&s->congested) && session_owner(s) != SESSION_DEAD)
			continue;
		if (c->blocked_worker != NULL && worker_inbound_busy(c->blocked_worker))
			continue;
		/* persistence_max_pending_bytes: fence.c's timer raises the recheck. */
		if (c->persist_held && fence_pending_over(w, true))
			continue;
		flow_unhold(c);
		/* May hold it back again (re-added at the tail, seen again: bounded by
		 * the packets it holds, each replay consumes at least one). */
		conn_resume_input(c);
	}
}
