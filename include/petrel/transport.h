/* transport.h - the boundary between the MQTT engine and whatever carries its bytes:
 * kernel sockets (transport_kernel.c) today, the DPDK TCP stack later. The engine sees
 * a connection only through these calls; the transport sees the engine only through
 * the proto_* callbacks in proto.h. Every call happens on the worker that owns the
 * connection. */
#ifndef PETREL_TRANSPORT_H
#define PETREL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct worker;
struct transport_conn;   /* opaque, owned by the transport */

struct transport_ops {
	const char *name;
	/* Creates the worker's listener(s). Called on the main thread before workers
	 * start, so a bind error stops start-up. Returns 0 or -errno. */
	int (*setup)(struct worker *w);
	/* Waits up to <timeout_ms> (0 = don't wait) for events and dispatches them to
	 * proto_*. While it blocks the worker is RCU-offline (urcu-qsbr); it is online
	 * again before any proto_* call. Returns 0 or -errno; a failure is already
	 * counted (poll_failed) and logged once per episode, and the call still took
	 * up to <timeout_ms>, so the caller goes on without spinning. Accept failures
	 * are the transport's own business: counted, and backed off without stalling
	 * the connections it serves. */
	int (*poll)(struct worker *w, int timeout_ms);
	/* Writes what it can of <iov> without blocking. Returns bytes taken (>= 0),
	 * -EAGAIN when nothing fits now, or -errno when the connection is broken. */
	ssize_t (*writev)(struct transport_conn *tc, const struct iovec *iov, int cnt);
	/* Ask (or stop asking) for proto_writable() when output room frees up. */
	void (*want_write)(struct transport_conn *tc, bool on);
	/* Stops (or resumes) delivering input, so a publisher can be held back. */
	void (*pause_read)(struct transport_conn *tc, bool paused);
	/* The engine is done with <tc>: close it. The transport frees it later, at
	 * reap(); no proto_* callback is made for it after this call. */
	void (*close)(struct transport_conn *tc);
	/* Frees what close() left behind. Called once per loop turn. */
	void (*reap)(struct worker *w);
	/* "address:port" of the peer, for logs. */
	const char *(*peer)(const struct transport_conn *tc);
	/* Closes listeners and every remaining connection; the worker is exiting. */
	void (*teardown)(struct worker *w);
};

extern const struct transport_ops transport_kernel_ops;

#endif
