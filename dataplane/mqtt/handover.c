/* handover.c - a publisher's order survives a session takeover (MQTT 3.1.1 section
 * 4.6, MQTT-4.6.0-6: messages from one client on one topic reach each subscriber in
 * the order they were published).
 *
 * The race. A publishing worker A reads session->owner and posts the delivery to that
 * worker. When old owner B hands the session to C, a delivery A addressed to B before
 * the move reaches B afterwards and is forwarded to C; a later one A addressed to C
 * straight away can get there first. (Also on C itself: a publisher on C routes to
 * the session locally while B's forwards are still in C's queue.)
 *
 * The fence. Workers are urcu-qsbr readers and a whole loop turn is one read-side
 * critical section: a worker that read owner == B posts what it routed before its
 * next quiescent state. So once B has stored owner = C, a grace period later every
 * delivery addressed to B for the session sits in B's inbound queue. B asks call_rcu
 * to post WMSG_HANDOVER_DRAINED to itself after that grace period: it arrives behind
 * all of them, so when B handles it B has forwarded them all, and it posts
 * WMSG_HANDOVER_FENCE to C behind its forwards.
 *
 *   B: kick old connection, handover_wait = 1, owner = C (release), call_rcu(fence)
 *   C: until the fence, deliveries that come forwarded (from B) are delivered; any
 *      other delivery for the session, local or posted, and any takeover request
 *      for it, waits on the session's held list in arrival order
 *   (grace period)  call_rcu thread -> B: DRAINED  ->  B -> C: FENCE
 *   C: handover_wait = 0, the held list is handled in order
 *
 * A takeover request parked on the list moves the session on only after the fence, so
 * at most one fence per session is outstanding and only the previous owner ever
 * forwards to the current one while it waits. Nothing blocks: the new connection gets
 * its CONNACK at once (unless the session is still settling a previous move), only
 * the held deliveries wait, for about one loop turn of each worker. Out of memory for
 * the fence, the handover goes ahead unfenced (counted, logged).
 */
#include <assert.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

static void held_append(struct session *s, struct wmsg *m)
{
	m->held_next = NULL;
	if (s->held_last != NULL)
		s->held_last->held_next = m;
	else
		s->held = m;
	s->held_last = m;
}

/* Takes the held list off <s>: whatever handling it causes sees an empty one. */
static struct wmsg *held_take(struct session *s)
{
	struct wmsg *m = s->held;

	s->held = NULL;
	s->held_last = NULL;
	s->handover_wait = false;
	return m;
}

static void held_replay(struct worker *w, struct session *s)
{
	struct wmsg *m = held_take(s);

	while (m != NULL) {
		struct wmsg *next = m->held_next;

		engine_handle(w, m);
		m = next;
	}
}

/* call_rcu thread: a grace period has passed since the owner store. */
static void handover_grace_over(struct rcu_head *rcu)
{
	struct wmsg_handover *h = caa_container_of(rcu, struct wmsg_handover, rcu);

	worker_post(h->from, &h->h);
}

void handover_session(struct worker *w, struct session *s, unsigned to)
{
	struct wmsg_handover *h = malloc(sizeof(*h));

	engine_assert_owner(w, s);
	/* Parked requests wait for our own fence: we hold nothing when we hand over. */
	assert(!s->handover_wait && s->held == NULL);
	engine_drop_session(w, s);
	if (h != NULL) {
		h->h.type = WMSG_HANDOVER_DRAINED;
		session_ref(s);
		h->s = s;
		h->from = w;
		h->to = to;
		/* Written before the release store: the new owner reads it after its
		 * acquire load of <owner> sees itself. */
		s->handover_wait = true;
	} else {
		w->stats.handover_unfenced++;
		log_warn("client '%s': out of memory, session moves to worker %u without "
			 "an order fence", s->client_id, to);
	}
	/* Hand over: after this store we never touch the session again. */
	atomic_store_explicit(&s->owner, (int)to, memory_order_release);
	if (h != NULL)
		/* The grace period must start after the store; call_rcu's does. */
		call_rcu(&h->rcu, handover_grace_over);
}

bool handover_hold(struct worker *w, struct session *s, struct msg *m, uint8_t qos,
		   bool held, uint64_t rec_sid)
{
	struct wmsg_deliver *d;

	engine_assert_owner(w, s);
	if (likely(!s->handover_wait))
		return false;
	d = malloc(sizeof(*d) + sizeof(d->t[0]));
	if (d == NULL) {
		w->stats.drop_no_memory++;
		durable_copy_drop(w, rec_sid, m);
		return true;
	}
	d->h.type = WMSG_DELIVER;
	d->m = msg_ref(m);
	d->forwarded = false;
	d->counted = false;
	d->n = 1;
	session_ref(s);
	/* Replayed through deliver_batch, which knows the copy is recorded. */
	d->t[0] = (struct wmsg_target){ s, qos, held, rec_sid };
	held_append(s, &d->h);
	w->stats.handover_held++;
	return true;
}

bool handover_park(struct worker *w, struct session *s, struct wmsg_takeover *t)
{
	engine_assert_owner(w, s);
	if (!s->handover_wait)
		return false;
	held_append(s, &t->h);
	w->stats.handover_parked++;
	return true;
}

void handover_drained(struct worker *w, struct wmsg_handover *h)
{
	worker_assert_current(w);
	/* Everything addressed to us for h->s was ahead of this message and has been
	 * forwarded to h->to: the fence goes behind it. */
	h->h.type = WMSG_HANDOVER_FENCE;
	worker_post(w->broker->workers[h->to], &h->h);
}

void handover_fence(struct worker *w, struct wmsg_handover *h)
{
	struct session *s = h->s;

	worker_assert_current(w);
	/* A session that ended meanwhile released its list then (handover_ended). */
	if (session_owner(s) == (int)w->id && s->handover_wait)
		held_replay(w, s);
	session_unref(s);
	free(h);
}

void handover_ended(struct worker *w, struct session *s)
{
	worker_assert_current(w);
	assert(session_owner(s) == SESSION_DEAD);
	/* Owner is SESSION_DEAD now: held deliveries are counted as drop_session_gone,
	 * parked requesters get their answer and start afresh. */
	held_replay(w, s);
}

void handover_cleared(struct session *s)
{
	struct wmsg *m = s->held;

	session_assert_owner(s);
	/* MQTT-3.1.2-6: deliveries held for the previous session go with it, as its
	 * queue did; parked takeover requests stay, in order. */
	s->held = NULL;
	s->held_last = NULL;
	while (m != NULL) {
		struct wmsg *next = m->held_next;

		if (m->type == WMSG_DELIVER)
			engine_discard(m);
		else
			held_append(s, m);
		m = next;
	}
}

void handover_discard(struct wmsg_handover *h)
{
	session_unref(h->s);
	free(h);
}

void handover_discard_held(struct session *s)
{
	struct wmsg *m = held_take(s);

	while (m != NULL) {
		struct wmsg *next = m->held_next;

		engine_discard(m);
		m = next;
	}
}
