/* net_test.c - see net_test.h. */
#include "net_test.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "eal_test.h"
#include "petrel/tcp.h"

const struct rte_ether_addr nt_our_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };
const struct rte_ether_addr nt_peer_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
const struct rte_ether_addr nt_gw_mac = { { 0x02, 0, 0, 0, 0, 0xfe } };
const struct rte_ether_addr nt_bcast_mac = { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };

struct rte_mempool *nt_pool;
struct net_if *nt_ni;
unsigned nt_pool_free;
struct nt_capture nt_cap;
struct nt_seg nt_segs[64];
unsigned nt_nsegs;

/* The stack's tcp_input, wrapped: keep the segment (see net_test.h). */
void __wrap_tcp_input(struct tcp_stack *ts, struct rte_mbuf *m, uint32_t src_ip,
		      uint32_t dst_ip, uint64_t now_us);
void __wrap_tcp_input(struct tcp_stack *ts, struct rte_mbuf *m, uint32_t src_ip,
		      uint32_t dst_ip, uint64_t now_us)
{
	cr_assert_lt(nt_nsegs, 64);
	nt_segs[nt_nsegs++] = (struct nt_seg){ m, src_ip, dst_ip, now_us };
}

static uint16_t nt_tx_burst(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t i;

	cr_assert_eq(arg, &nt_cap);
	for (i = 0; i < n && nt_cap.accept > 0; i++, nt_cap.accept--) {
		cr_assert_lt(nt_cap.n, NT_CAP_MAX);
		nt_cap.m[nt_cap.n++] = pkts[i];
	}
	return i;
}

void nt_setup_params(void (*edit)(struct net_params *p))
{
	struct net_params p;

	nt_pool = eal_test_init("net_test", 512);
	nt_pool_free = rte_mempool_avail_count(nt_pool);
	memset(&nt_cap, 0, sizeof(nt_cap));
	nt_cap.accept = NT_CAP_MAX;
	nt_nsegs = 0;
	net_params_default(&p);
	p.ip = NT_OUR_IP;
	p.prefix_len = 24;
	p.gateway = NT_GW_IP;
	memcpy(p.mac, nt_our_mac.addr_bytes, 6);
	p.pool = nt_pool;
	p.tx_burst = nt_tx_burst;
	p.tx_arg = &nt_cap;
	if (edit != NULL)
		edit(&p);
	nt_ni = net_if_create(&p, 0);
	cr_assert_not_null(nt_ni, "net_if_create: %s", strerror(errno));
}

void nt_setup(void)
{
	nt_setup_params(NULL);
}

static void nt_free_all(void)
{
	net_if_destroy(nt_ni);
	nt_ni = NULL;
	for (unsigned i = 0; i < nt_cap.n; i++)
		rte_pktmbuf_free(nt_cap.m[i]);
	nt_cap.n = 0;
	for (unsigned i = 0; i < nt_nsegs; i++)
		rte_pktmbuf_free(nt_segs[i].m);
	nt_nsegs = 0;
}

void nt_assert_no_leak(void)
{
	nt_free_all();
	cr_assert_eq(rte_mempool_avail_count(nt_pool), nt_pool_free,
		     "%u mbufs not back in the pool",
		     nt_pool_free - rte_mempool_avail_count(nt_pool));
}

void nt_teardown(void)
{
	nt_free_all();
	eal_test_fini();
}

struct rte_mbuf *nt_mbuf(const void *frame, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(nt_pool);
	void *d;

	cr_assert_not_null(m);
	d = rte_pktmbuf_append(m, (uint16_t)len);
	cr_assert_not_null(d);
	memcpy(d, frame, len);
	return m;
}

void nt_rx(const void *frame, size_t len, uint64_t now_us)
{
	struct rte_mbuf *m = nt_mbuf(frame, len);

	net_rx(nt_ni, &m, 1, now_us);
}

void nt_learn(uint32_t ip, const struct rte_ether_addr *mac, uint64_t now_us)
{
	static const struct rte_ether_addr zero;
	uint8_t f[64];

	nt_rx(f, nt_build_arp(f, &nt_our_mac, RTE_ARP_OP_REPLY, mac, ip, &zero, NT_OUR_IP),
	      now_us);
}

unsigned nt_flush(void)
{
	net_tx_flush(nt_ni);
	return nt_cap.n;
}

const uint8_t *nt_frame(unsigned i, size_t *len)
{
	cr_assert_lt(i, nt_cap.n, "frame %u of %u captured", i, nt_cap.n);
	cr_assert_eq(nt_cap.m[i]->nb_segs, 1);
	*len = nt_cap.m[i]->data_len;
	return rte_pktmbuf_mtod(nt_cap.m[i], const uint8_t *);
}

struct rte_ether_hdr *nt_eth(uint8_t *frame)
{
	return (struct rte_ether_hdr *)frame;
}

