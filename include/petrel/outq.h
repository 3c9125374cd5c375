/* outq.h - a connection's output stream, which is also its send buffer: packets in
 * order, whose bytes stay here until the transport releases them (kernel: written to
 * the socket; TCP: acknowledged by the peer). The transport reads them at any offset
 * (outq_view), as often as it needs (a TCP retransmission), and releases the oldest
 * ones when done (outq_release). A PUBLISH entry keeps a reference to its msg and is
 * viewed straight from the msg (header bytes, topic, packet id, payload), so a payload
 * is never copied per subscriber. Other packets are small and kept inline. Owner
 * worker only. */
#ifndef PETREL_OUTQ_H
#define PETREL_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/span.h"

struct msg;

#define OUTQ_INLINE 24

struct outq_entry {
	struct msg *m;             /* PUBLISH: topic and payload come from here */
	uint8_t *heap;             /* a control packet longer than OUTQ_INLINE */
	uint32_t total;            /* bytes of the whole packet */
	uint32_t done;             /* bytes already released (the head entry only) */
	uint8_t hdr_len;           /* PUBLISH: fixed header + topic length bytes */
	uint8_t pid_len;           /* PUBLISH: 2 with a packet id, else 0 */
	uint8_t bytes[OUTQ_INLINE];/* control packet, or PUBLISH header then pid */
};

struct outq {
	struct outq_entry *e;
	uint32_t cap;
	uint32_t head;
	uint32_t len;
	/* Where the last view started: entry <hint_idx> (from the head) begins
	 * <hint_pos> bytes after the head entry's first byte. A TCP sender views at
	 * its send offset, deep into the window, once per segment: this makes that a
	 * short step from the last one instead of a walk from the head. */
	uint32_t hint_idx;
	size_t hint_pos;
	size_t bytes;              /* unreleased bytes */
	size_t ctrl_bytes;         /* unreleased bytes of packets other than PUBLISH */
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

/* Fills <sp> (at most <max> spans) with the unreleased bytes from byte <off> on
 * (0 = the oldest unreleased), in order, none empty. A PUBLISH payload span has
 * ref = its msg; every other span (headers, topic, packet id, control packets) has
 * ref = NULL: copy it before the queue changes. Returns the count (0 when <off> is
 * at or past the end). Takes no reference. */
int outq_view(struct outq *q, size_t off, struct tx_span *sp, int max);
/* The oldest <n> bytes (at most q->bytes) are done with: frees completed entries. */
void outq_release(struct outq *q, size_t n);

static inline bool outq_empty(const struct outq *q)
{
	return q->len == 0;
}

#endif
