/* mem_transport.c - the in-memory transport of mem_transport.h: a second implementation
 * of the transport boundary next to transport_kernel.c, for tests and fuzzers that
 * drive the real engine and workers from one thread. Writes are appended to the
 * connection's buffer as far as its <room> goes (or fail with -ENOMEM, or the caller's
 * <fail>); nothing is ever read from a socket: the caller hands bytes to the engine
 * (mem_conn_input), with the connection's worker current, as its thread would be. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/engine.h"
#include "petrel/mqtt.h"
#include "petrel/proto.h"
#include "petrel/worker.h"
#include "mem_transport.h"

struct mem_worker {
	struct transport_conn *conns;
};

static int mem_setup(struct worker *w)
{
	w->transport = calloc(1, sizeof(struct mem_worker));
	return w->transport != NULL ? 0 : -ENOMEM;
}

/* Offers the kept input again; returns true if there was any to offer. */
static bool mem_offer_kept(struct transport_conn *tc)
{
	ssize_t r;

	if (tc->closed || tc->read_paused || tc->kept == NULL)
		return false;
	r = proto_input(tc->c, tc->kept, tc->kept_len);
	if (r < 0)
		return true;    /* closed: the buffer goes with the connection */
	memmove(tc->kept, tc->kept + r, tc->kept_len - (size_t)r);
	tc->kept_len -= (size_t)r;
	if (tc->kept_len == 0) {
		free(tc->kept);
		tc->kept = NULL;
	}
	return true;
}

static int mem_poll(struct worker *w, int timeout_ms)
{
	struct mem_worker *mw = w->transport;
	int done = 0;

	(void)timeout_ms;
	/* As the kernel transport: input kept while paused goes again from a poll,
	 * never from inside pause_read. */
	for (struct transport_conn *tc = mw->conns; tc != NULL; tc = tc->next)
		done += mem_offer_kept(tc);
	return done;
}

static int mem_append(struct transport_conn *tc, const void *p, size_t n)
{
	if (tc->len + n > tc->cap) {
		size_t cap = tc->cap ? tc->cap : 256;
		uint8_t *b;

		while (cap < tc->len + n)
			cap *= 2;
		b = realloc(tc->out, cap);
		if (b == NULL)
			return -ENOMEM;
		tc->out = b;
		tc->cap = cap;
	}
	memcpy(tc->out + tc->len, p, n);
	tc->len += n;
	return 0;
}

/* Copies the engine's stream after the <taken> bytes into <out> while <room> lasts,
 * releasing it unless the peer holds its ACKs (or <release> is false: closing). */
static int mem_pull(struct transport_conn *tc, bool release)
{
	struct tx_span sp[64];
	int n;

	tc->blocked = false;
	while ((n = proto_out_view(tc->c, tc->taken, sp, 64)) > 0) {
		for (int i = 0; i < n && !tc->blocked; i++) {
			size_t k = sp[i].len < tc->room ? sp[i].len : tc->room;

			if (k > 0 && mem_append(tc, sp[i].base, k) < 0)
				return -ENOMEM;
			tc->taken += k;
			if (tc->room != SIZE_MAX)
				tc->room -= k;
			tc->blocked = tc->room == 0;
		}
		if (release && !tc->hold_release && tc->taken > 0) {
			size_t k = tc->taken;

			tc->taken = 0;
			/* May move more messages into the stream: the loop takes them. */
			proto_out_release(tc->c, k);
		}
		if (tc->blocked)
			return 0;
	}
	return 0;
}

static int mem_output(struct transport_conn *tc)
{
	int rc = tc->fail;

	tc->outputs++;
	if (rc != 0) {
		tc->fail = 0;
		tc->gone = true;
		return rc;
	}
	return mem_pull(tc, true);
}

static void mem_pause_read(struct transport_conn *tc, bool paused)
{
	tc->read_paused = paused;
}

static void mem_close(struct transport_conn *tc)
{
	/* Last words (a CONNACK with an error code), as far as there is room, unless
	 * the peer is gone. */
	if (!tc->gone && tc->fail == 0 && tc->c != NULL)
		(void)mem_pull(tc, false);
	tc->closed = true;
}

/* Frees the closed connections no one keeps, or every one (<all>). */
static void mem_free_conns(struct worker *w, bool all)
{
	struct mem_worker *mw = w->transport;
	struct transport_conn **pp = &mw->conns;

	while (*pp != NULL) {
		struct transport_conn *tc = *pp;

		if (!all && (!tc->closed || tc->keep)) {
			pp = &tc->next;
			continue;
		}
		*pp = tc->next;
		free(tc->out);
		free(tc->kept);
		free(tc);
	}
}

static void mem_reap(struct worker *w)
{
	mem_free_conns(w, false);
}

static const char *mem_peer(const struct transport_conn *tc)
{
	(void)tc;
	return "memory";
}

static void mem_teardown(struct worker *w)
{
	mem_free_conns(w, true);
	free(w->transport);
	w->transport = NULL;
}

