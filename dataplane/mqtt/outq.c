/* outq.c - per-connection output stream and send buffer (see outq.h). A PUBLISH entry
 * is four pieces on the wire: fixed header + topic length, the topic (from the msg),
 * the packet id, the payload (from the msg); outq_view maps the part of each at or
 * after an offset onto spans. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/msg.h"
#include "petrel/mqtt.h"
#include "petrel/outq.h"

void outq_init(struct outq *q)
{
	memset(q, 0, sizeof(*q));
}

static void entry_release(struct outq_entry *e)
{
	msg_unref(e->m);
	free(e->heap);
	e->m = NULL;
	e->heap = NULL;
}

void outq_fini(struct outq *q)
{
	for (uint32_t i = 0; i < q->len; i++)
		entry_release(&q->e[(q->head + i) % q->cap]);
	free(q->e);
	outq_init(q);
}

static struct outq_entry *outq_tail_new(struct outq *q)
{
	struct outq_entry *e;

	if (q->len == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 8;
		struct outq_entry *n = malloc(cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		for (uint32_t i = 0; i < q->len; i++)
			n[i] = q->e[(q->head + i) % q->cap];
		free(q->e);
		q->e = n;
		q->cap = cap;
		q->head = 0;
	}
	e = &q->e[(q->head + q->len) % q->cap];
	memset(e, 0, offsetof(struct outq_entry, bytes));
	return e;
}

int outq_push_bytes(struct outq *q, const void *pkt, size_t len)
{
	struct outq_entry *e;

	/* Acks come in runs (a PUBACK per publish): pack them into the previous small
	 * entry so a burst costs one iovec per few acks, not one each. */
	if (q->len > 0) {
		e = &q->e[(q->head + q->len - 1) % q->cap];
		if (e->m == NULL && e->heap == NULL && e->total + len <= OUTQ_INLINE) {
			memcpy(e->bytes + e->total, pkt, len);
			e->total += (uint32_t)len;
			q->bytes += len;
			q->ctrl_bytes += len;
			return 0;
		}
	}
	e = outq_tail_new(q);

	if (e == NULL)
		return -ENOMEM;
	if (len > OUTQ_INLINE) {
		e->heap = malloc(len);
		if (e->heap == NULL)
			return -ENOMEM;
		memcpy(e->heap, pkt, len);
	} else {
		memcpy(e->bytes, pkt, len);
	}
	e->total = (uint32_t)len;
	q->len++;
	q->bytes += len;
	q->ctrl_bytes += len;
	return 0;
}

int outq_push_publish(struct outq *q, struct msg *m, uint8_t qos, bool dup, bool retain,
		      uint16_t packet_id)
{
	struct outq_entry *e;
	size_t remaining = 2 + (size_t)m->topic_len + (qos ? 2 : 0) + m->payload_len;
	size_t vlen;

	if (remaining > MQTT_MAX_REMAINING_LEN)
		return -EMSGSIZE;
	e = outq_tail_new(q);
	if (e == NULL)
		return -ENOMEM;
	/* Fixed header and topic length are ours; the topic itself comes from the msg. */
	/* MQTT-3.3.1-2: DUP is 0 on QoS 0. */
	e->bytes[0] = (uint8_t)((MQTT_PUBLISH << 4) | (dup && qos > 0 ? 0x08 : 0) | (qos << 1) |
				(retain ? 0x01 : 0));
	vlen = mqtt_varint_encode(&e->bytes[1], (uint32_t)remaining);
	e->bytes[1 + vlen] = (uint8_t)(m->topic_len >> 8);
	e->bytes[2 + vlen] = (uint8_t)(m->topic_len & 0xff);
	e->hdr_len = (uint8_t)(3 + vlen);
	if (qos > 0) {
		e->bytes[e->hdr_len] = (uint8_t)(packet_id >> 8);
		e->bytes[e->hdr_len + 1] = (uint8_t)(packet_id & 0xff);
		e->pid_len = 2;
	}
	e->m = msg_ref(m);
	e->total = (uint32_t)(e->hdr_len + remaining - 2);
	q->len++;
	q->bytes += e->total;
	return 0;
}

static struct outq_entry *outq_at(struct outq *q, uint32_t i)
{
	return &q->e[(q->head + i) % q->cap];
}

/* Adds [base, base+len) minus its first <skip> bytes as a span, if any is left and
 * there is room. Returns the bytes of <skip> this piece absorbed. */
static size_t piece(struct tx_span *sp, int *n, int max, const void *base, size_t len,
		    size_t skip, void *ref)
{
	if (skip >= len)
		return len;
	if (*n < max) {
		sp[*n].base = (const void *)((uintptr_t)base + skip);
		sp[*n].len = (uint32_t)(len - skip);
		sp[*n].ref = ref;
		(*n)++;
	}
	return skip;
}

int outq_view(struct outq *q, size_t off, struct tx_span *sp, int max)
{
	uint32_t i = 0;
	size_t pos = 0;
	size_t skip;
	int n = 0;

	if (off >= q->bytes || max <= 0)
		return 0;
	/* Positions count from the head entry's first byte, released ones included. */
	off += q->len > 0 ? outq_at(q, 0)->done : 0;
	if (q->hint_idx < q->len && q->hint_pos <= off) {
		i = q->hint_idx;
		pos = q->hint_pos;
	}
	while (pos + outq_at(q, i)->total <= off) {
		pos += outq_at(q, i)->total;
		i++;
	}
	q->hint_idx = i;
	q->hint_pos = pos;
	skip = off - pos;
	for (; i < q->len && n < max; i++, skip = 0) {
		const struct outq_entry *e = outq_at(q, i);

		if (e->m == NULL) {
			piece(sp, &n, max, e->heap ? e->heap : e->bytes, e->total, skip, NULL);
			continue;
		}
		/* MQTT 3.3: fixed header and topic length, topic, packet id, payload. Only
		 * the payload is worth pointing at from outside (an external mbuf): the
		 * rest is a few bytes, copied. */
		skip -= piece(sp, &n, max, e->bytes, e->hdr_len, skip, NULL);
		skip -= piece(sp, &n, max, e->m->topic, e->m->topic_len, skip, NULL);
		skip -= piece(sp, &n, max, e->bytes + e->hdr_len, e->pid_len, skip, NULL);
		piece(sp, &n, max, e->m->payload, e->m->payload_len, skip, e->m);
	}
	return n;
}

void outq_release(struct outq *q, size_t n)
{
	if (n > q->bytes)
		n = q->bytes;
	q->bytes -= n;
	while (n > 0 && q->len > 0) {
		struct outq_entry *e = outq_at(q, 0);
		size_t left = e->total - e->done;

		if (n < left) {
			e->done += (uint32_t)n;
			if (e->m == NULL)
				q->ctrl_bytes -= n;
			return;
		}
		n -= left;
		if (e->m == NULL)
			q->ctrl_bytes -= left;
		/* The view hint counts from this entry's first byte: move it along. */
		if (q->hint_idx > 0) {
			q->hint_idx--;
			q->hint_pos -= e->total;
		} else {
			q->hint_pos = 0;
		}
		entry_release(e);
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	/* Idle connections are the many: an empty queue keeps no memory. */
	if (q->len == 0) {
		free(q->e);
		q->e = NULL;
		q->cap = 0;
		q->head = 0;
		q->hint_idx = 0;
		q->hint_pos = 0;
	}
}
