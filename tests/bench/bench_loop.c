/* bench_loop.c - a generator thread's event loop (see bench_loop.h): edge-triggered
 * epoll, one clock read per turn, reads in chunks, one write per connection per turn. */
#include "bench_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_dpdk.h"
#include "bench_proto.h"
#include "bench_pub.h"
#include "bench_run.h"
#include "bench_time.h"

#define BENCH_EVENTS 256
#define BENCH_RXBUF_MIN (256u << 10)
/* How often idle connections are checked for a PINGREQ. */
#define BENCH_KEEPALIVE_SCAN_NS BENCH_NS_PER_S
/* Belt and braces: a connection blocked on a full send buffer is retried this often,
 * even though the EPOLLOUT edge should wake it first. */
#define BENCH_WR_RETRY_NS (100 * BENCH_NS_PER_MS)
/* Fixed-rate publishers wake the loop at most this often: above 100k messages/s in
 * all, the messages due within one tick go out together (one write per connection)
 * instead of one wake-up and one write each, which would make the generator the
 * limit. Each keeps its scheduled stamp, so the wait counts as latency. */
#define BENCH_RATE_TICK_NS 10000ull
/* DPDK mode's teardown: connections closed between two polls of the port. */
#define BENCH_TEARDOWN_BATCH 128u

static inline uint64_t bench_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int bench_thread_init(struct bench_thread *th, struct bench_run *run, unsigned int idx,
		      uint32_t nconns, size_t max_packet)
{
	size_t n = nconns ? nconns : 1;
	uint32_t i;

	memset(th, 0, sizeof(*th));
	th->run = run;
	th->idx = idx;
	th->nconns = nconns;
	th->max_packet = max_packet;
	th->rxcap = 2 * max_packet + (64u << 10);
	if (th->rxcap < BENCH_RXBUF_MIN)
		th->rxcap = BENCH_RXBUF_MIN;
	th->ep = epoll_create1(EPOLL_CLOEXEC);
	if (th->ep < 0)
		return -errno;
	th->conns = calloc(n, sizeof(*th->conns));
	th->pubs = calloc(n, sizeof(*th->pubs));
	th->rdq = calloc(n, sizeof(*th->rdq));
	th->wrq = calloc(n, sizeof(*th->wrq));
	th->rxbuf = malloc(th->rxcap);
	if (th->conns == NULL || th->pubs == NULL || th->rdq == NULL || th->wrq == NULL ||
	    th->rxbuf == NULL) {
		bench_thread_fini(th);
		return -ENOMEM;
	}
	for (i = 0; i < nconns; i++)
		th->conns[i].fd = -1;
	th->win_lo = th->win_hi = UINT64_MAX;
	th->prod_lo = th->prod_hi = UINT64_MAX;
	th->now = bench_now();
	th->next_keepalive = th->now + BENCH_KEEPALIVE_SCAN_NS;
	return 0;
}

void bench_thread_fini(struct bench_thread *th)
{
	uint32_t i;

	if (th->conns != NULL) {
		for (i = 0; i < th->nconns; i++)
			bench_conn_fini(&th->conns[i]);
	}
	free(th->conns);
	free(th->pubs);
	free(th->rdq);
	free(th->wrq);
	free(th->rxbuf);
	bench_dpdk_thread_fini(th);
	if (th->ep >= 0)
		close(th->ep);
	th->conns = NULL;
	th->pubs = th->rdq = th->wrq = NULL;
	th->rxbuf = NULL;
	th->ep = -1;
}

void bench_loop_want_write(struct bench_thread *th, struct bench_conn *c)
{
	if (!c->on_wrq) {
		c->on_wrq = true;
		th->wrq[th->nwr++] = c;
	}
}

void bench_loop_settle_ok(struct bench_thread *th, struct bench_conn *c)
{
	if (c->settled)
		return;
	c->settled = true;
	th->settled++;
	th->settled_ok++;
	th->last_ok = th->now;
}

