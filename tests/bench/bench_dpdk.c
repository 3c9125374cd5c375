/* bench_dpdk.c - petrel-bench's DPDK backend (see bench_dpdk.h). */
#include "bench_dpdk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <rte_launch.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <petrel/config.h>
#include <petrel/dpdk_counters.h>
#include <petrel/net.h>
#include <petrel/port.h>
#include <petrel/tcp.h>

#include "bench_conn.h"
#include "bench_loop.h"
#include "bench_proto.h"
#include "bench_pub.h"
#include "bench_run.h"
#include "bench_time.h"

#define BD_BURST 32
#define BD_RX_BURSTS 8
/* How long the thread keeps polling after the last frame before it may sleep, and
 * its longest sleep: a frame waits at most that long for an idle generator, and an
 * idle generator leaves the CPU to the broker (memif on one host shares the cores).
 * The spin outlasts a broker's answer to what we just sent (a window of QoS 1
 * messages is one round trip: docs/benchmarks.md). */
#define BD_SPIN_NS 500000ull
#define BD_IDLE_SLEEP_NS 50000ull
/* Unacknowledged bytes per connection (the kernel's send buffer): a publisher stops
 * copying messages in when it is reached and resumes as acks free it. */
#define BD_SNDBUF (256u << 10)
/* Source ports: the ephemeral range the generator uses on each of its addresses. */
#define BD_PORT_FIRST 1024u
#define BD_PORT_END 65536u
/* TCBs per stack: every connection twice (the closed ones wait 2 MSL in TIME-WAIT
 * when we closed first, so a scenario that closes and reconnects them all needs a
 * second set) plus a few. Only the table's buckets are sized from it. */
#define BD_CONNS_PER_CONN 2u
#define BD_CONNS_SLACK 64u
/* How long bench_dpdk_linger polls after teardown. */
#define BD_LINGER_NS (200 * BENCH_NS_PER_MS)
#define BD_IOV 64
/* Longest wait for room in a full TX ring; over it the frames are dropped (net's
 * tx_full) and TCP retransmits them. */
#define BD_TX_WAIT_NS (5 * BENCH_NS_PER_MS)
#define BD_RESOLVE_NS (2 * BENCH_NS_PER_S)
/* bench_dpdk_pace waits at most this long for the pool to refill. */
#define BD_PACE_MAX_NS (100 * BENCH_NS_PER_MS)

/* One local address of one thread. */
struct bd_if {
	uint32_t nconns;             /* this thread's connections from the address */
	uint32_t next_port;          /* the next source port to try */
	struct net_if *ni;
	struct tcp_stack *ts;
};

struct bench_dpdk_thread {
	struct bd_if *ifs;           /* indexed by address - src_first; ni NULL: unused */
	uint32_t *used;              /* the indexes of the ifs in use */
	uint32_t nused;
	uint64_t last_rx;            /* when a poll last found frames */
};

static struct port *bd_port;
static uint64_t bd_secret;
/* The thread whose stacks are calling back: callbacks get only the connection. */
static __thread struct bench_thread *bd_th;

static inline uint64_t bd_us(uint64_t ns)
{
	return ns / 1000u;
}

/* ---- the stack's user: one bench_conn per TCB --------------------------------------- */

static void *bd_accepted(void *listen_arg, struct tcb *t)
{
	/* The generator listens nowhere. */
	(void)listen_arg;
	(void)t;
	return NULL;
}

static void bd_connected(void *user, int err)
{
	struct bench_conn *c = user;
	struct bench_thread *th = bd_th;
	int rc;

	if (err != 0) {
		c->tcb = NULL;       /* gone already */
		bench_loop_fail(th, c, err, "connect");
		return;
	}
	c->can_write = true;
	rc = bench_proto_connected(th, c);
	if (rc < 0)
		bench_loop_fail(th, c, rc, "CONNECT");
}

static size_t bd_recv(void *user, const uint8_t *data, size_t len)
{
	struct bench_conn *c = user;
	int rc = bench_conn_feed(bd_th, c, data, len);

	if (rc < 0)
		bench_loop_input_error(bd_th, c, rc);
	return len;
}

