/* tcp_input.c - SEGMENT ARRIVES (RFC 9293 3.10.7): header and option parsing, the
 * LISTEN and SYN-SENT cases, then for the other states the sequence check, RST and SYN
 * with RFC 5961's challenge ACKs, ACK processing (RFC 9293 3.10.7.4 fifth, RFC 6298
 * samples, RFC 5681/6582 through tcp_cong), the data in order or into the bounded
 * out-of-order list, and FIN. A segment's mbuf is freed here unless its data was
 * kept (the user did not consume it, or it is out of order). */
#include <errno.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "tcp_int.h"

#define SEG_SYN(s) (((s)->flags & RTE_TCP_SYN_FLAG) != 0)
#define SEG_ACK(s) (((s)->flags & RTE_TCP_ACK_FLAG) != 0)
#define SEG_RST(s) (((s)->flags & RTE_TCP_RST_FLAG) != 0)
#define SEG_FIN(s) (((s)->flags & RTE_TCP_FIN_FLAG) != 0)

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 9293 3.1 option list: kind 0 ends it, 1 pads, others carry a length. Returns
 * -EINVAL for a length that runs past the header or is too short. */
static int tcp_parse_options(const uint8_t *o, unsigned n, struct tcp_seg *seg)
{
	unsigned i = 0;

	while (i < n) {
		uint8_t kind = o[i], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n)
			return -EINVAL;
		len = o[i + 1];
		switch (kind) {
		case 2:
			if (len == 4) {
				seg->has_mss = true;
				seg->mss = (uint16_t)(o[i + 2] << 8 | o[i + 3]);
			}
			break;
		case 3:
			if (len == 3) {
				seg->has_ws = true;
				seg->ws = o[i + 2];
			}
			break;
		case 4:
			if (len == 2)
				seg->sack_ok = true;
			break;
		case 8:
			if (len == 10) {
				seg->has_ts = true;
				seg->tsval = get32(o + i + 2);
				seg->tsecr = get32(o + i + 6);
			}
			break;
		default:
			break;
		}
		i += len;
	}
	return 0;
}

/* RFC 4987 3.6: the backlog is full, so the SYN-ACK's ISN carries what the ACK
 * needs to rebuild the connection, and nothing is kept. */
static void tcp_syn_cookie(struct tcp_stack *ts, uint32_t src, uint32_t dst, uint16_t sport,
			   uint16_t dport, const struct tcp_seg *seg)
{
	struct tcp_syncookie_opts o = {
		.mss = seg->has_mss ? seg->mss : 536,
		.wscale = seg->has_ws ? (seg->ws > 14 ? 14 : seg->ws)
				      : TCP_SYNCOOKIE_WSCALE_NONE,
		.sack_ok = seg->sack_ok,
	};
	uint32_t cookie = tcp_syncookie_make(&ts->cookie_key, src, dst, sport, dport,
					     seg->seq, &o, ts->now_us);

	ts->cookie_sent_us = ts->now_us;
	ts->cookie_sent = true;

	tcp_send_synack_cookie(ts, src, sport, dport, seg, cookie);
}

/* Whether <seg> returns a cookie of ours for this 4-tuple; *o gets what it carried. */
static bool tcp_cookie_valid(struct tcp_stack *ts, uint32_t src, uint32_t dst, uint16_t sport,
			     uint16_t dport, const struct tcp_seg *seg,
			     struct tcp_syncookie_opts *o)
{
	if (SEG_SYN(seg) || SEG_RST(seg) || !SEG_ACK(seg))
		return false;
	/* No cookie out that could still be good: a stray ACK, not a forged cookie, and
	 * not worth two MACs (an ACK flood at the port costs only the RST). */
	if (!ts->cookie_sent || ts->now_us - ts->cookie_sent_us > TCP_SYNCOOKIE_MAX_AGE_US)
		return false;
	if (!tcp_syncookie_check(&ts->cookie_key, src, dst, sport, dport, seg->seq - 1,
				 seg->ack - 1, ts->now_us, o)) {
		ts->stats.syn_cookies_bad++;
		return false;
	}
	return true;
}

/* The ACK of a cookie SYN-ACK (checked): a TCB from what the cookie carried, in
 * SYN-RECEIVED, so the segment then completes the handshake. NULL: over max_conns. */