void bench_loop_fail(struct bench_thread *th, struct bench_conn *c, int err, const char *what)
{
	char ebuf[96];

	if (!c->settled) {
		c->settled = true;
		th->settled++;
		th->st.connect_errors++;
	} else {
		th->st.dropped++;
	}
	if (th->first_err == 0) {
		th->first_err = err < 0 ? err : -EIO;
		snprintf(th->first_msg, sizeof(th->first_msg), "%s (connection %u): %s", what,
			 c->index, th->detail[0] ? th->detail :
			 strerror_r(-th->first_err, ebuf, sizeof(ebuf)));
	}
	th->detail[0] = '\0';
	if (c->pub != NULL)
		bench_pub_abandon(c->pub);
	bench_conn_close(c, BCS_FAILED);
}

/* Any event on a connecting socket: the handshake finished, one way or the other. */
static void bench_loop_connected(struct bench_thread *th, struct bench_conn *c, uint32_t ev)
{
	socklen_t len = sizeof(int);
	int err = 0, rc;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		bench_loop_fail(th, c, -err, "connect");
		return;
	}
	if (!(ev & EPOLLOUT))
		return;
	rc = bench_proto_connected(th, c);
	if (rc < 0)
		bench_loop_fail(th, c, rc, "CONNECT");
}

static void bench_loop_event(struct bench_thread *th, struct bench_conn *c, uint32_t ev)
{
	if (!bench_conn_live(c))
		return;
	if (c->state == BCS_CONNECTING) {
		bench_loop_connected(th, c, ev);
		if (!bench_conn_live(c))
			return;
	}
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		c->can_write = true;
		if (bench_conn_pending(c))
			bench_loop_want_write(th, c);
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
		c->can_read = true;
		if (!c->on_rdq) {
			c->on_rdq = true;
			th->rdq[th->nrd++] = c;
		}
	}
}

void bench_loop_input_error(struct bench_thread *th, struct bench_conn *c, int rc)
{
	/* The broker closing after our DISCONNECT is the goal of a leaving session. */
	if (c->state == BCS_LEAVING && rc == -ECONNRESET) {
		bench_conn_close(c, BCS_DONE);
		bench_loop_settle_ok(th, c);
		return;
	}
	bench_loop_fail(th, c, rc, rc == -ECONNRESET ? "closed by broker" :
			th->detail[0] ? "broker" : "input");
}

static void bench_loop_read(struct bench_thread *th)
{
	uint32_t i, n = th->nrd, k = 0;
	struct bench_conn *c;
	int rc;

	for (i = 0; i < n; i++) {
		c = th->rdq[i];
		c->on_rdq = false;
		if (!bench_conn_live(c) || !c->can_read)
			continue;
		rc = bench_conn_input(th, c);
		if (rc < 0) {
			bench_loop_input_error(th, c, rc);
			continue;
		}
		if (c->can_read) {
			c->on_rdq = true;
			th->rdq[k++] = c;
		}
	}
	th->nrd = k;
}

static void bench_loop_produce(struct bench_thread *th)
{
	bool in_win = bench_loop_in_window(th);
	struct bench_conn *c;
	uint32_t i, n;

	if (th->now < th->prod_lo || th->now >= th->prod_hi)
		return;
	for (i = 0; i < th->npubs; i++) {
		c = th->pubs[i];
		if (!bench_conn_live(c) || c->state != BCS_READY)
			continue;
		/* Unlimited publishers wait for the socket; fixed-rate ones keep their
		 * schedule and queue, so a stall shows up as latency. */
		if (c->pub->period_ns <= 0 && !c->can_write)
			continue;
		n = bench_pub_produce(c->pub, th->now, in_win ? &th->st.lag : NULL);
		if (n == 0)
			continue;
		th->st.published_total += n;
		if (in_win)
			th->st.published += n;
		bench_loop_want_write(th, c);
	}
}