struct rte_ipv4_hdr *nt_ipv4(uint8_t *frame)
{
	return (struct rte_ipv4_hdr *)(frame + sizeof(struct rte_ether_hdr));
}

void *nt_l4(uint8_t *frame)
{
	return (uint8_t *)nt_ipv4(frame) + rte_ipv4_hdr_len(nt_ipv4(frame));
}

static void nt_fill_eth(uint8_t *buf, const struct rte_ether_addr *dst,
			const struct rte_ether_addr *src, uint16_t type)
{
	struct rte_ether_hdr *eh = nt_eth(buf);

	eh->dst_addr = *dst;
	eh->src_addr = *src;
	eh->ether_type = rte_cpu_to_be_16(type);
}

size_t nt_build_arp(uint8_t *buf, const struct rte_ether_addr *eth_dst, uint16_t op,
		    const struct rte_ether_addr *sha, uint32_t sip,
		    const struct rte_ether_addr *tha, uint32_t tip)
{
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(buf + sizeof(struct rte_ether_hdr));

	/* 60 bytes, padded as ethernet sends it */
	memset(buf, 0, RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);
	nt_fill_eth(buf, eth_dst, sha, RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	ah->arp_data.arp_sha = *sha;
	ah->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	ah->arp_data.arp_tha = *tha;
	ah->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;
}

void nt_ipv4_fix(uint8_t *frame)
{
	struct rte_ipv4_hdr *ip = nt_ipv4(frame);

	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

size_t nt_build_ipv4(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto,
		     const void *payload, size_t plen)
{
	struct rte_ipv4_hdr *ip = nt_ipv4(buf);

	nt_fill_eth(buf, &nt_our_mac, &nt_peer_mac, RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + plen));
	ip->packet_id = rte_cpu_to_be_16(0x1234);
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = rte_cpu_to_be_32(src);
	ip->dst_addr = rte_cpu_to_be_32(dst);
	if (payload != NULL)
		memmove(ip + 1, payload, plen);
	nt_ipv4_fix(buf);
	return sizeof(struct rte_ether_hdr) + sizeof(*ip) + plen;
}

size_t nt_build_echo(uint8_t *buf, uint16_t id, uint16_t seq, size_t dlen)
{
	size_t len = nt_build_ipv4(buf, NT_PEER_IP, NT_OUR_IP, IPPROTO_ICMP, NULL,
				   sizeof(struct rte_icmp_hdr) + dlen);
	struct rte_icmp_hdr *ih = nt_l4(buf);
	uint8_t *data = (uint8_t *)(ih + 1);

	ih->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	ih->icmp_code = 0;
	ih->icmp_cksum = 0;
	ih->icmp_ident = rte_cpu_to_be_16(id);
	ih->icmp_seq_nb = rte_cpu_to_be_16(seq);
	for (size_t i = 0; i < dlen; i++)
		data[i] = (uint8_t)i;
	ih->icmp_cksum = (uint16_t)~rte_raw_cksum(ih, sizeof(*ih) + dlen);
	return len;
}

size_t nt_build_tcp(uint8_t *buf, uint8_t flags, unsigned doff, size_t plen)
{
	size_t hlen = doff * 4 < sizeof(struct rte_tcp_hdr) ? sizeof(struct rte_tcp_hdr) :
			doff * 4;
	size_t len = nt_build_ipv4(buf, NT_PEER_IP, NT_OUR_IP, IPPROTO_TCP, NULL, hlen + plen);
	struct rte_tcp_hdr *th = nt_l4(buf);
	uint8_t *p = (uint8_t *)(th + 1);

	memset(th, 0, sizeof(*th));
	th->src_port = rte_cpu_to_be_16(40000);
	th->dst_port = rte_cpu_to_be_16(1883);
	th->sent_seq = rte_cpu_to_be_32(1000);
	th->data_off = (uint8_t)(doff << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(65535);
	memset(p, 1 /* NOP */, hlen - sizeof(*th));
	for (size_t i = 0; i < plen; i++)
		p[hlen - sizeof(*th) + i] = (uint8_t)('a' + i % 26);
	th->cksum = rte_ipv4_udptcp_cksum(nt_ipv4(buf), th);
	return len;
}

int nt_ipv4_cksum_ok(const uint8_t *frame)
{
	const struct rte_ipv4_hdr *ip = nt_ipv4((uint8_t *)(uintptr_t)frame);

	return rte_raw_cksum(ip, rte_ipv4_hdr_len(ip)) == 0xffff;
}

int nt_tcp_cksum_ok(const uint8_t *frame)
{
	uint8_t *f = (uint8_t *)(uintptr_t)frame;

	return rte_ipv4_udptcp_cksum_verify(nt_ipv4(f), nt_l4(f)) == 0;
}
