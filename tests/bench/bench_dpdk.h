/* bench_dpdk.h - petrel-bench's DPDK backend: the generator's connections as TCBs of
 * Petrel's own TCP stack (include/petrel/tcp.h, active open) over a DPDK port
 * (port.h), the same layers the broker's transport_dpdk.c uses. One port per
 * process, opened from --dpdk-eal with one EAL lcore per generator thread; per thread
 * and per local address one net_if and one tcp_stack (max_conns sized from the
 * connections that thread opens from that address). A thread picks each connection's
 * source port so that the broker's replies reach its own queue (port_tuple_worker).
 *
 * A loop turn (bench_loop_turn): bench_dpdk_poll takes a burst from the port, hands
 * each frame to the net_if of its destination address (ARP: its target address) and
 * runs the timers; the stack's callbacks decode input and queue acks; publishers
 * produce; bench_conn_flush hands new bytes to the stack; bench_dpdk_flush transmits.
 * Busy polling, with short sleeps when idle (docs/benchmarks.md). */
#ifndef BENCH_DPDK_H
#define BENCH_DPDK_H

#include <stdbool.h>
#include <stdint.h>

struct bench_conn;
struct bench_opts;
struct bench_run;
struct bench_thread;

#ifdef PETREL_HAVE_DPDK
/* Starts the EAL and opens the port for <nthreads> generator lcores. 0 or -errno
 * (reason on stderr). Main thread, once. */
int bench_dpdk_open(const struct bench_opts *o, unsigned nthreads);
/* Closes the port and the EAL; after every thread's fini. No-op if not open. */
void bench_dpdk_close(void);
/* Runs fn(&run->th[i]) on lcore i for every thread and waits for all. */
void bench_dpdk_run_threads(struct bench_run *run, void *(*fn)(void *));

/* Creates the thread's interfaces and stacks for the connections laid out in
 * th->conns. 0 or -errno. */
int bench_dpdk_thread_init(struct bench_thread *th);
/* Frees them (no-op in kernel mode). */
void bench_dpdk_thread_fini(struct bench_thread *th);

/* The active open of <c> from its source address. 0 or -errno. */
int bench_dpdk_conn_open(struct bench_thread *th, struct bench_conn *c);
/* Hands <c>'s new bytes to the stack, the publisher's queued ones first copied behind
 * the control bytes, at most the send buffer limit unacknowledged. */
int bench_dpdk_conn_flush(struct bench_thread *th, struct bench_conn *c);
/* Lets go of c->tcb: RST if <abort>, else an orderly close. */
void bench_dpdk_conn_close(struct bench_conn *c, bool abort);

/* One poll of the port (after a short sleep when idle for a while and <wake> is
 * later), input through the stacks, timers; sets th->now. */
void bench_dpdk_poll(struct bench_thread *th, uint64_t wake);
/* End of a turn: the stacks' output to the port. */
void bench_dpdk_flush(struct bench_thread *th);
/* After teardown: keeps polling briefly so FINs and last acks are exchanged. */
void bench_dpdk_linger(struct bench_thread *th);
/* One poll and flush of the calling generator lcore's share, for waits (barriers):
 * its stacks keep answering, and in single-queue mode thread 0 keeps carrying the
 * other threads' frames. */
void bench_dpdk_idle(void);
/* Polls (bench_dpdk_idle) until a quarter of the thread's mbufs are free again, at
 * most 100 ms: a burst of closes holds an mbuf per connection until the broker
 * acknowledges, and an empty pool turns the rest into retransmissions. */
void bench_dpdk_pace(struct bench_thread *th);
#else
/* A build without DPDK: --dpdk is refused (bench_opts.c), th->dp stays NULL, so only
 * these are reached. */
static inline void bench_dpdk_thread_fini(struct bench_thread *th)
{
	(void)th;
}
#define bench_dpdk_open(o, n) (-ENOTSUP)
#define bench_dpdk_close() ((void)0)
#define bench_dpdk_run_threads(run, fn) ((void)0)
#define bench_dpdk_thread_init(th) (-ENOTSUP)
#define bench_dpdk_conn_open(th, c) (-ENOTSUP)
#define bench_dpdk_conn_flush(th, c) (-ENOTSUP)
#define bench_dpdk_conn_close(c, abort) ((void)0)
#define bench_dpdk_poll(th, wake) ((void)0)
#define bench_dpdk_flush(th) ((void)0)
#define bench_dpdk_linger(th) ((void)0)
#define bench_dpdk_idle() ((void)0)
#define bench_dpdk_pace(th) ((void)0)
#endif

#endif
