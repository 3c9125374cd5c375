/* transport_dpdk.c - transport.h over a DPDK port and Petrel's TCP/IP stack.
 *
 * Per worker: its share of the port (port.h: a queue pair, or rings to worker 0 in
 * single-queue mode), a fault injector each way (faultinj.h, when configured), a
 * net_if (ethernet, ARP, IPv4, ICMP: net.h) and a tcp_stack (tcp.h) listening on the
 * MQTT port. A transport_conn binds one TCB to one mqtt_conn: the stack's user
 * callbacks become proto_* calls (recv -> proto_input, send_view -> proto_out_view,
 * send_acked -> proto_out_release, eof/gone -> proto_lost), and the engine's calls
 * (output, pause_read, close) become tcp_send_ready, tcp_recv_resume, tcp_close.
 *
 * Everything runs on the worker's lcore; only port_open/port_close and the stats
 * totals touch the main thread. No MQTT header but proto.h, no DPDK header reaches
 * the engine. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_mbuf.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/dpdk_counters.h"
#include "petrel/faultinj.h"
#include "petrel/log.h"
#include "petrel/net.h"
#include "petrel/port.h"
#include "petrel/proto.h"
#include "petrel/tcp.h"
#include "petrel/transport.h"
#include "petrel/transport_dpdk.h"
#include "petrel/worker.h"

#define DT_BURST 32
/* Empty polls before the worker sleeps: about 100 us of spinning at typical cost per
 * empty poll, enough to ride out the gaps inside a burst of traffic. */
#define DT_SPIN_POLLS 512
/* Longest idle sleep, ms (epoll_wait's unit), on a port without RX interrupts: the
 * latency an idle worker adds to the first frame after a quiet spell. */
#define DT_IDLE_SLEEP_MS 1
/* How often a worker publishes its counters for the metrics (transport.h
 * counters_read): often enough for a scrape, rarely enough to cost nothing. */
#define DT_PUBLISH_US 100000
/* ... and with them: a frame wakes the worker, so the bound is only for what has no
 * wake-up of its own (net_timers: ARP ages and retries). */
#define DT_INTR_SLEEP_MS 10
/* epoll data of the worker's two descriptors. */
#define DT_EV_WAKE 0u
#define DT_EV_RX_INTR 1u

struct dt_worker;

/* One per connection, a million of them on a worker: 40 bytes (a 48-byte malloc
 * chunk). The peer is kept as numbers and formatted only when a log line asks. */
struct transport_conn {
	struct dt_worker *dw;
	struct tcb *tcb;               /* NULL once the stack let go of it */
	struct mqtt_conn *mc;
	struct transport_conn *next_dead;
	uint32_t peer_ip;              /* host order */
	uint16_t peer_port;
	bool closed;
};
_Static_assert(sizeof(struct transport_conn) <= 40, "transport_conn outgrew its budget");

struct dt_worker {
	struct worker *w;
	struct net_if *ni;
	struct tcp_stack *ts;
	struct faultinj *fi_rx, *fi_tx;
	void *(*fn)(void *);           /* worker_main, run on the lcore */
	struct transport_conn *dead;
	int epfd;                      /* the wake eventfd (and RX interrupt), for sleeps */
	int rx_intr_fd;                /* port_rx_intr_fd, or -1 */
	unsigned idle_polls;
	/* Last frame in or out (dt_now_us): the worker spins dpdk_idle_spin_us after it
	 * before it may sleep, since the answer to what it sent is usually that close. */
	uint64_t last_frame_us;
	uint64_t tx_frames_seen;       /* the net_if's tx_frames at the last flush */
	uint32_t idle_spin_us;         /* dpdk_idle_spin_us */
	uint64_t tx_refused;           /* frames the port refused after fault injection */
	uint64_t sleeps;
	uint64_t rx_intr_wakeups;      /* sleeps a frame's RX interrupt ended */
	uint64_t rx_intr_repolls;      /* sleeps the re-poll after arming called off */
	uint64_t publish_us;           /* dt_now_us of the next dt_publish */
};

/* The process's port, and each worker's counters (dpdk_counters.h) as it last
 * published them: read by the metrics while it runs, summed at fini. */
static struct port *dt_port;
static uint64_t dt_tsc_hz;
static uint64_t dt_secret;
static uint64_t (*dt_counters)[DPDK_NCOUNTERS];
static unsigned dt_nworkers;

