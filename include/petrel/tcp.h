/* tcp.h - our TCP (RFC 9293) as its user sees it: the DPDK transport
 * (transport_dpdk.c) for the broker, the packet generator later. One tcp_stack per
 * worker, touched only by that worker's thread: no locks, no atomics. It knows nothing
 * of MQTT: its user is reached through tcp_user_ops, and segments leave through the
 * output function of tcp_params (the IPv4 layer, net.h, or a test that captures them).
 *
 * Byte streams without copies of their own:
 * - Send: the stack keeps no send buffer while its user lives. The user's output
 *   queue is the send buffer: the stack reads it with send_view() at an offset from
 *   the oldest unacknowledged byte, for first transmission and retransmission alike,
 *   and tells the user with send_acked() when bytes may be freed. Spans with a ref
 *   may ride as external mbuf buffers (span_hold/span_release around the mbuf's life).
 * - Receive: in-order data is offered to recv() straight from the mbuf. What the user
 *   does not consume stays in the TCB (as mbufs) and shrinks the advertised window
 *   until tcp_recv_resume().
 *
 * Times are microseconds of the caller's monotonic clock (the worker's TSC clock). */
#ifndef PETREL_TCP_H
#define PETREL_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/span.h"

struct rte_mbuf;
struct rte_mempool;
struct tcb;
struct tcp_stack;

/* Calls into the stack's user. All on the stack's thread, from inside tcp_input(),
 * tcp_timers() or tcp_flush(), never from a call the user made (no re-entry), with
 * one exception: tcp_close() reads the remaining output through send_len() and
 * send_view() before it returns. A callback may call tcp_close(), tcp_abort(),
 * tcp_send_ready() or tcp_recv_resume() on its own TCB (a TCB is freed only at the end
 * of the stack call). */
struct tcp_user_ops {
	/* A passive open reached ESTABLISHED on a port of tcp_listen(<listen_arg>).
	 * Returns the user's handle for <t>, or NULL to refuse (the stack sends RST). */
	void *(*accepted)(void *listen_arg, struct tcb *t);
	/* An active open (tcp_connect) reached ESTABLISHED (err 0) or failed (-ECONNREFUSED,
	 * -ETIMEDOUT); after a failure <t> is gone and no other callback follows. */
	void (*connected)(void *user, int err);
	/* In-order bytes. Returns how many the user consumed (<= len); the rest stays in
	 * the TCB, the window shrinks by it, and nothing more is offered until
	 * tcp_recv_resume(). */
	size_t (*recv)(void *user, const uint8_t *data, size_t len);
	/* Fills <sp> (at most <max>) with the user's output from byte <off> on, where 0 is
	 * the oldest byte not yet acknowledged. Returns the number of spans. */
	int (*send_view)(void *user, size_t off, struct tx_span *sp, int max);
	/* Bytes of output the user holds: acknowledged bytes excluded, unsent included. */
	size_t (*send_len)(void *user);
	/* The peer acknowledged the oldest <n> bytes: the user may free them. */
	void (*send_acked)(void *user, size_t n);
	/* The peer sent FIN after all its data was offered (and consumed): end of input. */
	void (*eof)(void *user);
	/* The connection is gone: RST received, retransmissions exhausted, or shutdown.
	 * <err> is -ECONNRESET, -ETIMEDOUT, ... No callback for <user> follows; the TCB is
	 * the stack's to free. */
	void (*gone)(void *user, int err);
	/* Keep / let go of a span's ref (span.h) while an mbuf points into it. */
	void (*span_hold)(void *ref);
	void (*span_release)(void *ref);
};

struct tcp_params {
	uint32_t local_ip;            /* host byte order */
	struct rte_mempool *pool;     /* mbufs for segments the stack builds */
	/* Sends <m> (data starts at the TCP header; checksum left to the callee, which
	 * knows the pseudo-header and the port's offloads) to <dst_ip>. Takes <m> in all
	 * cases. Returns 0 or -errno (counted by the stack as out_dropped). */
	int (*output)(void *arg, struct rte_mbuf *m, uint32_t dst_ip);
	void *output_arg;
	const struct tcp_user_ops *ops;
	unsigned worker_id;           /* for logs */
	uint16_t mss;                 /* our MSS: MTU - 40 */
	uint32_t rcv_buf;             /* most bytes kept per TCB = the largest window */
	uint32_t max_conns;           /* TCBs in every state but LISTEN; over it: RST */
	uint32_t syn_backlog;         /* SYN_RECEIVED TCBs; over it: SYN cookies */
	uint32_t rto_min_us, rto_max_us, rto_initial_us;
	uint32_t delack_us;           /* delayed ACK (RFC 1122 4.2.3.2: < 500 ms) */
	uint32_t time_wait_us;        /* 2 MSL */
	uint32_t max_retries;         /* RTO backoffs, or unanswered window probes, before a
	                                 connection is dropped */
	uint32_t ooo_max;             /* out-of-order segments kept per TCB; more: dropped */
	uint32_t challenge_acks_per_s; /* RFC 5961 7: challenge ACKs per second per stack */
	uint64_t secret;              /* seeds ISNs (RFC 6528) and SYN cookies */
	/* The output function takes mbuf chains (the port has multi-segment TX): payload
	 * spans with a ref then ride as external buffers instead of being copied. */
	bool tx_chains;
};