static struct tcb *tcp_cookie_build(struct tcp_stack *ts, uint32_t src, uint16_t sport,
				    uint16_t dport, const struct tcp_seg *seg,
				    const struct tcp_syncookie_opts *o)
{
	struct tcp_seg syn = { 0 };
	struct tcb *t;

	t = tcb_new(ts, src, sport, dport);
	if (t == NULL)
		return NULL;
	ts->stats.syn_cookies_ok++;
	/* Rebuild the SYN the cookie answered, then its SYN-ACK's effect. */
	syn.seq = seg->seq - 1;
	syn.ack = seg->ack;
	syn.wnd = seg->wnd;
	syn.has_mss = true;
	syn.mss = o->mss;
	syn.has_ws = o->wscale != TCP_SYNCOOKIE_WSCALE_NONE;
	syn.ws = o->wscale;
	t->flags |= TF_WS;
	t->iss = seg->ack - 1;
	t->snd_una = t->iss;
	t->snd_nxt = seg->ack;
	t->snd_max = seg->ack;
	tcb_init_from_syn(t, &syn);
	t->state = TCPS_SYN_RCVD;
	ts->nsyn++;
	t->rcv_adv = t->rcv_nxt + (ts->p.rcv_buf > 65535 ? 65535 : ts->p.rcv_buf);
	return t;
}

/* The ACK of a cookie SYN-ACK for a listening port: the connection, or NULL (the
 * caller resets the segment, as for any stray ACK). */
static struct tcb *tcp_cookie_ack(struct tcp_stack *ts, uint32_t src, uint32_t dst,
				  uint16_t sport, uint16_t dport, const struct tcp_seg *seg)
{
	struct tcp_syncookie_opts o;

	if (!tcp_cookie_valid(ts, src, dst, sport, dport, seg, &o))
		return NULL;
	return tcp_cookie_build(ts, src, sport, dport, seg, &o);
}

/* A passive SYN-RECEIVED TCB whose peer acknowledges a cookie instead of our ISS.
 * The race: the peer's SYN met a full backlog and got a cookie SYN-ACK, that SYN-ACK
 * was slow, the peer sent its SYN again, the backlog had room by then, and this TCB
 * answered with an ISS of its own. The peer took the first answer, so its ACK fits
 * the cookie, not the TCB: without this, 3.10.7.4 resets a connection the peer
 * thinks open (the likeliest cause of the resets of a 10M-session fill, where SYNs
 * waited over an RTO). Returns
 * the TCB rebuilt from the cookie in place of <t>, <t>, or NULL if the rebuild
 * failed (<t> is gone; the listener answers the segment). */
static struct tcb *tcp_syn_rcvd_cookie(struct tcb *t, const struct tcp_seg *seg)
{
	struct tcp_stack *ts = t->ts;
	struct tcp_syncookie_opts o;
	struct tcb *c;

	if (t->state != TCPS_SYN_RCVD || (t->flags & TF_ACTIVE) || !SEG_ACK(seg) ||
	    seg->ack == t->iss + 1 || seg->seq != t->irs + 1)
		return t;
	if (tcp_table_listener(ts, t->lport) == NULL ||
	    !tcp_cookie_valid(ts, t->rip, ts->p.local_ip, t->rport, t->lport, seg, &o))
		return t;
	tcb_drop(t);
	c = tcp_cookie_build(ts, t->rip, t->rport, t->lport, seg, &o);
	if (c != NULL)
		ts->stats.syn_cookies_late++;
	return c;
}

/* RFC 9293 3.10.7.2: a segment for a listening port. Returns the TCB a cookie ACK
 * created (the segment then goes through SYN-RECEIVED processing), else NULL. */