static int bd_send_view(void *user, size_t off, struct tx_span *sp, int max)
{
	struct bench_conn *c = user;

	if (max < 1 || off >= c->ctl_given)
		return 0;
	sp[0].base = c->ctl + c->ctl_head + off;
	sp[0].len = (uint32_t)(c->ctl_given - off);
	sp[0].ref = NULL;
	return 1;
}

static size_t bd_send_len(void *user)
{
	const struct bench_conn *c = user;

	return c->ctl_given;
}

static void bd_send_acked(void *user, size_t n)
{
	struct bench_conn *c = user;
	struct bench_thread *th = bd_th;

	c->ctl_head += (uint32_t)n;
	c->ctl_given -= (uint32_t)n;
	if (c->ctl_head == c->ctl_len) {
		c->ctl_head = c->ctl_len = 0;
		/* Idle connections of the conn scenario hold no buffer (1M of them). */
		if (c->role == BENCH_ROLE_CONN) {
			free(c->ctl);
			c->ctl = NULL;
			c->ctl_cap = 0;
		}
	}
	if (!c->can_write && c->ctl_given < BD_SNDBUF) {
		c->can_write = true;
		if (bench_conn_pending(c))
			bench_loop_want_write(th, c);
	}
}

static void bd_eof(void *user)
{
	bench_loop_input_error(bd_th, user, -ECONNRESET);
}

static void bd_gone(void *user, int err)
{
	struct bench_conn *c = user;

	c->tcb = NULL;
	bench_loop_input_error(bd_th, c, err < 0 ? err : -ECONNRESET);
}

static void bd_span_nop(void *ref)
{
	(void)ref;
}

static const struct tcp_user_ops bd_ops = {
	.accepted = bd_accepted,
	.connected = bd_connected,
	.recv = bd_recv,
	.send_view = bd_send_view,
	.send_len = bd_send_len,
	.send_acked = bd_send_acked,
	.eof = bd_eof,
	.gone = bd_gone,
	.span_hold = bd_span_nop,
	.span_release = bd_span_nop,
};

/* ---- the port ------------------------------------------------------------------------ */

int bench_dpdk_open(const struct bench_opts *o, unsigned nthreads)
{
	static struct config cfg;
	char err[1024];

	config_defaults(&cfg);
	if (strlen(o->dpdk_eal) >= sizeof(cfg.dpdk_eal_args)) {
		fprintf(stderr, "petrel-bench: --dpdk-eal is too long\n");
		return -E2BIG;
	}
	snprintf(cfg.dpdk_eal_args, sizeof(cfg.dpdk_eal_args), "%s", o->dpdk_eal);
	cfg.dpdk_mbufs = o->dpdk_mbufs;
	cfg.dpdk_ip = o->dpdk_ip;
	cfg.dpdk_prefix_len = o->dpdk_prefix_len;
	cfg.dpdk_gateway = o->dpdk_gateway;
	bd_port = port_open(&cfg, nthreads, err, sizeof(err));
	if (bd_port == NULL) {
		fprintf(stderr, "petrel-bench: --dpdk: %s\n", err);
		return -EINVAL;
	}
	if (getrandom(&bd_secret, sizeof(bd_secret), 0) != sizeof(bd_secret))
		bd_secret = bench_now() ^ (uint64_t)getpid() << 32;
	return 0;
}

void bench_dpdk_close(void)
{
	port_close(bd_port);
	bd_port = NULL;
}

struct bd_launch {
	void *(*fn)(void *);
	struct bench_thread *th;
	sem_t *done;                 /* posted when fn has returned */
};

/* Sends an ICMP echo request (RFC 792) to the broker from <ni>: it makes the
 * interface resolve the next hop by ARP before the connects start. Without it each
 * of the first SYNs would wait for ARP in a queue of one, the others dropped and
 * retransmitted a whole RTO later. */
static void bd_echo(struct net_if *ni, struct rte_mempool *pool, uint32_t dst)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p;

	if (m == NULL)
		return;
	p = (uint8_t *)rte_pktmbuf_append(m, 8);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		return;
	}
	/* Type 8, code 0, checksum of the rest (all zero but the type): ~0x0800. */
	memset(p, 0, 8);
	p[0] = 8;
	p[2] = 0xf7;
	p[3] = 0xff;
	(void)net_ipv4_output(ni, m, dst, IPPROTO_ICMP);
}

