/* tcp_seq.h - TCP sequence number arithmetic modulo 2^32 (RFC 9293 3.4), private to
 * dataplane/net. Named seq_* because glibc's <netinet/tcp.h> owns tcp_seq. */
#ifndef PETREL_TCP_SEQ_H
#define PETREL_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static inline bool seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

/* lo <= x < hi */
static inline bool seq_in(uint32_t x, uint32_t lo, uint32_t hi)
{
	return seq_leq(lo, x) && seq_lt(x, hi);
}

#endif
