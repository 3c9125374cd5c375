/* net.h - one worker's network interface: the layers below TCP (ethernet, ARP, IPv4,
 * ICMP echo; dataplane/net/) between one queue pair of a DPDK port and the worker's
 * tcp_stack. Owned by one worker: no locks. It knows nothing of MQTT.
 *
 * Receive: net_rx() takes a burst straight from rte_eth_rx_burst (or from the fault
 * injector, or a test), validates each layer, answers ARP and ICMP echo itself and
 * hands TCP segments to tcp_input(). Transmit: net_ipv4_output() prepends the IPv4
 * and ethernet headers (resolving the next hop by ARP), fills or offloads the
 * checksums and queues the frame; net_tx_flush() hands the queue to tx_burst in one
 * call. Every drop is counted in net_stats. */
#ifndef PETREL_NET_H
#define PETREL_NET_H

#include <stdbool.h>
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct tcp_stack;
struct net_if;

/* Port offloads the interface may use (from rte_eth_dev_info; 0 = all in software). */
#define NET_OFFLOAD_TX_IPV4_CKSUM (1u << 0)
#define NET_OFFLOAD_TX_TCP_CKSUM  (1u << 1)
#define NET_OFFLOAD_RX_CKSUM      (1u << 2)   /* trust RTE_MBUF_F_RX_*_CKSUM_GOOD/BAD */

/* Frames queued per interface before net_tx_flush() must run. */
#define NET_TX_QUEUE 64

struct net_params {
	uint32_t ip;               /* our address, host byte order */
	uint8_t prefix_len;        /* on-link prefix */
	uint32_t gateway;          /* 0: none, off-link destinations are unreachable */
	uint8_t mac[6];
	uint16_t mtu;              /* IP MTU, 1500 for ethernet */
	uint32_t offloads;         /* NET_OFFLOAD_* */
	struct rte_mempool *pool;  /* for ARP, ICMP replies */
	/* Transmits a burst; returns how many the port took. net_tx_flush frees and
	 * counts the rest (tx_full). */
	uint16_t (*tx_burst)(void *arg, struct rte_mbuf **pkts, uint16_t n);
	void *tx_arg;
	uint32_t arp_entries;      /* cache size (default 256, 1..65536); when full the
	                              oldest resolved entry is evicted (arp_cache_full) */
	uint32_t arp_timeout_us;   /* a resolved entry is re-checked after this (default
	                              60 s, at least 1 s): it stays in use while a
	                              request goes out */
	unsigned worker_id;        /* for logs */
};

/* Fills <p> with the defaults; the caller sets ip, prefix_len, mac, pool, tx_burst. */
void net_params_default(struct net_params *p);

/* Returns the interface, or NULL with errno set: EINVAL (prefix_len > 32, gateway
 * off-link, no pool or tx_burst, arp_entries, arp_timeout_us or mtu out of range),
 * ENOMEM. */
struct net_if *net_if_create(const struct net_params *p, uint64_t now_us);
void net_if_destroy(struct net_if *ni);
/* Where TCP segments go (NULL: answered with nothing, counted as no_tcp). */
void net_if_set_tcp(struct net_if *ni, struct tcp_stack *ts);

/* A burst of received frames; takes them all. <now_us> is the interface's clock
 * until the next net_rx or net_timers (ARP ages and retries). Replies (ARP, ICMP)
 * are queued: they leave at net_tx_flush(). */
void net_rx(struct net_if *ni, struct rte_mbuf **pkts, uint16_t n, uint64_t now_us);
/* Sends <m>, whose data starts at the L4 header, from our address to <dst_ip> (host
 * order) as IP protocol <proto>; for IPPROTO_TCP it fills the TCP checksum (or asks
 * the port to). Takes <m>. While the next hop is unresolved one frame per neighbour
 * waits (a newer one replaces it, counted) and an ARP request goes out. Needs
 * 34 bytes of headroom (IPv4 + ethernet). Returns 0 (sent, queued or waiting) or
 * -errno, counted either way: -EHOSTUNREACH (off-link without gateway), -EMSGSIZE
 * (longer than the MTU), -ENOBUFS (no headroom). */
int net_ipv4_output(struct net_if *ni, struct rte_mbuf *m, uint32_t dst_ip, uint8_t proto);
/* tcp_params.output for a tcp_stack on <arg> = the net_if. */
int net_tcp_output(void *arg, struct rte_mbuf *m, uint32_t dst_ip);
/* Hands the queued frames to tx_burst (also done when the queue of NET_TX_QUEUE
 * frames fills up); frees and counts (tx_full) what it refuses. */
void net_tx_flush(struct net_if *ni);
/* ARP retries and expiry. */
void net_timers(struct net_if *ni, uint64_t now_us);
/* Announces our address (gratuitous ARP, RFC 5227 announcement): at start. */
void net_announce(struct net_if *ni);

/* Every received frame is counted in rx_frames and in exactly one outcome: a drop
 * counter (rx_bad_eth ... no_tcp) or a delivery (rx_arp: a valid ARP packet, handled;
 * rx_icmp_echo: answered; rx_tcp: handed to tcp_input). Transmit side: tx_frames
 * (taken by tx_burst), tx_full (refused by it), tx_arp (ARP frames we built),
 * tx_no_route, tx_no_headroom, tx_too_big, no_mbuf, arp_unresolved_drops (a frame
 * that waited for ARP in vain, or was replaced by a newer one), arp_cache_full (an
 * entry evicted to make room), arp_heard_confirms (an entry being re-checked confirmed
 * by a datagram from its MAC rather than by an ARP reply). */
#define NET_STATS_FIELDS(X)                                                            \
	X(rx_frames) X(tx_frames) X(rx_bad_eth) X(rx_not_ours) X(rx_vlan)              \
	X(rx_other_ethertype) X(rx_arp) X(tx_arp) X(arp_bad) X(arp_unresolved_drops)   \
	X(arp_cache_full) X(rx_ipv4_bad_header) X(rx_ipv4_bad_cksum) X(rx_ipv4_bad_len) \
	X(rx_ipv4_fragments) X(rx_ipv4_other_proto) X(rx_icmp_echo) X(rx_icmp_bad)     \
	X(rx_icmp_other) X(rx_tcp) X(rx_tcp_bad_cksum) X(rx_tcp_short) X(no_tcp)       \
	X(tx_full) X(tx_no_route) X(tx_no_headroom) X(tx_too_big) X(no_mbuf)           \
	X(arp_heard_confirms)

struct net_stats {
#define X(name) uint64_t name;
	NET_STATS_FIELDS(X)
#undef X
};

const struct net_stats *net_if_stats(const struct net_if *ni);

#endif
