/* bench_report.c - RSS and CPU sampling, the JSON line and the human summary. */
#include "bench_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

long bench_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

double bench_proc_cpu_secs(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* proc(5): the command name (field 2) may hold spaces and parentheses, so count
	 * from the last ')': then state is field 3, utime 14 and stime 15. */
	p = strrchr(buf, ')');
	if (p == NULL || hz <= 0 ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &st) != 2)
		return -1;
	return (double)(ut + st) / (double)hz;
}

static double bench_tv_secs(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

void bench_cpu_usage(double *user_s, double *sys_s)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0) {
		*user_s = *sys_s = 0;
		return;
	}
	*user_s = bench_tv_secs(&ru.ru_utime);
	*sys_s = bench_tv_secs(&ru.ru_stime);
}

double bench_cpu_secs(void)
{
	double u, s;

	bench_cpu_usage(&u, &s);
	return u + s;
}

/* A JSON string: quotes, backslashes and control characters escaped (RFC 8259 7). */
static void bench_json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* The keys of fleet, storm and persist; -1 elsewhere. */
static void bench_report_json_sessions(FILE *f, const struct bench_result *r)
{
	const struct bench_opts *o = r->o;
	bool fleet = o->scenario == BENCH_FLEET;
	bool queued = o->scenario == BENCH_STORM || o->scenario == BENCH_PERSIST;

	fprintf(f, ",\"interval_s\":%.3f,\"messages\":%ld,\"phase\":",
		fleet ? o->interval_s : -1.0, queued ? (long)o->messages : -1L);
	bench_json_str(f, o->scenario == BENCH_PERSIST ? bench_phase_name(o->phase) : "");
	fprintf(f, ",\"connect_s\":%.3f,\"publish_s\":%.3f,\"reconnect_s\":%.3f,"
		"\"deliver_s\":%.3f,\"sessions_lost\":%" PRIu64, r->connect_s, r->publish_s,
		r->reconnect_s, r->deliver_s, r->sessions_lost);
}

/* The progress samples: what bench.sh plots against the connection count. */
static void bench_report_json_series(FILE *f, const struct bench_result *r)
{
	const struct bench_sample *s;
	size_t i;

	fprintf(f, ",\"series\":[");
	for (i = 0; i < r->nseries; i++) {
		s = &r->series[i];
		fprintf(f, "%s{\"t\":%.2f,\"phase\":", i ? "," : "", s->t);
		bench_json_str(f, s->phase);
		fprintf(f, ",\"conns\":%" PRIu64 ",\"conns_target\":%" PRIu64
			",\"conn_rate\":%.1f,\"msgs\":%" PRIu64 ",\"msg_rate\":%.1f,\"pub\":%"
			PRIu64 ",\"errors\":%" PRIu64 ",\"rss_kb\":%ld}", s->conns,
			s->conns_target, s->conn_rate, s->msgs, s->msg_rate, s->published,
			s->errors, s->rss_kb);
	}
	fprintf(f, "]");
}

void bench_result_fini(struct bench_result *r)
{
	free(r->series);
	r->series = NULL;
	r->nseries = 0;
}

void bench_report_json(FILE *f, const struct bench_result *r)
{
	const struct bench_opts *o = r->o;

	fprintf(f, "{\"scenario\":");
	bench_json_str(f, bench_scenario_name(o->scenario));
	fprintf(f, ",\"label\":");
	bench_json_str(f, o->label);
	fprintf(f, ",\"transport\":\"%s\"", o->dpdk ? "dpdk" : "kernel");
	fprintf(f, ",\"qos\":%u,\"payload\":%u,\"publishers\":%u,\"subscribers\":%u,"
		"\"pairs\":%u,\"connections\":%u,\"clean\":%d,\"threads\":%u,"
		"\"duration_s\":%.3f",
		o->qos, o->payload, r->publishers, r->subscribers, r->pairs, r->connections,
		o->clean ? 1 : 0, o->threads, r->duration_s);
	fprintf(f, ",\"published\":%" PRIu64 ",\"delivered\":%" PRIu64
		",\"pub_rate\":%.1f,\"deliver_rate\":%.1f",
		r->published, r->delivered, r->pub_rate, r->deliver_rate);
	fprintf(f, ",\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,"
		"\"lat_max_us\":%.1f",
		r->lat_p50_us, r->lat_p99_us, r->lat_p999_us, r->lat_max_us);
	fprintf(f, ",\"expected\":%" PRIu64 ",\"received_total\":%" PRIu64
		",\"lost\":%" PRId64 ",\"duplicates\":%" PRIu64 ",\"out_of_order\":%" PRIu64,
		r->expected, r->received_total, r->lost, r->duplicates, r->out_of_order);
	fprintf(f, ",\"connects\":%" PRIu64 ",\"connect_rate\":%.1f,\"connect_errors\":%"
		PRIu64, r->connects, r->connect_rate, r->connect_errors);
	fprintf(f, ",\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_per_conn_bytes\":%.1f",
		r->rss_before_kb, r->rss_after_kb, r->rss_per_conn_bytes);
	fprintf(f, ",\"rate\":%.3f,\"offered_rate\":%.1f,\"unsent\":%" PRIu64
		",\"lag_p99_us\":%.1f,\"lag_max_us\":%.1f",
		o->rate, r->offered_rate, r->unsent, r->lag_p99_us, r->lag_max_us);
	fprintf(f, ",\"broker_cpu_pct\":%.1f,\"gen_win_cpu_pct\":%.1f",
		r->broker_cpu_pct, r->win_cpu_pct);
	fprintf(f, ",\"gen_cpu_user_s\":%.3f,\"gen_cpu_sys_s\":%.3f,\"gen_cpu_pct\":%.1f",
		r->cpu_user_s, r->cpu_sys_s, r->cpu_pct);
	bench_report_json_sessions(f, r);
	bench_report_json_series(f, r);
	fprintf(f, "}\n");
}

