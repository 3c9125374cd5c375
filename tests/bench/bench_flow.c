/* bench_flow.c - the thread body of the pub/sub scenarios (fanin, fanout, pairs,
 * latency). Every subscriber has its SUBACK before any publisher connects; then one
 * thread fixes the shared timeline:
 *
 *   t0 ---- warmup ----> t_win ---- window ----> t_stop ---- drain ----> t_drain_end
 *   publishers stamp from t0 until t_stop; published/delivered/latency count inside
 *   the window; the drain ends early once all threads have stopped publishing and
 *   every message is in (distinct receipts = stamped x matching, no window busy).
 */
#include <stdatomic.h>

#include "bench_loop.h"
#include "bench_pub.h"
#include "bench_report.h"
#include "bench_run.h"
#include "bench_time.h"

/* How often a thread with nothing to do looks at the others' drain progress. */
#define BENCH_DRAIN_POLL_NS (2 * BENCH_NS_PER_MS)

static void bench_flow_timeline(struct bench_run *run)
{
	const struct bench_opts *o = run->o;

	run->t0 = bench_now();
	run->t_win = run->t0 + bench_secs_to_ns(o->warmup_s);
	run->t_stop = run->t_win + bench_secs_to_ns(o->duration_s);
	run->t_drain_end = run->t_stop + bench_secs_to_ns(o->drain_s);
	bench_progress_phase(run, "publish", BENCH_PROGRESS_KEEP);
}

bool bench_flow_complete(struct bench_run *run)
{
	uint64_t published = 0, distinct = 0, inflight = 0;
	struct bench_thread *t;
	unsigned int i;

	for (i = 0; i < run->nthreads; i++) {
		t = &run->th[i];
		if (!atomic_load_explicit(&t->prog.stopped, memory_order_acquire))
			return false;
		published += atomic_load_explicit(&t->prog.published_total, memory_order_relaxed);
		distinct += atomic_load_explicit(&t->prog.distinct, memory_order_relaxed);
		inflight += atomic_load_explicit(&t->prog.inflight, memory_order_relaxed);
	}
	return inflight == 0 && distinct >= published * run->matching;
}

/* Fixed-rate publishers start spread over one period, so that they do not all send
 * on the same tick and queue behind each other: latency then measures the broker,
 * not our bursts. */
static void bench_flow_rate_start(const struct bench_run *run, struct bench_pub *p)
{
	double rate = run->o->rate, offset_ns = 0;

	if (rate > 0)
		offset_ns = 1e9 / rate * (double)p->id / (double)run->npubs;
	bench_pub_rate_start(p, rate, run->t0 + (uint64_t)offset_ns);
}

void bench_flow_window_open(struct bench_thread *th)
{
	struct bench_run *run = th->run;

	if (th->idx != 0)
		return;
	run->cpu_win_start = bench_cpu_secs();
	if (run->o->broker_pid > 0)
		run->broker_cpu_win_start = bench_proc_cpu_secs(run->o->broker_pid);
}

void bench_flow_window_close(struct bench_thread *th, uint64_t poll_ns)
{
	struct bench_run *run = th->run;
	uint32_t i;

	if (th->idx == 0) {
		run->cpu_win_end = bench_cpu_secs();
		if (run->o->broker_pid > 0) {
			run->broker_cpu_win_end = bench_proc_cpu_secs(run->o->broker_pid);
			run->rss_after_kb = bench_rss_kb(run->o->broker_pid);
		}
	}
	/* What the schedule wanted sent before the stop and never got out: messages a
	 * stalled broker kept us from offering, counted rather than silently skipped. */
	for (i = 0; i < th->npubs; i++)
		th->st.unsent += bench_pub_backlog(th->pubs[i]->pub, run->t_stop - 1);
	bench_loop_progress(th, true);
	while (th->now < run->t_drain_end && !bench_flow_complete(run)) {
		uint64_t until = th->now + poll_ns;

		bench_loop_turn(th, until < run->t_drain_end ? until : run->t_drain_end);
		bench_loop_progress(th, true);
	}
}

static void bench_flow_measure(struct bench_thread *th)
{
	struct bench_run *run = th->run;
	bool in_win = false;
	uint32_t i;

	th->prod_lo = run->t0;
	th->prod_hi = run->t_stop;
	th->win_lo = run->t_win;
	th->win_hi = run->t_stop;
	for (i = 0; i < th->npubs; i++)
		bench_flow_rate_start(run, th->pubs[i]->pub);
	while (th->now < run->t_stop) {
		if (!in_win && th->now >= run->t_win) {
			bench_flow_window_open(th);
			in_win = true;
		}
		bench_loop_turn(th, run->t_stop);
	}
	bench_flow_window_close(th, BENCH_DRAIN_POLL_NS);
}

void bench_flow_thread(struct bench_thread *th)
{
	struct bench_run *run = th->run;
	uint32_t window = bench_run_thread_window(run);

	if (bench_loop_open_role(th, BENCH_ROLE_SUB, window, run->t_setup_end) > 0)
		bench_run_abort(run);
	bench_run_barrier(run);
	if (!bench_run_aborted(run) &&
	    bench_loop_open_role(th, BENCH_ROLE_PUB, window, run->t_setup_end) > 0)
		bench_run_abort(run);
	if (bench_run_barrier(run) && !bench_run_aborted(run))
		bench_flow_timeline(run);
	bench_run_barrier(run);
	if (!bench_run_aborted(run))
		bench_flow_measure(th);
	bench_loop_teardown(th);
}
