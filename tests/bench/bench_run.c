/* bench_run.c - lays a scenario out over threads, runs them and merges their counters
 * into a bench_result (see bench_run.h). */
#include "bench_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_dpdk.h"
#include "bench_loop.h"
#include "bench_pub.h"
#include "bench_report.h"
#include "bench_sub.h"
#include "bench_time.h"

/* Descriptors beyond the connections: epolls, stdio, /proc reads. */
#define BENCH_FD_SPARE 64

/* A barrier whose waiters keep polling the port (DPDK mode): a thread blocked in
 * pthread_barrier_wait would stop answering its connections, and thread 0 would stop
 * carrying the others' frames in single-queue mode. */
static bool bench_run_poll_barrier(struct bench_run *run)
{
	unsigned int gen = atomic_load(&run->bar_generation);

	if (atomic_fetch_add(&run->bar_waiting, 1) + 1 == run->nthreads) {
		atomic_store(&run->bar_waiting, 0);
		atomic_fetch_add(&run->bar_generation, 1);
		return true;
	}
	while (atomic_load(&run->bar_generation) == gen)
		bench_dpdk_idle();
	return false;
}

bool bench_run_barrier(struct bench_run *run)
{
	if (run->o->dpdk)
		return bench_run_poll_barrier(run);
	return pthread_barrier_wait(&run->barrier) == PTHREAD_BARRIER_SERIAL_THREAD;
}

void bench_run_abort(struct bench_run *run)
{
	atomic_store(&run->abort, true);
}

bool bench_run_aborted(struct bench_run *run)
{
	return atomic_load_explicit(&run->abort, memory_order_relaxed);
}

static void bench_run_layout(struct bench_run *run)
{
	const struct bench_opts *o = run->o;

	switch (o->scenario) {
	case BENCH_FANIN:
	case BENCH_LATENCY:
		run->nsubs = 1;
		run->npubs = o->publishers;
		run->matching = 1;
		break;
	case BENCH_FANOUT:
		run->nsubs = o->subscribers;
		run->npubs = 1;
		run->matching = o->subscribers;
		break;
	case BENCH_PAIRS:
		run->nsubs = o->pairs;
		run->npubs = o->pairs;
		run->matching = 1;
		break;
	case BENCH_CONN:
		run->nconns = o->connections;
		return;
	case BENCH_FLEET:
		run->nsubs = o->subscribers;
		run->npubs = o->connections;
		run->matching = 1;
		run->fleet_per_group = (o->connections + o->subscribers - 1) / o->subscribers;
		break;
	case BENCH_STORM:
	case BENCH_PERSIST:
		run->nsubs = o->connections;
		run->npubs = run->nthreads;
		run->matching = 1;
		break;
	}
	run->nconns = run->nsubs + run->npubs;
}

