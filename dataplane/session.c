/* session.c - session lifetime and its owner-only containers: subscriptions, the
 * incoming QoS 2 id set, the message queue and the inflight ring (see session.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/broker.h"
#include "petrel/budget.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/router.h"
#include "petrel/session.h"
#include "petrel/topic_level.h"
#include "petrel/worker.h"

static void session_subs_free(struct session *s);

/* Per-connection memory at a million connections (docs/benchmarks.md): growing the
 * session moves it to a larger malloc chunk; revisit the budget there first. */
_Static_assert(sizeof(struct session) <= 200, "struct session outgrew its budget");

struct session *session_create(const char *client_id, size_t len, int owner)
{
	struct session *s = calloc(1, sizeof(*s) + len + 1);

	if (s == NULL)
		return NULL;
	memcpy(s->client_id, client_id, len);
	s->client_id[len] = '\0';
	s->client_id_len = (uint16_t)len;
	atomic_init(&s->refcnt, 1);
	atomic_init(&s->owner, owner);
	atomic_init(&s->congested, false);
	CDS_INIT_LIST_HEAD(&s->owner_link);
	CDS_INIT_LIST_HEAD(&s->offline_link);
	return s;
}

void session_ref(struct session *s)
{
	atomic_fetch_add_explicit(&s->refcnt, 1, memory_order_relaxed);
}

