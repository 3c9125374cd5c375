/* bench_pub.h - a publisher's send window: <nslots> PUBLISH packets encoded once at
 * setup, each with its own packet id (slot + 1), so sending a message only patches its
 * sequence and timestamp in place. A slot is busy from stamping until the broker's
 * PUBACK (QoS 1) or PUBCOMP (QoS 2), or for QoS 0 until the socket took it; the busy
 * slots are the window. Stamped slots wait in a FIFO for the connection's next write.
 * Owned by one thread; no locks.
 *
 * A fixed-rate publisher follows a schedule: message k is due at rate_t0 + k / rate
 * (bench_sched_time) and carries that intended time as its stamp, not the time it was
 * actually written. When the window is full or the generator wakes late, the due
 * messages wait and go out later with their original stamps, so a stall of the broker
 * shows in the latency of every message it delayed (no coordinated omission). */
#ifndef BENCH_PUB_H
#define BENCH_PUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <petrel/mqtt.h>

#include "bench_hist.h"

enum bench_slot_state {
	BPS_FREE,
	BPS_QUEUED,                  /* stamped, not yet (fully) written */
	BPS_SENT,                    /* written, waiting for PUBACK / PUBREC */
	BPS_RELEASED,                /* QoS 2: PUBREL queued, waiting for PUBCOMP */
};

struct bench_pub {
	uint32_t id;
	uint8_t qos;
	uint32_t nslots;
	size_t slot_len;             /* whole packet */
	size_t hdr_off;              /* where the payload (bench header) starts */
	uint8_t *slots;
	uint8_t *state;
	uint32_t *free;              /* stack of free slot indexes */
	uint32_t nfree;
	uint32_t *txq;               /* ring of stamped slot indexes, oldest first */
	uint32_t txq_head;
	uint32_t txq_len;
	size_t txq_off;              /* bytes of the oldest already written */
	uint64_t seq;                /* messages stamped so far, the next sequence */
	double period_ns;            /* 1e9 / rate; 0 = unlimited */
	uint64_t rate_t0;
	uint64_t rate_sent;          /* scheduled messages stamped since rate_t0 */
	uint64_t bad_acks;           /* acks for ids not in flight in that state */
};

/* Intended send time of message <k> (0-based) of the schedule <t0>, <period_ns>
 * (> 0): t0 + k * period, rounded down to the nanosecond. Non-decreasing in <k>. */
uint64_t bench_sched_time(uint64_t t0, double period_ns, uint64_t k);

/* How many messages of that schedule are due at <now>: the number of k with
 * bench_sched_time(k) <= now, exactly, whatever the rounding. */
uint64_t bench_sched_due(uint64_t t0, double period_ns, uint64_t now);

/* Encodes <nslots> PUBLISHes on <topic> with <payload>-byte payloads. Returns 0 or
 * -ENOMEM / -EINVAL; on error nothing is left allocated. */
int bench_pub_init(struct bench_pub *p, uint32_t id, const char *topic, uint8_t qos,
		   uint32_t payload, uint32_t nslots);
void bench_pub_fini(struct bench_pub *p);

/* Starts the rate clock at <t0>; <rate> messages/s, 0 = unlimited. */
void bench_pub_rate_start(struct bench_pub *p, double rate, uint64_t t0);

/* Stamps as many messages as the window and the rate allow at <now>, and queues them
 * for writing: unlimited ones stamped <now>, scheduled ones with their intended send
 * time. Returns how many. <lag>, if not NULL, gets now - intended time of each
 * scheduled message stamped, in ns: how long it waited for a window slot or for a
 * late generator. */
uint32_t bench_pub_produce(struct bench_pub *p, uint64_t now, struct bench_hist *lag);

/* Takes a free slot, writes <id>, <seq> and <stamp> into its bench header and queues
 * it for writing. Returns the slot's packet (slot_len bytes, for a caller that patches
 * more, such as the topic), or NULL when the window is full. */
uint8_t *bench_pub_stamp(struct bench_pub *p, uint32_t id, uint64_t seq, uint64_t stamp);

/* When the rate next allows a message, if the window has room; UINT64_MAX if only an
 * ack can make progress, 0 if a message may go now. */
uint64_t bench_pub_next_due(const struct bench_pub *p);

/* Scheduled messages due at <now> that are not stamped yet (0 if unlimited): what
 * the publisher owes its schedule. */
uint64_t bench_pub_backlog(const struct bench_pub *p, uint64_t now);

/* Fills up to <max> iovecs with the queued bytes, oldest first. Returns the count and
 * adds the byte total to <*bytes>. */
size_t bench_pub_iov(const struct bench_pub *p, struct iovec *iov, size_t max,
		     size_t *bytes);

/* The socket took <n> of the bytes bench_pub_iov() offered. */
void bench_pub_written(struct bench_pub *p, size_t n);

/* Handles PUBACK, PUBREC or PUBCOMP for <packet_id>. Returns 1 if a PUBREL must be
 * sent, 0 otherwise; unexpected acks are counted and ignored. */
int bench_pub_ack(struct bench_pub *p, enum mqtt_type type, uint16_t packet_id);

/* Forgets everything in flight (the connection is gone). */
void bench_pub_abandon(struct bench_pub *p);

static inline uint32_t bench_pub_inflight(const struct bench_pub *p)
{
	return p->nslots - p->nfree;
}

#endif
