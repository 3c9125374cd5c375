/* test_bad_packets.c - frames no TCP/IP stack should take, sent from the test's
 * network namespace through an AF_PACKET socket on the kernel side of the broker's
 * tap: truncated headers, bad IPv4 and TCP checksums, lengths that lie, nonsense TCP
 * flags, and a SYN flood while real clients exchange messages. Each kind is counted
 * (the broker's "dpdk totals" line) and dropped; the broker keeps serving and the
 * clients lose nothing. */
#include "harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void bad_init(void)
{
	setenv("PETREL_TEST_DATAPLANE", "tap", 1);
}

TestSuite(bad_packets, .init = bad_init, .fini = harness_fini, .timeout = 240);

#define PEER_IP 0xc6120002u     /* 198.18.0.2, the namespace's side */
#define BROKER_IP 0xc6120001u   /* 198.18.0.1 */
#define TAP "ptap0"             /* the first broker's tap (harness_netns.c) */

struct wire {
	int fd;
	struct sockaddr_ll to;
	uint8_t src[6], dst[6];
};

/* The broker's MAC, from its start-up line "dpdk_port N (...): aa:bb:...". */
static void broker_mac(struct broker *b, uint8_t mac[6])
{
	char text[65536];
	FILE *f = fopen(b->log_path, "r");
	size_t n;
	const char *at;

	cr_assert_not_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, "dpdk_port ");
	cr_assert_not_null(at, "no dpdk_port line in the log");
	at = strstr(at, "): ");
	cr_assert_not_null(at);
	cr_assert_eq(sscanf(at + 3, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1],
			    &mac[2], &mac[3], &mac[4], &mac[5]), 6);
}

static void wire_open(struct wire *w, struct broker *b)
{
	struct ifreq ifr = { 0 };

	w->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	cr_assert_geq(w->fd, 0, "AF_PACKET socket (root needed)");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP);
	cr_assert_eq(ioctl(w->fd, SIOCGIFHWADDR, &ifr), 0);
	memcpy(w->src, ifr.ifr_hwaddr.sa_data, 6);
	broker_mac(b, w->dst);
	memset(&w->to, 0, sizeof(w->to));
	w->to.sll_family = AF_PACKET;
	w->to.sll_ifindex = (int)if_nametoindex(TAP);
	w->to.sll_halen = 6;
	memcpy(w->to.sll_addr, w->dst, 6);
	cr_assert_gt(w->to.sll_ifindex, 0);
}

static void wire_send(struct wire *w, const uint8_t *frame, size_t len)
{
	cr_assert_eq(sendto(w->fd, frame, len, 0, (const struct sockaddr *)&w->to,
			    sizeof(w->to)), (ssize_t)len);
}

/* RFC 1071 one's complement sum, folded. */
static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Ethernet + IPv4 + TCP (no options, <plen> payload bytes of 'x') with correct
 * checksums into <f>; returns the frame length. */
static size_t tcp_frame(const struct wire *w, uint8_t *f, uint16_t sport, uint16_t dport,
			uint32_t seq, uint8_t flags, size_t plen)
{
	uint8_t *ip = f + 14, *tcp = ip + 20;
	uint8_t pseudo[12];
	uint32_t sum = 0;

	memcpy(f, w->dst, 6);
	memcpy(f + 6, w->src, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + plen));
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, PEER_IP);
	put32(ip + 16, BROKER_IP);
	put16(ip + 10, csum(ip, 20, 0));
	memset(tcp, 0, 20);
	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, seq);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	memset(tcp + 20, 'x', plen);
	put32(pseudo, PEER_IP);
	put32(pseudo + 4, BROKER_IP);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, (uint16_t)(20 + plen));
	for (size_t i = 0; i < 12; i += 2)
		sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
	put16(tcp + 16, csum(tcp, 20 + plen, sum));
	return 14 + 40 + plen;
}

/* A subscriber and a publisher exchange <n> QoS 1 messages; all must arrive in order. */
static void exchange(struct client *pub, struct client *sub, const char *topic, int n,
		     void (*between)(void *), void *arg)
{
	struct rx_msg m;
	int got = 0;
	uint64_t deadline;

	for (int i = 0; i < n; i++) {
		char payload[16];
		int len = snprintf(payload, sizeof(payload), "%d", i);

		cr_assert_eq(client_publish(pub, topic, payload, len, 1, false), 0);
		if (between != NULL && i % 10 == 0)
			between(arg);
	}
	deadline = now_ms() + 60000;
	while (got < n && now_ms() < deadline) {
		char want[16];

		if (!client_wait_msg(sub, &m, 200))
			continue;
		snprintf(want, sizeof(want), "%d", got);
		cr_assert(msg_payload_is(&m, want), "message %d out of order", got);
		got++;
	}
	cr_assert_eq(got, n, "only %d of %d messages arrived", got, n);
}

