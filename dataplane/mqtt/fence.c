/* fence.c - output that waits for the store (persist.h, docs/architecture.md
 * "Persistence"): an acknowledgement (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK) or a
 * QoS 2 PUBLISH/PUBREL whose change records are not committed yet must not reach the
 * client, or a crash right after would break the promise it makes. The worker does not
 * wait for that: it places a fence in the connection's output stream and goes on.
 *
 * A fence is (stream position, batch seq). The transport sees only the bytes before
 * the first open fence (proto_out_len, proto_out_view); nothing else of it changes.
 * Seqs of one worker only grow, so two fences per connection suffice: the first, and
 * one the later ones coalesce into (its position stays, its seq becomes the newest).
 * When the control plane has committed seq0, the second becomes the first. The
 * worker keeps the connections with fences on a list, so a commit notice costs the
 * fenced connections, not all of them. A closed connection leaves the list, and its
 * fenced bytes never go out (not even as last words at close).
 *
 * Bounds (config keys, docs/configuration.md):
 *   persistence_max_parked_bytes: a connection with more output behind fences is not
 *   read until the fences opened enough to bring it under half (persist_parked_pause);
 *   persistence_max_pending_bytes: a publisher whose PUBLISH appended records while
 *   the bytes pushed and not yet applied are over it is held back like a publisher of
 *   a congested session (flow.c) until they are under half (persist_pending_hold).
 *   Each logged once per episode. Nothing else waits: clean sessions and QoS 0 go on.
 */
#include <stdatomic.h>

#include "petrel/log.h"
#include "petrel/persist.h"
#include "mqtt/proto_int.h"

/* Whether some worker holds publishers back for pending bytes: one log line per
 * episode for the process, whichever worker sees it start or end. */
static atomic_bool fence_pending_episode;

static uint64_t conn_out_end(const struct mqtt_conn *c)
{
	return c->out_released + c->out.bytes;
}

/* Bytes at or after the first fence. */
static size_t fence_parked_bytes(const struct mqtt_conn *c)
{
	return c->nfences > 0 ? (size_t)(conn_out_end(c) - c->fence[0].pos) : 0;
}

size_t fence_out_len(const struct mqtt_conn *c)
{
	if (c->nfences == 0)
		return c->out.bytes;
	/* The transport never saw, so never released, a byte past the fence. */
	return (size_t)(c->fence[0].pos - c->out_released);
}

static bool fence_seq_committed(const struct worker *w, uint64_t seq)
{
	/* The control plane's value, not the one last told to the engine: a fence
	 * for a seq it has passed already would wait for a notice that never comes
	 * (persist_turn tells only of advances). */
	return seq <= atomic_load_explicit(&w->persist->committed, memory_order_acquire);
}

static void fence_push(struct mqtt_conn *c, uint64_t seq)
{
	uint64_t pos = conn_out_end(c);

	switch (c->nfences) {
	case 0:
		c->fence[0] = (struct conn_fence){ pos, seq };
		c->nfences = 1;
		if (!c->in_fenced) {
			c->in_fenced = true;
			cds_list_add_tail(&c->fenced_link, &mqtt_worker(c->w)->fenced);
		}
		break;
	case 1:
		if (pos == c->fence[0].pos) {
			c->fence[0].seq = seq;
			break;
		}
		c->fence[1] = (struct conn_fence){ pos, seq };
		c->nfences = 2;
		break;
	default:
		/* Later bytes wait for the newest seq: they may wait a little longer
		 * than their own records need, never less. */
		c->fence[1].seq = seq;
		break;
	}
}

void fence_after(struct mqtt_conn *c, uint64_t mark)
{
	struct worker *w = c->w;
	uint64_t seq;

	worker_assert_current(w);
	if (durable_mark(w) == mark || !durable_on(w) || c->state == CONN_CLOSED)
		return;
	seq = persist_last_seq(w);
	if (seq == 0 || fence_seq_committed(w, seq))
		return;
	fence_push(c, seq);
}

static void fence_park(struct mqtt_conn *c)
{
	struct worker *w = c->w;
	const struct config *cfg = conn_cfg(c);

	c->parked = true;
	w->stats.persist_parked_pause++;
	if (mqtt_worker(w)->parked++ == 0)
		log_notice("%s (%s): %zu bytes of output wait for the store "
			   "(persistence_max_parked_bytes %zu): not read until it commits "
			   "(counted in persist_parked_pause; logged once per episode)",
			   w->tops->peer(c->tc), c->s != NULL ? c->s->client_id : "-",
			   fence_parked_bytes(c), cfg->persistence_max_parked_bytes);
	conn_pause_read(c, true);
}

