/* bench_pub.c - a publisher's pre-encoded send window (see bench_pub.h). */
#include "bench_pub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_opts.h"

static void bench_pub_free_all(struct bench_pub *p)
{
	uint32_t i;

	/* Reverse order so slot 0 goes out first: easier to read in a capture. */
	for (i = 0; i < p->nslots; i++) {
		p->free[i] = p->nslots - 1 - i;
		p->state[i] = BPS_FREE;
	}
	p->nfree = p->nslots;
	p->txq_head = 0;
	p->txq_len = 0;
	p->txq_off = 0;
}

/* Encodes every slot once; only sequence and timestamp change afterwards. */
static int bench_pub_encode(struct bench_pub *p, const char *topic, uint32_t payload)
{
	struct mqtt_publish pb;
	uint8_t *body;
	uint32_t i;
	size_t n;

	body = malloc(payload);
	if (body == NULL)
		return -ENOMEM;
	memset(body, 'x', payload);
	memcpy(body + BENCH_HDR_ID_OFF, &p->id, sizeof(p->id));
	memset(body + BENCH_HDR_SEQ_OFF, 0, BENCH_HDR_LEN - BENCH_HDR_SEQ_OFF);
	memset(&pb, 0, sizeof(pb));
	pb.qos = p->qos;
	pb.topic.ptr = topic;
	pb.topic.len = (uint16_t)strlen(topic);
	pb.payload = body;
	pb.payload_len = payload;
	for (i = 0; i < p->nslots; i++) {
		pb.packet_id = p->qos > 0 ? (uint16_t)(i + 1) : 0;
		n = mqtt_encode_publish(p->slots + (size_t)i * p->slot_len, p->slot_len, &pb);
		if (n != p->slot_len) {
			free(body);
			return -EINVAL;
		}
	}
	free(body);
	return 0;
}

