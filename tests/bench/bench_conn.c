/* bench_conn.c - socket, control buffer, batched write and chunked read of one
 * generator connection (see bench_conn.h). */
#include "bench_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <petrel/mqtt.h>

#include "bench_dpdk.h"
#include "bench_loop.h"
#include "bench_proto.h"
#include "bench_pub.h"
#include "bench_run.h"
#include "bench_sub.h"

/* IOV_MAX on Linux: the control bytes plus up to 1023 queued PUBLISHes per call. */
#define BENCH_IOV 1024
/* Reads of one connection per turn before the others get their turn. */
#define BENCH_READS_PER_TURN 4
#define BENCH_CTL_MIN 256

static int bench_conn_bind_source(const struct bench_opts *o, int fd, uint32_t index)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(o->src_first + index % o->src_count);
	/* Let connect() pick the port from the whole 4-tuple instead of bind() from the
	 * address alone; otherwise each source address runs out after ~28k ports. */
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

int bench_conn_open(struct bench_thread *th, struct bench_conn *c)
{
	const struct bench_opts *o = th->run->o;
	struct epoll_event ev;
	int fd, one = 1, rc;

	if (th->dp != NULL)
		return bench_dpdk_conn_open(th, c);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* We batch ourselves; Nagle would only add latency to acks and small packets. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		goto err_errno;
	if (o->src_count > 0) {
		rc = bench_conn_bind_source(o, fd, c->index);
		if (rc < 0)
			goto err_close;
	}
	if (connect(fd, (const struct sockaddr *)&o->broker, sizeof(o->broker)) < 0 &&
	    errno != EINPROGRESS)
		goto err_errno;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(th->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto err_errno;
	c->fd = fd;
	c->state = BCS_CONNECTING;
	c->can_read = false;
	c->can_write = false;
	c->last_tx = th->now;
	return 0;

err_errno:
	rc = -errno;
err_close:
	close(fd);
	return rc;
}

void bench_conn_close(struct bench_conn *c, enum bench_conn_state state)
{
	if (c->tcb != NULL)
		bench_dpdk_conn_close(c, state == BCS_FAILED);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = (uint8_t)state;
	c->can_read = false;
	c->can_write = false;
	free(c->ctl);
	c->ctl = NULL;
	c->ctl_head = c->ctl_len = c->ctl_cap = c->ctl_given = 0;
	free(c->stash);
	c->stash = NULL;
	c->stash_len = c->stash_cap = 0;
}

void bench_conn_abort(struct bench_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (c->tcb != NULL) {
		bench_dpdk_conn_close(c, true);
	} else if (c->fd >= 0) {
		/* RFC 9293 3.10.5 via Linux: close() with a zero linger time sends RST. */
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	bench_conn_close(c, BCS_DONE);
}

void bench_conn_fini(struct bench_conn *c)
{
	bench_conn_close(c, (enum bench_conn_state)c->state);
	if (c->pub != NULL) {
		bench_pub_fini(c->pub);
		free(c->pub);
		c->pub = NULL;
	}
	if (c->sub != NULL) {
		bench_sub_fini(c->sub);
		free(c->sub);
		c->sub = NULL;
	}
}

uint8_t *bench_conn_ctl_reserve(struct bench_conn *c, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (c->ctl_len + n <= c->ctl_cap)
		return c->ctl + c->ctl_len;
	if (c->ctl_head > 0) {
		memmove(c->ctl, c->ctl + c->ctl_head, c->ctl_len - c->ctl_head);
		c->ctl_len -= c->ctl_head;
		c->ctl_head = 0;
	}
	if (c->ctl_len + n > c->ctl_cap) {
		cap = c->ctl_cap ? (size_t)c->ctl_cap * 2 : BENCH_CTL_MIN;
		while (cap < c->ctl_len + n)
			cap *= 2;
		if (cap > UINT32_MAX)
			return NULL;
		p = realloc(c->ctl, cap);
		if (p == NULL)
			return NULL;
		c->ctl = p;
		c->ctl_cap = (uint32_t)cap;
	}
	return c->ctl + c->ctl_len;
}

bool bench_conn_pending(const struct bench_conn *c)
{
	return c->ctl_len - c->ctl_head > c->ctl_given ||
	       (c->pub != NULL && c->pub->txq_len > 0);
}

int bench_conn_flush(struct bench_thread *th, struct bench_conn *c)
{
	struct iovec iov[BENCH_IOV];
	size_t cnt = 0, bytes = 0, ctl_n = c->ctl_len - c->ctl_head, took;
	struct msghdr mh;
	ssize_t n;

	if (c->tcb != NULL)
		return bench_dpdk_conn_flush(th, c);
	if (ctl_n > 0) {
		iov[0].iov_base = c->ctl + c->ctl_head;
		iov[0].iov_len = ctl_n;
		cnt = 1;
		bytes = ctl_n;
	}
	if (c->pub != NULL)
		cnt += bench_pub_iov(c->pub, iov + cnt, BENCH_IOV - cnt, &bytes);
	if (cnt == 0)
		return 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = cnt;
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->can_write = false;
			return 0;
		}
		return errno == EINTR ? 0 : -errno;
	}
	c->last_tx = th->now;
	/* A short write means the send buffer is full: Linux then flags the socket
	 * SOCK_NOSPACE and reports the next EPOLLOUT edge, so we need not hit EAGAIN. */
	if ((size_t)n < bytes)
		c->can_write = false;
	took = (size_t)n < ctl_n ? (size_t)n : ctl_n;
	c->ctl_head += (uint32_t)took;
	if (c->ctl_head == c->ctl_len)
		c->ctl_head = c->ctl_len = 0;
	if (c->pub != NULL && (size_t)n > took)
		bench_pub_written(c->pub, (size_t)n - took);
	return 0;
}