size_t bench_run_client_id(const struct bench_run *run, const struct bench_conn *c,
			   char *buf, size_t cap)
{
	static const char role_tag[] = { [BENCH_ROLE_SUB] = 's', [BENCH_ROLE_PUB] = 'p',
					 [BENCH_ROLE_CONN] = 'c' };
	int n = snprintf(buf, cap, "%s%c%u", run->o->client_prefix, role_tag[c->role],
			 c->index);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static size_t bench_run_topic(const struct bench_run *run, uint32_t pub_id, char *buf,
			      size_t cap)
{
	int n;

	switch (run->o->scenario) {
	case BENCH_FANOUT:
		n = snprintf(buf, cap, "bench/fan");
		break;
	case BENCH_FLEET:
		n = snprintf(buf, cap, "bench/fleet/%u/%u", pub_id % run->nsubs, pub_id);
		break;
	case BENCH_STORM:
	case BENCH_PERSIST:
		/* pub_id is the session's index; the publishers patch the digits. */
		n = snprintf(buf, cap, "bench/%s/%0*u", bench_scenario_name(run->o->scenario),
			     BENCH_TOPIC_DIGITS, pub_id);
		break;
	case BENCH_PAIRS:
		n = snprintf(buf, cap, "bench/pair/%u", pub_id);
		break;
	default:
		n = snprintf(buf, cap, "bench/%u", pub_id);
		break;
	}
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t bench_run_filter(const struct bench_run *run, const struct bench_conn *c,
			char *buf, size_t cap)
{
	int n;

	if (c->role == BENCH_ROLE_CONN)
		n = snprintf(buf, cap, "bench/offline/%u", c->index);
	else if (run->o->scenario == BENCH_FANIN || run->o->scenario == BENCH_LATENCY)
		n = snprintf(buf, cap, "bench/#");
	else if (run->o->scenario == BENCH_FLEET)
		n = snprintf(buf, cap, "bench/fleet/%u/#", c->role_id);
	else
		return bench_run_topic(run, c->role_id, buf, cap);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* fleet: the devices a subscriber hears get consecutive publisher ids, so that one
 * bench_sub covers them: device d (group d mod S) has id (d mod S) x ceil(N/S) + d / S. */
static uint32_t bench_run_fleet_pub_id(const struct bench_run *run, uint32_t device)
{
	return device % run->nsubs * run->fleet_per_group + device / run->nsubs;
}

static int bench_run_setup_sub(struct bench_run *run, struct bench_conn *c, uint32_t k)
{
	const struct bench_opts *o = run->o;

	c->role = BENCH_ROLE_SUB;
	c->role_id = k;
	c->sub = malloc(sizeof(*c->sub));
	if (c->sub == NULL)
		return -ENOMEM;
	switch (o->scenario) {
	case BENCH_PAIRS:
	case BENCH_STORM:
	case BENCH_PERSIST:
		return bench_sub_init(c->sub, k, k, 1);
	case BENCH_FLEET:
		return bench_sub_init(c->sub, k, k * run->fleet_per_group,
				      o->connections / run->nsubs +
				      (k < o->connections % run->nsubs));
	default:
		return bench_sub_init(c->sub, k, 0, run->npubs);
	}
}

/* Gives connection <k> its role and, for pub/sub scenarios, its bookkeeping. */
static int bench_run_setup_conn(struct bench_run *run, struct bench_conn *c, uint32_t k)
{
	const struct bench_opts *o = run->o;
	char topic[64];

	c->index = k;
	if (o->scenario == BENCH_CONN) {
		c->role = BENCH_ROLE_CONN;
		c->role_id = k;
		return 0;
	}
	if (k < run->nsubs)
		return bench_run_setup_sub(run, c, k);
	c->role = BENCH_ROLE_PUB;
	c->role_id = k - run->nsubs;
	c->pub = malloc(sizeof(*c->pub));
	if (c->pub == NULL)
		return -ENOMEM;
	/* storm, persist: topic index 0 until a message is stamped for a session. A fleet
	 * device sends one message per interval: --inflight slots whatever the QoS. */
	bench_run_topic(run, o->scenario == BENCH_STORM || o->scenario == BENCH_PERSIST ? 0 :
			c->role_id, topic, sizeof(topic));
	return bench_pub_init(c->pub, o->scenario == BENCH_FLEET ?
			      bench_run_fleet_pub_id(run, c->role_id) : c->role_id, topic,
			      o->qos, o->payload, o->qos > 0 || o->scenario == BENCH_FLEET ?
			      o->inflight : BENCH_QOS0_SLOTS);
}

static int bench_run_threads_init(struct bench_run *run)
{
	unsigned int j = run->nthreads, t;
	/* Our PUBLISHes are the largest packets we receive; topics stay under 64. */
	size_t max_packet = (size_t)run->o->payload + 128;
	struct bench_thread *th;
	struct bench_conn *c;
	uint32_t k;
	int rc;

	for (t = 0; t < j; t++) {
		rc = bench_thread_init(&run->th[t], run, t, run->nconns / j + (t < run->nconns % j),
				       max_packet);
		if (rc < 0)
			return rc;
	}
	for (k = 0; k < run->nconns; k++) {
		th = &run->th[k % j];
		c = &th->conns[k / j];
		if (c->sub != NULL || c->pub != NULL)
			return -EINVAL;
		rc = bench_run_setup_conn(run, c, k);
		if (rc < 0)
			return rc;
		if (c->pub != NULL)
			th->pubs[th->npubs++] = c;
	}
	return 0;
}

/* Raises RLIMIT_NOFILE to the hard limit and checks the run fits under it. */
static int bench_run_fds(const struct bench_run *run)
{
	const struct bench_opts *o = run->o;
	uint64_t need = (uint64_t)run->nconns + BENCH_FD_SPARE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	/* Offline sessions come and go; only the connects in flight hold descriptors. */
	if (o->scenario == BENCH_CONN && !o->clean && o->conn_window < run->nconns)
		need = (uint64_t)o->conn_window + BENCH_FD_SPARE;
	if (o->scenario == BENCH_PERSIST && o->conn_window < run->nsubs)
		need = (uint64_t)o->conn_window + run->npubs + BENCH_FD_SPARE;
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		fprintf(stderr, "petrel-bench: needs %llu file descriptors, RLIMIT_NOFILE hard "
			"limit is %llu\n", (unsigned long long)need,
			(unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	return 0;
}

static void *bench_run_thread_main(void *arg)
{
	struct bench_thread *th = arg;

	switch (th->run->o->scenario) {
	case BENCH_CONN:
		bench_conns_thread(th);
		break;
	case BENCH_FLEET:
		bench_fleet_thread(th);
		break;
	case BENCH_STORM:
		bench_storm_thread(th);
		break;
	case BENCH_PERSIST:
		bench_persist_thread(th);
		break;
	default:
		bench_flow_thread(th);
		break;
	}
	return NULL;
}

static void bench_run_result_sizes(const struct bench_run *run, struct bench_result *r)
{
	const struct bench_opts *o = run->o;

	r->o = o;
	r->connections = run->nconns;
	if (o->scenario == BENCH_CONN)
		return;
	r->publishers = run->npubs;
	r->subscribers = run->nsubs;
	r->pairs = o->scenario == BENCH_PAIRS ? o->pairs : 0;
}

static void bench_run_result_latency(const struct bench_hist *h, struct bench_result *r)
{
	if (h->count == 0) {
		r->lat_p50_us = r->lat_p99_us = r->lat_p999_us = r->lat_max_us = -1;
		return;
	}
	r->lat_p50_us = (double)bench_hist_quantile(h, 0.50) / 1e3;
	r->lat_p99_us = (double)bench_hist_quantile(h, 0.99) / 1e3;
	r->lat_p999_us = (double)bench_hist_quantile(h, 0.999) / 1e3;
	r->lat_max_us = (double)h->max / 1e3;
}

/* The schedule's side of a fixed-rate run: what was offered, what never went out,
 * how long messages waited after their due time before they were queued. */
static void bench_run_result_schedule(const struct bench_run *run,
				      const struct bench_stats *s, struct bench_result *r)
{
	r->offered_rate = r->lag_p99_us = r->lag_max_us = -1;
	r->unsent = s->unsent;
	if (run->o->rate <= 0)
		return;
	r->offered_rate = run->o->rate * (double)run->npubs;
	if (s->lag.count > 0) {
		r->lag_p99_us = (double)bench_hist_quantile(&s->lag, 0.99) / 1e3;
		r->lag_max_us = (double)s->lag.max / 1e3;
	}
}

/* Sums the per-connection bookkeeping: receipts from the trackers, bad acks. */
static void bench_run_sum_conns(const struct bench_run *run, uint64_t *distinct,
				struct bench_result *r)
{
	const struct bench_conn *c;
	unsigned int t;
	uint32_t i;

	for (t = 0; t < run->nthreads; t++) {
		for (i = 0; i < run->th[t].nconns; i++) {
			c = &run->th[t].conns[i];
			if (c->sub != NULL)
				bench_sub_totals(c->sub, distinct, &r->duplicates, &r->out_of_order);
			if (c->pub != NULL)
				r->bad_acks += c->pub->bad_acks;
		}
	}
}

static void bench_run_result_flow(const struct bench_run *run, const struct bench_stats *s,
				  struct bench_result *r)
{
	uint64_t distinct = 0;

	r->duration_s = run->o->duration_s;
	r->published = s->published;
	r->delivered = s->delivered;
	r->pub_rate = (double)s->published / r->duration_s;
	r->deliver_rate = (double)s->delivered / r->duration_s;
	bench_run_result_latency(&s->hist, r);
	r->expected = s->published_total * run->matching;
	r->received_total = s->received_total;
	bench_run_sum_conns(run, &distinct, r);
	r->lost = (int64_t)r->expected - (int64_t)distinct;
	r->connect_rate = -1;
	r->rss_per_conn_bytes = -1;
	r->win_cpu_pct = run->cpu_win_end > run->cpu_win_start && r->duration_s > 0 ?
			 (run->cpu_win_end - run->cpu_win_start) / r->duration_s * 100 : -1;
	r->broker_cpu_pct = run->broker_cpu_win_start >= 0 &&
			    run->broker_cpu_win_end >= run->broker_cpu_win_start ?
			    (run->broker_cpu_win_end - run->broker_cpu_win_start) /
			    r->duration_s * 100 : -1;
	bench_run_result_schedule(run, s, r);
}

static void bench_run_result_conn(const struct bench_run *run, struct bench_result *r)
{
	double phase = bench_ns_to_secs(run->conn_t_last - run->conn_t_first);

	r->duration_s = phase;
	r->lat_p50_us = r->lat_p99_us = r->lat_p999_us = r->lat_max_us = -1;
	r->connect_rate = phase > 0 ? (double)r->connects / phase : -1;
	r->rss_per_conn_bytes = -1;
	if (r->rss_before_kb >= 0 && r->rss_after_kb >= 0 && r->connections > 0)
		r->rss_per_conn_bytes = (double)(r->rss_after_kb - r->rss_before_kb) * 1024.0 /
					(double)r->connections;
	r->win_cpu_pct = r->broker_cpu_pct = -1;
	r->offered_rate = r->lag_p99_us = r->lag_max_us = -1;
}

static double bench_run_span(uint64_t first, uint64_t last)
{
	return first != 0 && last >= first ? bench_ns_to_secs(last - first) : -1;
}

/* fleet: the flow's figures plus its connect phase (the devices). */
static void bench_run_result_fleet(const struct bench_run *run, struct bench_result *r)
{
	r->connect_s = bench_run_span(run->conn_t_first, run->conn_t_last);
	r->connect_rate = r->connect_s > 0 ? (double)run->npubs / r->connect_s : -1;
}

/* storm and persist: set up, publish, then reconnect and collect. */
static void bench_run_result_queued(const struct bench_run *run, const struct bench_stats *s,
				    struct bench_result *r)
{
	uint64_t distinct = 0, end;

	r->connect_s = bench_run_span(run->conn_t_first, run->conn_t_last);
	r->connect_rate = r->connect_s > 0 ? (double)run->nsubs / r->connect_s : -1;
	r->publish_s = bench_run_span(run->pub_t_first, run->pub_t_last);
	r->reconnect_s = bench_run_span(run->back_t_first, run->back_t_last);
	end = run->deliver_t_last;
	r->deliver_s = end == 0 ? -1 : end > run->back_t_first ?
		       bench_ns_to_secs(end - run->back_t_first) : 0;
	r->duration_s = r->deliver_s;
	r->published = s->published_total;
	r->pub_rate = r->publish_s > 0 ? (double)s->published_total / r->publish_s : -1;
	r->received_total = s->received_total;
	bench_run_sum_conns(run, &distinct, r);
	r->delivered = distinct;
	r->deliver_rate = r->deliver_s > 0 ? (double)distinct / r->deliver_s : -1;
	bench_run_result_latency(&s->hist, r);
	r->lost = -1;
	if (run->verified) {
		r->expected = (uint64_t)run->nsubs * run->o->messages;
		r->lost = (int64_t)r->expected - (int64_t)distinct;
	}
	r->rss_per_conn_bytes = -1;
	r->win_cpu_pct = r->broker_cpu_pct = -1;
	r->offered_rate = r->lag_p99_us = r->lag_max_us = -1;
}

uint32_t bench_run_thread_window(const struct bench_run *run)
{
	uint32_t window = run->o->conn_window / run->nthreads;

	return window > 0 ? window : 1;
}

uint64_t bench_run_last_ok(const struct bench_run *run, uint64_t since)
{
	uint64_t last = since;
	unsigned int i;

	for (i = 0; i < run->nthreads; i++) {
		if (run->th[i].settled_ok > 0 && run->th[i].last_ok > last)
			last = run->th[i].last_ok;
	}
	return last;
}

uint64_t bench_run_last_new(const struct bench_run *run)
{
	uint64_t last = 0;
	unsigned int i;

	for (i = 0; i < run->nthreads; i++) {
		if (run->th[i].st.last_new > last)
			last = run->th[i].st.last_new;
	}
	return last;
}

static void bench_run_merge(const struct bench_run *run, struct bench_result *r)
{
	static struct bench_stats s;     /* 30 KiB of histograms: not on the stack */
	const struct bench_stats *t;
	unsigned int i;

	memset(&s, 0, sizeof(s));
	memset(r, 0, sizeof(*r));
	for (i = 0; i < run->nthreads; i++) {
		t = &run->th[i].st;
		s.published += t->published;
		s.published_total += t->published_total;
		s.delivered += t->delivered;
		s.received_total += t->received_total;
		s.foreign += t->foreign;
		s.connects += t->connects;
		s.connect_errors += t->connect_errors;
		s.dropped += t->dropped;
		s.unsent += t->unsent;
		s.sessions_lost += t->sessions_lost;
		bench_hist_merge(&s.hist, &t->hist);
		bench_hist_merge(&s.lag, &t->lag);
	}
	bench_run_result_sizes(run, r);
	r->connects = s.connects;
	r->connect_errors = s.connect_errors + s.dropped;
	r->dropped = s.dropped;
	r->foreign = s.foreign;
	r->rss_before_kb = run->rss_before_kb;
	r->rss_after_kb = run->rss_after_kb;
	r->connect_s = r->publish_s = r->reconnect_s = r->deliver_s = -1;
	r->sessions_lost = s.sessions_lost;
	if (run->o->scenario == BENCH_CONN) {
		bench_run_result_conn(run, r);
	} else if (run->o->scenario == BENCH_STORM || run->o->scenario == BENCH_PERSIST) {
		bench_run_result_queued(run, &s, r);
	} else {
		bench_run_result_flow(run, &s, r);
		if (run->o->scenario == BENCH_FLEET)
			bench_run_result_fleet(run, r);
	}
	bench_cpu_usage(&r->cpu_user_s, &r->cpu_sys_s);
	r->wall_s = bench_ns_to_secs(bench_now() - run->t_start);
	r->cpu_pct = r->wall_s > 0 ? (r->cpu_user_s + r->cpu_sys_s) / r->wall_s * 100 : 0;
}

/* The first error any thread saw, or 0. */
static int bench_run_first_error(const struct bench_run *run, const char **msg)
{
	unsigned int i;

	for (i = 0; i < run->nthreads; i++) {
		if (run->th[i].first_err != 0) {
			*msg = run->th[i].first_msg;
			return run->th[i].first_err;
		}
	}
	*msg = "no connection could be set up";
	return 0;
}

/* Whether the run counts as done: every set-up succeeded (pub/sub scenarios), or at
 * least one connection came up (conn). */
static int bench_run_verdict(const struct bench_run *run, const struct bench_result *r)
{
	const char *msg;
	int err = bench_run_first_error(run, &msg);

	if (run->o->scenario == BENCH_CONN ? r->connects > 0 : !atomic_load(&run->abort))
		return 0;
	fprintf(stderr, "petrel-bench: could not run against %s:%u: %s\n",
		inet_ntoa(run->o->broker.sin_addr), ntohs(run->o->broker.sin_port), msg);
	return err < 0 ? err : -ECONNREFUSED;
}

static int bench_run_threads(struct bench_run *run)
{
	unsigned int i;
	int rc;

	rc = pthread_barrier_init(&run->barrier, NULL, run->nthreads);
	if (rc != 0)
		return -rc;
	if (run->o->dpdk) {
		/* One EAL lcore per thread: the port's queue or ring of that worker. */
		bench_dpdk_run_threads(run, bench_run_thread_main);
		pthread_barrier_destroy(&run->barrier);
		return 0;
	}
	for (i = 0; i < run->nthreads; i++) {
		rc = pthread_create(&run->th[i].tid, NULL, bench_run_thread_main, &run->th[i]);
		if (rc != 0) {
			/* The started threads would wait at the barrier for ever. */
			fprintf(stderr, "petrel-bench: pthread_create: %s\n", strerror(rc));
			exit(1);
		}
	}
	for (i = 0; i < run->nthreads; i++)
		pthread_join(run->th[i].tid, NULL);
	pthread_barrier_destroy(&run->barrier);
	return 0;
}

int bench_run_exec(const struct bench_opts *o, struct bench_result *res)
{
	struct bench_run run;
	unsigned int i;
	int rc;

	memset(&run, 0, sizeof(run));
	run.o = o;
	run.t_start = bench_now();
	run.t_setup_end = run.t_start + BENCH_SETUP_S * BENCH_NS_PER_S;
	run.nthreads = o->threads;
	run.rss_before_kb = run.rss_after_kb = -1;
	run.broker_cpu_win_start = run.broker_cpu_win_end = -1;
	run.phase_timeout_ns = bench_secs_to_ns(o->phase_timeout_s);
	bench_run_layout(&run);
	rc = o->dpdk ? bench_dpdk_open(o, run.nthreads) : bench_run_fds(&run);
	if (rc < 0)
		return rc;
	run.th = aligned_alloc(64, sizeof(*run.th) * run.nthreads);
	if (run.th == NULL) {
		if (o->dpdk)
			bench_dpdk_close();
		return -ENOMEM;
	}
	memset(run.th, 0, sizeof(*run.th) * run.nthreads);
	for (i = 0; i < run.nthreads; i++)
		run.th[i].ep = -1;
	rc = bench_run_threads_init(&run);
	for (i = 0; rc == 0 && o->dpdk && i < run.nthreads; i++)
		rc = bench_dpdk_thread_init(&run.th[i]);
	if (rc < 0) {
		fprintf(stderr, "petrel-bench: set-up: %s\n", strerror(-rc));
		goto out;
	}
	if (o->broker_pid > 0)
		run.rss_before_kb = bench_rss_kb(o->broker_pid);
	rc = bench_progress_start(&run);
	if (rc < 0) {
		fprintf(stderr, "petrel-bench: progress sampler: %s\n", strerror(-rc));
		goto out;
	}
	rc = bench_run_threads(&run);
	bench_progress_stop(&run);
	if (rc < 0)
		goto out;
	bench_run_merge(&run, res);
	res->series = run.plog.samples;
	res->nseries = run.plog.nsamples;
	run.plog.samples = NULL;
	rc = bench_run_verdict(&run, res);
out:
	free(run.plog.samples);
	for (i = 0; i < run.nthreads; i++)
		bench_thread_fini(&run.th[i]);
	free(run.th);
	if (o->dpdk)
		bench_dpdk_close();
	return rc;
}
