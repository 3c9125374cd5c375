/* metrics.c - the figures of metrics.h: one sample a second of every worker's
 * worker_stats (read without locks: each field is one aligned 64-bit word its worker
 * alone writes, so a read sees some recent value, never a torn one) and of each worker
 * thread's CPU clock; rates, mosquitto's load averages and the `status` answer come
 * from the last two samples. Control plane thread only. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "petrel/broker.h"
#include "petrel/cplane.h"
#include "petrel/log.h"
#include "petrel/retain.h"
#include "petrel/router.h"
#include "petrel/store.h"
#include "petrel/worker.h"

#include "metrics_int.h"

const char *const metrics_load_topics[LOAD_KINDS] = {
	[LOAD_MESSAGES_RECEIVED] = "messages/received",
	[LOAD_MESSAGES_SENT] = "messages/sent",
	[LOAD_BYTES_RECEIVED] = "bytes/received",
	[LOAD_BYTES_SENT] = "bytes/sent",
	[LOAD_PUBLISH_RECEIVED] = "publish/received",
	[LOAD_PUBLISH_SENT] = "publish/sent",
	[LOAD_PUBLISH_DROPPED] = "publish/dropped",
	[LOAD_CONNECTIONS] = "connections",
	[LOAD_SOCKETS] = "sockets",
};

/* The load windows, seconds (mosquitto's 1min, 5min, 15min). */
static const double load_window_s[3] = { 60.0, 300.0, 900.0 };

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One worker's counters, field by field, each an atomic relaxed load of a word its
 * owner writes with plain stores (stats.h accepts a value a few increments old). */
static void read_worker_stats(struct worker_stats *dst, const struct worker_stats *src)
{
	for (size_t i = 0; i < metrics_nstats; i++) {
		const uint64_t *from = (const uint64_t *)(const void *)
			((const char *)src + metrics_stats[i].offset);
		uint64_t *to = (uint64_t *)(void *)((char *)dst + metrics_stats[i].offset);

		*to = __atomic_load_n(from, __ATOMIC_RELAXED);
	}
}

static void sample_take(struct metrics *m, struct metrics_sample *s)
{
	memset(&s->sum, 0, sizeof(s->sum));
	s->mono_us = mono_us();
	for (unsigned i = 0; i < m->nworkers; i++) {
		struct worker *w = m->b->workers[i];
		struct timespec ts;

		read_worker_stats(&s->w[i], &w->stats);
		for (size_t k = 0; k < metrics_nstats; k++) {
			uint64_t *sum = (uint64_t *)(void *)((char *)&s->sum +
							     metrics_stats[k].offset);

			*sum += metrics_stat_get(&s->w[i], &metrics_stats[k]);
		}
		/* A thread that has not started or has ended has no clock to read. */
		s->cpu_known[i] = atomic_load_explicit(&w->cpu_clock_set, memory_order_acquire) &&
				  clock_gettime(w->cpu_clock, &ts) == 0;
		if (s->cpu_known[i])
			s->cpu_ns[i] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
}

static int sample_alloc(struct metrics_sample *s, unsigned n)
{
	s->w = calloc(n ? n : 1, sizeof(*s->w));
	s->cpu_ns = calloc(n ? n : 1, sizeof(*s->cpu_ns));
	s->cpu_known = calloc(n ? n : 1, sizeof(*s->cpu_known));
	return s->w != NULL && s->cpu_ns != NULL && s->cpu_known != NULL ? 0 : -ENOMEM;
}

static void sample_free(struct metrics_sample *s)
{
	free(s->w);
	free(s->cpu_ns);
	free(s->cpu_known);
}

struct metrics *metrics_create(struct cplane *cp, const struct metrics_info *info)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cp = cp;
	m->b = cplane_broker(cp);
	m->nworkers = m->b->nworkers;
	snprintf(m->version, sizeof(m->version), "%s", info->version);
	m->start_wall_ms = info->start_wall_ms != 0 ? info->start_wall_ms : wall_ms();
	for (int i = 0; i < 3; i++) {
		if (sample_alloc(&m->s[i], m->nworkers) < 0) {
			metrics_destroy(m);
			return NULL;
		}
		/* All alike: rates are 0 until the first tick. */
		sample_take(m, &m->s[i]);
	}
	return m;
}

void metrics_destroy(struct metrics *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < 3; i++)
		sample_free(&m->s[i]);
	free(m);
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* The count behind each load figure, summed over workers. */
static uint64_t load_count(const struct worker_stats *s, enum metrics_load_kind k)
{
	switch (k) {
	case LOAD_MESSAGES_RECEIVED: return s->packets_in;
	case LOAD_MESSAGES_SENT: return s->packets_out;
	case LOAD_BYTES_RECEIVED: return s->bytes_in;
	case LOAD_BYTES_SENT: return s->bytes_out;
	case LOAD_PUBLISH_RECEIVED: return s->publish_in;
	case LOAD_PUBLISH_SENT: return s->publish_out;
	case LOAD_PUBLISH_DROPPED: return metrics_drops_total(s);
	case LOAD_CONNECTIONS: return s->connect_accepted + s->connect_refused;
	case LOAD_SOCKETS: return s->conn_accepted;
	case LOAD_KINDS: break;
	}
	return 0;
}