/* ---- clock ------------------------------------------------------------------------- */

static uint64_t dt_now_us(void)
{
	uint64_t c, hz = dt_tsc_hz;

	if (hz == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	}
	c = rte_get_tsc_cycles();
	/* Split so cycles * 10^6 cannot overflow however long the host has been up. */
	return c / hz * 1000000u + c % hz * 1000000u / hz;
}

/* ---- the stack's user: one transport_conn per TCB ----------------------------------- */

static void *dt_accepted(void *listen_arg, struct tcb *t)
{
	struct dt_worker *dw = listen_arg;
	struct transport_conn *tc = calloc(1, sizeof(*tc));
	uint32_t ip;
	uint16_t port;

	if (tc == NULL) {
		dw->w->stats.accept_dropped++;
		return NULL;
	}
	tc->dw = dw;
	tc->tcb = t;
	tcp_peer(t, &ip, &port);
	tc->peer_ip = ip;
	tc->peer_port = port;
	tc->mc = proto_accept(dw->w, tc);
	if (tc->mc == NULL) {
		/* Refused (stopping, no memory): the stack answers with RST. */
		dw->w->stats.accept_dropped++;
		free(tc);
		return NULL;
	}
	dw->w->stats.conn_accepted++;
	return tc;
}

static void dt_connected(void *user, int err)
{
	/* The broker opens no connections. */
	(void)user;
	(void)err;
}

static size_t dt_recv(void *user, const uint8_t *data, size_t len)
{
	struct transport_conn *tc = user;
	ssize_t n;

	if (tc->closed)
		return len;
	n = proto_input(tc->mc, data, len);
	/* -1: the engine closed the connection while handling the bytes (close() ran,
	 * the TCB is closing): nothing more to keep. What it did not take the stack
	 * offers again later: counted then, as the kernel transport counts what it read. */
	n = n < 0 ? (ssize_t)len : n;
	tc->dw->w->stats.bytes_in += (uint64_t)n;
	return (size_t)n;
}

static int dt_send_view(void *user, size_t off, struct tx_span *sp, int max)
{
	struct transport_conn *tc = user;

	return proto_out_view(tc->mc, off, sp, max);
}

static size_t dt_send_len(void *user)
{
	struct transport_conn *tc = user;

	return proto_out_len(tc->mc);
}

static void dt_send_acked(void *user, size_t n)
{
	struct transport_conn *tc = user;

	/* Acknowledged by the peer: sent once, however often retransmitted. */
	tc->dw->w->stats.bytes_out += (uint64_t)n;
	proto_out_release(tc->mc, n);
}

/* The peer's FIN: the engine ends the session as for a closed socket (its will goes
 * out unless DISCONNECT came first) and calls close(), which sends our FIN after the
 * output still queued. */
static void dt_eof(void *user)
{
	struct transport_conn *tc = user;

	if (!tc->closed)
		proto_lost(tc->mc, 0);
}

static void dt_gone(void *user, int err)
{
	struct transport_conn *tc = user;

	tc->tcb = NULL;
	if (!tc->closed)
		proto_lost(tc->mc, err);
}

static const struct tcp_user_ops dt_user_ops = {
	.accepted = dt_accepted,
	.connected = dt_connected,
	.recv = dt_recv,
	.send_view = dt_send_view,
	.send_len = dt_send_len,
	.send_acked = dt_send_acked,
	.eof = dt_eof,
	.gone = dt_gone,
	.span_hold = proto_span_hold,
	.span_release = proto_span_release,
};

/* ---- frames to the port ------------------------------------------------------------- */

/* net_params.tx_burst: fault injection (if any), then the port. */
static uint16_t dt_tx_burst(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	struct dt_worker *dw = arg;
	struct rte_mbuf *out[2 * NET_TX_QUEUE + 1];
	uint16_t m, sent;

	if (dw->fi_tx == NULL)
		return port_tx(dt_port, dw->w->id, pkts, n);
	/* The injector may add duplicates: work on a copy with room, and take all of
	 * <pkts> from net's point of view (what the port refuses is freed here). */
	if (n > NET_TX_QUEUE)
		n = NET_TX_QUEUE;
	memcpy(out, pkts, n * sizeof(*pkts));
	m = faultinj_apply(dw->fi_tx, out, n, 2 * NET_TX_QUEUE, dt_now_us());
	sent = m > 0 ? port_tx(dt_port, dw->w->id, out, m) : 0;
	for (uint16_t i = sent; i < m; i++) {
		dw->tx_refused++;
		rte_pktmbuf_free(out[i]);
	}
	return n;
}

