/* tcp_output.c - segments we send: the header and its options (MSS, window scale,
 * timestamps; RFC 9293 3.1, RFC 7323), the window we advertise (RFC 9293 3.8.6.2.2
 * receiver SWS avoidance, never shrinking it), data from the send buffer as far as
 * the peer's window and cwnd allow (3.8.6.2.1 sender SWS avoidance), FIN after the
 * last byte, ACKs, RSTs and challenge ACKs. The header goes in a fresh mbuf, the
 * data after it comes from tcp_txdata.c. */
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <string.h>

#include "tcp_int.h"

#define TCP_HDR_LEN 20
#define TCP_OPT_MSS 2
#define TCP_OPT_WS 3
#define TCP_OPT_TS 8

static uint8_t *opt_put(uint8_t *p, uint8_t kind, uint8_t len)
{
	*p++ = kind;
	*p++ = len;
	return p;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	rte_be32_t be = rte_cpu_to_be_32(v);

	memcpy(p, &be, sizeof(be));
	return p + sizeof(be);
}

/* Writes our options for a segment of <t> with <flags> into <o> (room for 40);
 * returns their length, a multiple of 4. SYN carries MSS, window scale and TS as we
 * offer them (a SYN-ACK only what the peer's SYN offered, RFC 7323 1.3). */
static unsigned tcp_options(const struct tcb *t, uint8_t flags, uint8_t *o)
{
	uint8_t *p = o;

	if (flags & RTE_TCP_SYN_FLAG) {
		p = opt_put(p, TCP_OPT_MSS, 4);
		*p++ = (uint8_t)(t->ts->p.mss >> 8);
		*p++ = (uint8_t)t->ts->p.mss;
		if (t->flags & TF_WS) {
			*p++ = 1; /* NOP */
			p = opt_put(p, TCP_OPT_WS, 3);
			*p++ = t->rcv_scale;
		}
	}
	if (t->flags & TF_TS) {
		*p++ = 1;
		*p++ = 1;
		p = opt_put(p, TCP_OPT_TS, 10);
		p = put32(p, tcb_ts_now(t->ts));
		/* RFC 7323 3.2: TSecr is 0 unless the ACK bit is set. */
		p = put32(p, (flags & RTE_TCP_ACK_FLAG) ? t->ts_recent : 0);
	}
	return (unsigned)(p - o);
}

/* The window field of a segment of <t>, and rcv_adv moved to the edge it shows. The
 * right edge never moves left (RFC 9293 3.8.6.2.2: shrinking is discouraged), and it
 * moves right only by min(rcv_buf / 2, MSS) at least (receiver SWS avoidance). */
static uint16_t tcp_window_field(struct tcb *t, uint8_t flags)
{
	uint32_t wnd = tcb_rcv_wnd(t), adv = t->rcv_adv - t->rcv_nxt;
	uint32_t step = t->ts->p.rcv_buf / 2 < t->ts->p.mss ? t->ts->p.rcv_buf / 2
							   : t->ts->p.mss;
	uint8_t scale = (flags & RTE_TCP_SYN_FLAG) ? 0 : t->rcv_scale;

	if (seq_lt(t->rcv_adv, t->rcv_nxt))
		adv = 0;
	if (wnd <= adv || wnd - adv < step)
		wnd = adv;
	if ((wnd >> scale) > 65535)
		wnd = (uint32_t)65535 << scale;
	/* RFC 7323 2.3: the field is shifted; the edge we keep is the one it shows. */
	wnd = (wnd >> scale) << scale;
	if (seq_gt(t->rcv_nxt + wnd, t->rcv_adv) || seq_lt(t->rcv_adv, t->rcv_nxt))
		t->rcv_adv = t->rcv_nxt + wnd;
	return (uint16_t)(wnd >> scale);
}

static struct rte_mbuf *tcp_seg_alloc(struct tcp_stack *ts)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(ts->p.pool);

	if (unlikely(m == NULL)) {
		ts->stats.no_mbuf++;
		tcp_limit_hit(ts, TCP_LIMIT_MBUF);
	} else if (unlikely(ts->limits_logged & TCP_LIMIT_MBUF)) {
		tcp_limit_clear(ts, TCP_LIMIT_MBUF);
	}
	return m;
}