/* Room for <n> bytes in the stash. */
static int bench_conn_stash_room(struct bench_conn *c, size_t n)
{
	size_t cap;
	uint8_t *s;

	if (n <= c->stash_cap)
		return 0;
	cap = c->stash_cap ? (size_t)c->stash_cap : BENCH_CTL_MIN;
	while (cap < n)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	s = realloc(c->stash, cap);
	if (s == NULL)
		return -ENOMEM;
	c->stash = s;
	c->stash_cap = (uint32_t)cap;
	return 0;
}

/* Keeps the unfinished tail of a read for the next one. */
static int bench_conn_stash(struct bench_conn *c, const uint8_t *p, size_t n)
{
	int rc = bench_conn_stash_room(c, n);

	if (rc < 0)
		return rc;
	if (n > 0)
		memmove(c->stash, p, n);
	c->stash_len = (uint32_t)n;
	return 0;
}

/* Handles the whole packets in buf[0, len); *used gets the bytes they took. */
static int bench_conn_decode(struct bench_thread *th, struct bench_conn *c,
			     const uint8_t *buf, size_t len, size_t *used)
{
	struct mqtt_pkt pkt;
	size_t off = 0;
	ssize_t r;
	int rc;

	while (off < len) {
		r = mqtt_decode(buf + off, len - off, th->max_packet, &pkt);
		if (r == 0)
			break;
		if (r < 0)
			return (int)r;
		rc = bench_proto_packet(th, c, &pkt);
		if (rc < 0)
			return rc;
		off += (size_t)r;
	}
	*used = off;
	return 0;
}

int bench_conn_input(struct bench_thread *th, struct bench_conn *c)
{
	size_t have, used = 0;
	unsigned int i;
	ssize_t n;
	int rc;

	for (i = 0; i < BENCH_READS_PER_TURN; i++) {
		have = c->stash_len;
		if (have > 0)
			memcpy(th->rxbuf, c->stash, have);
		n = recv(c->fd, th->rxbuf + have, th->rxcap - have, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			c->can_read = false;
			return 0;
		}
		rc = bench_conn_decode(th, c, th->rxbuf, have + (size_t)n, &used);
		if (rc < 0)
			return rc;
		rc = bench_conn_stash(c, th->rxbuf + used, have + (size_t)n - used);
		if (rc < 0)
			return rc;
		/* A short read drained the socket; edge-triggered epoll reports the next
		 * arrival, so no read is wasted on EAGAIN. */
		if ((size_t)n < th->rxcap - have) {
			c->can_read = false;
			return 0;
		}
	}
	return 0;
}

int bench_conn_feed(struct bench_thread *th, struct bench_conn *c, const uint8_t *data,
		    size_t len)
{
	size_t used = 0, have = c->stash_len;
	int rc;

	if (have == 0) {
		/* The common case: decoded straight from the mbuf. */
		rc = bench_conn_decode(th, c, data, len, &used);
		return rc < 0 ? rc : bench_conn_stash(c, data + used, len - used);
	}
	/* A packet split across segments: complete it behind the kept start. At most
	 * one segment is copied, as the stash holds less than one packet. */
	rc = bench_conn_stash_room(c, have + len);
	if (rc < 0)
		return rc;
	memcpy(c->stash + have, data, len);
	c->stash_len = (uint32_t)(have + len);
	rc = bench_conn_decode(th, c, c->stash, c->stash_len, &used);
	if (rc < 0)
		return rc;
	memmove(c->stash, c->stash + used, c->stash_len - used);
	c->stash_len -= (uint32_t)used;
	return 0;
}
