/* tbatch.c - hand-built persist batches for the store's suites; see tbatch.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/msg.h"
#include "petrel/persist.h"
#include "tbatch.h"

static void *tbatch_xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "tbatch: out of memory\n");
		abort();
	}
	return p;
}

struct persist_batch *tbatch_create(unsigned worker, uint64_t seq)
{
	struct persist_batch *b = tbatch_xrealloc(NULL, sizeof(*b));

	memset(b, 0, sizeof(*b));
	b->worker = worker;
	b->seq = seq;
	return b;
}

void tbatch_free(struct persist_batch *b)
{
	if (b == NULL)
		return;
	for (uint32_t i = 0; i < b->n; i++)
		msg_unref(b->recs[i].m);
	free(b->recs);
	free(b->arena);
	free(b);
}

/* Appends a record of <type> for <sid>, with <str> copied into the arena. */
static struct persist_rec *tbatch_add(struct persist_batch *b, uint8_t type, uint64_t sid,
				      const char *str, size_t len)
{
	struct persist_rec *r;

	if (b->n == b->cap) {
		b->cap = b->cap != 0 ? b->cap * 2 : 16;
		b->recs = tbatch_xrealloc(b->recs, b->cap * sizeof(*b->recs));
	}
	if (b->arena_len + len > b->arena_cap) {
		b->arena_cap = (b->arena_len + len) * 2;
		b->arena = tbatch_xrealloc(b->arena, b->arena_cap);
	}
	r = &b->recs[b->n++];
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->sid = sid;
	r->str_off = (uint32_t)b->arena_len;
	r->str_len = (uint32_t)len;
	if (len > 0)
		memcpy(b->arena + b->arena_len, str, len);
	b->arena_len += len;
	b->bytes += sizeof(*r) + len;
	return r;
}

void tbatch_session_put(struct persist_batch *b, uint64_t sid, const char *client_id,
			size_t len, uint64_t offline_since_ms)
{
	tbatch_add(b, PREC_SESSION_PUT, sid, client_id, len)->time_ms = offline_since_ms;
}

void tbatch_session_del(struct persist_batch *b, uint64_t sid)
{
	tbatch_add(b, PREC_SESSION_DEL, sid, NULL, 0);
}

void tbatch_sub_put(struct persist_batch *b, uint64_t sid, const char *filter, size_t len,
		    uint8_t qos)
{
	tbatch_add(b, PREC_SUB_PUT, sid, filter, len)->qos = qos;
}

void tbatch_sub_del(struct persist_batch *b, uint64_t sid, const char *filter, size_t len)
{
	tbatch_add(b, PREC_SUB_DEL, sid, filter, len);
}

void tbatch_entry_put(struct persist_batch *b, uint64_t sid, struct msg *m, uint8_t qos,
		      bool retain)
{
	struct persist_rec *r = tbatch_add(b, PREC_ENTRY_PUT, sid, NULL, 0);

	r->m = msg_ref(m);
	r->msg_id = atomic_load(&m->store_id);
	r->qos = qos;
	r->retain = retain;
}

void tbatch_entry_state(struct persist_batch *b, uint64_t sid, uint64_t msg_id,
			uint16_t packet_id, uint8_t state)
{
	struct persist_rec *r = tbatch_add(b, PREC_ENTRY_STATE, sid, NULL, 0);

	r->msg_id = msg_id;
	r->packet_id = packet_id;
	r->state = state;
}

void tbatch_entry_del(struct persist_batch *b, uint64_t sid, uint64_t msg_id)
{
	tbatch_add(b, PREC_ENTRY_DEL, sid, NULL, 0)->msg_id = msg_id;
}

void tbatch_rel_put(struct persist_batch *b, uint64_t sid, uint16_t packet_id)
{
	tbatch_add(b, PREC_REL_PUT, sid, NULL, 0)->packet_id = packet_id;
}

void tbatch_rel_del(struct persist_batch *b, uint64_t sid, uint16_t packet_id)
{
	tbatch_add(b, PREC_REL_DEL, sid, NULL, 0)->packet_id = packet_id;
}

void tbatch_retain_put(struct persist_batch *b, struct msg *m)
{
	struct persist_rec *r = tbatch_add(b, PREC_RETAIN_PUT, 0, NULL, 0);

	r->m = msg_ref(m);
	r->msg_id = atomic_load(&m->store_id);
}

void tbatch_retain_del(struct persist_batch *b, const char *topic, size_t len)
{
	tbatch_add(b, PREC_RETAIN_DEL, 0, topic, len);
}