/* mosquitto's moving averages in continuous form: the figure moves toward the last
 * interval's rate (per minute) by 1 - e^(-dt/window), whatever dt is. */
static void loads_update(struct metrics *m, double dt_s)
{
	const struct worker_stats *now = &metrics_now(m)->sum, *prev = &metrics_prev(m)->sum;

	for (int k = 0; k < LOAD_KINDS; k++) {
		double per_min = (double)sub0(load_count(now, k), load_count(prev, k)) * 60.0 /
				 dt_s;

		for (int j = 0; j < 3; j++) {
			double e = exp(-dt_s / load_window_s[j]);

			m->load[k][j] = per_min + e * (m->load[k][j] - per_min);
		}
	}
}

void metrics_refresh(struct metrics *m)
{
	sample_take(m, &m->s[2]);
}

void metrics_tick(struct metrics *m)
{
	struct metrics_sample *next = &m->s[m->cur ^ 1u];
	uint64_t dt_us;

	sample_take(m, next);
	m->cur ^= 1u;
	dt_us = metrics_now(m)->mono_us - metrics_prev(m)->mono_us;
	if (dt_us > 0)
		loads_update(m, (double)dt_us / 1e6);
	if (metrics_now(m)->sum.sessions_online > m->clients_max)
		m->clients_max = metrics_now(m)->sum.sessions_online;
	metrics_sys_tick(m, metrics_now(m)->mono_us / 1000u);
	metrics_http_run(m->http);
}

double metrics_rate(const struct metrics *m, const struct metrics_stat *st, int worker)
{
	const struct metrics_sample *now = metrics_now(m), *prev = metrics_prev(m);
	uint64_t dt_us = now->mono_us - prev->mono_us, a, b;

	if (dt_us == 0)
		return 0;
	if (worker < 0) {
		a = metrics_stat_get(&now->sum, st);
		b = metrics_stat_get(&prev->sum, st);
	} else {
		a = metrics_stat_get(&now->w[worker], st);
		b = metrics_stat_get(&prev->w[worker], st);
	}
	/* A gauge may fall; a counter read a few increments late may look like it did. */
	return a >= b ? (double)(a - b) * 1e6 / (double)dt_us : 0;
}

uint64_t metrics_connections(const struct metrics *m, int worker)
{
	const struct worker_stats *s = worker < 0 ? &metrics_fresh(m)->sum
						  : &metrics_fresh(m)->w[worker];

	return sub0(s->conn_accepted, s->conn_closed);
}

uint64_t metrics_clients_online(const struct metrics *m)
{
	return metrics_fresh(m)->sum.sessions_online;
}

double metrics_cpu_percent(const struct metrics *m, unsigned i)
{
	const struct metrics_sample *now = metrics_now(m), *prev = metrics_prev(m);
	uint64_t dt_us = now->mono_us - prev->mono_us;

	if (!now->cpu_known[i] || !prev->cpu_known[i] || dt_us == 0)
		return -1;
	return (double)sub0(now->cpu_ns[i], prev->cpu_ns[i]) / 10.0 / (double)dt_us;
}

double metrics_busy_percent(const struct metrics *m, unsigned i)
{
	const struct worker_stats *now = &metrics_now(m)->w[i], *prev = &metrics_prev(m)->w[i];
	uint64_t turns = sub0(now->loop_turns, prev->loop_turns);

	if (turns == 0)
		return 0;
	return 100.0 * (double)sub0(now->loop_busy_turns, prev->loop_busy_turns) /
	       (double)turns;
}

uint64_t metrics_uptime_s(const struct metrics *m)
{
	return sub0(wall_ms(), m->start_wall_ms) / 1000u;
}

uint64_t metrics_retained(const struct metrics *m)
{
	return sub0(retain_count(m->b->retain), m->sys_retained);
}

const char *metrics_mode(const struct metrics *m)
{
	return m->b->cfg.dataplane == DATAPLANE_DPDK ? "dpdk" : "kernel";
}

/* ---- `status` ---------------------------------------------------------------------- */

static json_t *pair_json(uint64_t rx, uint64_t tx, double rx_s, double tx_s)
{
	return json_pack("{sI sI sf sf}", "received", (json_int_t)rx, "sent", (json_int_t)tx,
			 "received_per_s", rx_s, "sent_per_s", tx_s);
}

