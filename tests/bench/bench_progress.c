/* bench_progress.c - per-turn counters, the sampler thread, the progress line and the
 * series (see bench_progress.h). */
#include "bench_progress.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_loop.h"
#include "bench_report.h"
#include "bench_run.h"
#include "bench_time.h"

static inline void bench_store(_Atomic uint64_t *a, uint64_t v)
{
	atomic_store_explicit(a, v, memory_order_relaxed);
}

static inline uint64_t bench_load(_Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

void bench_progress_note(struct bench_thread *th)
{
	bench_store(&th->counts.settled_ok, th->settled_ok);
	bench_store(&th->counts.received, th->st.received_total);
	bench_store(&th->counts.distinct, th->st.distinct);
	bench_store(&th->counts.published, th->st.published_total);
	bench_store(&th->counts.errors, th->st.connect_errors + th->st.dropped);
}

uint64_t bench_progress_sum_distinct(struct bench_run *run)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < run->nthreads; i++)
		sum += bench_load(&run->th[i].counts.distinct);
	return sum;
}

void bench_progress_phase(struct bench_run *run, const char *name, uint64_t target)
{
	uint64_t base = 0;
	unsigned int i;

	if (target != BENCH_PROGRESS_KEEP) {
		/* The others wait at the barrier: their plain counters are current. */
		for (i = 0; i < run->nthreads; i++)
			base += run->th[i].settled_ok;
		atomic_store(&run->plog.conn_base, base);
		atomic_store(&run->plog.conn_target, target);
	}
	atomic_store(&run->plog.phase, name);
}

static void bench_progress_sum(struct bench_run *run, uint64_t *settled,
			       struct bench_sample *s)
{
	struct bench_counts *c;
	unsigned int i;

	*settled = 0;
	for (i = 0; i < run->nthreads; i++) {
		c = &run->th[i].counts;
		*settled += bench_load(&c->settled_ok);
		s->msgs += bench_load(&c->received);
		s->published += bench_load(&c->published);
		s->errors += bench_load(&c->errors);
	}
}

static void bench_progress_print(const struct bench_sample *s)
{
	fprintf(stderr, "progress t=%.1fs conns %" PRIu64 "/%" PRIu64 " (+%.0f/s) msgs %"
		PRIu64 " (+%.0f/s) pub %" PRIu64 " errors %" PRIu64, s->t, s->conns,
		s->conns_target, s->conn_rate, s->msgs, s->msg_rate, s->published, s->errors);
	if (s->rss_kb >= 0)
		fprintf(stderr, " rss %ld MB", s->rss_kb / 1024);
	fprintf(stderr, " phase %s\n", s->phase);
}

static void bench_progress_keep(struct bench_progress_log *log, const struct bench_sample *s)
{
	struct bench_sample *n;
	size_t cap;

	if (log->nsamples == log->cap) {
		if (log->cap >= BENCH_SERIES_MAX)
			return;
		cap = log->cap ? log->cap * 2 : 64;
		n = realloc(log->samples, cap * sizeof(*n));
		if (n == NULL)
			return;             /* the series is a report, not the run */
		log->samples = n;
		log->cap = cap;
	}
	log->samples[log->nsamples++] = *s;
}

/* Takes one sample <dt> seconds after the previous one (<prev> holds its totals). */
static void bench_progress_sample(struct bench_run *run, double dt, uint64_t *prev_settled,
				  uint64_t *prev_msgs)
{
	struct bench_progress_log *log = &run->plog;
	struct bench_sample s;
	uint64_t settled, base = atomic_load(&log->conn_base);

	memset(&s, 0, sizeof(s));
	s.t = bench_ns_to_secs(bench_now() - run->t_start);
	s.phase = atomic_load(&log->phase);
	bench_progress_sum(run, &settled, &s);
	s.conns = settled > base ? settled - base : 0;
	s.conns_target = atomic_load(&log->conn_target);
	s.conn_rate = dt > 0 ? (double)(settled - *prev_settled) / dt : 0;
	s.msg_rate = dt > 0 ? (double)(s.msgs - *prev_msgs) / dt : 0;
	s.rss_kb = run->o->broker_pid > 0 ? bench_rss_kb(run->o->broker_pid) : -1;
	*prev_settled = settled;
	*prev_msgs = s.msgs;
	bench_progress_keep(log, &s);
	if (s.t >= BENCH_PROGRESS_QUIET_S)
		bench_progress_print(&s);
}

static void *bench_progress_main(void *arg)
{
	struct bench_run *run = arg;
	struct bench_progress_log *log = &run->plog;
	uint64_t period = bench_secs_to_ns(run->o->progress_s), next = run->t_start + period;
	uint64_t prev_t = run->t_start, prev_settled = 0, prev_msgs = 0, now;
	struct timespec ts;
	bool stop;

	for (;;) {
		ts.tv_sec = (time_t)(next / BENCH_NS_PER_S);
		ts.tv_nsec = (long)(next % BENCH_NS_PER_S);
		pthread_mutex_lock(&log->lock);
		while (!log->stop &&
		       pthread_cond_timedwait(&log->wake, &log->lock, &ts) != ETIMEDOUT)
			;
		stop = log->stop;
		pthread_mutex_unlock(&log->lock);
		if (stop)
			return NULL;
		now = bench_now();
		bench_progress_sample(run, bench_ns_to_secs(now - prev_t), &prev_settled,
				      &prev_msgs);
		prev_t = now;
		/* A sampler that fell behind skips the ticks it missed. */
		while (next <= now)
			next += period;
	}
}

int bench_progress_start(struct bench_run *run)
{
	struct bench_progress_log *log = &run->plog;
	pthread_condattr_t ca;
	int rc;

	atomic_store(&log->phase, "setup");
	atomic_store(&log->conn_target, run->nconns);
	if (run->o->progress_s <= 0)
		return 0;
	/* The deadline is on CLOCK_MONOTONIC, the run's clock. */
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&log->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -rc;
	pthread_mutex_init(&log->lock, NULL);
	log->stop = false;
	rc = pthread_create(&log->tid, NULL, bench_progress_main, run);
	if (rc != 0) {
		pthread_cond_destroy(&log->wake);
		pthread_mutex_destroy(&log->lock);
		return -rc;
	}
	log->running = true;
	return 0;
}

void bench_progress_stop(struct bench_run *run)
{
	struct bench_progress_log *log = &run->plog;

	if (!log->running)
		return;
	pthread_mutex_lock(&log->lock);
	log->stop = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->tid, NULL);
	pthread_cond_destroy(&log->wake);
	pthread_mutex_destroy(&log->lock);
	log->running = false;
}
