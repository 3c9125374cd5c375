/* persist.c - the workers' side of persistence (persist.h): change records appended to
 * a worker's open batch, batches pushed onto the one MPSC queue into the control plane
 * (cplane.c), and its commit notices handed to the engine once per loop turn.
 *
 * A batch is one allocation holding its header, a first run of records and a first
 * arena for their strings, so a loop turn with a few records costs one malloc; a busy
 * turn grows records and arena in separate buffers (persist_batch_free tells them
 * apart). All allocation happens while appending, where the caller can be told
 * (-ENOMEM, counted in persist_oom); persist_push only links the batch into the queue
 * and cannot fail, so a worker never goes to sleep on records it could not push.
 *
 * Messages: ENTRY_PUT and RETAIN_PUT hold a reference on their msg until the control
 * plane frees the batch, so the store reads topic and payload after the sessions that
 * queued it have long moved on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "petrel/broker.h"
#include "petrel/engine.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/worker.h"

/* Records and arena bytes that live inside the batch's own allocation. */
#define PERSIST_INLINE_RECS 16u
#define PERSIST_INLINE_ARENA 512u

static struct persist_rec *batch_inline_recs(struct persist_batch *b)
{
	return (struct persist_rec *)(void *)(b + 1);
}

static char *batch_inline_arena(struct persist_batch *b)
{
	return (char *)(batch_inline_recs(b) + PERSIST_INLINE_RECS);
}

/* What a message keeps allocated while a batch holds it (as msg.c allocates it). */
static size_t persist_msg_bytes(const struct msg *m)
{
	return sizeof(*m) + m->topic_len + 1u + m->payload_len;
}