/* A frame the TX injector held back for reordering, once its time is up. */
static void dt_tx_held(struct dt_worker *dw, uint64_t now)
{
	struct rte_mbuf *m;

	if (dw->fi_tx != NULL && faultinj_flush(dw->fi_tx, &m, 1, now, false) == 1 &&
	    port_tx(dt_port, dw->w->id, &m, 1) != 1) {
		dw->tx_refused++;
		rte_pktmbuf_free(m);
	}
}

/* ---- transport_ops ------------------------------------------------------------------ */

static void dt_wake(void *arg, unsigned worker)
{
	struct broker *b = arg;

	if (worker < b->nworkers && b->workers[worker] != NULL)
		worker_wake(b->workers[worker]);
}

int transport_dpdk_open(const struct config *cfg, char *err, size_t errlen)
{
	if (dt_port != NULL)
		return 0;
	dt_port = port_open(cfg, cfg->workers, err, errlen);
	if (dt_port == NULL)
		return -EINVAL;
	dt_tsc_hz = rte_get_tsc_hz();
	if (getrandom(&dt_secret, sizeof(dt_secret), 0) != sizeof(dt_secret))
		dt_secret = dt_now_us() ^ (uint64_t)getpid() << 32;
	return 0;
}

struct port *transport_dpdk_port(void)
{
	return dt_port;
}

static int dt_init(struct broker *b)
{
	char err[1024];
	int rc = transport_dpdk_open(&b->cfg, err, sizeof(err));

	if (rc < 0) {
		log_err("%s", err);
		return rc;
	}
	dt_counters = calloc(b->cfg.workers, sizeof(*dt_counters));
	if (dt_counters == NULL)
		return -ENOMEM;
	dt_nworkers = b->cfg.workers;
	port_set_wake(dt_port, dt_wake, b);
	return 0;
}

static bool dt_counters_read(unsigned worker, uint64_t *values)
{
	if (dt_counters == NULL || worker >= dt_nworkers)
		return false;
	for (size_t i = 0; i < DPDK_NCOUNTERS; i++)
		values[i] = __atomic_load_n(&dt_counters[worker][i], __ATOMIC_RELAXED);
	return true;
}

/* One line of every non-zero counter summed over the workers, beside the engine's
 * totals line. */
static void dt_log_totals(void)
{
	char line[4096];
	size_t off = 0;

	for (size_t i = 0; i < DPDK_NCOUNTERS; i++) {
		uint64_t sum = 0;

		for (unsigned w = 0; w < dt_nworkers; w++)
			sum += dt_counters[w][i];
		if (sum != 0 && off < sizeof(line))
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s=%" PRIu64,
						dpdk_counters[i].name, sum);
	}
	log_notice("dpdk totals:%s", off ? line : " none");
}

static void dt_fini(struct broker *b)
{
	if (dt_counters != NULL)
		dt_log_totals();
	free(dt_counters);
	dt_counters = NULL;
	dt_nworkers = 0;
	port_close(dt_port);
	dt_port = NULL;
}

static int dt_faultinj(struct dt_worker *dw, const struct config *cfg)
{
	struct faultinj_params fp = {
		.drop = cfg->fault_drop,
		.duplicate = cfg->fault_duplicate,
		.reorder = cfg->fault_reorder,
		.corrupt = cfg->fault_corrupt,
		.seed = cfg->fault_seed,
	};

	if (!faultinj_enabled(&fp))
		return 0;
	dw->fi_rx = faultinj_create(&fp, dw->w->id, FAULTINJ_RX);
	dw->fi_tx = faultinj_create(&fp, dw->w->id, FAULTINJ_TX);
	return dw->fi_rx != NULL && dw->fi_tx != NULL ? 0 : -errno;
}

static void dt_worker_free(struct dt_worker *dw)
{
	if (dw->ts != NULL)
		tcp_stack_destroy(dw->ts);
	if (dw->ni != NULL)
		net_if_destroy(dw->ni);
	faultinj_destroy(dw->fi_rx);
	faultinj_destroy(dw->fi_tx);
	if (dw->epfd >= 0)
		close(dw->epfd);
	free(dw);
}

