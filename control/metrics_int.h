/* metrics_int.h - private to control/metrics*.c, sys.c and ctl_status.c: the samples
 * the control plane takes once a second and what is derived from them (metrics.h).
 *
 * Two samples are kept, the latest and the one before; a rate is their difference
 * over the time between them, so every figure shown in one answer comes from the
 * same pair. Control plane thread only. */
#ifndef PETREL_CONTROL_METRICS_INT_H
#define PETREL_CONTROL_METRICS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/metrics.h"
#include "petrel/stats.h"

struct broker;

/* One worker_stats field by name (the order of WORKER_STATS_FIELDS). */
struct metrics_stat {
	const char *name;
	size_t offset;
};
extern const struct metrics_stat metrics_stats[];
extern const size_t metrics_nstats;
/* Its Prometheus HELP text (NULL: none written yet, a bug the unit suite catches). */
const char *metrics_stat_help(const struct metrics_stat *st);
/* Raised and lowered by its owner (stats.h "gauge:"); else a counter. */
bool metrics_stat_is_gauge(const struct metrics_stat *st);
/* A message dropped for a reason of its own (stats.h drop_*): status's "drops". */
bool metrics_stat_is_drop(const struct metrics_stat *st);
/* Every drop_* counter of <ws> added up ($SYS publish/messages/dropped). */
uint64_t metrics_drops_total(const struct worker_stats *ws);

static inline uint64_t metrics_stat_get(const struct worker_stats *ws,
					const struct metrics_stat *st)
{
	return *(const uint64_t *)(const void *)((const char *)ws + st->offset);
}

/* mosquitto's load figures ($SYS/broker/load/...): exponential moving averages, per
 * minute, over 1, 5 and 15 minutes. */
enum metrics_load_kind {
	LOAD_MESSAGES_RECEIVED,   /* any MQTT packet */
	LOAD_MESSAGES_SENT,
	LOAD_BYTES_RECEIVED,
	LOAD_BYTES_SENT,
	LOAD_PUBLISH_RECEIVED,
	LOAD_PUBLISH_SENT,
	LOAD_PUBLISH_DROPPED,
	LOAD_CONNECTIONS,         /* CONNECT packets */
	LOAD_SOCKETS,             /* TCP connections accepted */
	LOAD_KINDS
};
extern const char *const metrics_load_topics[LOAD_KINDS];  /* "messages/received" */

struct metrics_sample {
	uint64_t mono_us;                 /* CLOCK_MONOTONIC when taken */
	struct worker_stats *w;           /* [nworkers] */
	struct worker_stats sum;          /* over every worker */
	uint64_t *cpu_ns;                 /* [nworkers]: thread CPU time */
	bool *cpu_known;                  /* [nworkers]: the clock could be read */
};

struct metrics {
	struct cplane *cp;
	struct broker *b;
	unsigned nworkers;
	char version[32];
	uint64_t start_wall_ms;

	/* s[cur] and s[cur ^ 1]: the latest tick's sample and the one before (rates);
	 * s[2]: taken afresh for each answer (metrics_refresh), so counts are those of
	 * the moment the question is asked, not up to a second old. */
	struct metrics_sample s[3];
	unsigned cur;
	double load[LOAD_KINDS][3];       /* 1, 5, 15 min */
	uint64_t clients_max;             /* most clients connected at a sample */
	struct metrics_http *http;        /* metrics_listener, or NULL */

	uint64_t sys_last_ms;             /* monotonic ms of the last $SYS publication */
	bool sys_started;                 /* the first one went out */
	bool sys_in_flight;               /* its admin call has not finished */
	bool sys_failed_logged;           /* one log line per failure episode */
	size_t sys_sending;               /* topics in the call in flight */
	size_t sys_retained;              /* $SYS topics retained by the last publication */
};

/* The latest tick's sample, and the one before (the same one until a tick). */
static inline const struct metrics_sample *metrics_now(const struct metrics *m)
{
	return &m->s[m->cur];
}
static inline const struct metrics_sample *metrics_prev(const struct metrics *m)
{
	return &m->s[m->cur ^ 1u];
}
/* Takes the answer's sample; metrics_fresh() reads it. */
void metrics_refresh(struct metrics *m);
static inline const struct metrics_sample *metrics_fresh(const struct metrics *m)
{
	return &m->s[2];
}

/* Per second, between the two tick samples, of <st> summed (worker < 0) or of one worker.
 * 0 before the second sample. */
double metrics_rate(const struct metrics *m, const struct metrics_stat *st, int worker);
const struct metrics_stat *metrics_stat_find(const char *name);
/* Open MQTT connections (TCP accepted - closed), of one worker or all (< 0); fresh. */
uint64_t metrics_connections(const struct metrics *m, int worker);
/* Clients with an MQTT session bound to a connection ($SYS clients/connected); fresh. */
uint64_t metrics_clients_online(const struct metrics *m);
/* CPU share of worker <i> between the two tick samples, percent of one core; -1: unknown. */
double metrics_cpu_percent(const struct metrics *m, unsigned i);
/* Share of worker <i>'s loop turns that found work, percent; 0 with no turns. */
double metrics_busy_percent(const struct metrics *m, unsigned i);
uint64_t metrics_uptime_s(const struct metrics *m);
/* Retained messages clients published: the retained store less our own $SYS topics
 * (which `retained list`'s "#" does not match either, MQTT-4.7.2-1). */
uint64_t metrics_retained(const struct metrics *m);
const char *metrics_mode(const struct metrics *m);      /* "kernel" or "dpdk" */

/* metrics_http.c: lets MHD handle what is ready and its timeouts (each tick). */
void metrics_http_run(struct metrics_http *h);
/* Connections closed for metrics_max_clients so far (0 without a listener). */
uint64_t metrics_http_refused(const struct metrics_http *h);

/* sys.c: publishes $SYS when sys_interval (read each time: reload applies it) has
 * passed since the last publication, and once at the first tick. */
void metrics_sys_tick(struct metrics *m, uint64_t now_ms);

#endif