static void bench_summary_conn(FILE *f, const struct bench_result *r)
{
	const struct bench_opts *o = r->o;

	fprintf(f, "petrel-bench conn clean %d: %" PRIu64 "/%u connects in %.2f s "
		"(%.0f/s), %" PRIu64 " errors", o->clean, r->connects, r->connections,
		r->duration_s, r->connect_rate, r->connect_errors);
	if (r->rss_before_kb >= 0 && r->rss_after_kb >= 0)
		fprintf(f, "; broker RSS %ld -> %ld KiB (%.0f B/conn)", r->rss_before_kb,
			r->rss_after_kb, r->rss_per_conn_bytes);
	fprintf(f, "\n");
}

static void bench_summary_flow(FILE *f, const struct bench_result *r)
{
	const struct bench_opts *o = r->o;

	fprintf(f, "petrel-bench %s qos %u payload %u: %u pub -> %u sub, %.1f s window: "
		"published %" PRIu64 " (%.0f/s), delivered %" PRIu64 " (%.0f/s)\n",
		bench_scenario_name(o->scenario), o->qos, o->payload, r->publishers,
		r->subscribers, r->duration_s, r->published, r->pub_rate, r->delivered,
		r->deliver_rate);
	fprintf(f, "  latency us: p50 %.1f p99 %.1f p99.9 %.1f max %.1f\n", r->lat_p50_us,
		r->lat_p99_us, r->lat_p999_us, r->lat_max_us);
	fprintf(f, "  expected %" PRIu64 " received %" PRIu64 " lost %" PRId64 "%s dup %"
		PRIu64 " out-of-order %" PRIu64 "; connect errors %" PRIu64 " (lost mid-run %"
		PRIu64 ")", r->expected, r->received_total, r->lost,
		o->qos == 0 ? " (QoS 0 may drop)" : "", r->duplicates, r->out_of_order,
		r->connect_errors, r->dropped);
	if (r->foreign > 0 || r->bad_acks > 0)
		fprintf(f, "; foreign %" PRIu64 " bad acks %" PRIu64, r->foreign, r->bad_acks);
	if (r->rss_before_kb >= 0 && r->rss_after_kb >= 0)
		fprintf(f, "; broker RSS %ld -> %ld KiB", r->rss_before_kb, r->rss_after_kb);
	fprintf(f, "\n");
	if (r->offered_rate >= 0)
		fprintf(f, "  offered %.0f msg/s, never sent %" PRIu64 "; waited to send p99 "
			"%.1f us, max %.1f us\n", r->offered_rate, r->unsent, r->lag_p99_us,
			r->lag_max_us);
	if (r->broker_cpu_pct >= 0)
		fprintf(f, "  broker CPU %.1f%% in the window\n", r->broker_cpu_pct);
}

/* storm and persist: the phases and the loss check. */
static void bench_summary_queued(FILE *f, const struct bench_result *r)
{
	const struct bench_opts *o = r->o;

	fprintf(f, "petrel-bench %s qos %u: %u sessions x %u messages; set-up %.2f s "
		"(%.0f/s), publish %.2f s (%.0f msg/s)\n", bench_scenario_name(o->scenario),
		o->qos, r->subscribers, o->messages, r->connect_s, r->connect_rate,
		r->publish_s, r->pub_rate);
	if (r->lost < 0 && r->reconnect_s < 0) {
		fprintf(f, "  not verified (--no-verify or --phase fill)\n");
		return;
	}
	fprintf(f, "  %s %.2f s, every message in after %.2f s (-1: not all); latency us "
		"p50 %.1f p99 %.1f max %.1f\n", o->scenario == BENCH_STORM ?
		"all back (session present) after" : "verify (reconnect, drain, leave)",
		r->reconnect_s, r->deliver_s, r->lat_p50_us, r->lat_p99_us, r->lat_max_us);
	fprintf(f, "  expected %" PRIu64 " received %" PRIu64 " lost %" PRId64 " dup %" PRIu64
		"; sessions lost %" PRIu64 ", connect errors %" PRIu64 "\n", r->expected,
		r->received_total, r->lost, r->duplicates, r->sessions_lost, r->connect_errors);
}

void bench_report_summary(FILE *f, const struct bench_result *r)
{
	if (r->o->scenario == BENCH_CONN) {
		bench_summary_conn(f, r);
	} else if (r->o->scenario == BENCH_STORM || r->o->scenario == BENCH_PERSIST) {
		bench_summary_queued(f, r);
	} else {
		bench_summary_flow(f, r);
		if (r->o->scenario == BENCH_FLEET)
			fprintf(f, "  fleet: %u devices every %.1f s; connect phase %.2f s "
				"(%.0f/s)\n", r->publishers, r->o->interval_s, r->connect_s,
				r->connect_rate);
	}
	fprintf(f, "  generator CPU %.1f%% of %.1f s run (user %.2f s, sys %.2f s)",
		r->cpu_pct, r->wall_s, r->cpu_user_s, r->cpu_sys_s);
	if (r->win_cpu_pct >= 0)
		fprintf(f, ", %.1f%% in the window, %u thread%s", r->win_cpu_pct,
			r->o->threads, r->o->threads > 1 ? "s" : "");
	fprintf(f, "\n");
}