int bench_pub_init(struct bench_pub *p, uint32_t id, const char *topic, uint8_t qos,
		   uint32_t payload, uint32_t nslots)
{
	size_t topic_len = strlen(topic), rl;
	int rc;

	memset(p, 0, sizeof(*p));
	if (topic_len == 0 || topic_len > 1024 || nslots == 0 || nslots > 65535)
		return -EINVAL;
	p->id = id;
	p->qos = qos;
	p->nslots = nslots;
	/* Fixed header byte, remaining length as a varint (MQTT 2.2.3), then topic,
	 * packet id when QoS > 0, payload. */
	rl = 2 + topic_len + (qos > 0 ? 2 : 0) + payload;
	p->slot_len = 1 + (rl < 128 ? 1 : rl < 16384 ? 2 : rl < 2097152 ? 3 : 4) + rl;
	p->hdr_off = p->slot_len - payload;
	p->slots = malloc(p->slot_len * nslots);
	p->state = malloc(nslots);
	p->free = malloc(sizeof(*p->free) * nslots);
	p->txq = malloc(sizeof(*p->txq) * nslots);
	if (p->slots == NULL || p->state == NULL || p->free == NULL || p->txq == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = bench_pub_encode(p, topic, payload);
	if (rc < 0)
		goto err_free;
	bench_pub_free_all(p);
	return 0;

err_free:
	bench_pub_fini(p);
	return rc;
}

void bench_pub_fini(struct bench_pub *p)
{
	free(p->slots);
	free(p->state);
	free(p->free);
	free(p->txq);
	memset(p, 0, sizeof(*p));
}

void bench_pub_rate_start(struct bench_pub *p, double rate, uint64_t t0)
{
	/* The period, not the rate, so that whole-nanosecond periods stay exact. */
	p->period_ns = rate > 0 ? 1e9 / rate : 0;
	p->rate_t0 = t0;
	p->rate_sent = 0;
}

uint64_t bench_sched_time(uint64_t t0, double period_ns, uint64_t k)
{
	return t0 + (uint64_t)((double)k * period_ns);
}

uint64_t bench_sched_due(uint64_t t0, double period_ns, uint64_t now)
{
	uint64_t k;

	if (now < t0)
		return 0;
	/* The product is within a message or two of the answer; bench_sched_time()
	 * decides the edges, so the two functions can never disagree. */
	k = (uint64_t)((double)(now - t0) / period_ns);
	while (k > 0 && bench_sched_time(t0, period_ns, k - 1) > now)
		k--;
	while (bench_sched_time(t0, period_ns, k) <= now)
		k++;
	return k;
}

uint64_t bench_pub_backlog(const struct bench_pub *p, uint64_t now)
{
	uint64_t due;

	if (p->period_ns <= 0)
		return 0;
	due = bench_sched_due(p->rate_t0, p->period_ns, now);
	return due > p->rate_sent ? due - p->rate_sent : 0;
}

/* Messages the rate allows now, at most the free slots. Credit that piles up while
 * the window is full is kept: those messages are owed and go out as soon as slots
 * free, stamped with the time they were due, so the stall counts as latency. */
static uint32_t bench_pub_allowance(const struct bench_pub *p, uint64_t now)
{
	uint64_t avail;

	if (p->period_ns <= 0)
		return p->nfree;
	avail = bench_pub_backlog(p, now);
	return avail < p->nfree ? (uint32_t)avail : p->nfree;
}

uint8_t *bench_pub_stamp(struct bench_pub *p, uint32_t id, uint64_t seq, uint64_t stamp)
{
	uint32_t s, tail;
	uint8_t *pkt, *h;

	if (p->nfree == 0)
		return NULL;
	s = p->free[--p->nfree];
	pkt = p->slots + (size_t)s * p->slot_len;
	h = pkt + p->hdr_off;
	memcpy(h + BENCH_HDR_ID_OFF, &id, sizeof(id));
	memcpy(h + BENCH_HDR_SEQ_OFF, &seq, sizeof(seq));
	memcpy(h + BENCH_HDR_TS_OFF, &stamp, sizeof(stamp));
	p->state[s] = BPS_QUEUED;
	tail = p->txq_head + p->txq_len;
	if (tail >= p->nslots)
		tail -= p->nslots;
	p->txq[tail] = s;
	p->txq_len++;
	return pkt;
}

uint32_t bench_pub_produce(struct bench_pub *p, uint64_t now, struct bench_hist *lag)
{
	uint32_t n = bench_pub_allowance(p, now), i;
	uint64_t stamp;

	for (i = 0; i < n; i++) {
		stamp = now;
		if (p->period_ns > 0) {
			stamp = bench_sched_time(p->rate_t0, p->period_ns, p->rate_sent + i);
			if (lag != NULL)
				bench_hist_record(lag, now - stamp);
		}
		(void)bench_pub_stamp(p, p->id, p->seq++, stamp);
	}
	p->rate_sent += n;
	return n;
}

uint64_t bench_pub_next_due(const struct bench_pub *p)
{
	if (p->nfree == 0)
		return UINT64_MAX;
	if (p->period_ns <= 0)
		return 0;
	return bench_sched_time(p->rate_t0, p->period_ns, p->rate_sent);
}

size_t bench_pub_iov(const struct bench_pub *p, struct iovec *iov, size_t max,
		     size_t *bytes)
{
	uint32_t i, pos = p->txq_head;
	size_t k, off = p->txq_off;

	for (i = 0, k = 0; i < p->txq_len && k < max; i++, k++) {
		iov[k].iov_base = p->slots + (size_t)p->txq[pos] * p->slot_len + off;
		iov[k].iov_len = p->slot_len - off;
		*bytes += iov[k].iov_len;
		off = 0;
		if (++pos == p->nslots)
			pos = 0;
	}
	return k;
}

void bench_pub_written(struct bench_pub *p, size_t n)
{
	size_t left;
	uint32_t s;

	while (n > 0 && p->txq_len > 0) {
		left = p->slot_len - p->txq_off;
		if (n < left) {
			p->txq_off += n;
			return;
		}
		n -= left;
		s = p->txq[p->txq_head];
		p->txq_off = 0;
		if (++p->txq_head == p->nslots)
			p->txq_head = 0;
		p->txq_len--;
		if (p->qos == 0) {
			p->state[s] = BPS_FREE;
			p->free[p->nfree++] = s;
		} else {
			p->state[s] = BPS_SENT;
		}
	}
}

static void bench_pub_release(struct bench_pub *p, uint32_t s)
{
	p->state[s] = BPS_FREE;
	p->free[p->nfree++] = s;
}

int bench_pub_ack(struct bench_pub *p, enum mqtt_type type, uint16_t packet_id)
{
	uint32_t s = (uint32_t)packet_id - 1;

	if (packet_id == 0 || s >= p->nslots)
		goto bad;
	switch (type) {
	case MQTT_PUBACK:
		if (p->qos != 1 || p->state[s] != BPS_SENT)
			goto bad;
		bench_pub_release(p, s);
		return 0;
	case MQTT_PUBREC:
		/* MQTT-4.3.3-1: a repeated PUBREC is answered with PUBREL again. */
		if (p->qos != 2 || (p->state[s] != BPS_SENT && p->state[s] != BPS_RELEASED))
			goto bad;
		p->state[s] = BPS_RELEASED;
		return 1;
	case MQTT_PUBCOMP:
		if (p->qos != 2 || p->state[s] != BPS_RELEASED)
			goto bad;
		bench_pub_release(p, s);
		return 0;
	default:
		break;
	}
bad:
	p->bad_acks++;
	return 0;
}

void bench_pub_abandon(struct bench_pub *p)
{
	bench_pub_free_all(p);
}
