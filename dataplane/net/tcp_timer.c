/* tcp_timer.c - a TCB's timers: retransmission (RFC 6298, Karn's backoff), delayed
 * ACK (RFC 1122 4.2.3.2, RFC 5681 4.2), zero-window persist (RFC 9293 3.8.6.1),
 * SYN-RECEIVED and SYN-SENT retries, TIME-WAIT (2 MSL) and the FIN-WAIT-2 timeout.
 * Each TCB has two deadlines (rexmt_at, delack_at); the stack keeps its TCBs in a
 * min-heap by the earlier one (lazily: see tcp_timer_update), so a turn with nothing
 * due costs one comparison.
 * Times are the caller's microseconds; nothing here sleeps or allocates per event
 * (the heap grows by doubling). */
#include <errno.h>
#include <stdlib.h>

#include "tcp_int.h"

static void heap_set(struct tcp_stack *ts, uint32_t i, struct tcb *t)
{
	ts->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct tcp_stack *ts, uint32_t i)
{
	struct tcb *t = ts->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (ts->heap[parent]->due <= t->due)
			break;
		heap_set(ts, i, ts->heap[parent]);
		i = parent;
	}
	heap_set(ts, i, t);
}

static void heap_down(struct tcp_stack *ts, uint32_t i)
{
	struct tcb *t = ts->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= ts->heap_n)
			break;
		if (c + 1 < ts->heap_n && ts->heap[c + 1]->due < ts->heap[c]->due)
			c++;
		if (t->due <= ts->heap[c]->due)
			break;
		heap_set(ts, i, ts->heap[c]);
		i = c;
	}
	heap_set(ts, i, t);
}

void tcp_timer_remove(struct tcb *t)
{
	struct tcp_stack *ts = t->ts;
	uint32_t i = t->heap_idx;
	struct tcb *last;

	if (i == UINT32_MAX)
		return;
	t->heap_idx = UINT32_MAX;
	last = ts->heap[--ts->heap_n];
	if (last == t)
		return;
	heap_set(ts, i, last);
	heap_up(ts, i);
	heap_down(ts, last->heap_idx);
}

static uint64_t tcb_deadline(const struct tcb *t)
{
	uint64_t due = t->rexmt_at;

	if (t->delack_at != 0 && (due == 0 || t->delack_at < due))
		due = t->delack_at;
	return due;
}

/* Puts <t> where its earliest deadline says, or out of the heap without one. */
static void tcp_timer_settle(struct tcb *t)
{
	struct tcp_stack *ts = t->ts;
	uint64_t due = tcb_deadline(t);

	if (due == 0 || (t->flags & TF_DEAD)) {
		tcp_timer_remove(t);
		return;
	}
	if (t->heap_idx == UINT32_MAX) {
		if (ts->heap_n == ts->heap_cap) {
			uint32_t cap = ts->heap_cap ? ts->heap_cap * 2 : 64;
			struct tcb **h = realloc(ts->heap, cap * sizeof(*h));

			if (h == NULL)
				return; /* caught up by the next update that finds room */
			ts->heap = h;
			ts->heap_cap = cap;
		}
		t->due = due;
		heap_set(ts, ts->heap_n++, t);
		heap_up(ts, t->heap_idx);
		return;
	}
	t->due = due;
	heap_up(ts, t->heap_idx);
	heap_down(ts, t->heap_idx);
}

/* Lazy: a deadline that moved later (the RTO restarted by every ACK, a timer
 * stopped) leaves the heap alone; the entry surfaces at its old time and is settled
 * then. Only an earlier deadline costs a sift. So the ACK path is O(1). */
void tcp_timer_update(struct tcb *t)
{
	uint64_t due = tcb_deadline(t);

	if (t->heap_idx != UINT32_MAX && (due == 0 || due >= t->due))
		return;
	tcp_timer_settle(t);
}

uint64_t tcp_timer_next(const struct tcp_stack *ts)
{
	return ts->heap_n == 0 ? UINT64_MAX : ts->heap[0]->due;
}

void tcp_rexmt_arm(struct tcb *t)
{
	uint64_t iv = t->rto_us ? t->rto_us : 1;

	if (t->flags & TF_PERSIST) {
		/* RFC 1122 4.2.2.17: probes back off exponentially like the RTO. */
		iv <<= t->retries < 16 ? t->retries : 16;
		if (iv > t->ts->p.rto_max_us)
			iv = t->ts->p.rto_max_us;
	}
	t->rexmt_at = t->ts->now_us + iv;
	tcp_timer_update(t);
}