static int dt_stack(struct dt_worker *dw, const struct config *cfg)
{
	const struct port_info *pi = port_get_info(dt_port);
	struct worker *w = dw->w;
	struct net_params np;
	struct tcp_params tp;
	uint64_t now = dt_now_us();

	net_params_default(&np);
	port_net_params(dt_port, w->id, &np);
	np.ip = cfg->dpdk_ip;
	np.prefix_len = (uint8_t)cfg->dpdk_prefix_len;
	np.gateway = cfg->dpdk_gateway;
	np.arp_entries = cfg->dpdk_arp_entries;
	np.tx_burst = dt_tx_burst;
	np.tx_arg = dw;
	dw->ni = net_if_create(&np, now);
	if (dw->ni == NULL)
		return -errno;
	tcp_params_default(&tp);
	tp.local_ip = cfg->dpdk_ip;
	tp.pool = np.pool;
	tp.output = net_tcp_output;
	tp.output_arg = dw->ni;
	tp.ops = &dt_user_ops;
	tp.worker_id = w->id;
	tp.mss = (uint16_t)(pi->mtu - 40);   /* RFC 9293 3.7.1: MTU - IP - TCP headers */
	tp.rcv_buf = (uint32_t)cfg->tcp_rcv_buf;
	tp.max_conns = cfg->tcp_max_connections;
	tp.syn_backlog = cfg->tcp_syn_backlog;
	tp.rto_min_us = cfg->tcp_rto_min_ms * 1000u;
	if (tp.rto_initial_us < tp.rto_min_us)
		tp.rto_initial_us = tp.rto_min_us;
	tp.delack_us = cfg->tcp_delayed_ack_ms * 1000u;
	tp.secret = dt_secret;
	/* PUBLISH payloads ride as external buffers where the port sends chains. */
	tp.tx_chains = pi->tx_multi_seg;
	dw->ts = tcp_stack_create(&tp, now);
	if (dw->ts == NULL)
		return -ENOMEM;
	net_if_set_tcp(dw->ni, dw->ts);
	dw->idle_spin_us = cfg->dpdk_idle_spin_us;
	return tcp_listen(dw->ts, cfg->port != 0 ? cfg->port : 1883, dw);
}

static int dt_setup(struct worker *w)
{
	const struct config *cfg = &w->broker->cfg;
	struct dt_worker *dw = calloc(1, sizeof(*dw));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = DT_EV_WAKE };
	struct epoll_event rx = { .events = EPOLLIN | EPOLLET, .data.u32 = DT_EV_RX_INTR };
	int rc;

	if (dw == NULL)
		return -ENOMEM;
	dw->w = w;
	dw->rx_intr_fd = port_rx_intr_fd(dt_port, w->id);
	dw->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dw->epfd < 0 || epoll_ctl(dw->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0) {
		rc = -errno;
		goto fail;
	}
	/* Edge-triggered: we never read it (port.h), so it reports each new frame's
	 * wake-up rather than staying ready. */
	if (dw->rx_intr_fd >= 0 &&
	    epoll_ctl(dw->epfd, EPOLL_CTL_ADD, dw->rx_intr_fd, &rx) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = dt_faultinj(dw, cfg);
	if (rc == 0)
		rc = dt_stack(dw, cfg);
	if (rc < 0)
		goto fail;
	/* RFC 5227 announcement, so peers with a stale entry for our address learn our
	 * MAC now. One worker is enough: it is the same address and MAC. */
	if (w->id == 0)
		net_announce(dw->ni);
	w->transport = dw;
	return 0;
fail:
	log_err("worker %u: dpdk transport: %s", w->id, strerror(-rc));
	dt_worker_free(dw);
	return rc;
}

static int dt_lcore_main(void *arg)
{
	struct worker *w = arg;
	struct dt_worker *dw = w->transport;

	dw->fn(w);
	return 0;
}

static int dt_launch(struct worker *w, void *(*fn)(void *))
{
	struct dt_worker *dw = w->transport;
	int rc;

	dw->fn = fn;
	rc = rte_eal_remote_launch(dt_lcore_main, w, port_worker_lcore(dt_port, w->id));
	return rc < 0 ? rc : 0;
}

