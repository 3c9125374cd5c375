/* test_faults.c - MQTT over our TCP with a lossy link: the broker on DPDK (net_tap, in
 * the test's own network namespace) with its fault injector dropping 5 % of the frames
 * each way, reordering and duplicating 5 %. TCP must hide all of it: every QoS 1 and
 * QoS 2 message arrives, QoS 2 exactly once, in order per publisher, across two
 * workers; and the faults did happen (counted in the broker's "dpdk totals" line). */
#include "harness.h"

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void faults_init(void)
{
	/* This suite is about the DPDK data plane: run it so whatever the environment
	 * says (meson sets it too). */
	setenv("PETREL_TEST_DATAPLANE", "tap", 1);
}

TestSuite(faults, .init = faults_init, .fini = harness_fini, .timeout = 240);

#define LOSSY "fault_drop 5\nfault_reorder 5\nfault_duplicate 5\nfault_seed 7\n" \
	      "tcp_rto_min_ms 50\n"

enum { NPUBS = 4, PER_PUB = 100 };

/* NPUBS publishers, each PER_PUB messages "p<k> <i>" at <qos>, interleaved; one
 * subscriber at <qos> must see each publisher's messages once each, in order. */
static void lossy_run(int qos)
{
	static const char *const faults[] = { "fault_rx_dropped=", "fault_tx_dropped=",
					      "fault_rx_reordered=", "fault_tx_duplicated=",
					      NULL };
	struct broker b;
	struct client *sub, *pubs[NPUBS];
	int next[NPUBS] = { 0 };
	int total = 0;
	char topic[32];
	struct rx_msg m;
	uint64_t deadline;

	snprintf(topic, sizeof(topic), "lossy/q%d", qos);
	broker_start(&b, 2, LOSSY);
	sub = connected_client(&b, "lossy-sub", true);
	cr_assert_eq(client_subscribe(sub, topic, qos), qos);
	for (int k = 0; k < NPUBS; k++) {
		char id[32];

		snprintf(id, sizeof(id), "lossy-pub%d", k);
		pubs[k] = connected_client(&b, id, true);
	}
	for (int i = 0; i < PER_PUB; i++) {
		for (int k = 0; k < NPUBS; k++) {
			char payload[32];
			int len = snprintf(payload, sizeof(payload), "p%d %d", k, i);

			cr_assert_eq(client_publish(pubs[k], topic, payload, len, qos, false),
				     0);
		}
	}
	deadline = now_ms() + 120000;
	while (total < NPUBS * PER_PUB && now_ms() < deadline) {
		int k, i;

		if (!client_wait_msg(sub, &m, 200))
			continue;
		m.payload[m.payload_len < (int)sizeof(m.payload) ? m.payload_len : 0] = '\0';
		cr_assert_eq(sscanf((const char *)m.payload, "p%d %d", &k, &i), 2,
			     "bad payload '%s'", (const char *)m.payload);
		cr_assert(k >= 0 && k < NPUBS, "bad publisher in '%s'", (const char *)m.payload);
		/* In order and once: a duplicate or a gap shows as the wrong number. */
		cr_assert_eq(i, next[k], "publisher %d: message %d arrived when %d was due",
			     k, i, next[k]);
		next[k]++;
		total++;
	}
	cr_assert_eq(total, NPUBS * PER_PUB, "only %d of %d messages arrived", total,
		     NPUBS * PER_PUB);
	cr_assert_not(client_wait_msg(sub, &m, 500), "a message after the last one");
	for (int k = 0; k < NPUBS; k++)
		client_close(pubs[k]);
	client_close(sub);
	broker_stop_expect_dpdk_totals(&b, faults);
}

Test(faults, qos1_every_message_in_order_through_5_percent_loss_reorder_duplicates)
{
	lossy_run(1);
}

Test(faults, qos2_exactly_once_in_order_through_5_percent_loss_reorder_duplicates)
{
	lossy_run(2);
}