bool session_tryref(struct session *s)
{
	unsigned v = atomic_load_explicit(&s->refcnt, memory_order_relaxed);

	while (v != 0) {
		if (atomic_compare_exchange_weak_explicit(&s->refcnt, &v, v + 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

static void session_free(struct session *s)
{
	/* Only references remain at this point: the owner cleared the contents when the
	 * session ended, or the broker is shutting down and cleared them. */
	msg_queue_clear(&s->queue);
	inflight_clear(&s->inflight);
	free(s->queue.e);
	free(s->inflight.e);
	free(s->awaiting_rel);
	session_subs_free(s);
	free(s);
}

void session_unref(struct session *s)
{
	if (atomic_fetch_sub_explicit(&s->refcnt, 1, memory_order_acq_rel) == 1)
		session_free(s);
}

void session_clear(struct worker *w, struct session *s)
{
	struct subscription *sub;
	uint32_t pos = 0, done = 0;

	session_assert_owner(s);
	while ((sub = ptrhash_next(&s->subs, &pos)) != NULL) {
		int rc = router_unsubscribe(w->broker->router, sub->filter, sub->len, s);

		/* router_unsubscribe allocates nothing, so the only error is a router
		 * that lacks a filter the session recorded: nothing is left to undo, but
		 * it is a bug worth seeing. */
		if (rc < 0) {
			w->stats.unsubscribe_failed++;
			log_err("client '%s': filter '%s' missing from the router (%d)",
				s->client_id, sub->filter, rc);
		}
		/* A session with 100k filters must not hold back every grace period
		 * (and so every call_rcu free) until it is done. Safe: the caller holds
		 * no RCU-protected pointer (session.h), <s> is ours by reference, and
		 * the walk over s->subs touches no shared structure. */
		if (++done % SESSION_CLEAR_CHUNK == 0)
			worker_quiescent_point();
	}
	session_subs_free(s);
	session_drop_messages(s);
}

void session_drop_messages(struct session *s)
{
	session_assert_owner(s);
	msg_queue_clear(&s->queue);
	inflight_clear(&s->inflight);
	s->awaiting_rel_len = 0;
	atomic_store_explicit(&s->congested, false, memory_order_relaxed);
}

/* ---- subscriptions --------------------------------------------------------------- */

struct subscription *session_sub_find(const struct session *s, const char *filter,
				      size_t len)
{
	uint64_t h = topic_level_hash(filter, len);
	struct subscription *sub;
	uint32_t pos = 0;

	session_assert_owner(s);
	while ((sub = ptrhash_find(&s->subs, h, &pos)) != NULL) {
		if (sub->len == len && memcmp(sub->filter, filter, len) == 0)
			return sub;
	}
	return NULL;
}

int session_sub_add(struct session *s, const char *filter, size_t len, uint8_t qos)
{
	struct subscription *sub = session_sub_find(s, filter, len);

	session_assert_owner(s);
	if (sub != NULL) {
		sub->qos = qos;
		return 0;
	}
	sub = malloc(sizeof(*sub) + len + 1);
	if (sub == NULL)
		return -ENOMEM;
	memcpy(sub->filter, filter, len);
	sub->filter[len] = '\0';
	sub->len = (uint16_t)len;
	sub->qos = qos;
	if (ptrhash_add(&s->subs, topic_level_hash(filter, len), sub) < 0) {
		free(sub);
		return -ENOMEM;
	}
	return 0;
}

int session_sub_remove(struct session *s, const char *filter, size_t len)
{
	struct subscription *sub = session_sub_find(s, filter, len);

	session_assert_owner(s);
	if (sub == NULL)
		return -ENOENT;
	ptrhash_del(&s->subs, topic_level_hash(filter, len), sub);	/* found: cannot fail */
	free(sub);
	return 0;
}

static void session_subs_free(struct session *s)
{
	struct subscription *sub;
	uint32_t pos = 0;

	while ((sub = ptrhash_next(&s->subs, &pos)) != NULL)
		free(sub);
	ptrhash_fini(&s->subs);
}

/* ---- incoming QoS 2 ids ---------------------------------------------------------- */

bool session_rel_contains(const struct session *s, uint16_t id)
{
	session_assert_owner(s);
	for (uint32_t i = 0; i < s->awaiting_rel_len; i++)
		if (s->awaiting_rel[i] == id)
			return true;
	return false;
}

int session_rel_add(struct session *s, uint16_t id)
{
	session_assert_owner(s);
	if (s->awaiting_rel_len == s->awaiting_rel_cap) {
		uint32_t cap = s->awaiting_rel_cap ? s->awaiting_rel_cap * 2 : 8;
		uint16_t *n;

		if (cap > 65536)
			return -ENOSPC;
		n = realloc(s->awaiting_rel, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		s->awaiting_rel = n;
		s->awaiting_rel_cap = cap;
	}
	s->awaiting_rel[s->awaiting_rel_len++] = id;
	return 0;
}

void session_rel_remove(struct session *s, uint16_t id)
{
	session_assert_owner(s);
	for (uint32_t i = 0; i < s->awaiting_rel_len; i++) {
		if (s->awaiting_rel[i] == id) {
			s->awaiting_rel[i] = s->awaiting_rel[--s->awaiting_rel_len];
			return;
		}
	}
}

uint16_t session_next_packet_id(struct session *s)
{
	session_assert_owner(s);
	for (;;) {
		uint16_t id = ++s->last_packet_id;

		if (id == 0)
			continue;
		if (s->inflight.live == 0 || inflight_find(&s->inflight, id) == NULL)
			return id;
	}
}

/* ---- message queue --------------------------------------------------------------- */

int msg_queue_push(struct msg_queue *q, struct msg *m, uint8_t qos, bool retain)
{
	if (q->len == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 8;
		struct queued *n = malloc(cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		/* Unroll the ring into the new array, head first. */
		for (uint32_t i = 0; i < q->len; i++)
			n[i] = q->e[(q->head + i) % q->cap];
		free(q->e);
		/* Queue slots are memory clients make us hold (memory_limit). */
		budget_add((ssize_t)((cap - q->cap) * sizeof(*n)));
		q->e = n;
		q->cap = cap;
		q->head = 0;
	}
	q->e[(q->head + q->len) % q->cap] = (struct queued){ msg_ref(m), qos, retain };
	q->len++;
	q->bytes += m->payload_len;
	return 0;
}

bool msg_queue_pop(struct msg_queue *q, struct queued *out)
{
	if (q->len == 0)
		return false;
	*out = q->e[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	q->bytes -= out->m->payload_len;
	if (q->len == 0) {
		/* Drained: give the memory back (offline sessions are many). */
		budget_add(-(ssize_t)(q->cap * sizeof(*q->e)));
		free(q->e);
		q->e = NULL;
		q->cap = 0;
		q->head = 0;
	}
	return true;
}

void msg_queue_clear(struct msg_queue *q)
{
	struct queued x;

	while (msg_queue_pop(q, &x))
		msg_unref(x.m);
}

/* ---- inflight ring --------------------------------------------------------------- */

static int inflight_grow(struct inflight_ring *r, uint32_t limit)
{
	uint32_t cap = r->cap ? r->cap * 2 : 4;
	struct inflight *n;
	uint32_t j = 0;

	if (cap > limit)
		cap = limit;
	if (cap <= r->live)
		return -ENOSPC;
	n = calloc(cap, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	/* Copy live entries in order; holes are dropped. */
	for (uint32_t i = 0; i < r->span; i++) {
		struct inflight *e = inflight_at(r, i);

		if (e->state != INFLIGHT_FREE)
			n[j++] = *e;
	}
	free(r->e);
	r->e = n;
	r->cap = cap;
	r->head = 0;
	r->span = j;
	return 0;
}

struct inflight *inflight_add(struct inflight_ring *r, uint32_t limit)
{
	struct inflight *e;

	if (r->live >= limit)
		return NULL;
	if (r->span == r->cap && inflight_grow(r, r->live < r->cap ? r->cap : limit) < 0)
		return NULL;
	e = inflight_at(r, r->span);
	r->span++;
	r->live++;
	memset(e, 0, sizeof(*e));
	return e;
}

struct inflight *inflight_find(struct inflight_ring *r, uint16_t packet_id)
{
	for (uint32_t i = 0; i < r->span; i++) {
		struct inflight *e = inflight_at(r, i);

		if (e->state != INFLIGHT_FREE && e->packet_id == packet_id)
			return e;
	}
	return NULL;
}

void inflight_remove(struct inflight_ring *r, struct inflight *e)
{
	msg_unref(e->m);
	e->m = NULL;
	e->state = INFLIGHT_FREE;
	r->live--;
	while (r->span > 0 && inflight_at(r, 0)->state == INFLIGHT_FREE) {
		r->head = (r->head + 1) % r->cap;
		r->span--;
	}
}

void inflight_clear(struct inflight_ring *r)
{
	for (uint32_t i = 0; i < r->span; i++) {
		struct inflight *e = inflight_at(r, i);

		if (e->state != INFLIGHT_FREE)
			msg_unref(e->m);
		e->m = NULL;
		e->state = INFLIGHT_FREE;
	}
	r->head = 0;
	r->span = 0;
	r->live = 0;
}
