/* metrics_prom.c - every figure in the Prometheus text exposition format 0.0.4
 * (prometheus.io/docs/instrumenting/exposition_formats): a HELP and a TYPE line per
 * family, then its samples. Per-worker counters are petrel_<stat>_total{worker="N"},
 * per-worker gauges petrel_<stat>{worker="N"}, broker-wide figures carry no label
 * (docs/operations.md lists them). `petrelctl metrics` and GET /metrics both serve
 * this text. Control plane thread. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/broker.h"
#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/router.h"
#include "petrel/store.h"
#include "petrel/transport.h"

#include "metrics_int.h"

/* HELP text: backslash and newline escaped. */
static void put_help_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label_value(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	put_help_text(f, help);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

static void sample_u64(FILE *f, const char *name, uint64_t v)
{
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void family_u64(FILE *f, const char *name, const char *type, const char *help,
		       uint64_t v)
{
	family(f, name, type, help);
	sample_u64(f, name, v);
}

/* Every worker_stats field, one family each, one sample per worker. */
static void worker_families(FILE *f, const struct metrics *m)
{
	for (size_t i = 0; i < metrics_nstats; i++) {
		const struct metrics_stat *st = &metrics_stats[i];
		bool gauge = metrics_stat_is_gauge(st);
		const char *help = metrics_stat_help(st);
		char name[96];

		snprintf(name, sizeof(name), "petrel_%s%s", st->name, gauge ? "" : "_total");
		family(f, name, gauge ? "gauge" : "counter", help != NULL ? help : st->name);
		for (unsigned w = 0; w < m->nworkers; w++)
			fprintf(f, "%s{worker=\"%u\"} %llu\n", name, w,
				(unsigned long long)metrics_stat_get(&metrics_fresh(m)->w[w], st));
	}
}

/* The transport's own counters (DPDK: the stack's, interface's and port's, as in the
 * `dpdk totals` line), petrel_dpdk_<name>_total{worker="N"}; none on kernel sockets. */
static bool transport_families(FILE *f, const struct metrics *m)
{
	const struct transport_ops *tops = m->b->tops;
	bool done = false;
	uint64_t *v;
	bool *ok;

	if (tops->counters == NULL || tops->ncounters == 0 || m->nworkers == 0)
		return true;
	v = calloc((size_t)m->nworkers * tops->ncounters, sizeof(*v));
	ok = calloc(m->nworkers, sizeof(*ok));
	if (v != NULL && ok != NULL) {
		for (unsigned w = 0; w < m->nworkers; w++)
			ok[w] = tops->counters_read(w, v + (size_t)w * tops->ncounters);
		for (size_t i = 0; i < tops->ncounters; i++) {
			char name[96];

			snprintf(name, sizeof(name), "petrel_dpdk_%s_total", tops->counters[i].name);
			family(f, name, "counter", tops->counters[i].help);
			for (unsigned w = 0; w < m->nworkers; w++) {
				if (ok[w])
					fprintf(f, "%s{worker=\"%u\"} %llu\n", name, w,
						(unsigned long long)v[(size_t)w * tops->ncounters + i]);
			}
		}
		done = true;
	}
	free(v);
	free(ok);
	return done;
}

/* The names for PUBLISH traffic (petrel_messages_received_total), beside
 * petrel_publish_in_total/petrel_publish_out_total which count the same packets. */
static void message_families(FILE *f, const struct metrics *m)
{
	family(f, "petrel_messages_received_total", "counter",
	       "PUBLISH packets received from clients (= petrel_publish_in_total)");
	for (unsigned w = 0; w < m->nworkers; w++)
		fprintf(f, "petrel_messages_received_total{worker=\"%u\"} %llu\n", w,
			(unsigned long long)metrics_fresh(m)->w[w].publish_in);
	family(f, "petrel_messages_sent_total", "counter",
	       "PUBLISH packets sent to clients (= petrel_publish_out_total)");
	for (unsigned w = 0; w < m->nworkers; w++)
		fprintf(f, "petrel_messages_sent_total{worker=\"%u\"} %llu\n", w,
			(unsigned long long)metrics_fresh(m)->w[w].publish_out);
}

static void cpu_family(FILE *f, const struct metrics *m)
{
	const struct metrics_sample *now = metrics_fresh(m);

	family(f, "petrel_worker_cpu_seconds_total", "counter",
	       "CPU time used by the worker's thread");
	for (unsigned w = 0; w < m->nworkers; w++) {
		if (now->cpu_known[w])
			fprintf(f, "petrel_worker_cpu_seconds_total{worker=\"%u\"} %.6f\n", w,
				(double)now->cpu_ns[w] / 1e9);
	}
	family(f, "petrel_worker_busy_ratio", "gauge",
	       "Share of the worker's loop turns that found work, over the last second");
	for (unsigned w = 0; w < m->nworkers; w++)
		fprintf(f, "petrel_worker_busy_ratio{worker=\"%u\"} %.4f\n", w,
			metrics_busy_percent(m, w) / 100.0);
}

static void broker_families(FILE *f, struct metrics *m)
{
	family(f, "petrel_info", "gauge", "The broker's version and data plane mode");
	fputs("petrel_info{version=\"", f);
	put_label_value(f, m->version);
	fputs("\",mode=\"", f);
	put_label_value(f, metrics_mode(m));
	fputs("\"} 1\n", f);
	family_u64(f, "petrel_uptime_seconds", "gauge", "Seconds since the broker started",
		   metrics_uptime_s(m));
	family_u64(f, "petrel_workers", "gauge", "Worker threads", m->nworkers);
	family_u64(f, "petrel_connections", "gauge", "Open MQTT connections",
		   metrics_connections(m, -1));
	family_u64(f, "petrel_clients_connected", "gauge",
		   "Clients with a session bound to a connection", metrics_clients_online(m));
	family_u64(f, "petrel_clients_maximum", "gauge",
		   "Most clients connected at once, as sampled each second", m->clients_max);
	family_u64(f, "petrel_subscriptions", "gauge", "Subscriptions (client, filter)",
		   router_count(m->b->router));
	family_u64(f, "petrel_retained_messages", "gauge",
		   "Retained messages published by clients ($SYS topics not counted)",
		   metrics_retained(m));
}

/* A uint64_t field of a struct, as one broker-wide family. */
struct field_family {
	const char *name, *type, *help;
	size_t offset;
};

#define CPLANE_FAMILY(n, f, h) { n, "counter", h, offsetof(struct cplane_stats, f) }
static const struct field_family cplane_families[] = {
	CPLANE_FAMILY("petrel_store_commits_total", commits, "Store transactions committed"),
	CPLANE_FAMILY("petrel_store_commit_failures_total", commit_failures,
		      "Store commits that failed (retried)"),
	CPLANE_FAMILY("petrel_store_batches_total", batches,
		      "Record batches committed to the store"),
	CPLANE_FAMILY("petrel_store_records_total", records,
		      "Change records committed to the store"),
	CPLANE_FAMILY("petrel_store_syncs_total", syncs, "Store syncs to disk"),
};
#undef CPLANE_FAMILY

#define STORE_FAMILY(n, f, h) { n, "gauge", h, offsetof(struct store_stats, f) }
#define STORE_COUNTER(n, f, h) { n, "counter", h, offsetof(struct store_stats, f) }
static const struct field_family store_families_table[] = {
	STORE_FAMILY("petrel_store_sessions", sessions, "Sessions in the store"),
	STORE_FAMILY("petrel_store_subscriptions", subs, "Subscriptions in the store"),
	STORE_FAMILY("petrel_store_queue_entries", entries,
		     "Queued or inflight message entries in the store"),
	STORE_FAMILY("petrel_store_awaiting_pubrel", rels,
		     "QoS 2 packet ids awaiting PUBREL in the store"),
	STORE_FAMILY("petrel_store_retained", retained, "Retained messages in the store"),
	STORE_FAMILY("petrel_store_messages", msgs, "Messages in the store"),
	STORE_FAMILY("petrel_store_file_bytes", file_bytes, "Size of the store file"),
	STORE_FAMILY("petrel_store_used_bytes", used_bytes, "Store pages in use, bytes"),
	STORE_FAMILY("petrel_store_map_bytes", map_bytes,
		     "Largest size of the store (persistence_max_size)"),
	STORE_COUNTER("petrel_store_compactions_total", compactions,
		      "Store compactions (petrelctl store compact) since start"),
};
#undef STORE_FAMILY
#undef STORE_COUNTER

static void field_families(FILE *f, const struct field_family *t, size_t n, const void *src)
{
	for (size_t i = 0; i < n; i++)
		family_u64(f, t[i].name, t[i].type, t[i].help,
			   *(const uint64_t *)(const void *)((const char *)src + t[i].offset));
}

#define CTL_FAMILY(n, t, f, h) { n, t, h, offsetof(struct ctl_stats, f) }
static const struct field_family ctl_families[] = {
	CTL_FAMILY("petrel_control_connections", "gauge", connections,
		   "Control socket connections open"),
	CTL_FAMILY("petrel_control_accepted_total", "counter", accepted,
		   "Control socket connections accepted"),
	CTL_FAMILY("petrel_control_requests_total", "counter", requests,
		   "Control requests handled"),
	CTL_FAMILY("petrel_control_bad_requests_total", "counter", bad_requests,
		   "Control requests answered bad_request or unknown_command"),
	CTL_FAMILY("petrel_control_refused_busy_total", "counter", refused_busy,
		   "Control connections refused by control_max_clients"),
	CTL_FAMILY("petrel_control_closed_too_long_total", "counter", closed_too_long,
		   "Control connections closed for a line over control_max_line"),
	CTL_FAMILY("petrel_control_closed_output_total", "counter", closed_output,
		   "Control connections closed for unread replies over control_max_output"),
	CTL_FAMILY("petrel_control_closed_idle_total", "counter", closed_idle,
		   "Control connections closed by control_idle_timeout"),
	CTL_FAMILY("petrel_control_request_timeouts_total", "counter", request_timeouts,
		   "Control requests the workers did not answer in control_request_timeout"),
	CTL_FAMILY("petrel_control_answers_too_large_total", "counter", answers_too_large,
		   "Control answers over control_max_output, replaced by a too_large error"),
};
#undef CTL_FAMILY

/* With persistence: the store's contents and the control plane's commits. */
static void store_families(FILE *f, struct metrics *m)
{
	struct store *st = cplane_store(m->cp);
	struct store_stats ss;
	struct cplane_stats cs;

	if (st == NULL)
		return;
	cplane_stats_read(m->cp, &cs);
	field_families(f, cplane_families, sizeof(cplane_families) / sizeof(cplane_families[0]),
		       &cs);
	family(f, "petrel_store_last_commit_seconds", "gauge",
	       "Duration of the last store commit (with its sync)");
	fprintf(f, "petrel_store_last_commit_seconds %.6f\n", (double)cs.last_commit_us / 1e6);
	if (store_stats(st, &ss) == 0)
		field_families(f, store_families_table,
			       sizeof(store_families_table) / sizeof(store_families_table[0]), &ss);
}

static void control_families(FILE *f, struct metrics *m)
{
	struct ctl_stats cs;

	ctl_stats_read(cplane_ctl(m->cp), &cs);
	field_families(f, ctl_families, sizeof(ctl_families) / sizeof(ctl_families[0]), &cs);
	family_u64(f, "petrel_metrics_http_refused_total", "counter",
		   "HTTP connections to metrics_listener closed by metrics_max_clients",
		   metrics_http_refused(m->http));
}

char *metrics_prometheus(struct metrics *m, size_t *len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	bool failed;

	if (f == NULL)
		return NULL;
	metrics_refresh(m);
	broker_families(f, m);
	worker_families(f, m);
	/* Out of memory for the counters: no answer rather than one missing them. */
	failed = !transport_families(f, m);
	message_families(f, m);
	cpu_family(f, m);
	control_families(f, m);
	store_families(f, m);
	failed = failed || ferror(f) != 0;
	if (fclose(f) != 0 || failed) {
		free(text);
		return NULL;
	}
	*len = n;
	return text;
}