/* Every interface of the thread learns the broker's (or gateway's) MAC, within
 * BD_RESOLVE_NS; after that the connects go ahead anyway and report what fails. */
static void bd_resolve(struct bench_thread *th)
{
	struct bench_dpdk_thread *dp = th->dp;
	uint32_t bip = ntohl(th->run->o->broker.sin_addr.s_addr), u, heard;
	uint64_t end;

	for (u = 0; u < dp->nused; u++)
		bd_echo(dp->ifs[dp->used[u]].ni, port_pool(bd_port, th->idx), bip);
	th->now = bench_now();
	end = th->now + BD_RESOLVE_NS;
	do {
		bench_dpdk_flush(th);
		bench_dpdk_poll(th, end);
		for (u = 0, heard = 0; u < dp->nused; u++)
			heard += net_if_stats(dp->ifs[dp->used[u]].ni)->rx_arp > 0;
	} while (heard < dp->nused && th->now < end);
}

static int bd_lcore_main(void *arg)
{
	struct bd_launch *l = arg;

	bd_th = l->th;
	bd_resolve(l->th);
	l->fn(l->th);
	/* In single-queue mode thread 0 carries every thread's frames: it keeps polling
	 * until the last one is done. */
	bench_run_barrier(l->th->run);
	sem_post(l->done);
	return 0;
}

void bench_dpdk_pace(struct bench_thread *th)
{
	const struct rte_mempool *pool = port_pool(bd_port, th->idx);
	uint64_t end = bench_now() + BD_PACE_MAX_NS;

	do {
		bench_dpdk_idle();
	} while (rte_mempool_avail_count(pool) < pool->size / 4 && th->now < end);
}

void bench_dpdk_idle(void)
{
	struct bench_thread *th = bd_th;

	bench_dpdk_poll(th, th->now + BD_IDLE_SLEEP_NS);
	bench_dpdk_flush(th);
}

void bench_dpdk_run_threads(struct bench_run *run, void *(*fn)(void *))
{
	struct bd_launch *l = calloc(run->nthreads, sizeof(*l));
	sem_t done;
	unsigned i;

	if (l == NULL || sem_init(&done, 0, 0) != 0) {
		fprintf(stderr, "petrel-bench: cannot start the threads\n");
		exit(1);
	}
	for (i = 0; i < run->nthreads; i++) {
		l[i].fn = fn;
		l[i].th = &run->th[i];
		l[i].done = &done;
		if (rte_eal_remote_launch(bd_lcore_main, &l[i],
					  port_worker_lcore(bd_port, i)) != 0) {
			/* The launched ones would wait at the barrier for ever. */
			fprintf(stderr, "petrel-bench: cannot launch lcore %u\n", i);
			exit(1);
		}
	}
	/* rte_eal_wait_lcore spins: the main lcore would take a core from the broker
	 * for the whole run. Sleep on the semaphore until every thread is done. */
	for (i = 0; i < run->nthreads; i++) {
		while (sem_wait(&done) != 0 && errno == EINTR)
			;
	}
	for (i = 0; i < run->nthreads; i++)
		rte_eal_wait_lcore(port_worker_lcore(bd_port, i));
	sem_destroy(&done);
	free(l);
}

/* net_params.tx_burst. A full TX ring (the broker has not caught up yet) is waited
 * out for a while: a frame dropped here costs an RTO, and a generator that outruns
 * its broker should slow down, not lose. */
static uint16_t bd_tx_burst(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	const struct bench_thread *th = arg;
	uint16_t sent = port_tx(bd_port, th->idx, pkts, n);
	uint64_t end;

	if (sent == n)
		return sent;
	end = bench_now() + BD_TX_WAIT_NS;
	do {
		sent = (uint16_t)(sent + port_tx(bd_port, th->idx, pkts + sent,
						 (uint16_t)(n - sent)));
	} while (sent < n && bench_now() < end);
	return sent;
}

/* ---- a thread's interfaces and stacks -------------------------------------------------- */

