/* arp.c - ARP for IPv4 over ethernet (RFC 826), with the host rules of RFC 1122
 * 2.3.2: answer requests for our address, learn the sender of requests and replies
 * addressed to us, resolve next hops on demand (one waiting frame per neighbour,
 * a request per second, ARP_TRIES of them), re-check entries older than
 * arp_timeout_us while still using them, announce our address at start (RFC 5227).
 *
 * The cache is p.arp_entries slots owned by the interface; an address lives within
 * ARP_PROBE slots of its hash slot. When those are all taken the least recently
 * confirmed entry is evicted (counted arp_cache_full, logged once per episode). */
#include "net/net_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>

#include "petrel/log.h"

int arp_init(struct net_if *ni)
{
	ni->arp = calloc(ni->p.arp_entries, sizeof(*ni->arp));
	if (ni->arp == NULL)
		return -ENOMEM;
	ni->arp_due_us = UINT64_MAX;
	return 0;
}

void arp_fini(struct net_if *ni)
{
	for (uint32_t i = 0; i < ni->p.arp_entries; i++)
		rte_pktmbuf_free(ni->arp[i].waiting);
	free(ni->arp);
}

static uint32_t arp_slot(const struct net_if *ni, uint32_t ip)
{
	return (uint32_t)(ip * 0x9e3779b1u) % ni->p.arp_entries;
}

static unsigned arp_probe_len(const struct net_if *ni)
{
	return ni->p.arp_entries < ARP_PROBE ? ni->p.arp_entries : ARP_PROBE;
}

static struct arp_entry *arp_lookup(struct net_if *ni, uint32_t ip)
{
	uint32_t s = arp_slot(ni, ip);

	for (unsigned i = 0; i < arp_probe_len(ni); i++) {
		struct arp_entry *e = &ni->arp[(s + i) % ni->p.arp_entries];

		if (e->state != ARP_FREE && e->ip == ip)
			return e;
	}
	return NULL;
}

static bool arp_is_pending(uint8_t state)
{
	return state == ARP_INCOMPLETE || state == ARP_REFRESH;
}

/* Moves <e> to <state>, keeping arp_pending and arp_due_us right. */
static void arp_set_state(struct net_if *ni, struct arp_entry *e, enum arp_state state,
			  uint64_t due_us)
{
	ni->arp_pending += (uint32_t)arp_is_pending(state) - (uint32_t)arp_is_pending(e->state);
	e->state = (uint8_t)state;
	e->due_us = due_us;
	if (arp_is_pending(state) && due_us < ni->arp_due_us)
		ni->arp_due_us = due_us;
}

/* Drops the waiting frame of <e>, if any: it waited in vain or a newer one came. */
static void arp_drop_waiting(struct net_if *ni, struct arp_entry *e)
{
	if (e->waiting != NULL)
		net_drop(e->waiting, &ni->stats.arp_unresolved_drops);
	e->waiting = NULL;
}

static void arp_free_entry(struct net_if *ni, struct arp_entry *e)
{
	arp_drop_waiting(ni, e);
	arp_set_state(ni, e, ARP_FREE, 0);
}

/* Which of two taken slots to evict first: a resolved entry before one still
 * resolving (it may hold a frame), then the least recently confirmed. */
static bool arp_evict_before(const struct arp_entry *e, const struct arp_entry *v)
{
	if ((e->state == ARP_INCOMPLETE) != (v->state == ARP_INCOMPLETE))
		return v->state == ARP_INCOMPLETE;
	return e->confirmed_us < v->confirmed_us;
}

/* A slot for <ip> (not in the cache): a free one, else an evicted one. */
static struct arp_entry *arp_insert(struct net_if *ni, uint32_t ip)
{
	uint32_t s = arp_slot(ni, ip);
	struct arp_entry *victim = NULL;

