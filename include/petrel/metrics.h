/* metrics.h - what the broker counts, as the control plane shows it (issue 9): `status`
 * and `top` (JSON), `metrics` and metrics_listener (Prometheus text), $SYS/broker/...
 * (mosquitto's topics). One module owns the figures so the three never disagree.
 *
 * Sources, all read without locks: every worker's struct worker_stats (counters and
 * gauges, stats.h), each worker thread's CPU clock, broker-wide atomics and counts
 * (router_count, retain_count, sessdir_count), cplane_stats and, with persistence,
 * store_stats. Rates and mosquitto's load averages are computed from one sample a
 * second (metrics_tick); a counter's rate is the difference of two samples.
 *
 * Control plane thread only (it owns the samples). */
#ifndef PETREL_METRICS_H
#define PETREL_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cplane;
struct metrics;

/* Main-side facts the figures need. */
struct metrics_info {
	const char *version;            /* "0.1.0" */
	uint64_t start_wall_ms;         /* when the broker started (uptime) */
};

struct metrics *metrics_create(struct cplane *cp, const struct metrics_info *info);
void metrics_destroy(struct metrics *m);

/* Once a second: takes a sample (rates, per-worker CPU, load averages); publishes
 * $SYS when sys_interval has passed (an ADMIN_SYS_PUBLISH call to worker 0). */
void metrics_tick(struct metrics *m);

/* `status`'s result (docs/operations.md shows it): a new reference. */
json_t *metrics_status_json(struct metrics *m);

/* The store's figures as `status` (its "store") and `store stats` show them: a new
 * reference, NULL when out of memory. */
struct store_stats;
json_t *metrics_store_stats_json(const struct store_stats *ss);

/* Prometheus text exposition format 0.0.4 of every figure, malloc'd, NUL-terminated;
 * *len its length. NULL when out of memory. */
char *metrics_prometheus(struct metrics *m, size_t *len);

/* metrics_listener (control/metrics_http.c, libmicrohttpd driven from the control
 * plane's epoll set). Returns 0 (also when metrics_listener is unset) or -errno with
 * one line in <err>: main stops, as for a listener that cannot bind. */
struct metrics_http;
int metrics_http_start(struct metrics_http **out, struct cplane *cp, struct metrics *m,
		       char *err, size_t errlen);
void metrics_http_stop(struct metrics_http *h);

#endif
