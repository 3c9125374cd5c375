/* span.h - a piece of a byte stream handed from its owner to whoever transmits it
 * (transport.h, tcp.h): where the bytes are, and what keeps them alive. A span with a
 * <ref> lies inside an immutable, refcounted object (a PUBLISH payload inside its msg):
 * the transmitter may keep pointing at it (an external mbuf buffer, a retransmission)
 * as long as it holds a reference taken with the owner's hold function. A span
 * without one (headers, acks) is valid only until the owner's next call: copy it. */
#ifndef PETREL_SPAN_H
#define PETREL_SPAN_H

#include <stdint.h>

struct tx_span {
	const void *base;
	uint32_t len;
	void *ref;          /* NULL: copy the bytes; else hold/release it to keep them */
};

#endif
