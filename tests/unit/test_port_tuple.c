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