static struct tcb *tcp_listen_input(struct tcp_stack *ts, uint32_t src, uint32_t dst,
				    uint16_t sport, uint16_t dport, struct tcp_seg *seg)
{
	struct tcb *t;

	if (SEG_RST(seg))
		return NULL;
	if (SEG_ACK(seg)) {
		t = tcp_cookie_ack(ts, src, dst, sport, dport, seg);
		if (t == NULL)
			tcp_send_rst_noconn(ts, src, dst, sport, dport, seg);
		return t;
	}
	if (!SEG_SYN(seg))
		return NULL;
	if (ts->nsyn >= ts->p.syn_backlog) {
		ts->stats.syn_backlog_full++;
		tcp_limit_hit(ts, TCP_LIMIT_BACKLOG);
		tcp_syn_cookie(ts, src, dst, sport, dport, seg);
		return NULL;
	}
	t = tcb_new(ts, src, sport, dport);
	if (t == NULL) {
		/* tcp.h: over max_conns the SYN gets a RST. */
		tcp_send_rst_noconn(ts, src, dst, sport, dport, seg);
		return NULL;
	}
	tcp_limit_clear(ts, TCP_LIMIT_BACKLOG);
	t->state = TCPS_SYN_RCVD;
	/* We answer with what the SYN offered (RFC 7323 1.3, 2.2). */
	t->flags |= TF_WS | TF_TS;
	ts->nsyn++;
	tcb_init_from_syn(t, seg);
	if (!(t->flags & TF_TS)) {
		t->flags |= TF_RTT;
		t->rtt_seq = t->iss;
		t->rtt_start = (uint32_t)ts->now_us;
	}
	/* Data on the SYN is not queued; the peer sends it again (3.10.7.2 allows). */
	tcp_send_ctl(t, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, t->iss);
	tcp_rexmt_arm(t);
	return NULL;
}

static void tcp_take_rtt(struct tcb *t, const struct tcp_seg *seg)
{
	struct tcp_stack *ts = t->ts;

	/* RFC 7323 4.1: with timestamps every ACK that advances snd_una is a sample. */
	if ((t->flags & TF_TS) && seg->has_ts && seg->tsecr != 0) {
		uint32_t ms = tcb_ts_now(ts) - seg->tsecr;

		if (ms < 0x7fffffffu / 1000)
			tcp_rtt_sample(t, ms * 1000);
		return;
	}
	if ((t->flags & TF_RTT) && seq_gt(seg->ack, t->rtt_seq)) {
		t->flags &= ~TF_RTT;
		tcp_rtt_sample(t, (uint32_t)ts->now_us - t->rtt_start);
	}
}

/* RFC 9293 3.10.7.3. Returns nothing: SYN-SENT keeps no data. */
static void tcp_syn_sent_input(struct tcb *t, struct tcp_seg *seg, uint32_t src, uint32_t dst)
{
	struct tcp_stack *ts = t->ts;

	if (SEG_ACK(seg) && (seq_leq(seg->ack, t->iss) || seq_gt(seg->ack, t->snd_max))) {
		if (!SEG_RST(seg))
			tcp_send_rst_noconn(ts, src, dst, t->rport, t->lport, seg);
		return;
	}
	if (SEG_RST(seg)) {
		/* Only a RST that acknowledges our SYN refuses it (RFC 5961 3.2). */
		if (SEG_ACK(seg))
			tcb_fail(t, -ECONNREFUSED);
		return;
	}
	if (!SEG_SYN(seg))
		return;
	tcb_init_from_syn(t, seg);
	if (SEG_ACK(seg)) {
		tcp_take_rtt(t, seg);
		t->snd_una = seg->ack;
		t->snd_wl2 = seg->ack;
		tcp_rexmt_stop(t);
		tcb_flush_add(t, TF_ACKNOW);
		tcb_established(t);
		return;
	}
	/* Simultaneous open (3.5 figure 8): SYN-ACK from SYN_RCVD. */
	t->state = TCPS_SYN_RCVD;
	tcp_send_ctl(t, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, t->iss);
}

/* RFC 9293 3.10.7.4 first: is any of the segment inside our receive window? */
static bool tcp_seq_ok(const struct tcb *t, const struct tcp_seg *seg)
{
	uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t len = seg->len + SEG_SYN(seg) + SEG_FIN(seg);

	/* At a zero window "special allowance should be made to accept valid ACKs,
	 * URGs, and RSTs": a segment at RCV.NXT passes for its control fields (a peer's
	 * window probe carries its ACK); tcp_data_input drops its text and FIN. */
	if (wnd == 0)
		return seg->seq == t->rcv_nxt;
	if (len == 0)
		return seq_in(seg->seq, t->rcv_nxt, t->rcv_nxt + wnd);
	return seq_in(seg->seq, t->rcv_nxt, t->rcv_nxt + wnd) ||
	       seq_in(seg->seq + len - 1, t->rcv_nxt, t->rcv_nxt + wnd);
}