	for (unsigned i = 0; i < arp_probe_len(ni); i++) {
		struct arp_entry *e = &ni->arp[(s + i) % ni->p.arp_entries];

		if (e->state == ARP_FREE) {
			ni->log_arp_full = false;
			victim = e;
			goto found;
		}
		if (victim == NULL || arp_evict_before(e, victim))
			victim = e;
	}
	ni->stats.arp_cache_full++;
	if (!ni->log_arp_full)
		log_warn("w%u: net: ARP cache full (arp_entries %u): evicting entries "
			 "(arp_cache_full)", ni->p.worker_id, ni->p.arp_entries);
	ni->log_arp_full = true;
	arp_free_entry(ni, victim);
found:
	memset(victim, 0, sizeof(*victim));
	victim->ip = ip;
	victim->confirmed_us = ni->now_us;
	return victim;
}

/* Builds an ARP packet in <m> (data at the ARP header, 28 bytes) from us. */
static void arp_fill(struct net_if *ni, struct rte_arp_hdr *ah, uint16_t op,
		     const struct rte_ether_addr *tha, uint32_t tip)
{
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	rte_ether_addr_copy(&ni->mac, &ah->arp_data.arp_sha);
	ah->arp_data.arp_sip = rte_cpu_to_be_32(ni->p.ip);
	rte_ether_addr_copy(tha, &ah->arp_data.arp_tha);
	ah->arp_data.arp_tip = rte_cpu_to_be_32(tip);
}

/* Broadcasts a request for <tip> (RFC 826; with tip = ours, the RFC 5227 2.3
 * announcement). Without an mbuf nothing goes out: the next retry asks again. */
static void arp_request(struct net_if *ni, uint32_t tip)
{
	static const struct rte_ether_addr zero, bcast = {
		.addr_bytes = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	struct rte_mbuf *m = net_alloc(ni);
	struct rte_arp_hdr *ah;

	if (m == NULL)
		return;
	ah = (struct rte_arp_hdr *)rte_pktmbuf_append(m, sizeof(*ah));
	if (ah == NULL) {                  /* pool of mbufs smaller than an ARP packet */
		net_drop(m, &ni->stats.no_mbuf);
		return;
	}
	arp_fill(ni, ah, RTE_ARP_OP_REQUEST, &zero, tip);
	if (eth_output(ni, m, &bcast, RTE_ETHER_TYPE_ARP) == 0)
		ni->stats.tx_arp++;
}

void net_announce(struct net_if *ni)
{
	arp_request(ni, ni->p.ip);
}

/* <e> answered: send what waited for it. */
static void arp_confirm(struct net_if *ni, struct arp_entry *e,
			const struct rte_ether_addr *mac)
{
	struct rte_mbuf *m = e->waiting;

	rte_ether_addr_copy(mac, &e->mac);
	e->confirmed_us = ni->now_us;
	e->tries = 0;
	e->waiting = NULL;
	arp_set_state(ni, e, ARP_REACHABLE, 0);
	if (m != NULL)
		eth_output(ni, m, &e->mac, RTE_ETHER_TYPE_IPV4);
}

void arp_heard(struct net_if *ni, uint32_t ip, const struct rte_ether_addr *mac)
{
	struct arp_entry *e = arp_lookup(ni, ip);

	if (e != NULL && e->state == ARP_REFRESH && rte_is_same_ether_addr(&e->mac, mac)) {
		ni->stats.arp_heard_confirms++;
		arp_confirm(ni, e, mac);
	}
}

/* The packet is valid for ethernet/IPv4 ARP (RFC 826 "Packet Reception": hardware
 * and protocol types and lengths must be ours). */
static bool arp_valid(const struct rte_arp_hdr *ah)
{
	uint16_t op = rte_be_to_cpu_16(ah->arp_opcode);

	return ah->arp_hardware == rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) &&
	       ah->arp_protocol == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
	       ah->arp_hlen == RTE_ETHER_ADDR_LEN && ah->arp_plen == 4 &&
	       (op == RTE_ARP_OP_REQUEST || op == RTE_ARP_OP_REPLY) &&
	       !rte_is_multicast_ether_addr(&ah->arp_data.arp_sha);
}