static int bd_if_create(struct bench_thread *th, struct bd_if *bi, uint32_t ip)
{
	const struct bench_opts *o = th->run->o;
	const struct port_info *pi = port_get_info(bd_port);
	uint64_t now = bd_us(bench_now());
	struct net_params np;
	struct tcp_params tp;

	net_params_default(&np);
	port_net_params(bd_port, th->idx, &np);
	np.ip = ip;
	np.prefix_len = o->dpdk_prefix_len;
	np.gateway = o->dpdk_gateway;
	np.tx_burst = bd_tx_burst;
	np.tx_arg = th;
	bi->ni = net_if_create(&np, now);
	if (bi->ni == NULL)
		return -errno;
	tcp_params_default(&tp);
	tp.local_ip = ip;
	tp.pool = np.pool;
	tp.output = net_tcp_output;
	tp.output_arg = bi->ni;
	tp.ops = &bd_ops;
	tp.worker_id = th->idx;
	tp.mss = (uint16_t)(pi->mtu - 40);   /* RFC 9293 3.7.1 */
	tp.max_conns = BD_CONNS_PER_CONN * bi->nconns + BD_CONNS_SLACK;
	tp.secret = bd_secret;
	bi->ts = tcp_stack_create(&tp, now);
	if (bi->ts == NULL)
		return -ENOMEM;
	net_if_set_tcp(bi->ni, bi->ts);
	/* A random start, as the kernel's: the broker may still hold the ports of the
	 * previous run in TIME-WAIT, and a SYN that meets one waits an RTO. */
	bi->next_port = BD_PORT_FIRST + (uint32_t)((bd_secret >> 16) + ip * 2654435761u) %
					(BD_PORT_END - BD_PORT_FIRST);
	return 0;
}

int bench_dpdk_thread_init(struct bench_thread *th)
{
	const struct bench_opts *o = th->run->o;
	struct bench_dpdk_thread *dp = calloc(1, sizeof(*dp));
	uint32_t i, a;
	int rc;

	if (dp == NULL)
		return -ENOMEM;
	th->dp = dp;
	dp->ifs = calloc(o->src_count, sizeof(*dp->ifs));
	dp->used = calloc(o->src_count, sizeof(*dp->used));
	if (dp->ifs == NULL || dp->used == NULL)
		return -ENOMEM;
	/* Connection k opens from address k % count, as in kernel mode. */
	for (i = 0; i < th->nconns; i++)
		dp->ifs[th->conns[i].index % o->src_count].nconns++;
	for (a = 0; a < o->src_count; a++) {
		if (dp->ifs[a].nconns == 0)
			continue;
		rc = bd_if_create(th, &dp->ifs[a], o->src_first + a);
		if (rc < 0)
			return rc;
		dp->used[dp->nused++] = a;
		/* RFC 5227 announcement: the broker learns our MAC without asking. */
		net_announce(dp->ifs[a].ni);
	}
	return 0;
}

/* One line of the non-zero TCP and interface counters of the thread's stacks, named
 * as in the broker's `dpdk totals` line (it has no port or worker counters of its
 * own: those stay 0 and out of the line). */
static void bd_log_totals(const struct bench_thread *th)
{
	static const struct port_stats no_port;
	static const struct dpdk_worker_counters no_own;
	const struct bench_dpdk_thread *dp = th->dp;
	uint64_t sum[DPDK_NCOUNTERS] = { 0 }, v[DPDK_NCOUNTERS];
	char line[4096];
	size_t off = 0;
	uint32_t u;

	for (u = 0; u < dp->nused; u++) {
		const struct bd_if *bi = &dp->ifs[dp->used[u]];

		dpdk_counters_collect(v, tcp_stack_stats(bi->ts), net_if_stats(bi->ni), &no_port,
				      &no_own, NULL, NULL);
		for (size_t i = 0; i < DPDK_NCOUNTERS; i++)
			sum[i] += v[i];
	}
	for (size_t i = 0; i < DPDK_NCOUNTERS; i++) {
		if (sum[i] != 0 && off < sizeof(line))
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s=%" PRIu64,
						dpdk_counters[i].name, sum[i]);
	}
	fprintf(stderr, "petrel-bench: thread %u dpdk totals:%s\n", th->idx, off ? line : " none");
}

