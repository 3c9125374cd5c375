/* msg.h - the refcounted, immutable application message. A PUBLISH becomes one msg;
 * every subscriber, queue, retained slot and cross-worker delivery holds a reference,
 * so the payload is copied once (out of the receive buffer) and never per subscriber.
 * The reference count is atomic: any thread may take or drop a reference. */
#ifndef PETREL_MSG_H
#define PETREL_MSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg {
	atomic_uint refcnt;
	/* Its id in the store (persist.h), 0 while not stored: set once by
	 * persist_msg_id (compare-and-swap) or by the start-up load. */
	atomic_uint_fast64_t store_id;
	uint8_t qos;       /* QoS the publisher sent it with (0..2) */
	bool retain;       /* retain flag as published */
	uint16_t topic_len;
	uint32_t payload_len;
	const uint8_t *payload;  /* points into data[], after the topic */
	char topic[];            /* topic_len bytes + NUL, then the payload */
};

/* Copies <topic> and <payload> into one allocation; refcnt starts at 1. Returns NULL on
 * allocation failure. Any thread. */
struct msg *msg_create(const char *topic, size_t topic_len, const void *payload,
		       size_t payload_len, uint8_t qos, bool retain);

static inline struct msg *msg_ref(struct msg *m)
{
	atomic_fetch_add_explicit(&m->refcnt, 1, memory_order_relaxed);
	return m;
}

/* Drops one reference; frees on the last. NULL is ignored. */
void msg_unref(struct msg *m);

#endif
