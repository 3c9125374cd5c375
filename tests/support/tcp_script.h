/* tcp_script.h - packetdrill-style scripts for our TCP stack (dataplane/net/tcp*.c)
 * inside a criterion test: a real tcp_stack on real mbufs (eal_test.h), segments fed
 * in by one call each, the clock set explicitly, and every segment the stack emits
 * captured and asserted in order. A fake user (tcp_user_ops) records its callbacks and
 * owns an output buffer the stack reads through send_view/send_acked.
 *
 *	struct tcp_script *s = tcp_script_new();      // 10.0.0.2:40000 -> 10.0.0.1:1883
 *	tcp_script_start(s);                          // stack created, listening
 *	tcp_script_in(s, "S", 0, 0, 65535, "mss 1460,ws 7", NULL, 0);
 *	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460,ws 0", NULL, 0);
 *	tcp_script_in(s, ".", 1, 1, 512, NULL, NULL, 0);
 *	cr_assert_eq(s->user.accepted, 1);
 *	tcp_script_free(s);                           // asserts no mbuf leaked
 *
 * Sequence numbers are relative, as in packetdrill: what a script writes for the peer
 * is added to the peer's ISN (TCP_SCRIPT_PEER_ISN), what it expects from us is
 * compared after taking away our ISN (learnt from our first SYN) on seq, and the
 * peer's on ack. s->relative = false turns that off (RSTs for unknown flows).
 *
 * Flags are written as tcpdump does: "S" SYN, "." ACK, "F" FIN, "R" RST, "P" PSH, in
 * the order F S R P then ".": "S.", "P.", "F.", "FP.", "R.".
 * Options are a comma list: "mss 1460", "ws 7", "sackOK", "ts 100 0", "nop", "eol";
 * the harness pads with NOPs. Expected options list what was emitted (NOPs left out)
 * in order; "*" matches any one value, NULL skips the check, "" means none. */
#ifndef PETREL_TCP_SCRIPT_H
#define PETREL_TCP_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/tcp.h"

#define TCP_SCRIPT_LOCAL_IP 0x0a000001u  /* 10.0.0.1 */
#define TCP_SCRIPT_PEER_IP 0x0a000002u   /* 10.0.0.2 */
#define TCP_SCRIPT_PORT 1883
#define TCP_SCRIPT_PEER_PORT 40000
#define TCP_SCRIPT_PEER_ISN 1000000u
#define TCP_SCRIPT_T0 1000000000ull      /* the clock at the start, microseconds */
#define TCP_SCRIPT_ANY UINT32_MAX        /* expected seq/ack/win: not checked */
#define TCP_SCRIPT_MBUFS 4096
#define TCP_SCRIPT_BUF (1u << 20)

struct tcp_script;

/* The fake user of one connection. */
struct tcp_script_user {
	struct tcp_script *s;
	struct tcb *t;
	/* Input */
	bool consume;              /* false: recv() takes nothing (the user stops reading) */
	size_t consume_max;        /* > 0: recv() takes at most this much per call */
	bool close_in_recv;        /* recv() calls tcp_close() (a user that closes on input) */
	bool close_in_accept;      /* accepted() calls tcp_close() and returns the user */
	uint8_t *in;               /* what recv() took, in order */
	size_t in_len;
	unsigned recv_calls;
	const uint8_t *last_ptr;   /* the last pointer recv() was given */
	size_t last_len;
	/* Output: bytes [out_acked, out_len) are the send buffer */
	uint8_t *out;
	size_t out_len, out_acked;
	uint32_t span_max;         /* send_view() spans at most this long */
	bool span_ref;             /* spans carry a ref (span.h): they may be attached */
	unsigned holds, releases;  /* span_hold() / span_release() calls */
	unsigned send_acked_calls;
	/* Callbacks seen */
	unsigned accepted, eof, gone, connected;
	int gone_err, connected_err;
};