void bench_dpdk_thread_fini(struct bench_thread *th)
{
	struct bench_dpdk_thread *dp = th->dp;
	uint32_t u;

	if (dp == NULL)
		return;
	if (dp->ifs != NULL && dp->nused > 0)
		bd_log_totals(th);
	for (u = 0; dp->ifs != NULL && u < dp->nused; u++) {
		struct bd_if *bi = &dp->ifs[dp->used[u]];

		if (bi->ts != NULL)
			tcp_stack_destroy(bi->ts);
		if (bi->ni != NULL)
			net_if_destroy(bi->ni);
	}
	/* An if whose creation failed half-way is not in <used>. */
	for (u = 0; dp->ifs != NULL && u < th->run->o->src_count; u++) {
		struct bd_if *bi = &dp->ifs[u];

		if (bi->ni != NULL && bi->ts == NULL)
			net_if_destroy(bi->ni);
	}
	free(dp->ifs);
	free(dp->used);
	free(dp);
	th->dp = NULL;
}

/* ---- connections ------------------------------------------------------------------------ */

int bench_dpdk_conn_open(struct bench_thread *th, struct bench_conn *c)
{
	const struct bench_opts *o = th->run->o;
	struct bd_if *bi = &th->dp->ifs[c->index % o->src_count];
	uint32_t ip = o->src_first + c->index % o->src_count;
	uint32_t bip = ntohl(o->broker.sin_addr.s_addr);
	uint16_t bport = ntohs(o->broker.sin_port), sport;
	uint64_t now = bd_us(th->now);
	struct tcb *t;
	uint32_t tries;

	/* Only the ports whose replies the port steers to this thread; one in J. */
	for (tries = 0; tries < BD_PORT_END - BD_PORT_FIRST; tries++) {
		sport = (uint16_t)bi->next_port;
		if (++bi->next_port == BD_PORT_END)
			bi->next_port = BD_PORT_FIRST;
		if (port_tuple_worker(bd_port, bip, bport, ip, sport) != th->idx)
			continue;
		t = tcp_connect(bi->ts, bip, bport, sport, c, now);
		if (t != NULL) {
			c->tcb = t;
			c->state = BCS_CONNECTING;
			c->can_read = false;
			c->can_write = false;
			c->ctl_given = 0;
			c->last_tx = th->now;
			return 0;
		}
		if (errno != EADDRINUSE)
			return -errno;
	}
	return -EADDRNOTAVAIL;
}

/* Copies the publisher's queued messages behind the control bytes, up to <room>. */
static int bd_take_published(struct bench_conn *c, size_t room)
{
	struct iovec iov[BD_IOV];
	size_t bytes = 0, n, i, took = 0, part;
	uint8_t *dst;

	n = bench_pub_iov(c->pub, iov, BD_IOV, &bytes);
	if (n == 0 || room == 0)
		return 0;
	if (bytes > room)
		bytes = room;
	dst = bench_conn_ctl_reserve(c, bytes);
	if (dst == NULL)
		return -ENOMEM;
	for (i = 0; i < n && took < bytes; i++) {
		part = iov[i].iov_len < bytes - took ? iov[i].iov_len : bytes - took;
		memcpy(dst + took, iov[i].iov_base, part);
		took += part;
	}
	bench_conn_ctl_commit(c, took);
	bench_pub_written(c->pub, took);
	return 0;
}

int bench_dpdk_conn_flush(struct bench_thread *th, struct bench_conn *c)
{
	size_t held = c->ctl_len - c->ctl_head;
	int rc;

	if (c->pub != NULL && c->pub->txq_len > 0) {
		rc = bd_take_published(c, held < BD_SNDBUF ? BD_SNDBUF - held : 0);
		if (rc < 0)
			return rc;
		held = c->ctl_len - c->ctl_head;
	}
	if (held > c->ctl_given) {
		c->ctl_given = (uint32_t)held;
		tcp_send_ready(c->tcb);
		c->last_tx = th->now;
	}
	c->can_write = c->ctl_given < BD_SNDBUF;
	return 0;
}

void bench_dpdk_conn_close(struct bench_conn *c, bool abort)
{
	struct tcb *t = c->tcb;

	c->tcb = NULL;
	if (abort) {
		tcp_abort(t);
		return;
	}
	/* Everything queued goes out before our FIN: tcp_close copies it now. */
	c->ctl_given = c->ctl_len - c->ctl_head;
	tcp_close(t);
}

