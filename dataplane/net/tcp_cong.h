/* tcp_cong.h - congestion control behind a small ops struct (STYLE.md), private to
 * dataplane/net. NewReno (RFC 5681 slow start, congestion avoidance, fast retransmit;
 * RFC 6582 recovery) is the one implementation. Sequence numbers are absolute 32-bit
 * TCP ones; compare with seq_lt() and friends (tcp_seq.h). */
#ifndef PETREL_TCP_CONG_H
#define PETREL_TCP_CONG_H

#include <stdbool.h>
#include <stdint.h>

struct tcp_cong {
	uint32_t cwnd;        /* bytes */
	uint32_t ssthresh;    /* bytes */
	uint32_t recover;     /* RFC 6582: highest seq sent when recovery began */
	uint32_t mss;         /* SMSS */
	uint32_t bytes_acked; /* congestion avoidance: RFC 5681 3.1 byte counting */
	uint8_t dupacks;
	bool in_recovery;
	/* RFC 6582 3.2 step 1 sets recover to the ISN, which init() is not told: until
	 * recovery or an RTO first sets it, any ACK "covers more than recover". */
	bool recover_set;
	/* An RTO fired and no ACK of new data came since: a further RTO is the same
	 * loss, and RFC 5681 3.1 changes ssthresh only on the first. */
	bool rto_backoff;
};

/* RFC 5681 3.1 eq. 1: the initial window for <mss>. */
uint32_t tcp_cong_iw(uint32_t mss);
/* cwnd never exceeds the largest window a peer can offer (RFC 7323 2.3: 2^30). */
#define TCP_CONG_CWND_MAX (UINT32_C(1) << 30)

/* What the TCB must do after an event. */
enum tcp_cong_action {
	TCP_CONG_NONE,
	TCP_CONG_RETRANSMIT,  /* resend the segment at snd_una now (fast or partial-ack retransmit) */
};

struct tcp_cong_ops {
	const char *name;
	/* New connection: initial window (RFC 5681 3.1 IW), ssthresh "arbitrarily high". */
	void (*init)(struct tcp_cong *cc, uint32_t mss);
	/* An ACK moved snd_una forward by <acked> bytes to <snd_una>; <flight> is what is
	 * still outstanding after it. Call it for ACKs of data only: RFC 5681 3.1, "the
	 * SYN/ACK and the acknowledgment of the SYN/ACK MUST NOT increase the size of
	 * the congestion window" (so <acked> counts neither SYN nor FIN). Returns
	 * TCP_CONG_RETRANSMIT for an RFC 6582 partial ACK (resend at snd_una; the TCB
	 * also restarts the RTO timer, RFC 6582 3.2 step 3). */
	enum tcp_cong_action (*on_ack)(struct tcp_cong *cc, uint32_t snd_una, uint32_t acked,
				       uint32_t flight);
	/* A duplicate ACK (RFC 5681 2: same ack, no data, no window change, data
	 * outstanding). <snd_nxt> is the highest seq sent so far. */
	enum tcp_cong_action (*on_dupack)(struct tcp_cong *cc, uint32_t snd_una,
					  uint32_t snd_nxt, uint32_t flight);
	/* The retransmission timer fired (RFC 5681 3.1 eq. 4, cwnd = 1 SMSS). */
	void (*on_rto)(struct tcp_cong *cc, uint32_t snd_nxt, uint32_t flight);
	/* The connection was idle longer than an RTO (RFC 5681 4.1): restart window.
	 * The TCB calls it before it sends new data when nothing was sent for an RTO. */
	void (*on_idle)(struct tcp_cong *cc);
};

extern const struct tcp_cong_ops tcp_newreno;

#endif