static void tcp_fill_hdr(struct rte_tcp_hdr *th, uint16_t sport, uint16_t dport,
			 uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
			 unsigned optlen)
{
	th->src_port = rte_cpu_to_be_16(sport);
	th->dst_port = rte_cpu_to_be_16(dport);
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)(((TCP_HDR_LEN + optlen) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(win);
	th->cksum = 0;
	th->tcp_urp = 0;
}

static int tcp_emit(struct tcp_stack *ts, struct rte_mbuf *m, uint32_t dst)
{
	int rc;

	ts->stats.out_segs++;
	rc = ts->p.output(ts->p.output_arg, m, dst);
	if (rc < 0)
		ts->stats.out_dropped++;
	return rc;
}

/* Builds and sends one segment of <t>: <flags> at <seq>, <len> data bytes copied from
 * the send buffer at <off> past snd_una. An ACK in it pays what is owed. Returns 0
 * once the segment is handed to the output function (which counts its own drops, as
 * losses the RTO repairs), -ENOBUFS or -EIO if it could not be built. */
static int tcp_xmit(struct tcb *t, uint8_t flags, uint32_t seq, size_t off, uint32_t len)
{
	struct tcp_stack *ts = t->ts;
	uint8_t opts[40];
	unsigned optlen = tcp_options(t, flags, opts);
	struct rte_mbuf *m = tcp_seg_alloc(ts);
	struct rte_tcp_hdr *th;
	uint16_t win;

	if (m == NULL)
		return -ENOBUFS;
	th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, (uint16_t)(TCP_HDR_LEN + optlen));
	if (th == NULL) {
		rte_pktmbuf_free(m);
		ts->stats.no_mbuf++;
		return -ENOBUFS;
	}
	if (len > 0) {
		int rc = tcp_txdata_fill(t, m, off, len);

		if (rc < 0) {
			rte_pktmbuf_free(m);
			return rc;
		}
	}
	win = (flags & RTE_TCP_RST_FLAG) ? 0 : tcp_window_field(t, flags);
	tcp_fill_hdr(th, t->lport, t->rport, seq, (flags & RTE_TCP_ACK_FLAG) ? t->rcv_nxt : 0,
		     flags, win, optlen);
	memcpy(th + 1, opts, optlen);
	if (flags & RTE_TCP_ACK_FLAG) {
		t->flags &= ~(TF_ACKNOW | TF_DELACK);
		t->delack_at = 0;
	}
	tcp_emit(ts, m, t->rip);
	return 0;
}

int tcp_send_ctl(struct tcb *t, uint8_t flags, uint32_t seq)
{
	return tcp_xmit(t, flags, seq, 0, 0);
}

int tcp_send_ack(struct tcb *t)
{
	int rc = tcp_send_ctl(t, RTE_TCP_ACK_FLAG, t->snd_nxt);

	tcp_timer_update(t);
	return rc;
}

/* RFC 5961 7: at most challenge_acks_per_s per second for the whole stack, so the
 * ACKs cannot be used to amplify or to learn our sequence numbers by counting. */
void tcp_send_challenge_ack(struct tcb *t)
{
	struct tcp_stack *ts = t->ts;
	uint64_t second = ts->now_us / 1000000;

	if (second != ts->chack_second) {
		/* The episode ends with a second that stayed under the limit. */
		if (ts->chack_count < ts->p.challenge_acks_per_s || second > ts->chack_second + 1)
			tcp_limit_clear(ts, TCP_LIMIT_CHACK);
		ts->chack_second = second;
		ts->chack_count = 0;
	}
	if (ts->chack_count >= ts->p.challenge_acks_per_s) {
		ts->stats.challenge_acks_limited++;
		tcp_limit_hit(ts, TCP_LIMIT_CHACK);
		return;
	}
	ts->chack_count++;
	ts->stats.challenge_acks++;
	tcp_send_ack(t);
}

static bool tcp_closing(const struct tcb *t)
{
	return (t->flags & TF_CLOSED_USER) != 0;
}