static void fence_unpark(struct mqtt_conn *c)
{
	struct worker *w = c->w;

	c->parked = false;
	if (--mqtt_worker(w)->parked == 0)
		log_info("worker %u: no connection waits for the store any more", w->id);
	/* Held packets first, then reading resumes unless something else pauses it. */
	conn_resume_input(c);
}

void fence_check_parked(struct mqtt_conn *c)
{
	if (c->parked || c->nfences == 0 || c->state == CONN_CLOSED)
		return;
	if (fence_parked_bytes(c) > conn_cfg(c)->persistence_max_parked_bytes)
		fence_park(c);
}

void fence_committed(struct worker *w, uint64_t seq)
{
	struct mqtt_worker *mw = mqtt_worker(w);
	struct mqtt_conn *c, *tmp;

	worker_assert_current(w);
	cds_list_for_each_entry_safe(c, tmp, &mw->fenced, fenced_link) {
		bool opened = false;

		while (c->nfences > 0 && c->fence[0].seq <= seq) {
			c->fence[0] = c->fence[1];
			c->nfences--;
			opened = true;
		}
		if (!opened)
			continue;
		if (c->nfences == 0) {
			cds_list_del(&c->fenced_link);
			c->in_fenced = false;
		}
		conn_mark_dirty(c);
		if (c->parked &&
		    fence_parked_bytes(c) <= conn_cfg(c)->persistence_max_parked_bytes / 2)
			fence_unpark(c);
	}
}

void fence_conn_closed(struct mqtt_conn *c)
{
	if (c->in_fenced) {
		cds_list_del(&c->fenced_link);
		c->in_fenced = false;
	}
	if (c->parked) {
		c->parked = false;
		mqtt_worker(c->w)->parked--;
	}
	/* c->fence stays: proto_out_len keeps the fenced bytes from the transport's
	 * close (last words), and nothing opens them any more. */
}

bool fence_pending_over(const struct worker *w, bool resume)
{
	const struct persist *p = w->broker->persist;
	size_t limit = w->cfg->persistence_max_pending_bytes;
	size_t pending;

	if (p == NULL || limit == 0)
		return false;
	pending = atomic_load_explicit(&p->pending_bytes, memory_order_relaxed);
	/* Resumes under half: pending * 2 < limit, exact for any limit (1 included). */
	return resume ? pending >= limit - limit / 2 : pending > limit;
}

static void fence_pending_timer(struct timer *t, uint64_t now_ms)
{
	struct mqtt_worker *mw = caa_container_of(t, struct mqtt_worker, pending_timer);
	struct worker *w = mw->self;

	if (atomic_load_explicit(&mw->held_publishers, memory_order_relaxed) == 0)
		return;    /* none waits any more */
	if (fence_pending_over(w, true)) {
		timer_arm(&w->wheel, t, now_ms + TIMER_TICK_MS);
		return;
	}
	if (atomic_exchange(&fence_pending_episode, false))
		log_notice("store: pending records under half of "
			   "persistence_max_pending_bytes: publishers resume");
	/* flow_check_paused, at this turn's end, resumes those not held otherwise. */
	atomic_store(&mw->recheck_paused, true);
}

void fence_pending_hold(struct mqtt_conn *c)
{
	struct worker *w = c->w;
	struct mqtt_worker *mw = mqtt_worker(w);

	w->stats.persist_pending_hold++;
	if (!atomic_exchange(&fence_pending_episode, true))
		log_warn("store: %zu bytes of change records wait for the control plane "
			 "(persistence_max_pending_bytes %zu): publishers of persistent "
			 "messages are held back until it is under half (counted in "
			 "persist_pending_hold; logged once per episode)",
			 atomic_load(&w->broker->persist->pending_bytes),
			 w->cfg->persistence_max_pending_bytes);
	/* The control plane wakes only the workers whose batches it applied: this
	 * worker looks for itself, once a tick, while it holds anyone back. */
	if (!mw->pending_timer.armed)
		timer_arm(&w->wheel, &mw->pending_timer, w->now_ms + TIMER_TICK_MS);
}

void fence_worker_init(struct worker *w)
{
	struct mqtt_worker *mw = mqtt_worker(w);

	CDS_INIT_LIST_HEAD(&mw->fenced);
	timer_init(&mw->pending_timer, fence_pending_timer);
}