/* ---- the loop's turn ---------------------------------------------------------------------- */

/* The local address a frame is for: IPv4's destination, ARP's target; 0 if neither. */
static uint32_t bd_frame_dst(const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m), a;

	if (len >= 14 + 20 && f[12] == 0x08 && f[13] == 0x00) {
		memcpy(&a, f + 14 + 16, 4);
		return ntohl(a);
	}
	if (len >= 14 + 28 && f[12] == 0x08 && f[13] == 0x06) {
		memcpy(&a, f + 14 + 24, 4);
		return ntohl(a);
	}
	return 0;
}

/* Each frame to the interface of its address; anything else to the first one, which
 * counts it (rx_not_ours, ...). Runs of frames for one interface go in one call. */
static void bd_deliver(struct bench_thread *th, struct rte_mbuf **pkts, uint16_t n,
		       uint64_t now)
{
	const struct bench_opts *o = th->run->o;
	struct bench_dpdk_thread *dp = th->dp;
	struct net_if *run_ni = NULL, *ni;
	uint16_t i, start = 0;
	uint32_t a;

	for (i = 0; i < n; i++) {
		a = bd_frame_dst(pkts[i]) - o->src_first;
		ni = a < o->src_count && dp->ifs[a].ni != NULL ? dp->ifs[a].ni :
			dp->ifs[dp->used[0]].ni;
		if (ni != run_ni && i > start) {
			net_rx(run_ni, pkts + start, (uint16_t)(i - start), now);
			start = i;
		}
		run_ni = ni;
	}
	if (n > start)
		net_rx(run_ni, pkts + start, (uint16_t)(n - start), now);
}

static void bd_idle_sleep(struct bench_thread *th, uint64_t wake)
{
	uint64_t d = wake - th->now;
	struct timespec ts;

	if (d > BD_IDLE_SLEEP_NS)
		d = BD_IDLE_SLEEP_NS;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)d;
	nanosleep(&ts, NULL);
}

void bench_dpdk_poll(struct bench_thread *th, uint64_t wake)
{
	struct bench_dpdk_thread *dp = th->dp;
	struct rte_mbuf *pkts[BD_BURST];
	uint64_t now;
	unsigned b;
	uint16_t n;
	uint32_t u;

	bd_th = th;
	n = port_rx(bd_port, th->idx, pkts, BD_BURST);
	if (n > 0)
		dp->last_rx = th->now;
	else if (wake > th->now && th->now - dp->last_rx >= BD_SPIN_NS &&
		 port_rx_pending(bd_port, th->idx) == 0)
		bd_idle_sleep(th, wake);
	th->now = bench_now();
	now = bd_us(th->now);
	/* A full burst: more may wait. Up to BD_RX_BURSTS a turn, so the broker's TX
	 * ring (our RX) drains faster than the turn's other work can fill it. */
	for (b = 1; n > 0; b++) {
		if (dp->nused > 0)
			bd_deliver(th, pkts, n, now);
		else
			rte_pktmbuf_free_bulk(pkts, n);
		if (n < BD_BURST || b == BD_RX_BURSTS)
			break;
		n = port_rx(bd_port, th->idx, pkts, BD_BURST);
	}
	for (u = 0; u < dp->nused; u++) {
		struct bd_if *bi = &dp->ifs[dp->used[u]];

		tcp_timers(bi->ts, now);
		net_timers(bi->ni, now);
	}
}

void bench_dpdk_flush(struct bench_thread *th)
{
	struct bench_dpdk_thread *dp = th->dp;
	uint64_t now = bd_us(th->now);
	uint32_t u;

	for (u = 0; u < dp->nused; u++) {
		struct bd_if *bi = &dp->ifs[dp->used[u]];

		tcp_flush(bi->ts, now);
		net_tx_flush(bi->ni);
	}
}

void bench_dpdk_linger(struct bench_thread *th)
{
	uint64_t end;

	bench_dpdk_flush(th);
	th->now = bench_now();
	end = th->now + BD_LINGER_NS;
	while (th->now < end) {
		bench_dpdk_poll(th, end);
		bench_dpdk_flush(th);
	}
}
