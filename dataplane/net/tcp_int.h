/* tcp_int.h - private to dataplane/net/tcp*.c: the TCB, the per-worker stack and the
 * functions the TCP files call in each other. No MQTT here (tcp.h).
 *
 * States (RFC 9293 3.3.2) and who moves a TCB between them:
 *
 *   LISTEN       is not a TCB: a row of the stack's listener table (tcp_table.c)
 *   SYN_SENT     tcp_connect()           -> ESTABLISHED on SYN-ACK, SYN_RCVD on SYN
 *   SYN_RCVD     a SYN on a listener     -> ESTABLISHED on the ACK (accepted())
 *   ESTABLISHED  data both ways          -> FIN_WAIT_1 on tcp_close(), CLOSE_WAIT on FIN
 *   FIN_WAIT_1   our FIN sent            -> FIN_WAIT_2 on its ACK, CLOSING on FIN
 *   FIN_WAIT_2   our FIN acknowledged    -> TIME_WAIT on FIN (timeout: time_wait_us)
 *   CLOSE_WAIT   peer's FIN seen         -> LAST_ACK on tcp_close()
 *   CLOSING      both FINs, ours unacked -> TIME_WAIT on its ACK
 *   LAST_ACK     our FIN after theirs    -> freed on its ACK
 *   TIME_WAIT    2 MSL (time_wait_us)    -> freed
 *
 * Send side: while the user lives its output queue is the send buffer (send_view at
 * an offset from snd_una). After tcp_close() the remaining output sits in <sndq>, a
 * list of mbufs the TCB owns. Receive side: <rcvq> holds in-order bytes the user did
 * not consume, <ooo> out-of-order segments (seq in m->hash.usr), both bounded by the
 * window we advertised. */
#ifndef PETREL_TCP_INT_H
#define PETREL_TCP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/tcp.h"
#include "tcp_cong.h"
#include "tcp_seq.h"
#include "tcp_syncookie.h"

enum tcp_state {
	TCPS_CLOSED,
	TCPS_SYN_SENT,
	TCPS_SYN_RCVD,
	TCPS_ESTABLISHED,
	TCPS_FIN_WAIT_1,
	TCPS_FIN_WAIT_2,
	TCPS_CLOSE_WAIT,
	TCPS_CLOSING,
	TCPS_LAST_ACK,
	TCPS_TIME_WAIT,
};

/* tcb.flags */
#define TF_ACKNOW      (1u << 0)   /* send an ACK at the next flush */
#define TF_DELACK      (1u << 1)   /* an ACK is owed, delack timer armed */
#define TF_OUTPUT      (1u << 2)   /* tcp_send_ready(): try to send at the flush */
#define TF_RESUME      (1u << 3)   /* tcp_recv_resume(): offer kept input at the flush */
#define TF_ON_FLUSH    (1u << 4)   /* on the stack's flush list */
#define TF_CLOSED_USER (1u << 5)   /* tcp_close(): the user is gone, output in sndq */
#define TF_FIN_SENT    (1u << 6)   /* our FIN occupies snd_max - 1 */
#define TF_FIN_RCVD    (1u << 7)   /* the peer's FIN was taken (rcv_nxt counts it) */
#define TF_EOF_DUE     (1u << 8)   /* eof() once the kept input is consumed */
#define TF_TS          (1u << 9)   /* timestamps on (RFC 7323 3.2) */
#define TF_WS          (1u << 10)  /* window scaling on (RFC 7323 2.2) */
#define TF_ACTIVE      (1u << 11)  /* opened by tcp_connect() */
#define TF_RTT         (1u << 12)  /* timing rtt_seq (no timestamps, RFC 6298 3) */
#define TF_PERSIST     (1u << 13)  /* the rexmt timer is the persist timer */
#define TF_DEAD        (1u << 14)  /* out of the table, waiting to be freed */
#define TF_HAVE_RTT    (1u << 15)  /* srtt holds a sample */
#define TF_FORCE       (1u << 16)  /* persist fired on a window too small to use */
#define TF_SYN_REXMT   (1u << 17)  /* our SYN or SYN-ACK timed out (RFC 6298 5.7) */

/* The smallest MSS we use, ours or the peer's option (RFC 9293 3.7.1 sets no floor;
 * an option of 0, or below the 12 bytes of our timestamp option, would leave no room
 * for data). */
#define TCP_MSS_MIN 64

struct rte_mbuf;