/* A segment the stack emitted, parsed. */
struct tcp_script_seg {
	char flags[8];
	uint32_t seq, ack;         /* absolute */
	uint16_t win;
	uint16_t sport, dport;
	uint32_t dst_ip;
	char opts[128];            /* canonical: "mss 1460,ws 1,ts 5 100" */
	bool has_ts;
	uint32_t tsval, tsecr;
	uint8_t data[2048];
	size_t len;
	unsigned nb_segs;          /* mbufs in the segment's chain */
	unsigned ext_segs;         /* of which external buffers (attached spans) */
};

struct tcp_script {
	struct rte_mempool *pool;
	struct tcp_params p;       /* set before tcp_script_start() */
	struct tcp_stack *ts;
	uint64_t now;
	uint32_t peer_ip;
	uint16_t peer_port, port;
	bool relative;
	uint32_t our_isn;
	bool have_our_isn;
	bool refuse_accept;        /* accepted() returns NULL */
	struct tcp_script_user user;
	struct rte_mbuf *outq[512];
	unsigned out_r, out_w;     /* ring of captured segments */
	unsigned emitted;          /* segments seen by the output function */
};

/* EAL, pool, defaults (tcp_params_default + our addresses and the capture); no
 * stack yet so the test can change s->p. */
struct tcp_script *tcp_script_new(void);
/* Creates the stack at TCP_SCRIPT_T0 and listens on s->port. */
void tcp_script_start(struct tcp_script *s);
/* Destroys the stack, drops captured segments and asserts every mbuf came home and
 * every span_hold() was released. */
void tcp_script_free(struct tcp_script *s);

/* A segment from the peer: tcp_input() then tcp_flush(), as one loop turn. */
void tcp_script_in(struct tcp_script *s, const char *flags, uint32_t seq, uint32_t ack,
		   uint16_t win, const char *opts, const void *data, size_t len);
/* Raw bytes from the peer as a TCP segment (for headers no script line can write):
 * tcp_input() then tcp_flush(). */
void tcp_script_in_raw(struct tcp_script *s, const void *bytes, size_t len);
/* Pops the next emitted segment; false if none. */
bool tcp_script_pop(struct tcp_script *s, struct tcp_script_seg *seg);
/* Pops the next emitted segment and asserts it (seq/ack relative unless
 * s->relative is false). <data> NULL: only the length is checked. Returns it. */
struct tcp_script_seg tcp_script_out(struct tcp_script *s, const char *flags, uint32_t seq,
				     uint32_t ack, uint32_t win, const char *opts,
				     const void *data, size_t len);
/* Asserts nothing more was emitted. */
void tcp_script_none(struct tcp_script *s);
/* Sets the clock, runs tcp_timers() and tcp_flush(). */
void tcp_script_at(struct tcp_script *s, uint64_t now_us);
/* The user appends <len> bytes of output and calls tcp_send_ready(); flushes. */
void tcp_script_send(struct tcp_script *s, const void *data, size_t len);
/* The user reads again: tcp_recv_resume() and a flush. */
void tcp_script_resume(struct tcp_script *s);
/* The user closes: tcp_close() and a flush. */
void tcp_script_close(struct tcp_script *s);
/* Peer SYN (mss 1460, ws 7, ts, sackOK), our SYN-ACK, the peer's ACK: ESTABLISHED
 * with timestamps and window scaling on; the peer's window is <win> << 7. */
void tcp_script_handshake(struct tcp_script *s, uint16_t win);
/* The same without options: no timestamps, no scaling, MSS 536 toward the peer. */
void tcp_script_handshake_plain(struct tcp_script *s, uint16_t win);
/* True if <p> points into one of the pool's mbufs (recv() saw the segment itself). */
bool tcp_script_in_pool(const struct tcp_script *s, const void *p);
/* Active open from s->port to the peer (tcp_connect with the script's user). */
struct tcb *tcp_script_connect(struct tcp_script *s);
/* Our TSval at the current clock (1 ms ticks). */
uint32_t tcp_script_tsval(const struct tcp_script *s);

#endif
