/* bench_report.h - what a run measured, and how it is printed: one JSON line on
 * stdout (the contract with scripts/bench.sh: every key always present, -1 where it
 * does not apply) and a short human summary on stderr. Also the two outside
 * measurements: the broker's RSS and the generator's own CPU. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bench_opts.h"
#include "bench_progress.h"

struct bench_result {
	const struct bench_opts *o;
	uint32_t publishers;
	uint32_t subscribers;
	uint32_t pairs;
	uint32_t connections;
	double duration_s;           /* the window; conn: the connect phase */
	uint64_t published;
	uint64_t delivered;
	double pub_rate;
	double deliver_rate;
	double lat_p50_us;           /* -1: nothing delivered in the window */
	double lat_p99_us;
	double lat_p999_us;
	double lat_max_us;
	uint64_t expected;
	uint64_t received_total;
	int64_t lost;
	uint64_t duplicates;
	uint64_t out_of_order;
	uint64_t connects;
	double connect_rate;         /* -1 but for conn */
	uint64_t connect_errors;     /* failed set-ups plus connections lost afterwards */
	long rss_before_kb;          /* -1: no --broker-pid or unreadable */
	long rss_after_kb;
	double rss_per_conn_bytes;   /* -1 but for conn */
	double cpu_user_s;
	double cpu_sys_s;
	double cpu_pct;
	double offered_rate;         /* --rate x publishers, msg/s; -1: unlimited */
	uint64_t unsent;             /* scheduled before the stop, never sent */
	double lag_p99_us;           /* fixed rate: waited after the due time; else -1 */
	double lag_max_us;
	double broker_cpu_pct;       /* broker CPU in the window, 100 = one core; -1 */
	double win_cpu_pct;          /* generator CPU in the window; -1 for conn */
	/* fleet, storm, persist; -1 where it does not apply. */
	double connect_s;            /* the first connect: fleet's devices, storm's clients,
				      * persist's set-up (connect, subscribe, disconnect) */
	double publish_s;            /* storm, persist: until every queued message was
				      * acknowledged to the publisher */
	double reconnect_s;          /* storm: until every client was back (CONNACK with
				      * session present); persist: the whole verify */
	double deliver_s;            /* storm, persist: from the reconnect until every
				      * queued message arrived; -1 if some never did */
	uint64_t sessions_lost;      /* CONNACK without session present on a resume */
	/* The progress samples; owned, bench_result_fini() frees them. */
	struct bench_sample *series;
	size_t nseries;
	/* For the summary only. */
	double wall_s;
	uint64_t dropped;
	uint64_t foreign;
	uint64_t bad_acks;
};

/* VmRSS of <pid> in KiB, or -1. */
long bench_rss_kb(pid_t pid);

/* CPU seconds (user + system, all threads) <pid> used so far, or -1. */
double bench_proc_cpu_secs(pid_t pid);

/* The generator's CPU seconds so far, all threads. */
double bench_cpu_secs(void);
void bench_cpu_usage(double *user_s, double *sys_s);

void bench_report_json(FILE *f, const struct bench_result *r);
void bench_result_fini(struct bench_result *r);
void bench_report_summary(FILE *f, const struct bench_result *r);

#endif
