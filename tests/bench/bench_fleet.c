/* bench_fleet.c - the thread body of the fleet scenario: N mostly idle devices, each
 * publishing one message every --interval T to its own topic bench/fleet/<g>/<i>
 * (g = i mod S), and S subscribers, the j-th on bench/fleet/<j>/#, so that every
 * message reaches exactly one subscriber. Device i's k-th message is due at
 * t0 + (i / N + k) x T: the sends are spread evenly over the interval (no thundering
 * herd), and each carries its due time as its stamp, so a late generator or a slow
 * broker shows up as latency. Each thread walks its devices in due order with a
 * cursor, so a loop turn costs the messages due, not the number of devices.
 *
 *   subscribers up -> devices connect (the connect phase: time, rate) -> t0 -- warmup
 *   --> t_win -- window --> t_stop -- drain --> t_drain_end (earlier once all are in)
 *
 * A device that fails to connect is counted (connect_errors) and left out; a
 * subscriber that fails ends the run, as its messages could not be counted. A device
 * whose window is still full when its next message falls due (--inflight, 2 by
 * default) owes it and sends it at its next turn, with the original stamp. */
#include "bench_loop.h"
#include "bench_pub.h"
#include "bench_run.h"
#include "bench_time.h"

/* How often a thread with nothing to do looks at the others' drain progress; the
 * check walks the thread's devices, so not too often. */
#define BENCH_FLEET_DRAIN_POLL_NS (20 * BENCH_NS_PER_MS)

struct bench_fleet_cursor {
	uint32_t pos;                /* into th->pubs, which is in device order */
	uint64_t round;              /* the message number due at <pos> */
};

static uint64_t bench_fleet_due(const struct bench_thread *th,
				const struct bench_fleet_cursor *cur)
{
	const struct bench_pub *p = th->pubs[cur->pos]->pub;

	return bench_sched_time(p->rate_t0, p->period_ns, cur->round);
}

/* Stamps what is due by now; returns when the next message falls due. */
static uint64_t bench_fleet_produce(struct bench_thread *th, struct bench_fleet_cursor *cur,
				    uint64_t stop)
{
	bool in_win = bench_loop_in_window(th);
	struct bench_conn *c;
	uint64_t due;
	uint32_t n;

	if (th->npubs == 0)
		return UINT64_MAX;
	for (;;) {
		due = bench_fleet_due(th, cur);
		if (due > th->now || due >= stop)
			return due;
		c = th->pubs[cur->pos];
		if (bench_conn_live(c) && c->state == BCS_READY) {
			n = bench_pub_produce(c->pub, th->now, in_win ? &th->st.lag : NULL);
			th->st.published_total += n;
			if (in_win)
				th->st.published += n;
			if (n > 0)
				bench_loop_want_write(th, c);
		}
		if (++cur->pos == th->npubs) {
			cur->pos = 0;
			cur->round++;
		}
	}
}

static void bench_fleet_timeline(struct bench_run *run)
{
	const struct bench_opts *o = run->o;

	run->conn_t_last = bench_run_last_ok(run, run->conn_t_first);
	run->t0 = bench_now();
	run->t_win = run->t0 + bench_secs_to_ns(o->warmup_s);
	run->t_stop = run->t_win + bench_secs_to_ns(o->duration_s);
	run->t_drain_end = run->t_stop + bench_secs_to_ns(o->drain_s);
	bench_progress_phase(run, "publish", BENCH_PROGRESS_KEEP);
}

static void bench_fleet_measure(struct bench_thread *th)
{
	struct bench_run *run = th->run;
	struct bench_fleet_cursor cur = { 0, 0 };
	double period_ns = run->o->interval_s * 1e9;
	bool in_win = false;
	uint64_t wake, offset;
	uint32_t i;

	th->win_lo = run->t_win;
	th->win_hi = run->t_stop;
	for (i = 0; i < th->npubs; i++) {
		offset = (uint64_t)(period_ns * (double)th->pubs[i]->role_id /
				    (double)run->npubs);
		bench_pub_rate_start(th->pubs[i]->pub, 1e9 / period_ns, run->t0 + offset);
	}
	th->now = bench_now();
	while (th->now < run->t_stop) {
		if (!in_win && th->now >= run->t_win) {
			bench_flow_window_open(th);
			in_win = true;
		}
		wake = bench_fleet_produce(th, &cur, run->t_stop);
		bench_loop_turn(th, wake < run->t_stop ? wake : run->t_stop);
	}
	bench_flow_window_close(th, BENCH_FLEET_DRAIN_POLL_NS);
}

void bench_fleet_thread(struct bench_thread *th)
{
	struct bench_run *run = th->run;
	uint32_t window = bench_run_thread_window(run);

	if (bench_run_barrier(run))
		bench_progress_phase(run, "subscribe", run->nsubs);
	bench_run_barrier(run);
	if (bench_loop_open_role(th, BENCH_ROLE_SUB, window,
				 bench_now() + run->phase_timeout_ns) > 0)
		bench_run_abort(run);
	if (bench_run_barrier(run)) {
		run->conn_t_first = bench_now();
		bench_progress_phase(run, "connect", run->npubs);
	}
	bench_run_barrier(run);
	/* Devices that fail are counted and left out; the others still report. */
	if (!bench_run_aborted(run))
		bench_loop_open_role(th, BENCH_ROLE_PUB, window,
				     run->conn_t_first + run->phase_timeout_ns);
	if (bench_run_barrier(run) && !bench_run_aborted(run))
		bench_fleet_timeline(run);
	bench_run_barrier(run);
	if (!bench_run_aborted(run))
		bench_fleet_measure(th);
	bench_loop_teardown(th);
}
