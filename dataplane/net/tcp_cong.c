/* tcp_cong.c - NewReno congestion control: slow start, congestion avoidance with
 * byte counting, fast retransmit (RFC 5681 3.1, 3.2), NewReno fast recovery with
 * partial ACKs and the `recover` guard (RFC 6582 3.2), the loss window after an RTO
 * and the restart window after idle (RFC 5681 3.1, 4.1).
 *
 * The TCB owns the sequence space and the retransmissions: it tells us what happened
 * (on_ack, on_dupack, on_rto, on_idle) and reads cc->cwnd back; we tell it when a
 * segment must be resent at once (TCP_CONG_RETRANSMIT). Pure arithmetic, no mbufs.
 *
 *   state          event                        result
 *   open           ACK, cwnd < ssthresh         cwnd += min(acked, SMSS)   (slow start)
 *   open           ACK, cwnd >= ssthresh        +SMSS per cwnd bytes acked (avoidance)
 *   open           3rd dup ACK, ack > recover   ssthresh = max(flight/2, 2 SMSS),
 *                                               cwnd = ssthresh + 3 SMSS, resend
 *                                               -> recovery
 *   recovery       dup ACK                      cwnd += SMSS
 *   recovery       partial ACK                  cwnd -= acked (+SMSS if acked >= SMSS),
 *                                               resend
 *   recovery       full ACK (ack > recover)     cwnd = min(ssthresh, max(flight, SMSS)
 *                                               + SMSS) -> open
 *   any            RTO                          ssthresh (first RTO only), cwnd = 1 SMSS
 */
#include <assert.h>

#include "tcp_cong.h"
#include "tcp_seq.h"

static uint32_t cong_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint32_t cong_max(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* cwnd + n, saturating at TCP_CONG_CWND_MAX (ssthresh starts "arbitrarily high", so a
 * long slow start must not wrap). */
static uint32_t cong_grow(uint32_t cwnd, uint32_t n)
{
	return n >= TCP_CONG_CWND_MAX - cong_min(cwnd, TCP_CONG_CWND_MAX) ?
		TCP_CONG_CWND_MAX : cwnd + n;
}

uint32_t tcp_cong_iw(uint32_t mss)
{
	/* RFC 5681 3.1 eq. 1. */
	if (mss > 2190)
		return 2 * mss;
	if (mss > 1095)
		return 3 * mss;
	return 4 * mss;
}

/* RFC 5681 3.1 eq. 4, also step 2 of 3.2. */
static uint32_t cong_half_flight(const struct tcp_cong *cc, uint32_t flight)
{
	return cong_max(flight / 2, 2 * cc->mss);
}

static void newreno_init(struct tcp_cong *cc, uint32_t mss)
{
	assert(mss > 0);
	*cc = (struct tcp_cong){
		.mss = mss,
		.cwnd = tcp_cong_iw(mss),
		/* RFC 5681 3.1: "the initial value of ssthresh SHOULD be set arbitrarily
		 * high (e.g., to the size of the largest possible advertised window)". */
		.ssthresh = TCP_CONG_CWND_MAX,
	};
}

static enum tcp_cong_action newreno_on_ack(struct tcp_cong *cc, uint32_t snd_una,
					   uint32_t acked, uint32_t flight)
{
	cc->dupacks = 0;
	cc->rto_backoff = false;
	if (cc->in_recovery) {
		if (seq_gt(snd_una, cc->recover)) {
			/* RFC 6582 3.2 step 3, full acknowledgment: deflate to option (1),
			 * which also avoids a burst when little is outstanding. */
			cc->cwnd = cong_min(cc->ssthresh, cong_max(flight, cc->mss) + cc->mss);
			cc->in_recovery = false;
			cc->bytes_acked = 0;
			return TCP_CONG_NONE;
		}
		/* Step 3, partial acknowledgment: the next hole is lost too. Deflate by
		 * what left the network, add back one SMSS for the retransmission. */
		cc->cwnd = acked < cc->cwnd ? cc->cwnd - acked : 0;
		if (acked >= cc->mss)
			cc->cwnd += cc->mss;
		cc->cwnd = cong_max(cc->cwnd, cc->mss);
		return TCP_CONG_RETRANSMIT;
	}
	if (cc->cwnd < cc->ssthresh) {
		/* RFC 5681 3.1 eq. 2: slow start. */
		cc->cwnd = cong_grow(cc->cwnd, cong_min(acked, cc->mss));
		cc->bytes_acked = 0;
		return TCP_CONG_NONE;
	}
	/* RFC 5681 3.1, congestion avoidance by byte counting: "When the number of bytes
	 * acknowledged reaches cwnd, then cwnd can be incremented by up to SMSS bytes". */
	cc->bytes_acked += acked;
	if (cc->bytes_acked >= cc->cwnd) {
		cc->bytes_acked -= cc->cwnd;
		cc->cwnd = cong_grow(cc->cwnd, cc->mss);
	}
	return TCP_CONG_NONE;
}

static enum tcp_cong_action newreno_on_dupack(struct tcp_cong *cc, uint32_t snd_una,
					      uint32_t snd_nxt, uint32_t flight)
{
	if (cc->in_recovery) {
		/* RFC 5681 3.2 step 4 (RFC 6582 3.2 step 4 keeps it): each further dup ACK
		 * means a segment left the network. */
		cc->cwnd = cong_grow(cc->cwnd, cc->mss);
		return TCP_CONG_NONE;
	}
	if (cc->dupacks < UINT8_MAX)
		cc->dupacks++;
	if (cc->dupacks != 3)
		return TCP_CONG_NONE;
	/* RFC 6582 3.2 step 2: only if the ACK covers more than recover; otherwise these
	 * dup ACKs come from a loss we already recovered from (or retransmitted by RTO),
	 * and neither fast retransmit nor a new ssthresh is due. */
	if (cc->recover_set && !seq_gt(snd_una, cc->recover))
		return TCP_CONG_NONE;
	cc->recover = snd_nxt - 1;
	cc->recover_set = true;
	/* RFC 5681 3.2 steps 2 and 3. */
	cc->ssthresh = cong_half_flight(cc, flight);
	cc->cwnd = cc->ssthresh + 3 * cc->mss;
	cc->in_recovery = true;
	cc->bytes_acked = 0;
	return TCP_CONG_RETRANSMIT;
}

static void newreno_on_rto(struct tcp_cong *cc, uint32_t snd_nxt, uint32_t flight)
{
	/* RFC 5681 3.1: ssthresh by eq. 4 only when "the given segment has not yet been
	 * resent by way of the retransmission timer"; cwnd to LW = 1 SMSS always. */
	if (!cc->rto_backoff)
		cc->ssthresh = cong_half_flight(cc, flight);
	cc->rto_backoff = true;
	cc->cwnd = cc->mss;
	cc->bytes_acked = 0;
	cc->dupacks = 0;
	/* RFC 6582 3.2 step 5: record the highest sequence number sent, leave recovery. */
	cc->recover = snd_nxt - 1;
	cc->recover_set = true;
	cc->in_recovery = false;
}

static void newreno_on_idle(struct tcp_cong *cc)
{
	/* RFC 5681 4.1: RW = min(IW, cwnd). */
	cc->cwnd = cong_min(tcp_cong_iw(cc->mss), cc->cwnd);
	cc->bytes_acked = 0;
}

const struct tcp_cong_ops tcp_newreno = {
	.name = "newreno",
	.init = newreno_init,
	.on_ack = newreno_on_ack,
	.on_dupack = newreno_on_dupack,
	.on_rto = newreno_on_rto,
	.on_idle = newreno_on_idle,
};
