/* bench_conns.c - the thread body of the conn scenario: every thread opens its share
 * of the connections with a bounded number in flight (the broker's listen backlog
 * would otherwise drop SYNs and turn the rate into retransmit timeouts), waits for
 * each CONNACK (or, with --clean 0, SUBSCRIBE, SUBACK, DISCONNECT and the broker's
 * close), then one thread samples the broker's RSS and the rest hold the connections
 * for --duration. Ends within BENCH_CONN_DEADLINE_S of the start, whatever happens. */
#include "bench_loop.h"
#include "bench_report.h"
#include "bench_run.h"
#include "bench_time.h"

/* Leaves room for holding and teardown before the overall deadline. */
#define BENCH_CONN_PHASE_MAX_S 100
#define BENCH_CONN_TEARDOWN_S 5

static void bench_conns_settled(struct bench_run *run)
{
	const struct bench_opts *o = run->o;
	uint64_t last = run->conn_t_first, now = bench_now(), hold_max;
	unsigned int i;

	for (i = 0; i < run->nthreads; i++) {
		if (run->th[i].settled_ok > 0 && run->th[i].last_ok > last)
			last = run->th[i].last_ok;
	}
	run->conn_t_last = last;
	if (o->broker_pid > 0)
		run->rss_after_kb = bench_rss_kb(o->broker_pid);
	hold_max = run->t_start +
		   (BENCH_CONN_DEADLINE_S - BENCH_CONN_TEARDOWN_S) * BENCH_NS_PER_S;
	run->t_hold_end = o->clean ? now + bench_secs_to_ns(o->duration_s) : now;
	bench_progress_phase(run, "hold", BENCH_PROGRESS_KEEP);
	if (run->t_hold_end > hold_max)
		run->t_hold_end = hold_max;
}

void bench_conns_thread(struct bench_thread *th)
{
	struct bench_run *run = th->run;
	uint32_t window = bench_run_thread_window(run);

	if (bench_run_barrier(run)) {
		run->conn_t_first = bench_now();
		bench_progress_phase(run, "connect", run->nconns);
		run->t_setup_end = run->t_start + BENCH_CONN_PHASE_MAX_S * BENCH_NS_PER_S;
	}
	bench_run_barrier(run);
	bench_loop_open_role(th, BENCH_ROLE_CONN, window, run->t_setup_end);
	if (bench_run_barrier(run))
		bench_conns_settled(run);
	bench_run_barrier(run);
	while (th->now < run->t_hold_end)
		bench_loop_turn(th, run->t_hold_end);
	bench_loop_teardown(th);
}