int tcp_output(struct tcb *t)
{
	struct tcp_stack *ts = t->ts;
	int sent = 0;

	switch (t->state) {
	case TCPS_ESTABLISHED: case TCPS_CLOSE_WAIT: case TCPS_FIN_WAIT_1:
	case TCPS_CLOSING: case TCPS_LAST_ACK:
		break;
	default:
		if (t->flags & TF_ACKNOW && t->state != TCPS_SYN_SENT &&
		    t->state != TCPS_CLOSED && tcp_send_ack(t) == 0)
			sent++;
		return sent;
	}
	/* RFC 5681 4.1: after an idle period longer than an RTO, restart from RW. */
	if (tcb_flight(t) == 0 && (uint32_t)ts->now_us - t->last_sent > t->rto_us)
		ts->cc_ops->on_idle(&t->cc);
	for (;;) {
		size_t total = tcb_send_len(t);
		uint32_t off = t->snd_nxt - t->snd_una;
		uint32_t wnd = t->snd_wnd < t->cc.cwnd ? t->snd_wnd : t->cc.cwnd;
		uint32_t len = 0, usable = wnd > off ? wnd - off : 0;
		uint8_t flags = RTE_TCP_ACK_FLAG;
		bool fin;

		if (off < total) {
			len = (uint32_t)(total - off) < t->mss ? (uint32_t)(total - off) : t->mss;
			if (len > usable)
				len = usable;
			/* 3.8.6.2.1: hold back a piece smaller than both the MSS and half
			 * the largest window the peer offered while more data waits, until
			 * the override timeout (the persist timer) forces it. */
			if (len < t->mss && off + len < total && len < t->max_snd_wnd / 2 &&
			    !(t->flags & TF_FORCE))
				len = 0;
		}
		/* FIN right after the last byte; off > total once it went out. */
		fin = tcp_closing(t) && off + len == total;
		if (len == 0 && !fin)
			break;
		if (fin)
			flags |= RTE_TCP_FIN_FLAG;
		if (len > 0 && off + len == total)
			flags |= RTE_TCP_PSH_FLAG;
		if (seq_lt(t->snd_nxt, t->snd_max))
			ts->stats.retransmits++;
		else if (!(t->flags & (TF_TS | TF_RTT)) && len > 0) {
			/* RFC 6298 3: time one segment per RTT, never a retransmitted one. */
			t->flags |= TF_RTT;
			t->rtt_seq = t->snd_nxt;
			t->rtt_start = (uint32_t)ts->now_us;
		}
		if (tcp_xmit(t, flags, t->snd_nxt, off, len) < 0) {
			/* No mbuf: try again at the RTO rather than spin (no_mbuf counted). */
			if (t->rexmt_at == 0)
				tcp_rexmt_arm(t);
			break;
		}
		sent++;
		t->last_sent = (uint32_t)ts->now_us;
		t->snd_nxt += len + (fin ? 1 : 0);
		if (seq_gt(t->snd_nxt, t->snd_max))
			t->snd_max = t->snd_nxt;
		if (fin) {
			t->flags |= TF_FIN_SENT;
			if (t->state == TCPS_ESTABLISHED)
				t->state = TCPS_FIN_WAIT_1;
			else if (t->state == TCPS_CLOSE_WAIT)
				t->state = TCPS_LAST_ACK;
		}
		/* RFC 6298 5.1: the timer runs while data is outstanding. */
		if (t->rexmt_at == 0 || (t->flags & TF_PERSIST)) {
			t->flags &= ~TF_PERSIST;
			tcp_rexmt_arm(t);
		}
		if (fin)
			break;
	}
	if (t->flags & TF_ACKNOW && tcp_send_ack(t) == 0)
		sent++;
	t->flags &= ~TF_FORCE;
	/* RFC 9293 3.8.6.1: data waits on a zero window, or one too small to use
	 * (3.8.6.2.1); the persist timer probes or forces it. */
	if (tcb_flight(t) == 0 && tcb_send_len(t) > 0 && t->rexmt_at == 0) {
		t->flags |= TF_PERSIST;
		tcp_rexmt_arm(t);
	}
	tcp_timer_update(t);
	return sent;
}

/* A zero-window probe (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17): the next byte, beyond
 * the window; snd_max covers it so the ACK of it is acceptable. */
int tcp_send_probe(struct tcb *t)
{
	int rc;

	if (tcb_send_len(t) == 0)
		return 0;
	if (t->snd_wnd > 0) {
		/* A usable window SWS avoidance held back: send what fits now. */
		t->flags |= TF_FORCE;
		return tcp_output(t);
	}
	t->ts->stats.zero_window_probes++;
	rc = tcp_xmit(t, RTE_TCP_ACK_FLAG, t->snd_una, 0, 1);
	if (seq_lt(t->snd_max, t->snd_una + 1))
		t->snd_max = t->snd_una + 1;
	return rc;
}

