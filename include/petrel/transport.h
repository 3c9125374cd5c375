/* transport.h - the boundary between the MQTT engine and whatever carries its bytes:
 * kernel sockets (transport_kernel.c), the DPDK TCP stack (transport_dpdk.c). The
 * engine sees a connection only through these calls; the transport sees the engine
 * only through the proto_* callbacks in proto.h. Every per-connection call happens on
 * the worker that owns the connection.
 *
 * Output: the engine's output stream is the send buffer (proto_out_*). The engine
 * calls output() when a connection has new bytes; the transport pulls them as spans
 * whenever it has room (output(), flush(), or its own writable event) and releases
 * them when done. Input: proto_input() says how many bytes the engine took; the
 * transport keeps the rest and offers it again after pause_read(false). */
#ifndef PETREL_TRANSPORT_H
#define PETREL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct broker;
struct worker;
struct transport_conn;   /* opaque, owned by the transport */

/* One counter of a transport's own (DPDK: its TCP stack, interface and port), for
 * the metrics: petrel_dpdk_<name>_total, HELP <help>. */
struct transport_counter {
	const char *name;
	const char *help;
};

struct transport_ops {
	const char *name;
	/* Process-wide, on the main thread, before any worker is created (EAL, ports,
	 * mempools). Returns 0 or -errno. NULL = nothing to do. */
	int (*init)(struct broker *b);
	/* After every worker is destroyed. NULL = nothing to do. */
	void (*fini)(struct broker *b);
	/* Creates the worker's per-worker state and listener(s). Called on the main
	 * thread before workers start, so a bind error stops start-up. Returns 0 or
	 * -errno. */
	int (*setup)(struct worker *w);
	/* Runs fn(w) as the worker's thread: a pthread (kernel), an EAL lcore (dpdk).
	 * Returns 0 or -errno. NULL = pthread_create. <join> waits for it to return
	 * (NULL = pthread_join). */
	int (*launch)(struct worker *w, void *(*fn)(void *));
	void (*join)(struct worker *w);
	/* Monotonic microseconds (CLOCK_MONOTONIC for kernel sockets, TSC in dpdk). */
	uint64_t (*now_us)(void);
	/* Waits up to <timeout_ms> (0 = don't wait) for work and dispatches it to
	 * proto_*. While it blocks the worker is RCU-offline (urcu-qsbr); it is online
	 * again before any proto_* call. Returns the work done (>= 0: packets, events,
	 * used for adaptive polling and load figures), or -errno: a failure is already
	 * counted (poll_failed) and logged once per episode, and the call still took
	 * up to <timeout_ms>, so the caller goes on without spinning. Accept failures
	 * are the transport's own business: counted, and backed off without stalling
	 * the connections it serves. */
	int (*poll)(struct worker *w, int timeout_ms);
	/* The engine has new output for <tc> (proto_out_*): send now, or at flush().
	 * Returns 0, or -errno if the connection is broken (the engine closes it). */
	int (*output)(struct transport_conn *tc);
	/* End of the loop turn, after the engine's: all connections' output in one
	 * burst, due delayed ACKs. NULL = nothing to do. */
	void (*flush)(struct worker *w);
	/* Stops (or resumes) delivering input, so a publisher can be held back. Input
	 * left over is offered again from a later poll, never from inside this call. */
	void (*pause_read)(struct transport_conn *tc, bool paused);
	/* The engine is done with <tc>: close it. The engine's output stream is still
	 * valid during the call (a TCP stack copies what is left, for an orderly close
	 * after it); no proto_* call is made for <tc> after it returns. The transport
	 * frees <tc> later, at reap(). */
	void (*close)(struct transport_conn *tc);
	/* Frees what close() left behind. Called once per loop turn. */
	void (*reap)(struct worker *w);
	/* "address:port" of the peer, for logs: valid at least until the fourth next
	 * call on the same thread (the DPDK transport formats it on demand). */
	const char *(*peer)(const struct transport_conn *tc);
	/* Closes listeners and every remaining connection; the worker is exiting. */
	void (*teardown)(struct worker *w);
	/* The transport's own counters (none: NULL and 0), in the same order for every
	 * worker. <counters_read> copies worker <worker>'s values into
	 * <values>[ncounters]: what the worker last published (DPDK: every 100 ms of
	 * its clock and at teardown), so they may be that old. Any thread, between init
	 * and fini; false if <worker> is out of range. */
	const struct transport_counter *counters;
	size_t ncounters;
	bool (*counters_read)(unsigned worker, uint64_t *values);
};

extern const struct transport_ops transport_kernel_ops;

#endif
