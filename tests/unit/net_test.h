/* net_test.h - shared by the test_net_*.c suites: a real net_if on a pool of real
 * mbufs (eal_test.h) whose tx_burst captures the frames it is given, builders of
 * frames as a peer would send them, and the segments handed to tcp_input.
 *
 * tcp_input: the suites link with -Wl,--wrap=tcp_input (tests/unit/meson.build), so
 * the call net_tcp.c makes lands in __wrap_tcp_input here, which keeps the segment
 * for the test to inspect. That is the seam's test hook: the real stack (branch tcp)
 * needs nothing of it, and these suites never need the real stack. */
#ifndef PETREL_NET_TEST_H
#define PETREL_NET_TEST_H

#ifndef ALLOW_EXPERIMENTAL_API
#define ALLOW_EXPERIMENTAL_API
#endif

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/net.h"

/* 198.18.0.0/15 (RFC 2544), as the e2e tests use. Host order. */
#define NT_IP(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))
#define NT_OUR_IP  NT_IP(198, 18, 0, 1)
#define NT_PEER_IP NT_IP(198, 18, 0, 2)
#define NT_GW_IP   NT_IP(198, 18, 0, 254)
#define NT_FAR_IP  NT_IP(198, 19, 7, 7)     /* off-link for /24 */
#define NT_SEC 1000000ull

extern const struct rte_ether_addr nt_our_mac, nt_peer_mac, nt_gw_mac, nt_bcast_mac;

extern struct rte_mempool *nt_pool;
extern struct net_if *nt_ni;
extern unsigned nt_pool_free;          /* avail count before the net_if existed */

/* Frames tx_burst took (in order) and how many more it will take. */
#define NT_CAP_MAX 256
struct nt_capture {
	struct rte_mbuf *m[NT_CAP_MAX];
	unsigned n;
	unsigned accept;                 /* default: all */
};
extern struct nt_capture nt_cap;

/* Segments handed to tcp_input. */
struct nt_seg {
	struct rte_mbuf *m;
	uint32_t src, dst;
	uint64_t now_us;
};
extern struct nt_seg nt_segs[64];
extern unsigned nt_nsegs;

/* Criterion .init / .fini: an interface with default params, our IP/24, the gateway,
 * and <offloads>. nt_setup_params lets a test change params first. */
void nt_setup(void);
void nt_setup_params(void (*edit)(struct net_params *p));
void nt_teardown(void);
/* The interface and every captured frame and segment freed: the pool is whole. */
void nt_assert_no_leak(void);

/* Feeds one frame of <len> bytes (copied into a fresh mbuf) at <now_us>. */
void nt_rx(const void *frame, size_t len, uint64_t now_us);
struct rte_mbuf *nt_mbuf(const void *frame, size_t len);
/* Flushes the interface and returns how many frames were captured in total. */
unsigned nt_flush(void);
/* The data of captured frame <i> (asserts it is there and in one segment). */
const uint8_t *nt_frame(unsigned i, size_t *len);

/* The neighbour <ip> tells us its <mac> (an ARP reply to us) at <now_us>. */
void nt_learn(uint32_t ip, const struct rte_ether_addr *mac, uint64_t now_us);

/* Builders: write a whole frame into <buf> and return its length. */
size_t nt_build_arp(uint8_t *buf, const struct rte_ether_addr *eth_dst, uint16_t op,
		    const struct rte_ether_addr *sha, uint32_t sip,
		    const struct rte_ether_addr *tha, uint32_t tip);
/* An IPv4 datagram from <src> to <dst> carrying <payload>, from the peer's MAC to
 * ours, header checksum valid. */
size_t nt_build_ipv4(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto,
		     const void *payload, size_t plen);
/* Echo request id/seq with <dlen> bytes of data 0..dlen-1, checksums valid. */
size_t nt_build_echo(uint8_t *buf, uint16_t id, uint16_t seq, size_t dlen);
/* A TCP segment peer:40000 -> us:1883 with <flags>, data offset <doff> words (extra
 * words are NOP options) and <plen> payload bytes; checksums valid. */
size_t nt_build_tcp(uint8_t *buf, uint8_t flags, unsigned doff, size_t plen);

/* Views into a frame built above or captured. */
struct rte_ether_hdr *nt_eth(uint8_t *frame);
struct rte_ipv4_hdr *nt_ipv4(uint8_t *frame);
void *nt_l4(uint8_t *frame);
/* Recomputes the IPv4 header checksum after a test changed the header. */
void nt_ipv4_fix(uint8_t *frame);
/* Whether the IPv4 header / the TCP checksum of <frame> verify in software. */
int nt_ipv4_cksum_ok(const uint8_t *frame);
int nt_tcp_cksum_ok(const uint8_t *frame);

#endif
