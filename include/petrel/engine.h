/* engine.h - the boundary between a worker and the protocol engine it runs: the MQTT
 * engine of dataplane/mqtt (mqtt_engine_ops) today. The worker's loop (worker.c) knows
 * nothing of connections, sessions or packets: it calls the engine only through these
 * hooks, as it calls the transport through transport_ops, and the transport reaches
 * the engine through proto.h. The engine keeps its per-worker state (connections, the
 * lists the end of a loop turn walks, fan-out batches) behind worker->engine.
 *
 * Cost on the hot path: one indirect call per inbound message and two or three per
 * loop turn (busy, turn_end); none per packet or byte (the transport calls proto_*
 * directly). */
#ifndef PETREL_ENGINE_H
#define PETREL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct wmsg;
struct worker;

struct engine_ops {
	const char *name;
	/* Creates <w>'s engine state (w->engine). Main thread, before the worker
	 * starts. Returns 0 or -errno. */
	int (*attach)(struct worker *w);
	/* Frees it. Main thread, after teardown and the last discard. */
	void (*detach)(struct worker *w);
	/* Acts on <m>, just taken off <w>'s inbound queue. <w>'s thread. */
	void (*handle)(struct worker *w, struct wmsg *m);
	/* Shutdown, every worker stopped: releases what <m> holds without acting. */
	void (*discard)(struct wmsg *m);
	/* True while <w> has engine work that must not wait for the poll timeout
	 * (output to flush, held-back publishers to look at). The loop asks before it
	 * sleeps and again after it advertised <sleeping>: a flag another worker raises
	 * must be read sequentially consistent. <w>'s thread. */
	bool (*busy)(struct worker *w);
	/* The engine's end of a loop turn, after inbound messages and timers: resume
	 * held-back publishers, flush output, free what closed. <w>'s thread. */
	void (*turn_end)(struct worker *w);
	/* The worker is exiting: close every connection. <w>'s thread. */
	void (*teardown)(struct worker *w);
	/* Shutdown, every worker stopped and their queues emptied: drops what the
	 * engine keeps in <s> (messages, held deliveries); subscriptions stay for
	 * router_destroy(). Main thread. */
	void (*session_end)(struct session *s);
	/* The control plane committed <w>'s change records up to batch <seq>
	 * (persist.h): send what waited behind fences. <w>'s thread, from
	 * persist_turn, before turn_end. NULL: the engine keeps no fences. */
	void (*committed)(struct worker *w, uint64_t seq);
};

extern const struct engine_ops mqtt_engine_ops;

struct broker;
struct store;
struct store_load_stats;

/* Start-up with persistence (dataplane/mqtt/restore.c): loads <st> into <b>, whose
 * workers exist but do not run yet: every stored session offline on worker
 * hash(client id) % nworkers with its subscriptions, queue, inflight window and
 * awaiting-PUBREL ids, and the retained messages. Logs what it loaded. Main thread,
 * not a urcu-qsbr reader (it registers itself for the call, to write the router, the
 * session directory and the retain store as a worker does), or an online one (a unit
 * test's thread); never a registered offline one. <stats> (may be NULL) gets
 * store_load's figures.
 * Returns 0 or -errno with the reason in <err>; on failure what was loaded stays in
 * <b> and goes with broker_shutdown. */
int mqtt_restore(struct broker *b, struct store *st, struct store_load_stats *stats,
		 char *err, size_t errlen);

#endif