/* Fills <p> with the defaults (docs/architecture.md, "The TCP stack", lists them
 * with what happens when each limit is hit); the caller then sets local_ip, pool,
 * output, ops. */
void tcp_params_default(struct tcp_params *p);

struct tcp_stack *tcp_stack_create(const struct tcp_params *p, uint64_t now_us);
/* Drops every TCB without callbacks and without sending anything. */
void tcp_stack_destroy(struct tcp_stack *ts);

/* A segment for us: <m>'s data starts at the TCP header and ends where the IP
 * payload ends (padding trimmed); the checksum was verified below. Takes <m>. */
void tcp_input(struct tcp_stack *ts, struct rte_mbuf *m, uint32_t src_ip, uint32_t dst_ip,
	       uint64_t now_us);
/* Runs due timers (RTO, delayed ACK, zero-window probe, TIME-WAIT, SYN-RECEIVED). */
void tcp_timers(struct tcp_stack *ts, uint64_t now_us);
/* End of the caller's loop turn: transmits what tcp_send_ready() asked for, offers
 * kept input after tcp_recv_resume(), and sends pending ACKs that cannot wait. */
void tcp_flush(struct tcp_stack *ts, uint64_t now_us);
/* Microseconds until the next timer is due (for idle sleeps; it may be early, never
 * late: a timer moved later is noticed when the old time comes); UINT64_MAX if none. */
uint64_t tcp_next_timer_us(const struct tcp_stack *ts, uint64_t now_us);

/* Passive open on <port>. Returns 0, -EADDRINUSE, -ENOMEM. */
int tcp_listen(struct tcp_stack *ts, uint16_t port, void *listen_arg);
/* Active open from <src_port> (0 = pick one) to <dst_ip>:<dst_port>. Returns the TCB
 * (SYN_SENT; connected() follows) or NULL with errno set: EADDRINUSE (that 4-tuple
 * exists), EADDRNOTAVAIL (no free ephemeral port), ENOBUFS (max_conns), ENOMEM. */
struct tcb *tcp_connect(struct tcp_stack *ts, uint32_t dst_ip, uint16_t dst_port,
			uint16_t src_port, void *user, uint64_t now_us);

/* The user appended output: transmit it at the next tcp_flush(). */
void tcp_send_ready(struct tcb *t);
/* The user reads again: kept input is offered at the next tcp_flush(). */
void tcp_recv_resume(struct tcb *t);
/* The user is done with <t>: its remaining output is copied into the stack now, sent,
 * then FIN (an orderly close, RFC 9293 3.10.4); no callback for <user> follows. */
void tcp_close(struct tcb *t);
/* RST now and forget <t>; no callback follows. */
void tcp_abort(struct tcb *t);
/* The peer's address (host byte order). */
void tcp_peer(const struct tcb *t, uint32_t *ip, uint16_t *port);

#define TCP_STATS_FIELDS(X)                                                            \
	X(in_segs) X(out_segs) X(in_bad) X(in_no_flow_rst) X(retransmits)              \
	X(fast_retransmits) X(rto_timeouts) X(zero_window_probes) X(challenge_acks)    \
	X(syn_cookies_sent) X(syn_cookies_ok) X(syn_cookies_bad) X(out_of_order)       \
	X(dup_segs) X(conns_passive) X(conns_active) X(conns_reset) X(conns_timeout)   \
	X(conns_over_limit) X(out_dropped) X(no_mbuf) X(time_wait)                     \
	X(ooo_dropped) X(challenge_acks_limited) X(bad_ack) X(syn_backlog_full)       \
	X(paws_rejected) X(syn_cookies_late)

struct tcp_stats {
#define X(name) uint64_t name;
	TCP_STATS_FIELDS(X)
#undef X
};

const struct tcp_stats *tcp_stack_stats(const struct tcp_stack *ts);

#endif
