/* bench_conn.h - one client connection of the generator: a non-blocking socket in its
 * thread's epoll (edge-triggered), a small growable buffer of control bytes (CONNECT,
 * SUBSCRIBE, acks, PINGREQ, DISCONNECT) and, for publishers, the pre-encoded window of
 * bench_pub.h. Whatever is pending goes out in one sendmsg per loop turn; input is
 * read in large chunks into the thread's buffer and decoded in place, only the tail of
 * a split packet is kept per connection. Owned by one thread.
 *
 * DPDK mode (bench_dpdk.h): a TCB of our TCP stack instead of the socket. Our TCP
 * keeps no send buffer, so the control buffer is the connection's send buffer: a
 * flush appends the publisher's queued bytes to it and hands everything to the stack
 * (ctl_given), which frees it from the front as the broker acknowledges. Input comes
 * from the stack's recv() callback through bench_conn_feed(). */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_thread;
struct bench_pub;
struct tcb;
struct bench_sub;

enum bench_conn_state {
	BCS_IDLE,                    /* not opened yet */
	BCS_CONNECTING,              /* TCP handshake in progress */
	BCS_CONNACK,                 /* CONNECT queued, waiting for CONNACK */
	BCS_SUBACK,                  /* SUBSCRIBE queued, waiting for SUBACK */
	BCS_READY,                   /* set up: publishing, receiving or held */
	BCS_LEAVING,                 /* DISCONNECT queued, waiting for the broker to close */
	BCS_DONE,                    /* closed after a clean exit */
	BCS_FAILED,                  /* closed on error */
};

enum bench_role {
	BENCH_ROLE_SUB,
	BENCH_ROLE_PUB,
	BENCH_ROLE_CONN,             /* the conn scenario's connections */
};

struct bench_conn {
	int fd;                      /* kernel mode: the socket, -1 when closed */
	struct tcb *tcb;             /* DPDK mode: the TCB, NULL when closed */
	uint8_t state;               /* enum bench_conn_state */
	uint8_t role;                /* enum bench_role */
	bool can_read;               /* the last edge has not been read dry yet */
	bool can_write;              /* no EAGAIN since the last EPOLLOUT edge */
	bool on_rdq;
	bool on_wrq;
	bool settled;                /* reached its set-up goal or failed trying */
	uint32_t index;              /* run-wide: client id, source address */
	uint32_t role_id;            /* publisher or subscriber id */
	uint64_t last_tx;            /* for PINGREQ when idle */
	uint8_t *ctl;
	uint32_t ctl_head;
	uint32_t ctl_len;
	uint32_t ctl_cap;
	uint32_t ctl_given;          /* DPDK mode: the bytes from ctl_head on that the stack
				      * owns (sent or not, unacknowledged); the rest are new */
	uint8_t *stash;              /* the start of a packet split across reads */
	uint32_t stash_len;
	uint32_t stash_cap;
	struct bench_pub *pub;       /* owned; publishers only */
	struct bench_sub *sub;       /* owned; subscribers only */
};

/* Open: a socket or a TCB (in any state, the handshake included). */
static inline bool bench_conn_live(const struct bench_conn *c)
{
	return c->fd >= 0 || c->tcb != NULL;
}

/* Starts a non-blocking connect to the broker, bound to the next source address if a
 * range was given, and registers it with the thread's epoll. 0 or -errno. */
int bench_conn_open(struct bench_thread *th, struct bench_conn *c);

/* Closes the socket (leaving epoll with it) and frees the buffers; <state> is
 * BCS_DONE or BCS_FAILED. The publisher/subscriber bookkeeping stays for the totals.
 * DPDK mode: BCS_DONE closes in order (what the stack holds still goes out, then
 * FIN), BCS_FAILED sends RST. */
void bench_conn_close(struct bench_conn *c, enum bench_conn_state state);

/* Ends <c> with RST and no DISCONNECT, as a client cut off by an outage looks to the
 * broker (SO_LINGER 0 in kernel mode, tcp_abort in DPDK mode); state BCS_DONE, and it may be
 * opened again. */
void bench_conn_abort(struct bench_conn *c);

/* Frees everything <c> owns. */
void bench_conn_fini(struct bench_conn *c);

/* Room for <n> control bytes at the end of the pending ones, or NULL (ENOMEM); make
 * them pending with bench_conn_ctl_commit(). */
uint8_t *bench_conn_ctl_reserve(struct bench_conn *c, size_t n);

static inline void bench_conn_ctl_commit(struct bench_conn *c, size_t n)
{
	c->ctl_len += (uint32_t)n;
}

bool bench_conn_pending(const struct bench_conn *c);

/* Writes what is pending with one sendmsg. 0 (even if the socket took only part, or
 * nothing: can_write is then cleared) or -errno when the connection is broken. */
int bench_conn_flush(struct bench_thread *th, struct bench_conn *c);

/* Reads and handles whole packets until the socket is dry or the per-turn budget is
 * spent (can_read stays set). 0, -ECONNRESET at end of stream, or -errno / the
 * handler's error: the caller closes. */
int bench_conn_input(struct bench_thread *th, struct bench_conn *c);

/* DPDK mode: <len> in-order bytes the stack offered. Handles the whole packets and
 * keeps a split one's start. 0, or the decoder's / handler's error: the caller
 * closes. */
int bench_conn_feed(struct bench_thread *th, struct bench_conn *c, const uint8_t *data,
		    size_t len);

#endif