static void dt_join(struct worker *w)
{
	rte_eal_wait_lcore(port_worker_lcore(dt_port, w->id));
}

/* The worker's counters where the metrics and the totals line read them. */
static void dt_publish(struct dt_worker *dw)
{
	const struct dpdk_worker_counters own = {
		.tx_refused = dw->tx_refused,
		.idle_sleeps = dw->sleeps,
		.rx_intr_wakeups = dw->rx_intr_wakeups,
		.rx_intr_repolls = dw->rx_intr_repolls,
	};
	uint64_t v[DPDK_NCOUNTERS];

	if (dt_counters == NULL)
		return;
	dpdk_counters_collect(v, tcp_stack_stats(dw->ts), net_if_stats(dw->ni),
			      port_worker_stats(dt_port, dw->w->id), &own,
			      dw->fi_rx != NULL ? faultinj_stats(dw->fi_rx) : NULL,
			      dw->fi_tx != NULL ? faultinj_stats(dw->fi_tx) : NULL);
	for (size_t i = 0; i < DPDK_NCOUNTERS; i++)
		__atomic_store_n(&dt_counters[dw->w->id][i], v[i], __ATOMIC_RELAXED);
}

/* A burst from the port (and ring), through the RX injector. */
static uint16_t dt_receive(struct dt_worker *dw, struct rte_mbuf **pkts, uint64_t now)
{
	uint16_t n = port_rx(dt_port, dw->w->id, pkts, DT_BURST);

	if (dw->fi_rx != NULL) {
		n = faultinj_apply(dw->fi_rx, pkts, n, 2 * DT_BURST, now);
		n = (uint16_t)(n + faultinj_flush(dw->fi_rx, pkts + n,
						  (uint16_t)(2 * DT_BURST - n), now, false));
	}
	return n;
}

/* Idle: sleep on the wake eventfd and the queue's RX interrupt, RCU-offline, at most
 * until the next TCP timer. With an interrupt, the l3fwd-power order: arm it, poll
 * once more (a frame that came since the last poll raised none), sleep only if that
 * found nothing, disarm on waking. Returns the frames the re-poll found (<pkts>, at
 * most 2 * DT_BURST), for the caller to handle; 0 after a sleep. */
static uint16_t dt_sleep(struct dt_worker *dw, int timeout_ms, uint64_t now,
			 struct rte_mbuf **pkts)
{
	uint64_t next = tcp_next_timer_us(dw->ts, now);
	bool intr = dw->rx_intr_fd >= 0;
	/* Held frames of a fault injector have no wake-up: poll as without. */
	int cap = intr && dw->fi_rx == NULL && dw->fi_tx == NULL ? DT_INTR_SLEEP_MS :
								   DT_IDLE_SLEEP_MS;
	int ms = timeout_ms < cap ? timeout_ms : cap;
	struct epoll_event ev[2];
	uint16_t n;
	int got;

	if (next != UINT64_MAX && next / 1000u < (uint64_t)ms)
		ms = (int)(next / 1000u);
	if (ms <= 0 || port_rx_pending(dt_port, dw->w->id) > 0)
		return 0;
	if (intr) {
		port_rx_intr_enable(dt_port, dw->w->id);
		n = dt_receive(dw, pkts, now);
		if (n > 0) {
			port_rx_intr_disable(dt_port, dw->w->id);
			dw->rx_intr_repolls++;
			return n;
		}
	}
	dw->sleeps++;
	rcu_thread_offline();
	got = epoll_wait(dw->epfd, ev, 2, ms);
	for (int i = 0; i < got; i++) {
		uint64_t v;

		if (ev[i].data.u32 == DT_EV_RX_INTR) {
			dw->rx_intr_wakeups++;
			continue;
		}
		/* EAGAIN: another turn took the wake-up already. */
		if (read(dw->w->wake_fd, &v, sizeof(v)) < 0)
			(void)v;
	}
	rcu_thread_online();
	if (intr)
		port_rx_intr_disable(dt_port, dw->w->id);
	return 0;
}