void arp_input(struct net_if *ni, struct rte_mbuf *m)
{
	struct rte_arp_hdr *ah;
	struct rte_ether_addr sha;
	uint32_t sip, tip;
	struct arp_entry *e;

	if (unlikely(m->data_len < sizeof(*ah))) {
		net_drop(m, &ni->stats.arp_bad);
		return;
	}
	ah = rte_pktmbuf_mtod(m, struct rte_arp_hdr *);
	sip = rte_be_to_cpu_32(ah->arp_data.arp_sip);
	tip = rte_be_to_cpu_32(ah->arp_data.arp_tip);
	/* Someone else claiming our address is a conflict, not a neighbour. */
	if (unlikely(!arp_valid(ah) || sip == ni->p.ip)) {
		net_drop(m, &ni->stats.arp_bad);
		return;
	}
	ni->stats.rx_arp++;
	if (tip != ni->p.ip) {
		rte_pktmbuf_free(m);
		return;
	}
	rte_ether_addr_copy(&ah->arp_data.arp_sha, &sha);
	/* Learn the sender, as RFC 826 does when we are the target; sender 0.0.0.0 is an
	 * RFC 5227 probe, which has no address to learn. */
	if (sip != 0) {
		e = arp_lookup(ni, sip);
		if (e == NULL)
			e = arp_insert(ni, sip);
		arp_confirm(ni, e, &sha);
	}
	if (ah->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
		rte_pktmbuf_free(m);
		return;
	}
	/* The reply reuses the request's mbuf (RFC 826: swap, fill in ours, op reply);
	 * ethernet padding goes. */
	rte_pktmbuf_trim(m, (uint16_t)(m->pkt_len - sizeof(*ah)));
	m->ol_flags = 0;
	arp_fill(ni, ah, RTE_ARP_OP_REPLY, &sha, sip);
	if (eth_output(ni, m, &sha, RTE_ETHER_TYPE_ARP) == 0)
		ni->stats.tx_arp++;
}

int arp_output(struct net_if *ni, struct rte_mbuf *m, uint32_t next_hop)
{
	struct arp_entry *e = arp_lookup(ni, next_hop);

	if (e != NULL && e->state != ARP_INCOMPLETE) {
		/* RFC 1122 2.3.2.1: an aged entry is validated again, but traffic keeps
		 * flowing to the known address while the request is out. */
		if (e->state == ARP_REACHABLE &&
		    ni->now_us - e->confirmed_us >= ni->p.arp_timeout_us) {
			e->tries = 1;
			arp_set_state(ni, e, ARP_REFRESH, ni->now_us + ARP_RETRY_US);
			arp_request(ni, next_hop);
		}
		return eth_output(ni, m, &e->mac, RTE_ETHER_TYPE_IPV4);
	}
	if (e == NULL) {
		e = arp_insert(ni, next_hop);
		e->tries = 1;
		arp_set_state(ni, e, ARP_INCOMPLETE, ni->now_us + ARP_RETRY_US);
		arp_request(ni, next_hop);
	}
	/* RFC 1122 2.3.2.2: keep at least one frame per unresolved address; the latest
	 * is the one most worth sending. */
	arp_drop_waiting(ni, e);
	e->waiting = m;
	return 0;
}

void arp_timers(struct net_if *ni)
{
	uint64_t now = ni->now_us;

	if (ni->arp_pending == 0 || now < ni->arp_due_us)
		return;
	ni->arp_due_us = UINT64_MAX;
	for (uint32_t i = 0; i < ni->p.arp_entries; i++) {
		struct arp_entry *e = &ni->arp[i];

		if (!arp_is_pending(e->state))
			continue;
		if (e->due_us > now) {
			if (e->due_us < ni->arp_due_us)
				ni->arp_due_us = e->due_us;
			continue;
		}
		if (e->tries >= ARP_TRIES) {
			/* No answer: the waiting frame goes; a refreshed entry is forgotten
			 * so the next frame resolves afresh. */
			arp_free_entry(ni, e);
			continue;
		}
		e->tries++;
		arp_set_state(ni, e, (enum arp_state)e->state, now + ARP_RETRY_US);
		arp_request(ni, e->ip);
	}
}
