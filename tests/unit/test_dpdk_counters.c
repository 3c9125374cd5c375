/* test_dpdk_counters.c - the DPDK data plane's counter list (dpdk_counters.h): every
 * counter has a unique name of the `dpdk totals` line's form and a help text, and
 * dpdk_counters_collect puts each structure's field where its name says. */
#include <criterion/criterion.h>
#include <string.h>

#include "petrel/dpdk_counters.h"

static size_t index_of(const char *name)
{
	for (size_t i = 0; i < DPDK_NCOUNTERS; i++) {
		if (strcmp(dpdk_counters[i].name, name) == 0)
			return i;
	}
	cr_assert_fail("no counter %s", name);
	return 0;
}

Test(dpdk_counters, every_counter_named_once_with_help)
{
	for (size_t i = 0; i < DPDK_NCOUNTERS; i++) {
		const char *n = dpdk_counters[i].name;

		cr_assert_not_null(n, "counter %zu has no name", i);
		cr_assert_not_null(dpdk_counters[i].help, "%s has no help", n);
		cr_expect_gt(strlen(dpdk_counters[i].help), 10, "%s: help too short", n);
		/* A Prometheus metric name once prefixed. */
		cr_expect_eq(strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_"), strlen(n),
			     "%s", n);
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(n, dpdk_counters[j].name, "%s twice", n);
	}
}

Test(dpdk_counters, collect_puts_each_field_under_its_name)
{
	struct tcp_stats tcp = { .retransmits = 7, .syn_cookies_late = 3 };
	struct net_stats net = { .tx_full = 9, .arp_heard_confirms = 4 };
	struct port_stats port = { .tx_kicks = 11, .rx_frames = 2 };
	struct dpdk_worker_counters own = { .idle_sleeps = 13, .rx_intr_repolls = 6 };
	struct faultinj_stats rx = { .dropped = 5 }, tx = { .corrupted = 8, .dup_failed = 1 };
	uint64_t v[DPDK_NCOUNTERS], sum = 0;

	memset(v, 0xff, sizeof(v));
	dpdk_counters_collect(v, &tcp, &net, &port, &own, &rx, &tx);
	cr_expect_eq(v[index_of("tcp_retransmits")], 7);
	cr_expect_eq(v[index_of("tcp_syn_cookies_late")], 3);
	cr_expect_eq(v[index_of("net_tx_full")], 9);
	cr_expect_eq(v[index_of("net_arp_heard_confirms")], 4);
	cr_expect_eq(v[index_of("port_tx_kicks")], 11);
	cr_expect_eq(v[index_of("port_rx_frames")], 2);
	cr_expect_eq(v[index_of("idle_sleeps")], 13);
	cr_expect_eq(v[index_of("rx_intr_repolls")], 6);
	cr_expect_eq(v[index_of("fault_rx_dropped")], 5);
	cr_expect_eq(v[index_of("fault_tx_dropped")], 0);
	cr_expect_eq(v[index_of("fault_tx_corrupted")], 8);
	cr_expect_eq(v[index_of("fault_tx_dup_failed")], 1);
	/* Every slot written, nothing else set. */
	for (size_t i = 0; i < DPDK_NCOUNTERS; i++)
		sum += v[i];
	cr_expect_eq(sum, 7 + 3 + 9 + 4 + 11 + 2 + 13 + 6 + 5 + 8 + 1);
}

Test(dpdk_counters, no_fault_injector_reads_as_zero)
{
	struct tcp_stats tcp = { 0 };
	struct net_stats net = { 0 };
	struct port_stats port = { 0 };
	struct dpdk_worker_counters own = { 0 };
	uint64_t v[DPDK_NCOUNTERS];

	memset(v, 0xff, sizeof(v));
	dpdk_counters_collect(v, &tcp, &net, &port, &own, NULL, NULL);
	for (size_t i = 0; i < DPDK_NCOUNTERS; i++)
		cr_expect_eq(v[i], 0, "%s", dpdk_counters[i].name);
}