struct tcb {
	/* The hash chain and the key side by side: a lookup walking a chain touches one
	 * cache line per TCB, not two (it showed at the top of the broker's profile
	 * while 100k clients connected). */
	struct tcb *hnext;          /* hash chain (tcp_table.c) */
	uint32_t rip;               /* peer, host order */
	uint16_t rport, lport;
	struct tcp_stack *ts;
	struct tcb *fnext;          /* flush list or dead list */
	void *user;                 /* NULL until accepted() and after close/gone */
	struct rte_mbuf *rcvq;      /* kept in-order input, chained by m->next */
	struct rte_mbuf *ooo;       /* out-of-order segments by seq, chained by m->next */
	struct rte_mbuf *sndq;      /* output owned after tcp_close(), chained */
	uint32_t sndq_len;          /* bytes in sndq from snd_una on */
	uint32_t rcvq_len;          /* bytes in rcvq */
	uint8_t state;
	uint8_t snd_scale, rcv_scale; /* RFC 7323 2.3 shift counts */
	uint8_t retries;            /* consecutive RTO / persist backoffs */
	uint8_t probes;             /* window probes since the peer last sent an ACK */
	uint32_t flags;
	uint16_t mss;               /* most data bytes per segment we send */
	uint16_t ooo_n;             /* segments in ooo */
	uint32_t heap_idx;          /* in the stack's timer heap, UINT32_MAX: not */
	uint32_t iss, irs;
	uint32_t snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint32_t rcv_nxt, rcv_adv;  /* rcv_adv: right edge of the window we advertised */
	uint32_t ts_recent;         /* RFC 7323 4.3 */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t rtt_seq, rtt_start; /* timed segment (32-bit microseconds) */
	uint32_t last_sent;         /* data last sent (32-bit microseconds), RFC 5681 4.1 */
	uint64_t rexmt_at;          /* RTO, persist, SYN retries, TIME_WAIT, FIN_WAIT_2 */
	uint64_t delack_at;
	uint64_t due;               /* min of the above that are set: heap key */
	struct tcp_cong cc;
};

struct tcp_listener {
	uint16_t port;
	void *arg;
};

struct tcp_stack {
	struct tcp_params p;
	const struct tcp_cong_ops *cc_ops;   /* tcp_newreno */
	struct tcp_syncookie_key cookie_key;
	uint64_t cookie_sent_us;    /* when the last cookie went out, if cookie_sent */
	bool cookie_sent;
	struct tcp_stats stats;
	uint64_t now_us;            /* the clock of the current call */
	struct tcb **buckets;       /* 4-tuple hash */
	uint32_t nbuckets;          /* power of two */
	uint32_t nconns;            /* TCBs in the table */
	uint32_t nsyn;              /* of which SYN_RCVD (passive) */
	struct tcp_listener *listeners;
	uint32_t nlisteners, cap_listeners;
	struct tcb **heap;          /* timer min-heap by tcb->due */
	uint32_t heap_n, heap_cap;
	struct tcb *flush_head;     /* TCBs with TF_ON_FLUSH */
	struct tcb *dead;           /* TCBs to free at the end of the call */
	uint16_t ephemeral_next;
	uint8_t rcv_scale;          /* what we offer: fits rcv_buf into 16 bits */
	bool can_attach;            /* tcp_txdata_can_attach() */
	uint64_t chack_second;      /* challenge ACK rate limit window */
	uint32_t chack_count;
	uint32_t limits_logged;     /* TCP_LIMIT_* in an episode already logged */
};

/* Limits that are logged once per episode (tcp_limit_hit / tcp_limit_clear). */
#define TCP_LIMIT_CONNS   (1u << 0)   /* max_conns */
#define TCP_LIMIT_BACKLOG (1u << 1)   /* syn_backlog: SYN cookies */
#define TCP_LIMIT_OOO     (1u << 2)   /* ooo_max */
#define TCP_LIMIT_CHACK   (1u << 3)   /* challenge_acks_per_s */
#define TCP_LIMIT_MBUF    (1u << 4)   /* the mbuf pool is empty */

/* A parsed segment (tcp_input.c). */
struct tcp_seg {
	uint32_t seq, ack, len;     /* len: data bytes */
	uint32_t wnd;               /* raw, unscaled */
	uint8_t flags;              /* RTE_TCP_*_FLAG */
	bool has_mss, has_ws, has_ts, sack_ok;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	const uint8_t *data;
};