json_t *metrics_store_stats_json(const struct store_stats *ss)
{
	return json_pack("{sI sI sI sI sI sI sI sI sI sI sI sI}",
			 "sessions", (json_int_t)ss->sessions, "subs", (json_int_t)ss->subs,
			 "entries", (json_int_t)ss->entries, "rels", (json_int_t)ss->rels,
			 "retained", (json_int_t)ss->retained, "msgs", (json_int_t)ss->msgs,
			 "file_bytes", (json_int_t)ss->file_bytes,
			 "used_bytes", (json_int_t)ss->used_bytes,
			 "map_bytes", (json_int_t)ss->map_bytes,
			 "commits", (json_int_t)ss->commits,
			 "commit_failures", (json_int_t)ss->commit_failures,
			 "compactions", (json_int_t)ss->compactions);
}

/* `status`'s "store": the store's figures and, under "cplane", the control plane's
 * commits. NULL without persistence. */
static json_t *store_json(struct metrics *m)
{
	struct store *st = cplane_store(m->cp);
	struct store_stats ss;
	struct cplane_stats cs;
	json_t *o;

	if (st == NULL || store_stats(st, &ss) < 0)
		return NULL;
	cplane_stats_read(m->cp, &cs);
	o = metrics_store_stats_json(&ss);
	if (o != NULL)
		json_object_set_new(o, "cplane", json_pack(
			"{sI sI sI sI sI sI}", "commits", (json_int_t)cs.commits,
			"batches", (json_int_t)cs.batches, "records", (json_int_t)cs.records,
			"commit_failures", (json_int_t)cs.commit_failures,
			"syncs", (json_int_t)cs.syncs,
			"last_commit_us", (json_int_t)cs.last_commit_us));
	return o;
}

static json_t *drops_json(const struct metrics *m)
{
	const struct worker_stats *sum = &metrics_fresh(m)->sum;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < metrics_nstats; i++) {
		const struct metrics_stat *st = &metrics_stats[i];

		if (metrics_stat_is_drop(st))
			json_object_set_new(o, st->name + strlen("drop_"),
					    json_integer((json_int_t)metrics_stat_get(sum, st)));
	}
	json_object_set_new(o, "total", json_integer((json_int_t)metrics_drops_total(sum)));
	return o;
}

static json_t *counters_json(const struct metrics *m)
{
	json_t *o = json_object();

	for (size_t i = 0; o != NULL && i < metrics_nstats; i++)
		json_object_set_new(o, metrics_stats[i].name,
				    json_integer((json_int_t)metrics_stat_get(
					    &metrics_fresh(m)->sum, &metrics_stats[i])));
	return o;
}

static json_t *per_worker_json(const struct metrics *m)
{
	const struct metrics_stat *pin = metrics_stat_find("publish_in");
	const struct metrics_stat *pout = metrics_stat_find("publish_out");
	json_t *a = json_array();

	for (unsigned i = 0; a != NULL && i < m->nworkers; i++) {
		double cpu = metrics_cpu_percent(m, i);

		json_array_append_new(a, json_pack(
			"{sI so sf sI sI sf sf}", "id", (json_int_t)i,
			"cpu_percent", cpu < 0 ? json_null() : json_real(cpu),
			"busy_percent", metrics_busy_percent(m, i),
			"connections", (json_int_t)metrics_connections(m, (int)i),
			"sessions", (json_int_t)metrics_fresh(m)->w[i].sessions,
			"messages_received_per_s", metrics_rate(m, pin, (int)i),
			"messages_sent_per_s", metrics_rate(m, pout, (int)i)));
	}
	return a;
}

json_t *metrics_status_json(struct metrics *m)
{
	const struct worker_stats *sum = &metrics_fresh(m)->sum;
	uint64_t total, online;
	json_t *o, *store;

	metrics_refresh(m);
	total = sum->sessions;
	online = sum->sessions_online;
	o = json_pack(
		"{ss sI ss sI sI s{sI sI sI} sI sI so so so so so}",
		"version", m->version, "uptime_s", (json_int_t)metrics_uptime_s(m),
		"mode", metrics_mode(m), "workers", (json_int_t)m->nworkers,
		"connections", (json_int_t)metrics_connections(m, -1),
		"sessions", "online", (json_int_t)online,
		"offline", (json_int_t)sub0(total, online), "total", (json_int_t)total,
		"subscriptions", (json_int_t)router_count(m->b->router),
		"retained", (json_int_t)metrics_retained(m),
		"messages", pair_json(sum->publish_in, sum->publish_out,
				      metrics_rate(m, metrics_stat_find("publish_in"), -1),
				      metrics_rate(m, metrics_stat_find("publish_out"), -1)),
		"bytes", pair_json(sum->bytes_in, sum->bytes_out,
				   metrics_rate(m, metrics_stat_find("bytes_in"), -1),
				   metrics_rate(m, metrics_stat_find("bytes_out"), -1)),
		"drops", drops_json(m), "per_worker", per_worker_json(m),
		"counters", counters_json(m));
	if (o == NULL)
		return NULL;
	store = store_json(m);
	if (store != NULL)
		json_object_set_new(o, "store", store);
	return o;
}