/* RFC 9293 3.10.7.4 second, with RFC 5961 3.2. */
static void tcp_rst_input(struct tcb *t, const struct tcp_seg *seg)
{
	if (seg->seq != t->rcv_nxt) {
		/* RFC 5961 3.2: in window but not exact: maybe blind, so challenge. */
		tcp_send_challenge_ack(t);
		return;
	}
	switch (t->state) {
	case TCPS_SYN_RCVD:
		if (t->flags & TF_ACTIVE)
			tcb_fail(t, -ECONNREFUSED);
		else
			tcb_drop(t); /* back to LISTEN: the listener still stands */
		break;
	case TCPS_CLOSING: case TCPS_LAST_ACK: case TCPS_TIME_WAIT:
		tcb_drop(t);
		break;
	default:
		tcb_fail(t, -ECONNRESET);
		break;
	}
}

/* RFC 9293 3.10.7.4 fifth: the ACK field. Returns false if the segment is dropped. */
static bool tcp_ack_input(struct tcb *t, const struct tcp_seg *seg, uint32_t src,
			  uint32_t dst)
{
	struct tcp_stack *ts = t->ts;
	uint32_t wnd = (uint32_t)seg->wnd << t->snd_scale;
	enum tcp_cong_action act = TCP_CONG_NONE;
	/* The ACK that ends SYN-RECEIVED covers our SYN; no later one does, even when
	 * snd_una wraps onto the ISN again (3.4). */
	bool syn_acked = t->state == TCPS_SYN_RCVD;

	if (t->state == TCPS_SYN_RCVD) {
		if (!seq_gt(seg->ack, t->snd_una) || seq_gt(seg->ack, t->snd_max)) {
			tcp_send_rst_noconn(ts, src, dst, t->rport, t->lport, seg);
			return false;
		}
		tcb_established(t);
		if (t->flags & TF_DEAD)
			return false;
		t->snd_wnd = wnd;
		t->max_snd_wnd = wnd;
		t->snd_wl1 = seg->seq;
		t->snd_wl2 = seg->ack;
	}
	/* RFC 5961 5.2: acceptable acks lie in [SND.UNA - MAX.SND.WND, SND.NXT]. */
	if (seq_gt(seg->ack, t->snd_max) || seq_lt(seg->ack, t->snd_una - t->max_snd_wnd)) {
		ts->stats.bad_ack++;
		tcp_send_challenge_ack(t);
		return false;
	}
	/* The peer answers: window probes may go on (RFC 1122 4.2.2.17). */
	t->probes = 0;
	if (seq_gt(seg->ack, t->snd_una)) {
		uint32_t acked = seg->ack - t->snd_una, data = acked;
		bool fin_acked = (t->flags & TF_FIN_SENT) && seg->ack == t->snd_max;

		if (syn_acked)
			data--;
		if (fin_acked)
			data--;
		tcp_take_rtt(t, seg);
		t->snd_una = seg->ack;
		if (seq_lt(t->snd_nxt, t->snd_una))
			t->snd_nxt = t->snd_una;
		tcb_send_acked(t, data);
		if (t->flags & TF_DEAD)
			return false;
		/* RFC 5681 3.1: the ACK of a SYN does not grow cwnd; NewReno counts data. */
		if (data > 0)
			act = ts->cc_ops->on_ack(&t->cc, t->snd_una, data, tcb_flight(t));
		/* RFC 6298 5.2-5.3: stop when all is acked, else restart. */
		t->retries = 0;
		if (tcb_flight(t) == 0)
			tcp_rexmt_stop(t);
		else if (!(t->flags & TF_PERSIST))
			tcp_rexmt_arm(t);
		tcb_flush_add(t, TF_OUTPUT);
		if (fin_acked) {
			if (t->state == TCPS_FIN_WAIT_1) {
				t->state = TCPS_FIN_WAIT_2;
				/* Our user is gone: do not wait forever for the peer's FIN. */
				t->rexmt_at = ts->now_us + ts->p.time_wait_us;
				tcp_timer_update(t);
			} else if (t->state == TCPS_CLOSING) {
				tcp_time_wait(t);
			} else if (t->state == TCPS_LAST_ACK) {
				tcb_drop(t);
				return false;
			}
		}
	} else if (seg->ack == t->snd_una && seg->len == 0 && !SEG_FIN(seg) &&
		   wnd == t->snd_wnd && tcb_flight(t) > 0 && !(t->flags & TF_PERSIST)) {
		/* RFC 5681 2: a duplicate ACK. Not the answer to a window probe: the
		 * probe's byte lies beyond the window, it is not outstanding data. */
		act = ts->cc_ops->on_dupack(&t->cc, t->snd_una, t->snd_max, tcb_flight(t));
		if (act == TCP_CONG_RETRANSMIT)
			ts->stats.fast_retransmits++;
		else
			tcb_flush_add(t, TF_OUTPUT); /* RFC 5681 3.2: inflated window */
	}
	if (act == TCP_CONG_RETRANSMIT)
		tcp_resend_una(t);
	/* RFC 9293 3.10.7.4 fifth: the window comes from the newest segment only, and
	 * only when SND.UNA =< SEG.ACK (an older ACK "can be ignored"; snd_una already
	 * moved to an acceptable SEG.ACK above). */
	if (seq_geq(seg->ack, t->snd_una) &&
	    (seq_lt(t->snd_wl1, seg->seq) ||
	     (t->snd_wl1 == seg->seq && seq_leq(t->snd_wl2, seg->ack)))) {
		bool opened = wnd > t->snd_wnd;

		t->snd_wnd = wnd;
		t->snd_wl1 = seg->seq;
		t->snd_wl2 = seg->ack;
		if (wnd > t->max_snd_wnd)
			t->max_snd_wnd = wnd;
		if (opened && wnd > 0) {
			if (t->flags & TF_PERSIST)
				tcp_rexmt_stop(t);
			tcb_flush_add(t, TF_OUTPUT);
		}
	}
	return true;
}