static void bench_loop_keepalive(struct bench_thread *th)
{
	uint64_t idle = BENCH_PING_IDLE_S * BENCH_NS_PER_S;
	struct bench_conn *c;
	uint32_t i;

	th->next_keepalive = th->now + BENCH_KEEPALIVE_SCAN_NS;
	for (i = 0; i < th->nconns; i++) {
		c = &th->conns[i];
		if (!bench_conn_live(c) || c->state != BCS_READY || th->now - c->last_tx < idle)
			continue;
		c->last_tx = th->now;
		if (bench_proto_empty(th, c, MQTT_PINGREQ) < 0)
			bench_loop_fail(th, c, -ENOMEM, "PINGREQ");
	}
}

static void bench_loop_flush(struct bench_thread *th)
{
	bool retry = th->now >= th->wr_retry;
	uint32_t i, n = th->nwr, k = 0;
	struct bench_conn *c;
	int rc;

	for (i = 0; i < n; i++) {
		c = th->wrq[i];
		c->on_wrq = false;
		if (!bench_conn_live(c) || c->state == BCS_CONNECTING || !bench_conn_pending(c))
			continue;
		if (c->can_write || retry) {
			rc = bench_conn_flush(th, c);
			if (rc < 0) {
				bench_loop_fail(th, c, rc, "write");
				continue;
			}
		}
		if (bench_conn_pending(c)) {
			c->on_wrq = true;
			th->wrq[k++] = c;
		}
	}
	th->nwr = k;
	if (retry)
		th->wr_retry = th->now + BENCH_WR_RETRY_NS;
}

static uint64_t bench_loop_boundary(const struct bench_thread *th, uint64_t wake)
{
	const uint64_t b[] = { th->prod_lo, th->prod_hi, th->win_lo, th->win_hi };
	size_t i;

	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		if (b[i] > th->now)
			wake = bench_min(wake, b[i]);
	}
	return wake;
}

/* When the next turn must start at the latest: 0 if there is work right now. */
static uint64_t bench_loop_wake(const struct bench_thread *th, uint64_t until)
{
	uint64_t wake = bench_min(until, th->next_keepalive), due;
	const struct bench_conn *c;
	uint32_t i;

	if (th->nrd > 0)
		return 0;
	wake = bench_loop_boundary(th, wake);
	for (i = 0; i < th->nwr; i++) {
		c = th->wrq[i];
		if (!bench_conn_live(c) || c->state == BCS_CONNECTING)
			continue;
		if (c->can_write)
			return 0;
		wake = bench_min(wake, th->wr_retry);
	}
	if (th->now < th->prod_lo || th->now >= th->prod_hi)
		return wake;
	for (i = 0; i < th->npubs; i++) {
		c = th->pubs[i];
		if (!bench_conn_live(c) || c->state != BCS_READY)
			continue;
		due = bench_pub_next_due(c->pub);
		if (due == 0 && !c->can_write)
			continue;
		if (due > th->now && due - th->now < BENCH_RATE_TICK_NS)
			due = th->now + BENCH_RATE_TICK_NS;
		wake = bench_min(wake, due);
	}
	return wake;
}

/* Kernel mode: waits for socket events until <wake> at the latest. */
static void bench_loop_epoll(struct bench_thread *th, uint64_t wake)
{
	struct epoll_event ev[BENCH_EVENTS];
	struct timespec ts = { 0, 0 };
	uint64_t d;
	int n, i;

	if (wake > th->now) {
		d = wake - th->now;
		ts.tv_sec = (time_t)(d / BENCH_NS_PER_S);
		ts.tv_nsec = (long)(d % BENCH_NS_PER_S);
	}
	n = epoll_pwait2(th->ep, ev, BENCH_EVENTS, &ts, NULL);
	th->now = bench_now();
	for (i = 0; i < n; i++)
		bench_loop_event(th, ev[i].data.ptr, ev[i].events);
}

