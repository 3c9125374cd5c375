/* bench_storm.c - the thread body of the storm scenario: N persistent clients
 * (cleanSession 0, see bench_bulk.h) subscribe at QoS 1 to their own topics and stay
 * connected; then all are reset at once (RST, no DISCONNECT, as after a network
 * outage), each thread's publisher queues --messages for every one of them while they
 * are away, and all N reconnect at once, limited only by --conn-inflight. Measured:
 * the time until every client is back (CONNACK with session present) and until every
 * queued message arrived, loss (QoS 1: each at least once) and duplicates.
 *
 *   connect -> publisher -> reset all -> publish -> reconnect -> collect
 *
 * A failure before the reset ends the run; afterwards failures are what is measured
 * (sessions_lost, connect_errors, lost). Each phase is bounded by --timeout. */
#include "bench_bulk.h"
#include "bench_loop.h"
#include "bench_run.h"
#include "bench_time.h"

/* Connecting, reset and publishing; false if the run cannot go on. */
static bool bench_storm_prepare(struct bench_thread *th, uint32_t window)
{
	bench_bulk_setup(th, window, "connect", false);
	if (bench_run_aborted(th->run))
		return false;
	bench_bulk_abort(th);
	bench_bulk_publish_phase(th);
	return !bench_run_aborted(th->run);
}

void bench_storm_thread(struct bench_thread *th)
{
	struct bench_run *run = th->run;
	uint32_t window = bench_run_thread_window(run);

	if (!bench_storm_prepare(th, window)) {
		bench_loop_teardown(th);
		return;
	}
	if (bench_bulk_resume(th, window, 0, "reconnect")) {
		run->t_drain_end = bench_now() + run->phase_timeout_ns;
		bench_progress_phase(run, "collect", BENCH_PROGRESS_KEEP);
	}
	bench_run_barrier(run);
	bench_bulk_collect(th, run->t_drain_end);
	if (bench_run_barrier(run))
		bench_bulk_delivered(run);
	bench_run_barrier(run);
	bench_loop_teardown(th);
}