static void tcp_ooo_insert(struct tcb *t, struct rte_mbuf *m, uint32_t seq)
{
	struct rte_mbuf **pp = &t->ooo;

	while (*pp != NULL && seq_lt((*pp)->hash.usr, seq))
		pp = &(*pp)->next;
	m->hash.usr = seq;
	m->next = *pp;
	*pp = m;
	t->ooo_n++;
}

/* Out-of-order segments now at rcv_nxt go to the user in order. */
static void tcp_ooo_pull(struct tcb *t)
{
	while (t->ooo != NULL && seq_leq(t->ooo->hash.usr, t->rcv_nxt) &&
	       !(t->flags & TF_DEAD)) {
		struct rte_mbuf *m = t->ooo;
		uint32_t seq = m->hash.usr, len = m->data_len, skip = t->rcv_nxt - seq;

		t->ooo = m->next;
		m->next = NULL;
		t->ooo_n--;
		if (skip >= len) {
			t->ts->stats.dup_segs++;
			rte_pktmbuf_free(m);
			continue;
		}
		t->rcv_nxt += len - skip;
		if (!tcb_deliver_seg(t, m, rte_pktmbuf_mtod(m, uint8_t *) + skip, len - skip))
			rte_pktmbuf_free(m);
	}
}

/* RFC 9293 3.10.7.4 seventh: the segment's text. Returns true if <m> was kept. */
static bool tcp_data_input(struct tcb *t, struct tcp_seg *seg, struct rte_mbuf *m)
{
	struct tcp_stack *ts = t->ts;
	const uint8_t *data = seg->data;
	uint32_t len = seg->len, seq = seg->seq;
	uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	bool kept = false;

	if (wnd == 0 && (len > 0 || SEG_FIN(seg))) {
		/* 3.10.7.4 first: at a zero window only the control fields count; the
		 * text and FIN are ACKed and dropped, the peer sends them again. */
		ts->stats.dup_segs++;
		seg->flags &= (uint8_t)~RTE_TCP_FIN_FLAG;
		tcb_flush_add(t, TF_ACKNOW);
		return false;
	}
	if (seq_lt(seq, t->rcv_nxt)) {
		uint32_t skip = t->rcv_nxt - seq;

		ts->stats.dup_segs++;
		data += skip;
		len -= skip;
		seq = t->rcv_nxt;
	}
	if (len > wnd - (seq - t->rcv_nxt)) {
		/* Past the window: trimmed, and a FIN beyond it is not ours yet. */
		len = wnd - (seq - t->rcv_nxt);
		seg->flags &= (uint8_t)~RTE_TCP_FIN_FLAG;
	}
	if (seq != t->rcv_nxt) {
		/* RFC 5681 4.2: an out-of-order segment is ACKed at once. */
		ts->stats.out_of_order++;
		tcb_flush_add(t, TF_ACKNOW);
		seg->flags &= (uint8_t)~RTE_TCP_FIN_FLAG; /* taken when it comes in order */
		if (len == 0)
			return false;
		if (t->ooo_n >= ts->p.ooo_max) {
			ts->stats.ooo_dropped++;
			tcp_limit_hit(ts, TCP_LIMIT_OOO);
			return false;
		}
		tcp_limit_clear(ts, TCP_LIMIT_OOO);
		rte_pktmbuf_adj(m, (uint16_t)(data - rte_pktmbuf_mtod(m, uint8_t *)));
		rte_pktmbuf_trim(m, (uint16_t)(m->data_len - len));
		tcp_ooo_insert(t, m, seq);
		return true;
	}
	if (len == 0)
		return false;
	t->rcv_nxt += len;
	if (t->ooo != NULL) {
		/* Filling a gap: ACK at once (RFC 5681 4.2). */
		tcb_flush_add(t, TF_ACKNOW);
	} else {
		tcp_delack(t);
	}
	kept = tcb_deliver_seg(t, m, data, len);
	if (!(t->flags & TF_DEAD))
		tcp_ooo_pull(t);
	return kept;
}

