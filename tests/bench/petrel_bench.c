/* petrel_bench.c - petrel-bench, the MQTT 3.1.1 load generator behind scripts/bench.sh.
 *
 * It speaks MQTT itself over non-blocking sockets so that it is never the bottleneck:
 * packets are encoded once and patched in place, each connection gets one write per
 * loop turn, input is read in large chunks and decoded in place, nothing is allocated
 * per message, and --threads spreads connections over threads with an epoll each. It
 * reports its own CPU use so a reader can check that claim.
 *
 * Reading order: bench_opts (the CLI contract), bench_run (layout, threads, merge),
 * bench_flow / bench_conns / bench_fleet / bench_storm / bench_persist (scenario
 * timelines; bench_bulk is what storm and persist share), bench_progress (the progress
 * line and the series), bench_loop (the event loop),
 * bench_conn (socket I/O), bench_proto (MQTT exchanges), bench_pub / bench_sub /
 * bench_track / bench_hist (bookkeeping), bench_report (output).
 */
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

#include "bench_opts.h"
#include "bench_report.h"
#include "bench_run.h"

int main(int argc, char **argv)
{
	static struct bench_opts opts;
	static struct bench_result res;
	int rc;

	rc = bench_opts_parse(&opts, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	/* Sends use MSG_NOSIGNAL; this covers anything else that writes to a socket. */
	signal(SIGPIPE, SIG_IGN);
	/* Fixed-rate publishers stamp the time a message was due, so every microsecond
	 * the kernel lets a timed wait overrun (50 us of timer slack by default) would
	 * count as broker latency. The threads inherit this. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	rc = bench_run_exec(&opts, &res);
	if (rc < 0)
		return 1;
	bench_report_json(stdout, &res);
	fflush(stdout);
	bench_report_summary(stderr, &res);
	bench_result_fini(&res);
	return 0;
}
