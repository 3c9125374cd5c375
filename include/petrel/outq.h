/* outq.h - a connection's output queue: packets waiting to be written, in order.
 * A PUBLISH entry keeps a reference to its msg and is written with writev straight
 * from the msg (header bytes, topic, packet id, payload), so a payload is never copied
 * per subscriber. Other packets are small and kept inline. Owner worker only. */
#ifndef PETREL_OUTQ_H
#define PETREL_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct msg;

#define OUTQ_INLINE 24

struct outq_entry {
	struct msg *m;             /* PUBLISH: topic and payload come from here */
	uint8_t *heap;             /* a control packet longer than OUTQ_INLINE */
	uint32_t total;            /* bytes of the whole packet */
	uint32_t sent;             /* bytes already written */
	uint8_t hdr_len;           /* PUBLISH: fixed header + topic length bytes */
	uint8_t pid_len;           /* PUBLISH: 2 with a packet id, else 0 */
	uint8_t bytes[OUTQ_INLINE];/* control packet, or PUBLISH header then pid */
};

struct outq {
	struct outq_entry *e;
	uint32_t cap;
	uint32_t head;
	uint32_t len;
	size_t bytes;              /* unsent bytes */
	size_t ctrl_bytes;         /* unsent bytes of packets other than PUBLISH */
};

void outq_init(struct outq *q);
/* Drops everything, msg references included. */
void outq_fini(struct outq *q);

/* Appends a packet of <len> bytes (copied). Returns 0 or -ENOMEM. */
int outq_push_bytes(struct outq *q, const void *pkt, size_t len);
/* Appends a PUBLISH of <m> with the given header fields (takes a msg reference).
 * Returns 0, or -ENOMEM, or -EMSGSIZE if the packet cannot be encoded. */
int outq_push_publish(struct outq *q, struct msg *m, uint8_t qos, bool dup, bool retain,
		      uint16_t packet_id);

/* Fills <iov> (at most <max> entries) with the unsent bytes, in order. Returns count. */
int outq_iov(const struct outq *q, struct iovec *iov, int max);
/* Marks <n> bytes written, freeing completed entries. */
void outq_consume(struct outq *q, size_t n);

static inline bool outq_empty(const struct outq *q)
{
	return q->len == 0;
}

#endif
