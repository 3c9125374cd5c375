/* bench_persist.c - the thread body of the persist scenario: N offline persistent
 * sessions (see bench_bulk.h) with --messages K queued each. The fill half connects,
 * subscribes and disconnects every session (at most --conn-inflight at once, so N may
 * exceed the descriptors), then each thread's publisher queues K messages for each of
 * its sessions. The verify half reconnects every session (again at most
 * --conn-inflight at once), expects its session present, takes its K messages and
 * disconnects. Measured: the set-up rate, the publish time, the drain time, loss.
 *
 *   --phase all:    fill -> verify (unless --no-verify)
 *   --phase fill:   fill only; the broker keeps (and with persistence stores) them
 *   --phase verify: verify only, against sessions a fill with the same
 *                   --client-prefix, --connections and --messages left behind, e.g.
 *                   after a broker restart
 *
 * A failure while filling ends the run; failures while verifying are what is
 * measured. Each phase is bounded by --timeout. */
#include "bench_bulk.h"
#include "bench_loop.h"
#include "bench_run.h"
#include "bench_time.h"

static void bench_persist_fill(struct bench_thread *th, uint32_t window)
{
	bench_bulk_setup(th, window, "sessions", true);
	bench_bulk_publish_phase(th);
	/* The publisher leaves; the sessions are closed already. */
	bench_loop_teardown(th);
}

static void bench_persist_verify(struct bench_thread *th, uint32_t window)
{
	struct bench_run *run = th->run;

	if (bench_bulk_resume(th, window, run->o->messages, "verify"))
		bench_bulk_delivered(run);
	bench_run_barrier(run);
}

void bench_persist_thread(struct bench_thread *th)
{
	struct bench_run *run = th->run;
	uint32_t window = bench_run_thread_window(run);

	if (run->o->phase != BENCH_PHASE_VERIFY)
		bench_persist_fill(th, window);
	if (run->o->verify && !bench_run_aborted(run))
		bench_persist_verify(th, window);
	bench_loop_teardown(th);
}