/* RFC 9293 3.10.7.4 eighth: FIN, in order (data before it already taken). */
static void tcp_fin_input(struct tcb *t)
{
	t->rcv_nxt++;
	t->flags |= TF_FIN_RCVD;
	tcb_flush_add(t, TF_ACKNOW);
	switch (t->state) {
	case TCPS_SYN_RCVD: case TCPS_ESTABLISHED:
		t->state = TCPS_CLOSE_WAIT;
		if (t->user == NULL)
			break;
		if (t->rcvq != NULL)
			t->flags |= TF_EOF_DUE;
		else
			t->ts->p.ops->eof(t->user);
		break;
	case TCPS_FIN_WAIT_1:
		t->state = TCPS_CLOSING;
		break;
	case TCPS_FIN_WAIT_2:
		tcp_time_wait(t);
		break;
	default:
		break;
	}
}

/* RFC 7323 4.3: TS.Recent from segments at the left edge. */
static void tcp_ts_recent(struct tcb *t, const struct tcp_seg *seg)
{
	if ((t->flags & TF_TS) && seg->has_ts && seq_leq(seg->seq, t->rcv_nxt) &&
	    seq_geq(seg->tsval, t->ts_recent))
		t->ts_recent = seg->tsval;
}

/* RFC 7323 5.3 R1 (PAWS): a timestamp older than TS.Recent marks an old duplicate
 * from an earlier wrap of the sequence space. A RST is exempt (5.3, R1 note). */
static bool tcp_paws_old(const struct tcb *t, const struct tcp_seg *seg)
{
	return (t->flags & TF_TS) && seg->has_ts && !SEG_RST(seg) &&
	       seq_lt(seg->tsval, t->ts_recent);
}

/* The ESTABLISHED fast path (header prediction): an ACK, with or without data, exactly
 * at RCV.NXT and inside the window, nothing out of order, no SYN, RST, FIN or URG. The
 * sequence, RST and SYN steps of 3.10.7.4 cannot fire for it, so it goes straight to
 * the ACK and the text. */
static bool tcp_fast_path(const struct tcb *t, const struct tcp_seg *seg)
{
	uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;

	return t->state == TCPS_ESTABLISHED &&
	       (seg->flags & (uint8_t)~RTE_TCP_PSH_FLAG) == RTE_TCP_ACK_FLAG &&
	       seg->seq == t->rcv_nxt && t->ooo == NULL && seg->len <= wnd &&
	       !tcp_paws_old(t, seg);
}