void bench_loop_turn(struct bench_thread *th, uint64_t until)
{
	uint64_t wake = bench_loop_wake(th, until);

	/* DPDK mode: input is handled inside the poll (the stack's recv callback). */
	if (th->dp != NULL)
		bench_dpdk_poll(th, wake);
	else
		bench_loop_epoll(th, wake);
	bench_loop_read(th);
	bench_loop_produce(th);
	if (th->now >= th->next_keepalive)
		bench_loop_keepalive(th);
	bench_loop_flush(th);
	if (th->dp != NULL)
		bench_dpdk_flush(th);
	bench_progress_note(th);
}

/* How many connections of <role> this thread has. */
static uint32_t bench_loop_count_role(const struct bench_thread *th, enum bench_role role)
{
	uint32_t i, n = 0;

	for (i = 0; i < th->nconns; i++)
		n += th->conns[i].role == role;
	return n;
}

uint32_t bench_loop_open_role(struct bench_thread *th, enum bench_role role,
			      uint32_t window, uint64_t deadline)
{
	uint32_t target = bench_loop_count_role(th, role), base = th->settled;
	uint64_t errors = th->st.connect_errors;
	uint32_t next = 0, opened = 0, i;
	struct bench_conn *c;
	int rc;

	th->now = bench_now();
	for (;;) {
		/* Keep <window> connections between open() and their goal. */
		while (next < th->nconns && opened - (th->settled - base) < window) {
			c = &th->conns[next++];
			if (c->role != role)
				continue;
			opened++;
			rc = bench_conn_open(th, c);
			if (rc < 0)
				bench_loop_fail(th, c, rc, "connect");
		}
		if (th->settled - base >= target || th->now >= deadline ||
		    bench_run_aborted(th->run))
			break;
		bench_loop_turn(th, deadline);
	}
	/* After an abort the run is over anyway: no point blaming the stragglers. */
	for (i = 0; i < th->nconns && !bench_run_aborted(th->run); i++) {
		c = &th->conns[i];
		if (c->role == role && !c->settled)
			bench_loop_fail(th, c, -ETIMEDOUT, "set-up");
	}
	return (uint32_t)(th->st.connect_errors - errors);
}

void bench_loop_progress(struct bench_thread *th, bool stopped)
{
	uint64_t inflight = 0;
	uint32_t i;

	for (i = 0; i < th->npubs; i++)
		inflight += bench_pub_inflight(th->pubs[i]->pub);
	atomic_store_explicit(&th->prog.published_total, th->st.published_total,
			      memory_order_relaxed);
	atomic_store_explicit(&th->prog.distinct, th->st.distinct, memory_order_relaxed);
	atomic_store_explicit(&th->prog.inflight, inflight, memory_order_relaxed);
	atomic_store_explicit(&th->prog.stopped, stopped, memory_order_release);
}

void bench_loop_teardown(struct bench_thread *th)
{
	struct bench_conn *c;
	uint32_t i;

	th->now = bench_now();
	for (i = 0; i < th->nconns; i++) {
		c = &th->conns[i];
		if (!bench_conn_live(c))
			continue;
		if (c->state == BCS_READY) {
			/* Messages still queued would land after DISCONNECT: drop them. */
			if (c->pub != NULL)
				bench_pub_abandon(c->pub);
			if (bench_proto_empty(th, c, MQTT_DISCONNECT) == 0)
				(void)bench_conn_flush(th, c);
		}
		bench_conn_close(c, BCS_DONE);
		/* DPDK mode: what the closes queued goes out in batches the port's ring
		 * and pool take, while the broker's answers are read. */
		if (th->dp != NULL && i % BENCH_TEARDOWN_BATCH == BENCH_TEARDOWN_BATCH - 1)
			bench_dpdk_pace(th);
	}
	th->nrd = 0;
	th->nwr = 0;
	if (th->dp != NULL)
		bench_dpdk_linger(th);
}
