/* test_port_tuple.c - port_tuple_worker (dataplane/port.c) against the real steering:
 * a net_ring port (TX queue i loops back to RX queue i, no RSS) opened for 2 workers
 * runs single-queue, so worker 0's port_rx hashes each frame to its owner. A frame
 * sent with a given 4-tuple must arrive at the worker port_tuple_worker named. Runs
 * the EAL in the test process (root, --no-huge). */
#include <criterion/criterion.h>
#include <string.h>

#include <rte_mbuf.h>

#include "petrel/config.h"
#include "petrel/port.h"

#define TUPLES 64

static struct port *open_ring_port(unsigned nworkers)
{
	static struct config cfg;
	char err[512] = "";
	struct port *p;

	config_defaults(&cfg);
	snprintf(cfg.dpdk_eal_args, sizeof(cfg.dpdk_eal_args),
		 "--no-huge -m 128 --no-pci --no-telemetry --vdev=net_ring0");
	cfg.dpdk_mbufs = 1024;
	p = port_open(&cfg, nworkers, err, sizeof(err));
	cr_assert_not_null(p, "port_open: %s", err);
	return p;
}

/* An ethernet + IPv4 + TCP header frame from <src>:<sport> to <dst>:<dport>. */
static struct rte_mbuf *tcp_frame(struct port *p, uint32_t src, uint16_t sport,
				  uint32_t dst, uint16_t dport)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(port_pool(p, 0));
	uint8_t *f;

	cr_assert_not_null(m);
	f = (uint8_t *)rte_pktmbuf_append(m, 14 + 20 + 20);
	cr_assert_not_null(f);
	memset(f, 0, 54);
	f[12] = 0x08;
	f[14] = 0x45;
	f[14 + 3] = 40;
	f[14 + 8] = 64;
	f[14 + 9] = 6;
	for (int i = 0; i < 4; i++) {
		f[14 + 12 + i] = (uint8_t)(src >> (24 - 8 * i));
		f[14 + 16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[36] = (uint8_t)(dport >> 8);
	f[37] = (uint8_t)dport;
	return m;
}

/* Which worker's port_rx returns the frame that was just sent. */
static unsigned arrival(struct port *p, unsigned nworkers)
{
	struct rte_mbuf *pkts[4];
	unsigned found = nworkers;

	/* Worker 0 first: it reads the queue and passes on what is not its own. */
	for (unsigned w = 0; w < nworkers; w++) {
		uint16_t n = port_rx(p, w, pkts, 4);

		cr_assert_leq(n, 1, "one frame sent, %u received by worker %u", n, w);
		if (n == 1) {
			cr_assert_eq(found, nworkers, "the frame arrived twice");
			found = w;
			rte_pktmbuf_free(pkts[0]);
		}
	}
	cr_assert_lt(found, nworkers, "the frame was lost");
	return found;
}

Test(port_tuple, names_the_worker_steering_delivers_to, .timeout = 60)
{
	const unsigned nworkers = 2;
	struct port *p = open_ring_port(nworkers);
	unsigned per_worker[2] = { 0, 0 };

	cr_assert(port_get_info(p)->steering, "net_ring with 2 workers should steer");
	for (unsigned i = 0; i < TUPLES; i++) {
		uint32_t src = 0xc6120001u, dst = 0xc6120002u + i % 3;
		uint16_t sport = 1883, dport = (uint16_t)(10000 + 7 * i);
		unsigned want = port_tuple_worker(p, src, sport, dst, dport);
		struct rte_mbuf *m = tcp_frame(p, src, sport, dst, dport);

		cr_assert_lt(want, nworkers);
		cr_assert_eq(port_tx(p, 0, &m, 1), 1);
		cr_assert_eq(arrival(p, nworkers), want, "tuple %u: port_tuple_worker said %u",
			     i, want);
		per_worker[want]++;
	}
	/* Both workers get flows: a constant answer would pass the loop above only if
	 * steering were constant too. */
	cr_assert_gt(per_worker[0], 0);
	cr_assert_gt(per_worker[1], 0);
	port_close(p);
}

/* The multi-queue path's hash: Microsoft's RSS verification suite (the default key,
 * "Verifying the RSS Hash Calculation", IPv4 with TCP ports), which NICs reproduce. A
 * swapped byte order or source/destination would give other values. */
Test(port_tuple, rss_hash_matches_the_verification_suite)
{
	static const uint8_t key[40] = {
		0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
		0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
		0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
		0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
	};

	/* 66.9.149.187:2794 -> 161.142.100.80:1766 */
	cr_expect_eq(port_rss_hash(key, 0x420995bbu, 2794, 0xa18e6450u, 1766), 0x51ccc178u);
	/* 199.92.111.2:14230 -> 65.69.140.83:4739 */
	cr_expect_eq(port_rss_hash(key, 0xc75c6f02u, 14230, 0x41458c53u, 4739), 0xc626b0eau);
	/* 24.19.198.95:12898 -> 12.22.207.184:38024 */
	cr_expect_eq(port_rss_hash(key, 0x1813c65fu, 12898, 0x0c16cfb8u, 38024), 0x5c2b394au);
}
