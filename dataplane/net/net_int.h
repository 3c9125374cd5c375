/* net_int.h - private to dataplane/net/{net_if,eth,arp,ipv4,icmp,net_tcp}.c: the
 * interface's state and the calls between its layers. One net_if per worker, touched
 * by that worker's thread only.
 *
 * Receive: each layer takes the mbuf with its data at that layer's header and either
 * passes it up (after rte_pktmbuf_adj past its own header) or frees it and counts
 * why. Transmit: each layer prepends its header in the mbuf's headroom and passes it
 * down; eth_output() queues the frame for net_tx_flush(). Whoever holds an mbuf frees
 * it when it cannot pass it on. */
#ifndef PETREL_NET_INT_H
#define PETREL_NET_INT_H

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <stdbool.h>
#include <stdint.h>

#include "petrel/net.h"

/* RFC 1122 2.3.2.1: a request is retransmitted at most once per second; after
 * ARP_TRIES unanswered requests the waiting frame is dropped. */
#define ARP_RETRY_US 1000000u
#define ARP_TRIES 3
/* Slots searched from an address's hash slot: lookups and inserts stay O(1). */
#define ARP_PROBE 8

enum arp_state {
	ARP_FREE,
	ARP_INCOMPLETE,   /* request sent, no answer yet; <waiting> may hold a frame */
	ARP_REACHABLE,    /* <mac> confirmed at <confirmed_us> */
	ARP_REFRESH,      /* aged: <mac> still used while requests ask again */
};

struct arp_entry {
	uint32_t ip;                  /* host order */
	uint8_t state;                /* enum arp_state */
	uint8_t tries;                /* requests sent in this resolution */
	struct rte_ether_addr mac;
	uint64_t confirmed_us;        /* last reply or request from it to us */
	uint64_t due_us;              /* INCOMPLETE, REFRESH: next request or give-up */
	struct rte_mbuf *waiting;     /* INCOMPLETE: the one frame held (IPv4 header on) */
};

struct net_if {
	struct net_params p;
	struct rte_ether_addr mac;
	uint32_t mask;                /* host order, from prefix_len */
	struct tcp_stack *tcp;
	uint64_t now_us;              /* from the last net_rx / net_timers */
	uint16_t ip_id;
	uint16_t txq_len;
	/* ARP cache: p.arp_entries slots, open addressing within ARP_PROBE slots. */
	struct arp_entry *arp;
	uint32_t arp_pending;         /* INCOMPLETE + REFRESH entries */
	uint64_t arp_due_us;          /* earliest due_us of those (UINT64_MAX: none) */
	/* Once-per-episode logs: set when the limit is first hit, cleared when it clears. */
	bool log_tx_full, log_no_mbuf, log_arp_full;
	struct net_stats stats;
	struct rte_mbuf *txq[NET_TX_QUEUE];
};

/* Frees <m> and counts why. */
static inline void net_drop(struct rte_mbuf *m, uint64_t *counter)
{
	(*counter)++;
	rte_pktmbuf_free(m);
}

/* net_if.c */
/* An mbuf for a frame we build, or NULL (counted no_mbuf, logged once per episode). */
struct rte_mbuf *net_alloc(struct net_if *ni);
/* Queues a finished frame for net_tx_flush (flushing first when the queue is full). */
void net_txq_push(struct net_if *ni, struct rte_mbuf *m);

/* eth.c: <m> starts at the ethernet header. */
void eth_input(struct net_if *ni, struct rte_mbuf *m);
/* Prepends the ethernet header (to <dst>, ours as source) and queues the frame.
 * Takes <m>. Returns 0 or -ENOBUFS (no headroom, counted). */
int eth_output(struct net_if *ni, struct rte_mbuf *m, const struct rte_ether_addr *dst,
	       uint16_t ether_type);

/* arp.c */
int arp_init(struct net_if *ni);
void arp_fini(struct net_if *ni);
/* <m> starts at the ARP header. */
void arp_input(struct net_if *ni, struct rte_mbuf *m);
/* Sends <m> (data at the IPv4 header) to the neighbour <next_hop> (host order):
 * now if resolved, else it waits for the reply. Takes <m>. Returns 0 or -errno. */
int arp_output(struct net_if *ni, struct rte_mbuf *m, uint32_t next_hop);
void arp_timers(struct net_if *ni);
/* A frame came from neighbour <ip> (host order) with source <mac>: an entry being
 * re-checked whose MAC that is counts as answered. */
void arp_heard(struct net_if *ni, uint32_t ip, const struct rte_ether_addr *mac);

/* ipv4.c: <m> starts at the IPv4 header; <l2_bcast>: it came to the ethernet
 * broadcast address; <l2_src>: the frame's source address. */
void ipv4_input(struct net_if *ni, struct rte_mbuf *m, bool l2_bcast,
		const struct rte_ether_addr *l2_src);
/* Whether the interface may use the checksum the port reports in <flags> (masked with
 * RTE_MBUF_F_RX_IP_CKSUM_MASK or RTE_MBUF_F_RX_L4_CKSUM_MASK): 1 good, 0 bad, -1 not
 * known (verify in software). */
int net_rx_cksum_flag(const struct net_if *ni, uint64_t flags, uint64_t good,
		      uint64_t bad);

/* icmp.c, net_tcp.c: <m> starts at the IPv4 header <ip> of <ihl> bytes, trimmed to
 * its total length. */
void icmp_input(struct net_if *ni, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		uint16_t ihl);
void net_tcp_input(struct net_if *ni, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		   uint16_t ihl);
/* Fills the TCP checksum of <m> (data at the finished IPv4 header <ip>, TCP header
 * in the first segment), or asks the port to. */
void net_tcp_cksum(struct net_if *ni, struct rte_mbuf *m, struct rte_ipv4_hdr *ip);

/* The ones' complement sum, reduced to 16 bits, of <len> bytes of chain <m> from
 * byte <off>, right across segments of odd length (ipv4.c). */
uint16_t net_cksum_chain(const struct rte_mbuf *m, uint32_t off, uint32_t len);

#endif