static int dt_poll(struct worker *w, int timeout_ms)
{
	struct dt_worker *dw = w->transport;
	struct rte_mbuf *pkts[2 * DT_BURST];
	uint64_t now = dt_now_us();
	uint16_t n;

	n = dt_receive(dw, pkts, now);
	if (n > 0)
		net_rx(dw->ni, pkts, n, now);
	tcp_timers(dw->ts, now);
	net_timers(dw->ni, now);
	if (now >= dw->publish_us) {
		dw->publish_us = now + DT_PUBLISH_US;
		dt_publish(dw);
	}
	if (n > 0)
		dw->last_frame_us = now;
	if (n > 0 || timeout_ms == 0) {
		dw->idle_polls = 0;
		return n;
	}
	/* A sleep on a port without RX interrupts lasts up to DT_IDLE_SLEEP_MS: a
	 * client's answer arriving just after it waits that long, and a request-answer
	 * exchange (a QoS 1 window, a connect) then runs at one round per sleep. */
	if (++dw->idle_polls < DT_SPIN_POLLS || now - dw->last_frame_us < dw->idle_spin_us)
		return 0;
	/* What happened before a long sleep is seen during it. */
	dt_publish(dw);
	n = dt_sleep(dw, timeout_ms, now, pkts);
	if (n > 0) {
		dw->idle_polls = 0;
		net_rx(dw->ni, pkts, n, now);
	}
	return n;
}

static int dt_output(struct transport_conn *tc)
{
	if (!tc->closed && tc->tcb != NULL)
		tcp_send_ready(tc->tcb);
	return 0;
}

static void dt_flush(struct worker *w)
{
	struct dt_worker *dw = w->transport;
	uint64_t now = dt_now_us();

	uint64_t tx;

	tcp_flush(dw->ts, now);
	net_tx_flush(dw->ni);
	dt_tx_held(dw, now);
	tx = net_if_stats(dw->ni)->tx_frames;
	if (tx != dw->tx_frames_seen) {
		dw->tx_frames_seen = tx;
		dw->last_frame_us = now;
	}
}

static void dt_pause_read(struct transport_conn *tc, bool paused)
{
	/* Paused, the engine takes no bytes (proto_input returns what it took) and the
	 * stack keeps them; resumed, the stack offers them again at tcp_flush(), never
	 * from inside this call. */
	if (!paused && !tc->closed && tc->tcb != NULL)
		tcp_recv_resume(tc->tcb);
}

static void dt_close(struct transport_conn *tc)
{
	if (tc->closed)
		return;
	tc->closed = true;
	/* The engine's output is still valid: tcp_close takes what is left, and sends
	 * it and our FIN (RFC 9293 3.10.4) without us. */
	if (tc->tcb != NULL)
		tcp_close(tc->tcb);
	tc->tcb = NULL;
	tc->next_dead = tc->dw->dead;
	tc->dw->dead = tc;
}

static void dt_reap(struct worker *w)
{
	struct dt_worker *dw = w->transport;

	while (dw->dead != NULL) {
		struct transport_conn *tc = dw->dead;

		dw->dead = tc->next_dead;
		free(tc);
	}
}

/* "a.b.c.d:port", valid until this thread's DT_PEER_BUFS-th next call: enough for the
 * few peers one log line names. */
#define DT_PEER_BUFS 4
static const char *dt_peer(const struct transport_conn *tc)
{
	static __thread char buf[DT_PEER_BUFS][24];
	static __thread unsigned next;
	char *b = buf[next++ % DT_PEER_BUFS];
	uint32_t ip = tc->peer_ip;

	snprintf(b, sizeof(buf[0]), "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255,
		 (ip >> 8) & 255, ip & 255, tc->peer_port);
	return b;
}

static void dt_teardown(struct worker *w)
{
	struct dt_worker *dw = w->transport;

	if (dw == NULL)
		return;
	/* The engine closed every connection: their FINs go out before the stack goes. */
	dt_flush(w);
	dt_reap(w);
	dt_publish(dw);
	dt_worker_free(dw);
	w->transport = NULL;
}

const struct transport_ops transport_dpdk_ops = {
	.name = "dpdk",
	.init = dt_init,
	.fini = dt_fini,
	.setup = dt_setup,
	.launch = dt_launch,
	.join = dt_join,
	.now_us = dt_now_us,
	.poll = dt_poll,
	.output = dt_output,
	.flush = dt_flush,
	.pause_read = dt_pause_read,
	.close = dt_close,
	.reap = dt_reap,
	.peer = dt_peer,
	.teardown = dt_teardown,
	.counters = dpdk_counters,
	.ncounters = DPDK_NCOUNTERS,
	.counters_read = dt_counters_read,
};