/* RTO: the SYN or SYN-ACK again, or data from snd_una (go-back-N through tcp_output,
 * cwnd is one segment now). */
int tcp_retransmit(struct tcb *t)
{
	t->ts->stats.retransmits++;
	switch (t->state) {
	case TCPS_SYN_SENT:
		return tcp_send_ctl(t, RTE_TCP_SYN_FLAG, t->iss);
	case TCPS_SYN_RCVD:
		return tcp_send_ctl(t, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, t->iss);
	default:
		break;
	}
	t->ts->stats.retransmits--; /* tcp_output counts what it resends */
	t->snd_nxt = t->snd_una;
	return tcp_output(t);
}

void tcp_send_rst_noconn(struct tcp_stack *ts, uint32_t src, uint32_t dst,
			 uint16_t sport, uint16_t dport, const struct tcp_seg *seg)
{
	struct rte_mbuf *m;
	struct rte_tcp_hdr *th;
	uint32_t seq = 0, ack = 0;
	uint8_t flags = RTE_TCP_RST_FLAG;

	(void)dst;
	/* RFC 9293 3.10.7.1: never answer a RST; an ACK tells the seq to use, else we
	 * acknowledge everything the segment occupied. */
	if (seg->flags & RTE_TCP_RST_FLAG)
		return;
	if (seg->flags & RTE_TCP_ACK_FLAG) {
		seq = seg->ack;
	} else {
		ack = seg->seq + seg->len + !!(seg->flags & RTE_TCP_SYN_FLAG) +
		      !!(seg->flags & RTE_TCP_FIN_FLAG);
		flags |= RTE_TCP_ACK_FLAG;
	}
	m = tcp_seg_alloc(ts);
	if (m == NULL)
		return;
	th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, TCP_HDR_LEN);
	if (th == NULL) {
		rte_pktmbuf_free(m);
		return;
	}
	tcp_fill_hdr(th, dport, sport, seq, ack, flags, 0, 0);
	ts->stats.in_no_flow_rst++;
	tcp_emit(ts, m, src);
}

int tcp_resend_una(struct tcb *t)
{
	size_t total = tcb_send_len(t);
	uint32_t len = total < t->mss ? (uint32_t)total : t->mss;
	uint8_t flags = RTE_TCP_ACK_FLAG;

	if (len == 0 && !(t->flags & TF_FIN_SENT))
		return 0;
	if (len == total && (t->flags & TF_FIN_SENT))
		flags |= RTE_TCP_FIN_FLAG;
	t->ts->stats.retransmits++;
	/* Karn (RFC 6298 3): the timed segment may be the one resent. */
	t->flags &= ~TF_RTT;
	return tcp_xmit(t, flags, t->snd_una, 0, len);
}

/* A SYN-ACK whose ISN is a SYN cookie (tcp_syncookie.h): no TCB behind it. It
 * carries our MSS and, if the SYN offered one, our window scale; no timestamps, as
 * the cookie cannot bring back TS.Recent (RFC 7323 allows either side to decline). */
void tcp_send_synack_cookie(struct tcp_stack *ts, uint32_t src, uint16_t sport,
			    uint16_t dport, const struct tcp_seg *syn, uint32_t cookie)
{
	uint8_t opts[8], *p = opts;
	struct rte_mbuf *m;
	struct rte_tcp_hdr *th;
	unsigned optlen;

	p = opt_put(p, TCP_OPT_MSS, 4);
	*p++ = (uint8_t)(ts->p.mss >> 8);
	*p++ = (uint8_t)ts->p.mss;
	if (syn->has_ws) {
		*p++ = 1;
		p = opt_put(p, TCP_OPT_WS, 3);
		*p++ = ts->rcv_scale;
	}
	optlen = (unsigned)(p - opts);
	m = tcp_seg_alloc(ts);
	if (m == NULL)
		return;
	th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, (uint16_t)(TCP_HDR_LEN + optlen));
	if (th == NULL) {
		rte_pktmbuf_free(m);
		ts->stats.no_mbuf++;
		return;
	}
	tcp_fill_hdr(th, dport, sport, cookie, syn->seq + 1,
		     RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
		     (uint16_t)(ts->p.rcv_buf > 65535 ? 65535 : ts->p.rcv_buf), optlen);
	memcpy(th + 1, opts, optlen);
	ts->stats.syn_cookies_sent++;
	tcp_emit(ts, m, src);
}
