/* test_idle_wake.c - how an idle DPDK worker sleeps and what wakes it (port.c,
 * transport_dpdk.c dt_sleep). Over net_tap, which has RX interrupts: a frame that
 * arrives while the worker sleeps ends the sleep through the queue's interrupt, not
 * the sleep's timeout. Over net_af_xdp, which has none: the worker stops kicking the
 * PMD's TX (port_info.tx_kick) once its queue has been quiet for a while, so it
 * sleeps instead of making every empty poll a syscall. Both read the counters of the
 * broker's "dpdk totals" line; nothing here is timed. */
#include "harness.h"

#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(idle_wake, .fini = harness_fini, .timeout = 120);

/* The value of <name> ("idle_sleeps") in the broker's "dpdk totals" line, 0 when
 * the line omits it (it lists non-zero counters only). */
static uint64_t log_total(struct broker *b, const char *name)
{
	char line[8192], key[64];
	const char *at;
	uint64_t v = 0;
	FILE *f = fopen(b->log_path, "r");

	cr_assert_not_null(f);
	snprintf(key, sizeof(key), " %s=", name);
	while (fgets(line, sizeof(line), f) != NULL) {
		at = strstr(line, "dpdk totals:") != NULL ? strstr(line, key) : NULL;
		if (at != NULL)
			v = strtoull(at + strlen(key), NULL, 10);
	}
	fclose(f);
	return v;
}

/* SIGTERM, the totals of the NULL-terminated <names> into <v> once the broker logged
 * them, then a clean exit (the harness removes the log with the broker). */
static void stop_with_totals(struct broker *b, const char *const *names, uint64_t *v)
{
	bool logged = false;

	cr_assert_eq(kill(b->pid, SIGTERM), 0);
	for (int i = 0; i < 500 && !(logged = broker_log_contains(b, "dpdk totals:")); i++)
		usleep(20000);
	cr_assert(logged, "no dpdk totals line at shutdown");
	for (int i = 0; names[i] != NULL; i++)
		v[i] = log_total(b, names[i]);
	broker_stop_clean(b);
}

/* A lone QoS 1 round trip after a quiet spell, five times: each PUBLISH finds the
 * worker asleep, and its frame's RX interrupt, not the sleep's end, must wake it.
 * Without interrupts the counter stays 0 (the worker only ever wakes by timeout). */
Test(idle_wake, a_frame_wakes_a_sleeping_tap_worker_through_its_rx_interrupt)
{
	static const char *const names[] = { "rx_intr_wakeups", NULL };
	struct broker b;
	struct client *c;
	uint64_t wakeups;

	setenv("PETREL_TEST_DATAPLANE", "tap", 1);
	broker_start(&b, 1, NULL);
	cr_assert(broker_wait_log(&b, "RX interrupts wake idle workers", 5000),
		  "net_tap started without RX interrupts");
	c = connected_client(&b, "lone", true);
	for (int i = 0; i < 5; i++) {
		/* Quiet: the worker spins 512 empty polls (well under a millisecond)
		 * and sleeps. 50 ms is a wait for that to happen, not a measurement. */
		usleep(50000);
		cr_assert_eq(client_publish(c, "idle/wake", "x", 1, 1, false), 0,
			     "round trip %d: no PUBACK", i);
	}
	client_close(c);
	stop_with_totals(&b, names, &wakeups);
	cr_log_info("%" PRIu64 " sleeps ended by an RX interrupt", wakeups);
	cr_assert_gt(wakeups, 0,
		     "no sleep was ended by an RX interrupt");
}

/* An idle net_af_xdp broker: it sends its gratuitous ARP at start, then nothing for
 * 5 s. The worker kicks its TX only for a while after it last sent, so most of its
 * sleeps come without a kick. Kicking on every loop turn (the old behaviour), every
 * sleep would follow a kick in the same turn: the kicks would be at least the
 * sleeps. */
Test(idle_wake, an_idle_af_xdp_worker_stops_kicking_and_sleeps)
{
	static const char *const names[] = { "idle_sleeps", "port_tx_kicks", NULL };
	struct broker b;
	uint64_t v[2], sleeps, kicks;

	setenv("PETREL_TEST_DATAPLANE", "af_xdp", 1);
	broker_start(&b, 1, NULL);
	cr_assert(broker_wait_log(&b, "no RX interrupts from net_af_xdp", 5000),
		  "the start-up line naming the idle mode is missing");
	/* A wait for the idle state, not a measurement. */
	usleep(5000000);
	stop_with_totals(&b, names, v);
	sleeps = v[0];
	kicks = v[1];
	cr_log_info("%" PRIu64 " idle sleeps, %" PRIu64 " kicks", sleeps, kicks);
	cr_assert_gt(kicks, 0, "the PMD was never kicked (port_info.tx_kick unset?)");
	cr_assert_gt(sleeps, 100, "the idle worker hardly slept: %" PRIu64 " sleeps",
		     sleeps);
	cr_assert_lt(kicks, sleeps,
		     "still kicking while idle: %" PRIu64 " kicks, %" PRIu64 " sleeps",
		     kicks, sleeps);
}

/* The idle sleeps of a tap broker whose one client makes <rounds> QoS 1 round trips,
 * <gap_us> apart, with dpdk_idle_spin_us <spin_us>. */
static uint64_t sleeps_over_rounds(unsigned spin_us, int rounds, unsigned gap_us)
{
	static const char *const names[] = { "idle_sleeps", NULL };
	char conf[64];
	struct broker b;
	struct client *c;
	uint64_t sleeps;

	snprintf(conf, sizeof(conf), "dpdk_idle_spin_us %u\n", spin_us);
	setenv("PETREL_TEST_DATAPLANE", "tap", 1);
	broker_start(&b, 1, conf);
	c = connected_client(&b, "spinner", true);
	for (int i = 0; i < rounds; i++) {
		usleep(gap_us);
		cr_assert_eq(client_publish(c, "idle/spin", "x", 1, 1, false), 0,
			     "round trip %d: no PUBACK", i);
	}
	client_close(c);
	stop_with_totals(&b, names, &sleeps);
	return sleeps;
}

/* dpdk_idle_spin_us keeps a worker polling after its last frame: a client that
 * answers within the spin never finds it asleep (on a port without RX interrupts,
 * each such sleep would cost the round up to 1 ms). Rounds 20 ms apart: with no spin
 * the worker sleeps in every gap; with a spin of a second it hardly sleeps at all
 * (only before the client came and after it left). */
Test(idle_wake, the_idle_spin_keeps_a_worker_awake_between_close_rounds)
{
	uint64_t without = sleeps_over_rounds(0, 40, 20000);
	uint64_t with = sleeps_over_rounds(1000000, 40, 20000);

	cr_log_info("idle sleeps over 40 rounds: %" PRIu64 " without a spin, %" PRIu64
		    " with a 1 s spin", without, with);
	cr_assert_geq(without, 40, "the worker did not sleep between rounds: %" PRIu64,
		      without);
	cr_assert_lt(with * 4, without, "the spin did not keep the worker awake: %" PRIu64
		     " sleeps with it, %" PRIu64 " without", with, without);
}
