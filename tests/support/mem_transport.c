/* mem_transport.c - the in-memory transport of mem_transport.h: a second implementation
 * of the transport boundary next to transport_kernel.c, for tests and fuzzers that
 * drive the real engine and workers from one thread. Writes are appended to the
 * connection's buffer and always succeed in full (or fail with -ENOMEM); nothing is
 * ever read from a socket: the caller hands bytes to the engine itself
 * (mem_conn_input), with the connection's worker current, as its thread would be. */
#include <errno.h>
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

static int mem_poll(struct worker *w, int timeout_ms)
{
	(void)w;
	(void)timeout_ms;
	return 0;
}

static ssize_t mem_writev(struct transport_conn *tc, const struct iovec *iov, int cnt)
{
	size_t total = 0;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	if (tc->len + total > tc->cap) {
		size_t cap = tc->cap ? tc->cap : 256;
		uint8_t *n;

		while (cap < tc->len + total)
			cap *= 2;
		n = realloc(tc->out, cap);
		if (n == NULL)
			return -ENOMEM;
		tc->out = n;
		tc->cap = cap;
	}
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		memcpy(tc->out + tc->len, iov[i].iov_base, iov[i].iov_len);
		tc->len += iov[i].iov_len;
	}
	return (ssize_t)total;
}

static void mem_want_write(struct transport_conn *tc, bool on)
{
	tc->want_write = on;
}

static void mem_pause_read(struct transport_conn *tc, bool paused)
{
	tc->read_paused = paused;
}

static void mem_close(struct transport_conn *tc)
{
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

const struct transport_ops mem_transport_ops = {
	.name = "memory",
	.setup = mem_setup,
	.poll = mem_poll,
	.writev = mem_writev,
	.want_write = mem_want_write,
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

void mem_turn_all(struct broker *b)
{
	for (unsigned i = 0; i < b->nworkers; i++)
		worker_turn(b->workers[i]);
}

struct transport_conn *mem_conn_open(struct worker *w)
{
	struct mem_worker *mw = w->transport;
	struct transport_conn *tc = calloc(1, sizeof(*tc));
	int prev;

	if (tc == NULL)
		return NULL;
	tc->w = w;
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

int mem_conn_input(struct transport_conn *tc, const void *data, size_t len)
{
	int prev = worker_set_current((int)tc->w->id);
	int rc = proto_input(tc->c, data, len);

	worker_set_current(prev);
	return rc;
}

void mem_conn_lost(struct transport_conn *tc, int err)
{
	int prev = worker_set_current((int)tc->w->id);

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