/* The clock of a memory broker is the caller's (mem_broker_init): this one is read
 * only by worker_create, before mem_broker_init sets every worker's own. */
static uint64_t mem_now_us(void)
{
	return 0;
}

const struct transport_ops mem_transport_ops = {
	.name = "memory",
	.setup = mem_setup,
	.now_us = mem_now_us,
	.poll = mem_poll,
	.output = mem_output,
	.pause_read = mem_pause_read,
	.close = mem_close,
	.reap = mem_reap,
	.peer = mem_peer,
	.teardown = mem_teardown,
};

int mem_broker_init(struct broker *b, const struct config *cfg, uint64_t now_ms)
{
	int rc = broker_init(b, cfg, &mem_transport_ops, &mqtt_engine_ops);

	if (rc < 0)
		return rc;
	/* The wheel too: left at the real clock of worker_create, it would fire
	 * nothing until <now_ms> passed the machine's uptime. */
	for (unsigned i = 0; i < b->nworkers; i++) {
		b->workers[i]->now_us = now_ms * 1000u;
		b->workers[i]->now_ms = now_ms;
		timer_wheel_init(&b->workers[i]->wheel, now_ms, TIMER_TICK_MS);
	}
	return 0;
}

void mem_broker_shutdown(struct broker *b)
{
	for (unsigned i = 0; i < b->nworkers; i++)
		worker_teardown(b->workers[i]);
	rcu_unregister_thread();
	broker_shutdown(b);
	rcu_register_thread();
}

void mem_worker_turn(struct worker *w)
{
	int prev = worker_set_current((int)w->id);

	w->tops->poll(w, 0);
	worker_set_current(prev);
	worker_turn(w);
}

void mem_turn_all(struct broker *b)
{
	for (unsigned i = 0; i < b->nworkers; i++)
		mem_worker_turn(b->workers[i]);
}

struct transport_conn *mem_conn_open(struct worker *w)
{
	struct mem_worker *mw = w->transport;
	struct transport_conn *tc = calloc(1, sizeof(*tc));
	int prev;

	if (tc == NULL)
		return NULL;
	tc->w = w;
	tc->room = SIZE_MAX;
	tc->next = mw->conns;
	mw->conns = tc;
	prev = worker_set_current((int)w->id);
	tc->c = proto_accept(w, tc);
	worker_set_current(prev);
	if (tc->c == NULL) {
		/* Refused: the transport closes it itself (proto.h). */
		tc->closed = true;
		return NULL;
	}
	return tc;
}

/* Appends <data, len> to the kept input. Returns 0 or -ENOMEM. */
static int mem_keep(struct transport_conn *tc, const uint8_t *data, size_t len)
{
	uint8_t *n = realloc(tc->kept, tc->kept_len + len);

	if (n == NULL)
		return -ENOMEM;
	memcpy(n + tc->kept_len, data, len);
	tc->kept = n;
	tc->kept_len += len;
	return 0;
}

int mem_conn_input(struct transport_conn *tc, const void *data, size_t len)
{
	int prev = worker_set_current((int)tc->w->id);
	ssize_t r = 0;
	int rc = 0;

	if (tc->closed) {
		rc = -1;
	} else if (tc->kept != NULL) {
		/* Behind what waits already, in order. */
		if (mem_keep(tc, data, len) < 0)
			rc = -1;
	} else {
		r = proto_input(tc->c, data, len);
		if (r < 0)
			rc = -1;
		else if ((size_t)r < len && mem_keep(tc, (const uint8_t *)data + r,
						     len - (size_t)r) < 0)
			rc = -1;
	}
	worker_set_current(prev);
	return rc;
}

void mem_conn_release(struct transport_conn *tc, size_t n)
{
	int prev = worker_set_current((int)tc->w->id);

	if (n > tc->taken)
		n = tc->taken;
	tc->taken -= n;
	proto_out_release(tc->c, n);
	worker_set_current(prev);
}

int mem_conn_drain(struct transport_conn *tc)
{
	int prev = worker_set_current((int)tc->w->id);
	bool blocked = tc->blocked;
	int rc = 0;

	tc->room = SIZE_MAX;
	tc->fail = 0;
	if (blocked && !tc->closed)
		rc = mem_pull(tc, true);
	worker_set_current(prev);
	return rc;
}

void mem_conn_lost(struct transport_conn *tc, int err)
{
	int prev = worker_set_current((int)tc->w->id);

	tc->gone = true;
	proto_lost(tc->c, err);
	worker_set_current(prev);
}

ssize_t mem_conn_next(struct transport_conn *tc, struct mqtt_pkt *p)
{
	ssize_t n;

	if (tc->rd >= tc->len)
		return 0;
	n = mqtt_decode(tc->out + tc->rd, tc->len - tc->rd,
			(size_t)MQTT_MAX_REMAINING_LEN + 5, p);
	if (n == 0)
		return -EPROTO;   /* a partial packet: the engine writes whole ones */
	if (n > 0)
		tc->rd += (size_t)n;
	return n;
}