/* tcp.c */
struct tcb *tcb_new(struct tcp_stack *ts, uint32_t rip, uint16_t rport, uint16_t lport);
/* Out of the table and the timers, queued to be freed at the end of the call. */
void tcb_drop(struct tcb *t);
/* The connection ends: gone(err) to a live user, counted, then tcb_drop(). */
void tcb_fail(struct tcb *t, int err);
void tcb_reap(struct tcp_stack *ts);
void tcb_flush_add(struct tcb *t, uint32_t flag);
void tcb_established(struct tcb *t);
uint32_t tcb_isn(struct tcp_stack *ts, uint32_t rip, uint16_t rport, uint16_t lport);
void tcb_init_from_syn(struct tcb *t, const struct tcp_seg *seg);
/* Output the stack still has to send from snd_una on (user's or sndq). */
size_t tcb_send_len(const struct tcb *t);
void tcb_send_acked(struct tcb *t, uint32_t n);
/* Copies <len> bytes of output from <off> (relative to snd_una) into <dst>. */
int tcb_send_copy(struct tcb *t, size_t off, uint8_t *dst, uint32_t len);
/* Offers kept input to the user; eof() when all of it is consumed after a FIN. */
void tcb_deliver_kept(struct tcb *t);
/* In-order bytes <data, len> inside <m>: offered to the user unless earlier input
 * still waits; what is not consumed is kept (m trimmed to it). Returns true if the
 * TCB took <m>. */
bool tcb_deliver_seg(struct tcb *t, struct rte_mbuf *m, const uint8_t *data, uint32_t len);
uint32_t tcb_rcv_wnd(const struct tcb *t);

/* Logs that limit <bit> (TCP_LIMIT_*) was hit, once until tcp_limit_clear(). */
void tcp_limit_hit(struct tcp_stack *ts, uint32_t bit);

static inline void tcp_limit_clear(struct tcp_stack *ts, uint32_t bit)
{
	ts->limits_logged &= ~bit;
}

/* tcp_table.c */
int tcp_table_init(struct tcp_stack *ts);
void tcp_table_fini(struct tcp_stack *ts);
struct tcb *tcp_table_lookup(struct tcp_stack *ts, uint32_t rip, uint16_t rport,
			     uint16_t lport);
void tcp_table_insert(struct tcp_stack *ts, struct tcb *t);
void tcp_table_remove(struct tcp_stack *ts, struct tcb *t);
struct tcp_listener *tcp_table_listener(struct tcp_stack *ts, uint16_t port);
int tcp_table_listen(struct tcp_stack *ts, uint16_t port, void *arg);
int tcp_table_ephemeral(struct tcp_stack *ts, uint32_t rip, uint16_t rport);

/* tcp_output.c */
/* Sends what the window allows and the ACK owed; returns segments sent. */
int tcp_output(struct tcb *t);
int tcp_send_ctl(struct tcb *t, uint8_t flags, uint32_t seq);
int tcp_send_ack(struct tcb *t);
void tcp_send_challenge_ack(struct tcb *t);
/* Resends from snd_una (one segment: RTO, fast retransmit, SYN, FIN). */
int tcp_retransmit(struct tcb *t);
int tcp_send_probe(struct tcb *t);
/* One segment at snd_una, snd_nxt untouched (fast retransmit, NewReno partial ACK). */
int tcp_resend_una(struct tcb *t);
void tcp_send_synack_cookie(struct tcp_stack *ts, uint32_t src, uint16_t sport,
			    uint16_t dport, const struct tcp_seg *syn, uint32_t cookie);
/* RST for a segment that has no TCB (RFC 9293 3.10.7.1). */
void tcp_send_rst_noconn(struct tcp_stack *ts, uint32_t src, uint32_t dst,
			 uint16_t sport, uint16_t dport, const struct tcp_seg *seg);

/* tcp_txdata.c */
bool tcp_txdata_can_attach(const struct tcp_params *p);
/* Appends <len> bytes of output from <off> past snd_una to the segment <m> (its
 * header already in place). Returns 0 or -errno; <m> is the caller's either way. */
int tcp_txdata_fill(struct tcb *t, struct rte_mbuf *m, size_t off, uint32_t len);

/* tcp_input.c */
/* Returns true if the TCB took <m>. */
bool tcp_input_seg(struct tcb *t, struct tcp_seg *seg, struct rte_mbuf *m);

/* tcp_timer.c */
void tcp_timer_update(struct tcb *t);
void tcp_timer_remove(struct tcb *t);
void tcp_rexmt_arm(struct tcb *t);
void tcp_rexmt_stop(struct tcb *t);
void tcp_rtt_sample(struct tcb *t, uint32_t rtt_us);
/* The handshake is over: if a SYN timed out, RFC 6298 5.7's 3 s RTO (no sample came)
 * and RFC 5681 3.1's one-segment initial window. */
void tcp_rto_handshake_done(struct tcb *t);
void tcp_delack(struct tcb *t);
void tcp_time_wait(struct tcb *t);
void tcp_timers_run(struct tcp_stack *ts);
uint64_t tcp_timer_next(const struct tcp_stack *ts);

static inline uint32_t tcb_ts_now(const struct tcp_stack *ts)
{
	/* RFC 7323 5.4: a timestamp clock of 1 ms per tick. */
	return (uint32_t)(ts->now_us / 1000);
}

static inline uint32_t tcb_flight(const struct tcb *t)
{
	return t->snd_max - t->snd_una;
}

#endif