int persist_create(struct persist **out, uint64_t max_sid, uint64_t max_msg_id)
{
	struct persist *p;

	if (posix_memalign((void **)&p, PETREL_CACHE_LINE, sizeof(*p)) != 0)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	cds_wfcq_init(&p->head, &p->tail);
	atomic_init(&p->cplane_sleeping, 0);
	atomic_init(&p->pending_bytes, 0);
	/* Ids are never reused: go on after the highest the store holds. */
	atomic_init(&p->next_sid, max_sid + 1);
	atomic_init(&p->next_msg_id, max_msg_id + 1);
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->wake_fd < 0) {
		int rc = -errno;

		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void persist_destroy(struct persist *p)
{
	struct cds_wfcq_node *node;

	if (p == NULL)
		return;
	/* Every producer and the control plane have stopped: nothing races us. */
	while ((node = __cds_wfcq_dequeue_blocking(&p->head, &p->tail)) != NULL)
		persist_batch_free(caa_container_of(node, struct persist_batch, node));
	close(p->wake_fd);
	free(p);
}

int persist_worker_create(struct worker *w, struct persist *p)
{
	struct persist_worker *pw;

	if (posix_memalign((void **)&pw, PETREL_CACHE_LINE, sizeof(*pw)) != 0)
		return -ENOMEM;
	memset(pw, 0, sizeof(*pw));
	atomic_init(&pw->committed, 0);
	pw->p = p;
	pw->next_seq = 1;
	w->persist = pw;
	return 0;
}

void persist_worker_destroy(struct worker *w)
{
	struct persist_worker *pw = w->persist;

	if (pw == NULL)
		return;
	if (pw->open != NULL)
		persist_batch_free(pw->open);
	free(pw);
	w->persist = NULL;
}

int persist_attach(struct broker *b, struct persist *p)
{
	for (unsigned i = 0; i < b->nworkers; i++) {
		int rc = persist_worker_create(b->workers[i], p);

		if (rc < 0) {
			while (i-- > 0)
				persist_worker_destroy(b->workers[i]);
			return rc;
		}
	}
	b->persist = p;
	return 0;
}

uint64_t persist_new_sid(struct persist *p)
{
	if (p == NULL)
		return 0;
	return atomic_fetch_add_explicit(&p->next_sid, 1, memory_order_relaxed);
}

uint64_t persist_msg_id(struct worker *w, struct msg *m)
{
	uint_fast64_t id = atomic_load_explicit(&m->store_id, memory_order_acquire);
	uint_fast64_t none = 0;

	if (id != 0 || w->persist == NULL)
		return id;
	id = atomic_fetch_add_explicit(&w->persist->p->next_msg_id, 1, memory_order_relaxed);
	/* Two workers may route the same message at once (a retained copy and a live
	 * one): one id wins, the loser's is skipped (ids are never reused, gaps are
	 * harmless). */
	if (!atomic_compare_exchange_strong_explicit(&m->store_id, &none, id,
						     memory_order_acq_rel, memory_order_acquire))
		return none;
	return id;
}

void persist_batch_free(struct persist_batch *b)
{
	if (b == NULL)
		return;
	for (uint32_t i = 0; i < b->n; i++)
		msg_unref(b->recs[i].m);
	if (b->recs != batch_inline_recs(b))
		free(b->recs);
	if (b->arena != batch_inline_arena(b))
		free(b->arena);
	free(b);
}

/* The open batch of <pw>, created on the first record after a push. */
static struct persist_batch *persist_open(struct worker *w, struct persist_worker *pw)
{
	struct persist_batch *b = pw->open;

	if (b != NULL)
		return b;
	b = malloc(sizeof(*b) + PERSIST_INLINE_RECS * sizeof(struct persist_rec) +
		   PERSIST_INLINE_ARENA);
	if (b == NULL)
		return NULL;
	cds_wfcq_node_init(&b->node);
	b->worker = w->id;
	b->seq = pw->next_seq;
	b->n = 0;
	b->cap = PERSIST_INLINE_RECS;
	b->recs = batch_inline_recs(b);
	b->arena = batch_inline_arena(b);
	b->arena_len = 0;
	b->arena_cap = PERSIST_INLINE_ARENA;
	b->bytes = sizeof(*b);
	pw->open = b;
	pw->last_m = NULL;
	return b;
}

/* Room for one more record and <len> more arena bytes. 0 or -ENOMEM. */
static int persist_reserve(struct persist_batch *b, size_t len)
{
	if (b->n == b->cap) {
		uint32_t cap = b->cap * 2u;
		struct persist_rec *r = cap > b->cap ? malloc(cap * sizeof(*r)) : NULL;

		if (r == NULL)
			return -ENOMEM;
		memcpy(r, b->recs, b->n * sizeof(*r));
		if (b->recs != batch_inline_recs(b))
			free(b->recs);
		b->recs = r;
		b->cap = cap;
	}
	if (len > b->arena_cap - b->arena_len) {
		size_t cap = b->arena_cap * 2u;
		char *a;

		while (cap - b->arena_len < len)
			cap *= 2u;
		a = malloc(cap);
		if (a == NULL)
			return -ENOMEM;
		memcpy(a, b->arena, b->arena_len);
		if (b->arena != batch_inline_arena(b))
			free(b->arena);
		b->arena = a;
		b->arena_cap = cap;
	}
	return 0;
}

/* Appends <t> (its string <str>, <len> bytes, copied into the arena; its message <m>,
 * or NULL, referenced) to <w>'s open batch. Returns 0, or -ENOMEM with nothing
 * appended (counted); 0 at once when persistence is off. */
static int persist_append(struct worker *w, const struct persist_rec *t, const char *str,
			  size_t len, struct msg *m)
{
	struct persist_worker *pw = w->persist;
	struct persist_batch *b;
	struct persist_rec *r;

	if (pw == NULL)
		return 0;
	worker_assert_current(w);
	/* MQTT strings (client ids, filters, topics) are at most 65535 bytes
	 * (MQTT-1.5.3); the arena offsets are 32 bits. */
	if (len > UINT32_MAX)
		return -EINVAL;
	b = persist_open(w, pw);
	if (b == NULL || persist_reserve(b, len) < 0) {
		w->stats.persist_oom++;
		return -ENOMEM;
	}
	r = &b->recs[b->n++];
	*r = *t;
	r->str_off = (uint32_t)b->arena_len;
	r->str_len = (uint32_t)len;
	if (len > 0)
		memcpy(b->arena + b->arena_len, str, len);
	b->arena_len += len;
	b->bytes += sizeof(*r) + len;
	if (m != NULL) {
		r->m = msg_ref(m);
		r->msg_id = persist_msg_id(w, m);
		/* One PUBLISH routed to every stored subscriber appends the same
		 * message many times in a row: its bytes count once, not per copy. */
		if (pw->last_m != m) {
			b->bytes += persist_msg_bytes(m);
			pw->last_m = m;
		}
	}
	pw->last_seq = b->seq;
	w->stats.persist_records++;
	return 0;
}

#define PERSIST_REC(...) (&(const struct persist_rec){ __VA_ARGS__ })

int persist_session_put(struct worker *w, uint64_t sid, const char *client_id, size_t len,
			uint64_t offline_since_ms)
{
	return persist_append(w, PERSIST_REC(.type = PREC_SESSION_PUT, .sid = sid,
					     .time_ms = offline_since_ms),
			      client_id, len, NULL);
}

int persist_session_del(struct worker *w, uint64_t sid)
{
	return persist_append(w, PERSIST_REC(.type = PREC_SESSION_DEL, .sid = sid), NULL, 0,
			      NULL);
}

int persist_sub_put(struct worker *w, uint64_t sid, const char *filter, size_t len,
		    uint8_t qos)
{
	return persist_append(w, PERSIST_REC(.type = PREC_SUB_PUT, .sid = sid, .qos = qos),
			      filter, len, NULL);
}

int persist_sub_del(struct worker *w, uint64_t sid, const char *filter, size_t len)
{
	return persist_append(w, PERSIST_REC(.type = PREC_SUB_DEL, .sid = sid), filter, len,
			      NULL);
}

int persist_entry_put(struct worker *w, uint64_t sid, struct msg *m, uint8_t qos,
		      bool retain)
{
	return persist_append(w, PERSIST_REC(.type = PREC_ENTRY_PUT, .sid = sid, .qos = qos,
					     .retain = retain),
			      NULL, 0, m);
}

int persist_entry_state(struct worker *w, uint64_t sid, uint64_t msg_id, uint16_t packet_id,
			uint8_t state)
{
	return persist_append(w, PERSIST_REC(.type = PREC_ENTRY_STATE, .sid = sid,
					     .msg_id = msg_id, .packet_id = packet_id,
					     .state = state),
			      NULL, 0, NULL);
}

int persist_entry_del(struct worker *w, uint64_t sid, uint64_t msg_id)
{
	return persist_append(w, PERSIST_REC(.type = PREC_ENTRY_DEL, .sid = sid,
					     .msg_id = msg_id),
			      NULL, 0, NULL);
}

int persist_rel_put(struct worker *w, uint64_t sid, uint16_t packet_id)
{
	return persist_append(w, PERSIST_REC(.type = PREC_REL_PUT, .sid = sid,
					     .packet_id = packet_id),
			      NULL, 0, NULL);
}

int persist_rel_del(struct worker *w, uint64_t sid, uint16_t packet_id)
{
	return persist_append(w, PERSIST_REC(.type = PREC_REL_DEL, .sid = sid,
					     .packet_id = packet_id),
			      NULL, 0, NULL);
}

int persist_retain_put(struct worker *w, struct msg *m)
{
	return persist_append(w, PERSIST_REC(.type = PREC_RETAIN_PUT, .qos = m->qos,
					     .retain = true),
			      NULL, 0, m);
}

int persist_retain_del(struct worker *w, const char *topic, size_t len)
{
	return persist_append(w, PERSIST_REC(.type = PREC_RETAIN_DEL), topic, len, NULL);
}

uint64_t persist_last_seq(const struct worker *w)
{
	return w->persist != NULL ? w->persist->last_seq : 0;
}

bool persist_is_committed(struct worker *w, uint64_t seq)
{
	if (seq == 0 || w->persist == NULL)
		return true;
	return atomic_load_explicit(&w->persist->committed, memory_order_acquire) >= seq;
}

void persist_push(struct worker *w)
{
	struct persist_worker *pw = w->persist;
	struct persist_batch *b;
	struct persist *p;

	/* An empty open batch (its first record hit ENOMEM) stays for the next one. */
	if (pw == NULL || pw->open == NULL || pw->open->n == 0)
		return;
	worker_assert_current(w);
	b = pw->open;
	p = pw->p;
	pw->open = NULL;
	pw->last_m = NULL;
	pw->next_seq++;
	w->stats.persist_batches++;
	/* Counted before the control plane can take it, so its subtraction never
	 * goes below zero. */
	atomic_fetch_add_explicit(&p->pending_bytes, b->bytes, memory_order_relaxed);
	cds_wfcq_enqueue(&p->head, &p->tail, &b->node);
	/* Pairs with the control plane storing <cplane_sleeping> before it looks at
	 * the queue (cplane.c): one of the two sides sees the other. */
	if (atomic_exchange(&p->cplane_sleeping, 0) == 1) {
		uint64_t one = 1;
		ssize_t n = write(p->wake_fd, &one, sizeof(one));

		(void)n;   /* EAGAIN: a wake-up is pending already */
	}
}

void persist_push_current(struct broker *b)
{
	int id = worker_current();

	if (b->persist == NULL || id < 0 || (unsigned)id >= b->nworkers)
		return;
	persist_push(b->workers[id]);
}

void persist_turn(struct worker *w)
{
	struct persist_worker *pw = w->persist;
	uint64_t c;

	if (pw == NULL)
		return;
	c = atomic_load_explicit(&pw->committed, memory_order_acquire);
	if (c <= pw->seen)
		return;
	pw->seen = c;
	if (w->eops->committed != NULL)
		w->eops->committed(w, c);
}

bool persist_notice_pending(struct worker *w)
{
	struct persist_worker *pw = w->persist;

	return pw != NULL && atomic_load(&pw->committed) > pw->seen;
}

size_t persist_take(struct persist *p, struct persist_batch **out, size_t max)
{
	size_t n = 0;

	/* The control plane is the queue's only consumer: no dequeue lock needed. */
	while (n < max) {
		struct cds_wfcq_node *node = __cds_wfcq_dequeue_blocking(&p->head, &p->tail);

		if (node == NULL)
			break;
		out[n++] = caa_container_of(node, struct persist_batch, node);
	}
	return n;
}