bool tcp_input_seg(struct tcb *t, struct tcp_seg *seg, struct rte_mbuf *m)
{
	struct tcp_stack *ts = t->ts;
	uint32_t src = t->rip, dst = ts->p.local_ip;
	bool kept = false;

	if (t->state == TCPS_SYN_SENT) {
		tcp_syn_sent_input(t, seg, src, dst);
		return false;
	}
	if (tcp_fast_path(t, seg)) {
		tcp_ts_recent(t, seg);
		if (!tcp_ack_input(t, seg, src, dst))
			return false;
		return tcp_data_input(t, seg, m);
	}
	if (t->state == TCPS_SYN_RCVD && SEG_SYN(seg) && !SEG_ACK(seg) && seg->seq == t->irs) {
		/* The peer did not hear our SYN-ACK and sent its SYN again. */
		tcp_send_ctl(t, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, t->iss);
		return false;
	}
	if (tcp_paws_old(t, seg)) {
		/* Not acceptable: ACK it and drop it, as below. */
		ts->stats.paws_rejected++;
		tcb_flush_add(t, TF_ACKNOW);
		return false;
	}
	if (!tcp_seq_ok(t, seg)) {
		/* 3.10.7.4 first: not acceptable, ACK it (not a RST) and drop it. */
		ts->stats.dup_segs++;
		if (SEG_RST(seg))
			return false;
		if (t->state == TCPS_TIME_WAIT && SEG_FIN(seg))
			tcp_time_wait(t); /* the peer's FIN again: restart 2 MSL */
		tcb_flush_add(t, TF_ACKNOW);
		return false;
	}
	tcp_ts_recent(t, seg);
	if (SEG_RST(seg)) {
		tcp_rst_input(t, seg);
		return false;
	}
	if (SEG_SYN(seg)) {
		/* RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK. */
		tcp_send_challenge_ack(t);
		return false;
	}
	if (!SEG_ACK(seg))
		return false;
	if (!tcp_ack_input(t, seg, src, dst))
		return false;
	switch (t->state) {
	case TCPS_ESTABLISHED: case TCPS_FIN_WAIT_1: case TCPS_FIN_WAIT_2:
		kept = tcp_data_input(t, seg, m);
		break;
	default:
		/* After the peer's FIN no text is valid (3.10.7.4 seventh). */
		break;
	}
	if (t->flags & TF_DEAD)
		return kept;
	if (SEG_FIN(seg) && seg->seq + seg->len == t->rcv_nxt &&
	    !(t->flags & TF_FIN_RCVD))
		tcp_fin_input(t);
	else if (SEG_FIN(seg) && t->state == TCPS_TIME_WAIT)
		tcp_time_wait(t);
	return kept;
}

void tcp_input(struct tcp_stack *ts, struct rte_mbuf *m, uint32_t src_ip, uint32_t dst_ip,
	       uint64_t now_us)
{
	const struct rte_tcp_hdr *th;
	struct tcp_seg seg = { 0 };
	unsigned hlen;
	uint16_t sport, dport;
	struct tcb *t;
	bool kept = false;

	ts->now_us = now_us;
	ts->stats.in_segs++;
	if (!rte_pktmbuf_is_contiguous(m) && rte_pktmbuf_linearize(m) < 0)
		goto bad;
	if (m->data_len < sizeof(*th))
		goto bad;
	th = rte_pktmbuf_mtod(m, const struct rte_tcp_hdr *);
	hlen = (unsigned)(th->data_off >> 4) * 4;
	if (hlen < sizeof(*th) || hlen > m->data_len)
		goto bad;
	if (tcp_parse_options((const uint8_t *)(th + 1), hlen - sizeof(*th), &seg) < 0)
		goto bad;
	sport = rte_be_to_cpu_16(th->src_port);
	dport = rte_be_to_cpu_16(th->dst_port);
	seg.seq = rte_be_to_cpu_32(th->sent_seq);
	seg.ack = rte_be_to_cpu_32(th->recv_ack);
	seg.wnd = rte_be_to_cpu_16(th->rx_win);
	seg.flags = th->tcp_flags;
	seg.len = m->data_len - hlen;
	seg.data = (const uint8_t *)th + hlen;
	if ((seg.flags & (RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG)) ==
	    (RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG))
		goto bad;
	t = tcp_table_lookup(ts, src_ip, sport, dport);
	if (t != NULL)
		t = tcp_syn_rcvd_cookie(t, &seg);
	if (t != NULL) {
		kept = tcp_input_seg(t, &seg, m);
	} else {
		struct tcp_listener *l = tcp_table_listener(ts, dport);

		if (l != NULL)
			t = tcp_listen_input(ts, src_ip, dst_ip, sport, dport, &seg);
		else
			tcp_send_rst_noconn(ts, src_ip, dst_ip, sport, dport, &seg); /* 3.10.7.1 */
		if (t != NULL)
			kept = tcp_input_seg(t, &seg, m);
	}
	if (!kept)
		rte_pktmbuf_free(m);
	tcb_reap(ts);
	return;
bad:
	ts->stats.in_bad++;
	rte_pktmbuf_free(m);
}
