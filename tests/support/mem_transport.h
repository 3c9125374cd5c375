/* mem_transport.h - an in-memory transport (petrel/transport.h) for tests and fuzzers:
 * no socket and no thread. The caller builds a real broker over it with several
 * workers that it never starts, opens connections on whichever worker it likes, feeds
 * client bytes with mem_conn_input() and drives each worker one loop turn at a time
 * with mem_worker_turn() (the transport's poll, then worker_turn()); each of these
 * makes the worker concerned current on the calling thread (worker_current()) for its
 * duration, so owner-only asserts check the calling test as they check a worker
 * thread. Whatever the engine sends is kept per connection for the caller to decode.
 *
 * Output goes as over a socket or a TCP stack: output() copies the engine's stream into
 * <out> while <room> lasts and releases it (proto_out_release) at once, like a kernel
 * socket, or only when the caller says (mem_conn_release) with <hold_release>, like a
 * peer that does not ACK. Input the engine does not take (its reading is paused) is
 * kept and offered again at the next poll after the engine resumes it. The calling thread must be an urcu-qsbr reader (rcu_register_thread), as a
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
	uint8_t *out;                  /* everything the engine sent */
	size_t len;
	size_t cap;
	size_t rd;                     /* how far mem_conn_next() has decoded */
	size_t room;                   /* bytes output may still take (SIZE_MAX: no limit) */
	size_t taken;                  /* unreleased bytes already in <out> (hold_release) */
	int fail;                      /* set by the caller: the next output() fails so */
	unsigned outputs;              /* output() calls, for tests */
	uint8_t *kept;                 /* input the engine did not take, or NULL */
	size_t kept_len;
	bool hold_release;             /* set by the caller: release only at mem_conn_release */
	bool blocked;                  /* <room> ran out with output left: mem_conn_drain */
	bool gone;                     /* lost or broken: no last words at close */
	bool closed;                   /* the engine closed it */
	bool keep;                     /* set by the caller: stay readable until teardown */
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
/* One loop turn of <w> without its wait: the transport's poll (kept input offered
 * again), then worker_turn(). */
void mem_worker_turn(struct worker *w);
/* One mem_worker_turn() of every worker, in id order. */
void mem_turn_all(struct broker *b);

/* A connection accepted on <w>: the engine's proto_accept() has run. Returns the
 * connection (tc->c set), or NULL on allocation failure or refusal. */
struct transport_conn *mem_conn_open(struct worker *w);
/* Client bytes arrive: proto_input() with <tc>'s worker current, straight from <data>
 * unless input is kept already (then after it); what the engine does not take is kept.
 * Returns 0, or -1 if the engine closed the connection. */
int mem_conn_input(struct transport_conn *tc, const void *data, size_t len);
/* The peer went away: proto_lost() with <tc>'s worker current; no last words. */
void mem_conn_lost(struct transport_conn *tc, int err);
/* The peer acknowledges the oldest <n> of the <taken> bytes (hold_release): released to
 * the engine, which may move more messages into its stream. */
void mem_conn_release(struct transport_conn *tc, size_t n);
/* The socket empties: <room> unlimited, <fail> cleared, and what waited for room goes
 * now, as a kernel transport does by itself on EPOLLOUT. Returns 0 or -errno. */
int mem_conn_drain(struct transport_conn *tc);
/* Decodes the next packet the broker wrote on <tc> into <p> (which points into
 * tc->out). Returns the bytes consumed (> 0), 0 when nothing more was written, or
 * -errno for bytes that do not decode. */
ssize_t mem_conn_next(struct transport_conn *tc, struct mqtt_pkt *p);

#endif