Test(bad_packets, malformed_frames_are_counted_and_dropped)
{
	static const char *const counters[] = {
		"net_rx_ipv4_bad_header=", "net_rx_ipv4_bad_cksum=",
		"net_rx_ipv4_bad_len=", "net_rx_tcp_short=", "net_rx_tcp_bad_cksum=",
		"tcp_in_bad=", NULL,
	};
	struct broker b;
	struct wire w;
	uint8_t f[256];
	size_t len;
	struct client *pub, *sub;

	broker_start(&b, 1, NULL);
	sub = connected_client(&b, "bad-sub", true);
	pub = connected_client(&b, "bad-pub", true);
	cr_assert_eq(client_subscribe(sub, "bad/t", 1), 1);
	wire_open(&w, &b);
	for (int round = 0; round < 5; round++) {
		/* Truncated: an IPv4 header cut short (IHL says 20, 10 bytes follow).
		 * (Shorter than an ethernet header the kernel does not send.) */
		len = tcp_frame(&w, f, 40000, (uint16_t)b.port, 1, 0x02, 0);
		wire_send(&w, f, 14 + 10);
		/* Bad IPv4 header checksum. */
		f[14 + 10] ^= 0x5a;
		wire_send(&w, f, len);
		/* Total length longer than the frame. */
		len = tcp_frame(&w, f, 40000, (uint16_t)b.port, 1, 0x02, 0);
		put16(f + 14 + 2, 400);
		put16(f + 14 + 10, 0);
		put16(f + 14 + 10, csum(f + 14, 20, 0));
		wire_send(&w, f, len);
		/* Bad version / header length. */
		len = tcp_frame(&w, f, 40000, (uint16_t)b.port, 1, 0x02, 0);
		f[14] = 0x43;
		wire_send(&w, f, len);
		/* TCP shorter than its header (IP payload of 8 bytes). */
		len = tcp_frame(&w, f, 40000, (uint16_t)b.port, 1, 0x02, 0);
		put16(f + 14 + 2, 28);
		put16(f + 14 + 10, 0);
		put16(f + 14 + 10, csum(f + 14, 20, 0));
		wire_send(&w, f, 14 + 28);
		/* Bad TCP checksum on data. */
		len = tcp_frame(&w, f, 40001, (uint16_t)b.port, 1, 0x18, 10);
		f[len - 1] ^= 0x01;
		wire_send(&w, f, len);
		/* Nonsense flags: SYN and RST together, and SYN+FIN+URG+PSH. */
		len = tcp_frame(&w, f, 40002, (uint16_t)b.port, 7, 0x06, 0);
		wire_send(&w, f, len);
		len = tcp_frame(&w, f, 40003, (uint16_t)b.port, 7, 0x2b, 0);
		wire_send(&w, f, len);
	}
	/* The real clients did not notice. */
	exchange(pub, sub, "bad/t", 50, NULL, NULL);
	close(w.fd);
	client_close(pub);
	client_close(sub);
	cr_assert(broker_alive(&b));
	broker_stop_expect_dpdk_totals(&b, counters);
}

struct flood {
	struct wire *w;
	uint16_t dport;
	unsigned sent;
};

/* 100 SYNs from ports nobody listens on (the kernel answers our SYN-ACKs with RST). */
static void flood_some(void *arg)
{
	struct flood *fl = arg;
	uint8_t f[128];

	for (int i = 0; i < 100; i++, fl->sent++) {
		size_t len = tcp_frame(fl->w, f, (uint16_t)(20000 + fl->sent % 20000),
				       fl->dport, fl->sent * 7919u, 0x02, 0);

		wire_send(fl->w, f, len);
	}
}

Test(bad_packets, syn_flood_while_clients_are_served)
{
	static const char *const counters[] = { "tcp_syn_cookies_sent=", NULL };
	struct broker b;
	struct wire w;
	struct flood fl;
	struct client *pub, *sub;

	/* A small SYN backlog: the flood overflows it at once, and SYN cookies keep
	 * the broker's state bounded. */
	broker_start(&b, 2, "tcp_syn_backlog 16\n");
	sub = connected_client(&b, "flood-sub", true);
	pub = connected_client(&b, "flood-pub", true);
	cr_assert_eq(client_subscribe(sub, "flood/t", 1), 1);
	wire_open(&w, &b);
	fl = (struct flood){ .w = &w, .dport = (uint16_t)b.port };
	/* 2000 SYNs in all, between the publishes. */
	exchange(pub, sub, "flood/t", 200, flood_some, &fl);
	cr_assert_eq(fl.sent, 2000);
	/* A new client still gets in after the flood. */
	client_close(connected_client(&b, "after-flood", true));
	close(w.fd);
	client_close(pub);
	client_close(sub);
	cr_assert(broker_alive(&b));
	broker_stop_expect_dpdk_totals(&b, counters);
}
