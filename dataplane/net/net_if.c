/* net_if.c - one worker's network interface (net.h): creation, the receive loop, the
 * transmit queue and its flush, the clock the ARP timers run on. No locks (one owner),
 * no allocation after creation except mbufs. */
#include "net/net_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/log.h"

void net_params_default(struct net_params *p)
{
	memset(p, 0, sizeof(*p));
	p->prefix_len = 24;
	p->mtu = RTE_ETHER_MTU;
	p->arp_entries = 256;
	p->arp_timeout_us = 60u * 1000000u;
}

static int net_params_check(const struct net_params *p)
{
	uint32_t mask;

	if (p->pool == NULL || p->tx_burst == NULL || p->ip == 0 || p->prefix_len > 32)
		return -EINVAL;
	/* 576: the least every host must accept (RFC 791 3.1, RFC 1122 3.3.3). */
	if (p->mtu < 576 || p->mtu > RTE_ETHER_MAX_JUMBO_FRAME_LEN - RTE_ETHER_HDR_LEN)
		return -EINVAL;
	if (p->arp_entries == 0 || p->arp_entries > 65536)
		return -EINVAL;
	/* Shorter than the retry interval, every use of an entry would ask again. */
	if (p->arp_timeout_us < ARP_RETRY_US)
		return -EINVAL;
	mask = p->prefix_len == 0 ? 0 : UINT32_MAX << (32 - p->prefix_len);
	/* The gateway is the next hop for everything off-link: it must be on-link. */
	if (p->gateway != 0 && ((p->gateway ^ p->ip) & mask) != 0)
		return -EINVAL;
	return 0;
}

struct net_if *net_if_create(const struct net_params *p, uint64_t now_us)
{
	struct net_if *ni;
	int rc;

	rc = net_params_check(p);
	if (rc < 0)
		goto err;
	ni = calloc(1, sizeof(*ni));
	if (ni == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	ni->p = *p;
	memcpy(ni->mac.addr_bytes, p->mac, RTE_ETHER_ADDR_LEN);
	ni->mask = p->prefix_len == 0 ? 0 : UINT32_MAX << (32 - p->prefix_len);
	ni->now_us = now_us;
	rc = arp_init(ni);
	if (rc < 0)
		goto err_free;
	return ni;

err_free:
	free(ni);
err:
	errno = -rc;
	return NULL;
}

void net_if_destroy(struct net_if *ni)
{
	if (ni == NULL)
		return;
	/* Frames still queued were never handed to the port: they go back to the pool. */
	for (uint16_t i = 0; i < ni->txq_len; i++)
		rte_pktmbuf_free(ni->txq[i]);
	arp_fini(ni);
	free(ni);
}

void net_if_set_tcp(struct net_if *ni, struct tcp_stack *ts)
{
	ni->tcp = ts;
}

const struct net_stats *net_if_stats(const struct net_if *ni)
{
	return &ni->stats;
}

void net_rx(struct net_if *ni, struct rte_mbuf **pkts, uint16_t n, uint64_t now_us)
{
	ni->now_us = now_us;
	ni->stats.rx_frames += n;
	for (uint16_t i = 0; i < n; i++)
		eth_input(ni, pkts[i]);
}

void net_timers(struct net_if *ni, uint64_t now_us)
{
	ni->now_us = now_us;
	arp_timers(ni);
}

struct rte_mbuf *net_alloc(struct net_if *ni)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(ni->p.pool);

	if (m == NULL) {
		ni->stats.no_mbuf++;
		if (!ni->log_no_mbuf)
			log_warn("w%u: net: mbuf pool empty: ARP and ICMP replies dropped "
				 "(no_mbuf) until it refills", ni->p.worker_id);
		ni->log_no_mbuf = true;
		return NULL;
	}
	ni->log_no_mbuf = false;
	return m;
}

void net_txq_push(struct net_if *ni, struct rte_mbuf *m)
{
	if (ni->txq_len == NET_TX_QUEUE)
		net_tx_flush(ni);
	ni->txq[ni->txq_len++] = m;
}

void net_tx_flush(struct net_if *ni)
{
	uint16_t n = ni->txq_len, sent;

	if (n == 0)
		return;
	sent = ni->p.tx_burst(ni->p.tx_arg, ni->txq, n);
	if (sent > n)
		sent = n;
	ni->txq_len = 0;
	ni->stats.tx_frames += sent;
	if (sent == n) {
		ni->log_tx_full = false;
		return;
	}
	/* The port's ring is full: TCP retransmits what it lost, ARP and ICMP are
	 * retried by their senders. Holding frames back would stall the worker. */
	for (uint16_t i = sent; i < n; i++)
		net_drop(ni->txq[i], &ni->stats.tx_full);
	if (!ni->log_tx_full)
		log_warn("w%u: net: transmit ring full, %u frames dropped (tx_full)",
			 ni->p.worker_id, (unsigned)(n - sent));
	ni->log_tx_full = true;
}
