/* outq.c - per-connection output queue (see outq.h). A PUBLISH entry is four pieces
 * on the wire: fixed header + topic length, the topic (from the msg), the packet id,
 * the payload (from the msg); outq_iov maps the unsent part of each onto iovecs. */
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

/* Adds [base, base+len) minus the first <skip> bytes; returns the bytes of <skip>
 * that this piece absorbed. */
static size_t piece(struct iovec *iov, int *n, int max, const void *base, size_t len,
		    size_t skip)
{
	if (skip >= len)
		return len;
	if (*n < max) {
		iov[*n].iov_base = (void *)((uintptr_t)base + skip);
		iov[*n].iov_len = len - skip;
		(*n)++;
	}
	return skip;
}

int outq_iov(const struct outq *q, struct iovec *iov, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < q->len && n < max; i++) {
		const struct outq_entry *e = &q->e[(q->head + i) % q->cap];
		size_t skip = e->sent;

		if (e->m == NULL) {
			piece(iov, &n, max, e->heap ? e->heap : e->bytes, e->total, skip);
			continue;
		}
		/* Never split a PUBLISH across the iovec limit: stop before it if its
		 * pieces do not all fit, so outq_consume stays simple. */
		if (n + 4 > max)
			break;
		skip -= piece(iov, &n, max, e->bytes, e->hdr_len, skip);
		skip -= piece(iov, &n, max, e->m->topic, e->m->topic_len, skip);
		skip -= piece(iov, &n, max, e->bytes + e->hdr_len, e->pid_len, skip);
		piece(iov, &n, max, e->m->payload, e->m->payload_len, skip);
	}
	return n;
}

void outq_consume(struct outq *q, size_t n)
{
	q->bytes -= n;
	while (n > 0 && q->len > 0) {
		struct outq_entry *e = &q->e[q->head];
		size_t left = e->total - e->sent;

		if (n < left) {
			e->sent += (uint32_t)n;
			if (e->m == NULL)
				q->ctrl_bytes -= n;
			return;
		}
		n -= left;
		if (e->m == NULL)
			q->ctrl_bytes -= left;
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
	}
}
