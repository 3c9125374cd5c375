/* mem_transport.h - an in-memory transport (petrel/transport.h) for tests and fuzzers:
 * no socket and no thread. The caller builds a real broker over it with several
 * workers that it never starts, opens connections on whichever worker it likes, feeds
 * client bytes with proto_input() and drives each worker one loop turn at a time with
 * worker_turn(); whatever the engine writes is kept per connection for the caller to
 * decode. The calling thread must be an urcu-qsbr reader (rcu_register_thread), as a
 * worker thread is; every worker_turn() is one of its quiescent states. */
#ifndef PETREL_TEST_MEM_TRANSPORT_H
#define PETREL_TEST_MEM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "petrel/transport.h"

struct broker;
struct config;
struct mqtt_conn;
struct mqtt_pkt;
struct worker;

/* One connection. The engine sees it as opaque; the caller reads it. Owned by the
 * transport: freed at the worker's next reap once the engine closed it (unless
 * <keep>), or at the worker's teardown. */
struct transport_conn {
	struct transport_conn *next;   /* every connection of the worker */
	struct worker *w;
	struct mqtt_conn *c;           /* the engine's side; stale once <closed> */
	uint8_t *out;                  /* everything the engine wrote */
	size_t len;
	size_t cap;
	size_t rd;                     /* how far mem_conn_next() has decoded */
	bool closed;                   /* the engine closed it */
	bool keep;                     /* set by the caller: stay readable until teardown */
	bool want_write;
	bool read_paused;
};

extern const struct transport_ops mem_transport_ops;

/* broker_init() over the memory transport, with every worker's clock set to <now_ms>
 * (no timer comes due unless the caller moves it). No thread is started. Returns 0 or
 * -errno. */
int mem_broker_init(struct broker *b, const struct config *cfg, uint64_t now_ms);
/* What each worker thread does as it exits (worker_teardown), then broker_shutdown()
 * on an unregistered thread state, as main() runs it; the caller is registered again
 * on return. */
void mem_broker_shutdown(struct broker *b);
/* One worker_turn() of every worker, in id order. */
void mem_turn_all(struct broker *b);

/* A connection accepted on <w>: the engine's proto_accept() has run. Returns the
 * connection (tc->c set), or NULL on allocation failure or refusal. */
struct transport_conn *mem_conn_open(struct worker *w);
/* Decodes the next packet the broker wrote on <tc> into <p> (which points into
 * tc->out). Returns the bytes consumed (> 0), 0 when nothing more was written, or
 * -errno for bytes that do not decode. */
ssize_t mem_conn_next(struct transport_conn *tc, struct mqtt_pkt *p);

#endif
