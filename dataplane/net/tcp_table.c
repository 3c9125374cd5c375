/* tcp_table.c - the stack's connections by 4-tuple (a chained hash sized from
 * max_conns once, never resized) and its listeners (a short array: a broker listens
 * on one or two ports). Local address is the stack's one address, so a connection is
 * known by (peer ip, peer port, local port). */
#include <errno.h>
#include <stdlib.h>

#include "tcp_int.h"

static uint32_t tcp_table_hash(const struct tcp_stack *ts, uint32_t rip, uint16_t rport,
			       uint16_t lport)
{
	uint64_t h = ((uint64_t)rip << 32 | (uint32_t)rport << 16 | lport) ^ ts->p.secret;

	/* A keyed mix so a peer cannot aim all its flows at one chain. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h & (ts->nbuckets - 1);
}

int tcp_table_init(struct tcp_stack *ts)
{
	uint32_t n = 16;

	/* About one chain per two connections at the limit. */
	while (n < ts->p.max_conns / 2 && n < (1u << 24))
		n <<= 1;
	ts->buckets = calloc(n, sizeof(*ts->buckets));
	if (ts->buckets == NULL)
		return -ENOMEM;
	ts->nbuckets = n;
	return 0;
}

void tcp_table_fini(struct tcp_stack *ts)
{
	free(ts->buckets);
	free(ts->listeners);
	ts->buckets = NULL;
	ts->listeners = NULL;
}

struct tcb *tcp_table_lookup(struct tcp_stack *ts, uint32_t rip, uint16_t rport,
			     uint16_t lport)
{
	struct tcb *t = ts->buckets[tcp_table_hash(ts, rip, rport, lport)];

	while (t != NULL && !(t->rip == rip && t->rport == rport && t->lport == lport))
		t = t->hnext;
	return t;
}

void tcp_table_insert(struct tcp_stack *ts, struct tcb *t)
{
	struct tcb **b = &ts->buckets[tcp_table_hash(ts, t->rip, t->rport, t->lport)];

	t->hnext = *b;
	*b = t;
	ts->nconns++;
}

void tcp_table_remove(struct tcp_stack *ts, struct tcb *t)
{
	struct tcb **pp = &ts->buckets[tcp_table_hash(ts, t->rip, t->rport, t->lport)];

	while (*pp != NULL && *pp != t)
		pp = &(*pp)->hnext;
	if (*pp == NULL)
		return;
	*pp = t->hnext;
	t->hnext = NULL;
	ts->nconns--;
}

struct tcp_listener *tcp_table_listener(struct tcp_stack *ts, uint16_t port)
{
	for (uint32_t i = 0; i < ts->nlisteners; i++)
		if (ts->listeners[i].port == port)
			return &ts->listeners[i];
	return NULL;
}

int tcp_table_listen(struct tcp_stack *ts, uint16_t port, void *arg)
{
	if (port == 0)
		return -EINVAL;
	if (tcp_table_listener(ts, port) != NULL)
		return -EADDRINUSE;
	if (ts->nlisteners == ts->cap_listeners) {
		uint32_t cap = ts->cap_listeners ? ts->cap_listeners * 2 : 4;
		struct tcp_listener *l = realloc(ts->listeners, cap * sizeof(*l));

		if (l == NULL)
			return -ENOMEM;
		ts->listeners = l;
		ts->cap_listeners = cap;
	}
	ts->listeners[ts->nlisteners++] = (struct tcp_listener){ .port = port, .arg = arg };
	return 0;
}

/* RFC 6335 6: the dynamic range 49152-65535. Starts where the last search ended, so
 * consecutive connects do not probe the same used ports again. Returns a port with
 * no TCB toward <rip>:<rport> and no listener, or -EADDRNOTAVAIL. */
int tcp_table_ephemeral(struct tcp_stack *ts, uint32_t rip, uint16_t rport)
{
	const uint32_t lo = 49152, n = 65536 - 49152;

	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(lo + (ts->ephemeral_next + i) % n);

		if (tcp_table_lookup(ts, rip, rport, port) == NULL &&
		    tcp_table_listener(ts, port) == NULL) {
			ts->ephemeral_next = (uint16_t)((ts->ephemeral_next + i + 1) % n);
			return port;
		}
	}
	return -EADDRNOTAVAIL;
}