void tcp_rexmt_stop(struct tcb *t)
{
	t->rexmt_at = 0;
	t->retries = 0;
	t->flags &= ~TF_PERSIST;
	tcp_timer_update(t);
}

static uint32_t clamp_rto(const struct tcp_stack *ts, uint64_t rto)
{
	if (rto < ts->p.rto_min_us)
		rto = ts->p.rto_min_us;
	if (rto > ts->p.rto_max_us)
		rto = ts->p.rto_max_us;
	return (uint32_t)rto;
}

/* RFC 6298 2.2-2.3 with alpha 1/8, beta 1/4, K 4 and a 1 us clock (G). */
void tcp_rtt_sample(struct tcb *t, uint32_t r)
{
	if (!(t->flags & TF_HAVE_RTT)) {
		t->srtt_us = r;
		t->rttvar_us = r / 2;
		t->flags |= TF_HAVE_RTT;
	} else {
		uint32_t d = t->srtt_us > r ? t->srtt_us - r : r - t->srtt_us;

		t->rttvar_us = t->rttvar_us - t->rttvar_us / 4 + d / 4;
		t->srtt_us = t->srtt_us - t->srtt_us / 8 + r / 8;
	}
	t->rto_us = clamp_rto(t->ts, (uint64_t)t->srtt_us +
				     (t->rttvar_us * 4ull > 1 ? t->rttvar_us * 4ull : 1));
}

/* RFC 5681 4.2: ACK at least every second segment, the first within delack_us. */
void tcp_delack(struct tcb *t)
{
	if (t->flags & TF_DELACK) {
		tcb_flush_add(t, TF_ACKNOW);
		return;
	}
	t->flags |= TF_DELACK;
	t->delack_at = t->ts->now_us + t->ts->p.delack_us;
	tcp_timer_update(t);
}

void tcp_time_wait(struct tcb *t)
{
	if (t->state != TCPS_TIME_WAIT)
		t->ts->stats.time_wait++;
	t->state = TCPS_TIME_WAIT;
	t->flags &= ~TF_PERSIST;
	t->rexmt_at = t->ts->now_us + t->ts->p.time_wait_us;
	tcp_timer_update(t);
}

static void tcp_rexmt_fire(struct tcb *t)
{
	struct tcp_stack *ts = t->ts;

	switch (t->state) {
	case TCPS_TIME_WAIT:
		tcb_drop(t);
		return;
	case TCPS_FIN_WAIT_2:
		ts->stats.conns_timeout++;
		tcb_drop(t);
		return;
	default:
		break;
	}
	if (t->flags & TF_PERSIST) {
		/* RFC 1122 4.2.2.17: probe for as long as the peer answers. */
		tcp_send_probe(t);
		/* Data that went out (a usable window) runs the RTO now instead. */
		if (!(t->flags & TF_PERSIST) || (t->flags & TF_DEAD))
			return;
		if (t->retries < 255)
			t->retries++;
		tcp_rexmt_arm(t);
		return;
	}
	if (++t->retries > ts->p.max_retries) {
		tcb_fail(t, -ETIMEDOUT);
		return;
	}
	ts->stats.rto_timeouts++;
	/* RFC 6298 5.5-5.6: back off; Karn: no sample from what is resent now. */
	t->rto_us = clamp_rto(ts, (uint64_t)t->rto_us * 2);
	t->flags &= ~TF_RTT;
	if (t->state != TCPS_SYN_SENT && t->state != TCPS_SYN_RCVD)
		ts->cc_ops->on_rto(&t->cc, t->snd_max, tcb_flight(t));
	tcp_retransmit(t);
	if (t->rexmt_at == 0 && !(t->flags & TF_DEAD))
		tcp_rexmt_arm(t);
}

void tcp_timers_run(struct tcp_stack *ts)
{
	uint64_t now = ts->now_us;

	while (ts->heap_n > 0 && ts->heap[0]->due <= now) {
		struct tcb *t = ts->heap[0];

		if (t->delack_at != 0 && t->delack_at <= now) {
			t->delack_at = 0;
			if (t->flags & TF_DELACK)
				tcp_send_ack(t);
		}
		if (t->rexmt_at != 0 && t->rexmt_at <= now) {
			t->rexmt_at = 0;
			tcp_rexmt_fire(t);
		}
		if (!(t->flags & TF_DEAD))
			tcp_timer_settle(t);
	}
}
