/* transport_kernel.c - the kernel-socket transport: one epoll instance and one
 * SO_REUSEPORT listener per worker, non-blocking sockets, level-triggered events.
 * The kernel spreads new connections over the workers' listeners; a connection stays
 * on the worker that accepted it. Closed connections are unlinked at once and freed at
 * reap(), so an event already fetched in the same epoll batch never sees freed memory.
 *
 * Accept back-off: when accept fails for want of descriptors (EMFILE, ENFILE) or
 * kernel memory, the listener stays readable, and level-triggered epoll would wake us
 * for it in a loop. So the listener leaves the epoll set and comes back after a delay
 * that doubles per failure (KT_ACCEPT_BACKOFF_MIN_MS .. _MAX_MS); connections wait in
 * the listen backlog meanwhile, and the clients already connected are served as
 * usual. Each failure is counted; the episode is logged once when it starts and once
 * when the backlog has been drained again.
 *
 * Output: the engine's output stream is the send buffer (proto.h); output() pulls
 * spans from its start into one sendmsg and releases what the kernel took, since the
 * kernel has its own copy. When the socket is full the connection waits for EPOLLOUT
 * and then sends again by itself. Input: what a paused connection's engine does not
 * take is kept here (allocated only then) with EPOLLIN off, and offered again at the
 * start of the next poll after pause_read(false), in order, before anything newer is
 * read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>
#include <urcu/list.h>

#include "petrel/broker.h"
#include "petrel/budget.h"
#include "petrel/compiler.h"
#include "petrel/log.h"
#include "petrel/proto.h"
#include "petrel/transport.h"
#include "petrel/worker.h"

#define KT_EVENTS 256
#define KT_RXBUF (64 * 1024)
/* Reads per readiness event: fairness between busy connections. */
#define KT_READS_PER_EVENT 4
#define KT_ACCEPTS_PER_EVENT 64
#define KT_ACCEPT_BACKOFF_MIN_MS 50
#define KT_ACCEPT_BACKOFF_MAX_MS 1000
/* Spans per sendmsg: 64 PUBLISH packets (4 pieces each) per system call. */
#define KT_SPANS 256

enum kt_kind { KT_LISTENER, KT_WAKE, KT_CONN };

/* Input a paused connection's engine did not take: one allocation, only then, so an
 * idle connection pays one pointer for it. */
struct kt_kept {
	struct cds_list_head link;   /* kt_worker->pending once it may be offered again */
	struct transport_conn *tc;
	size_t len;
	uint8_t data[];
};

struct transport_conn {
	enum kt_kind kind;           /* first member: epoll data points here */
	int fd;
	bool closed;
	bool read_paused;
	bool out_blocked;            /* socket full: waiting for EPOLLOUT */
	bool peer_gone;              /* EOF or a socket error: no last words at close */
	struct mqtt_conn *mc;
	struct kt_worker *kw;
	struct kt_kept *kept;        /* input the engine did not take (paused), or NULL */
	struct transport_conn *next_dead;
	char peer[INET6_ADDRSTRLEN + 8];
};

struct kt_worker {
	struct worker *w;
	int epfd;
	struct transport_conn listener;
	struct transport_conn wake;
	struct transport_conn *dead;
	struct cds_list_head pending;  /* kt_kept of resumed connections */
	bool accept_off;             /* listener out of epoll until accept_resume_ms */
	bool accept_episode;         /* a failure was logged; cleared once drained */
	bool poll_episode;           /* an epoll_wait failure was logged */
	unsigned accept_backoff_ms;  /* 0 after a good accept */
	uint64_t accept_resume_ms;
	uint64_t accept_fail_count;  /* failures in the current episode */
	uint8_t rxbuf[KT_RXBUF];
};

/* Fills <ss> with the configured listen address. Returns its length, or -EINVAL. */
static int kt_listen_addr(const struct config *cfg, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(cfg->bind_address, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(cfg->port);
		if (inet_pton(AF_INET6, cfg->bind_address, &a->sin6_addr) != 1)
			return -EINVAL;
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(cfg->port);
	if (inet_pton(AF_INET, cfg->bind_address, &a->sin_addr) != 1)
		return -EINVAL;
	return sizeof(*a);
}

/* SO_REUSEPORT would let us join a port another process (another petrel) already
 * listens on, silently splitting its clients with it. A plain bind first fails with
 * EADDRINUSE in that case, so start-up stops with a clear error instead. */
static int kt_port_free(const struct config *cfg)
{
	struct sockaddr_storage ss;
	int len = kt_listen_addr(cfg, &ss);
	int one = 1, fd, rc = 0;

	if (len < 0)
		return len;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int kt_listen(struct worker *w)
{
	struct config *cfg = &w->broker->cfg;
	struct sockaddr_storage ss;
	socklen_t slen;
	int one = 1;
	int fd, len;

	if (w->id == 0 && cfg->port != 0) {
		int rc = kt_port_free(cfg);

		if (rc < 0)
			return rc;
	}
	len = kt_listen_addr(cfg, &ss);
	if (len < 0)
		return len;
	slen = (socklen_t)len;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 1024) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (cfg->port == 0) {
		/* Port 0: the first worker's bind picks the port, the others share it.
		 * Start-up runs on the main thread, before anyone reads the config. */
		if (getsockname(fd, (struct sockaddr *)&ss, &slen) == 0)
			cfg->port = ntohs(ss.ss_family == AF_INET6 ?
					  ((struct sockaddr_in6 *)&ss)->sin6_port :
					  ((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

static int kt_setup(struct worker *w)
{
	struct kt_worker *kw = calloc(1, sizeof(*kw));
	struct epoll_event ev;
	int fd, rc;

	if (kw == NULL)
		return -ENOMEM;
	kw->w = w;
	CDS_INIT_LIST_HEAD(&kw->pending);
	kw->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (kw->epfd < 0) {
		rc = -errno;
		goto err_free;
	}
	fd = kt_listen(w);
	if (fd < 0) {
		rc = fd;
		goto err_close_ep;
	}
	kw->listener = (struct transport_conn){ .kind = KT_LISTENER, .fd = fd, .kw = kw };
	kw->wake = (struct transport_conn){ .kind = KT_WAKE, .fd = w->wake_fd, .kw = kw };
	ev.events = EPOLLIN;
	ev.data.ptr = &kw->listener;
	if (epoll_ctl(kw->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto err_errno;
	ev.data.ptr = &kw->wake;
	if (epoll_ctl(kw->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0)
		goto err_errno;
	w->transport = kw;
	return 0;

err_errno:
	rc = -errno;
	close(fd);
err_close_ep:
	close(kw->epfd);
err_free:
	free(kw);
	return rc;
}

/* EPOLL_CTL_MOD of <tc> to <events>. Returns 0 or -errno, counted. */
static int kt_set_events(struct kt_worker *kw, struct transport_conn *tc,
			 uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = tc };

	if (epoll_ctl(kw->epfd, EPOLL_CTL_MOD, tc->fd, &ev) == 0)
		return 0;
	/* Only ENOMEM is possible for a registered descriptor; the connection keeps
	 * its old mask, which at worst delays it until its next change. */
	kw->w->stats.epoll_ctl_failed++;
	log_warn("%s: epoll_ctl: %s", tc->kind == KT_CONN ? tc->peer : "listener",
		 strerror(errno));
	return -errno;
}

/* EPOLLIN only while input is wanted and none is kept (kept input goes first). */
static void kt_update_events(struct transport_conn *tc)
{
	kt_set_events(tc->kw, tc, (tc->read_paused || tc->kept != NULL ? 0 : EPOLLIN) |
			  (tc->out_blocked ? EPOLLOUT : 0));
}

/* accept4 failed with <err> (not EAGAIN): count it, and stop accepting for a while
 * unless the error concerns only the one connection. Returns true to go on. */
static bool kt_accept_failed(struct kt_worker *kw, int err)
{
	struct worker *w = kw->w;
	bool no_fd = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;

	switch (err) {
	case EINTR:
		return true;
	/* accept(2): errors of the new connection itself, to be treated like EAGAIN
	 * by retrying; the next connection may be fine. */
	case ECONNABORTED:
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case EPERM:		/* a firewall rule refused it */
		w->stats.accept_failed++;
		return true;
	default:
		break;
	}
	if (no_fd)
		w->stats.accept_no_fd++;
	else
		w->stats.accept_failed++;
	kw->accept_fail_count++;
	if (!kw->accept_episode) {
		kw->accept_episode = true;
		w->stats.accept_paused++;
		log_warn("accept: %s: not accepting new connections for now (retrying "
			 "every %u ms at most; connected clients are served)%s",
			 strerror(err), KT_ACCEPT_BACKOFF_MAX_MS,
			 no_fd ? "; raise the descriptor limit (ulimit -n) or lower "
			 "max_connections" : "");
	}
	kw->accept_backoff_ms = kw->accept_backoff_ms == 0 ? KT_ACCEPT_BACKOFF_MIN_MS :
				kw->accept_backoff_ms * 2;
	if (kw->accept_backoff_ms > KT_ACCEPT_BACKOFF_MAX_MS)
		kw->accept_backoff_ms = KT_ACCEPT_BACKOFF_MAX_MS;
	kw->accept_resume_ms = w->now_ms + kw->accept_backoff_ms;
	if (!kw->accept_off && kt_set_events(kw, &kw->listener, 0) == 0)
		kw->accept_off = true;
	return false;
}

/* Called once per poll: the listener comes back when its back-off is over. */
static void kt_accept_resume(struct kt_worker *kw)
{
	if (kw->accept_off && kw->w->now_ms >= kw->accept_resume_ms &&
	    kt_set_events(kw, &kw->listener, EPOLLIN) == 0)
		kw->accept_off = false;
}

static void kt_accept(struct kt_worker *kw)
{
	struct worker *w = kw->w;

	for (int i = 0; i < KT_ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		struct transport_conn *tc;
		struct epoll_event ev;
		int one = 1;
		int fd = accept4(kw->listener.fd, (struct sockaddr *)&ss, &slen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			if (err != EAGAIN) {
				if (kt_accept_failed(kw, err))
					continue;
				return;
			}
			if (kw->accept_episode) {
				/* Backlog drained without a failure: the episode is over. */
				log_notice("accept: accepting new connections again (%" PRIu64
					   " failed attempts)", kw->accept_fail_count);
				kw->accept_episode = false;
				kw->accept_fail_count = 0;
			}
			return;
		}
		kw->accept_backoff_ms = 0;
		/* Best effort: without it only small packets wait a little longer. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		tc = calloc(1, sizeof(*tc));
		if (tc == NULL) {
			w->stats.accept_dropped++;
			close(fd);
			continue;
		}
		tc->kind = KT_CONN;
		tc->fd = fd;
		tc->kw = kw;
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			char ip[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
			snprintf(tc->peer, sizeof(tc->peer), "[%s]:%u", ip, ntohs(a->sin6_port));
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
			snprintf(tc->peer, sizeof(tc->peer), "%s:%u", ip, ntohs(a->sin_port));
		}
		ev.events = EPOLLIN;
		ev.data.ptr = tc;
		if (epoll_ctl(kw->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			w->stats.epoll_ctl_failed++;
			w->stats.accept_dropped++;
			close(fd);
			free(tc);
			continue;
		}
		w->stats.conn_accepted++;
		tc->mc = proto_accept(w, tc);
		if (tc->mc == NULL && !tc->closed) {
			/* No memory, or the broker is stopping. close() also takes the
			 * descriptor out of the epoll set. */
			w->stats.accept_dropped++;
			close(fd);
			free(tc);
		}
	}
}

static void kt_kept_free(struct transport_conn *tc)
{
	if (tc->kept == NULL)
		return;
	cds_list_del(&tc->kept->link);
	budget_add(-(ssize_t)tc->kept->len);
	free(tc->kept);
	tc->kept = NULL;
}

/* Offers <data, len> to the engine and keeps what it does not take (its reading is
 * paused). Returns 0, or -1 if the connection is gone. */
static int kt_offer(struct transport_conn *tc, const uint8_t *data, size_t len)
{
	ssize_t r = proto_input(tc->mc, data, len);

	if (r < 0)
		return -1;
	if ((size_t)r == len)
		return 0;
	/* At most one read's worth per connection: EPOLLIN is off while it is kept.
	 * Charged to memory_limit like the engine's partial packets, never refused
	 * (bounded per connection; refusing would lose acknowledged input). */
	tc->kept = malloc(sizeof(*tc->kept) + len - (size_t)r);
	if (tc->kept == NULL) {
		/* Input that cannot be kept cannot be dropped either (a PUBLISH already
		 * acknowledged by TCP): the connection goes, counted. */
		tc->kw->w->stats.conn_no_memory++;
		proto_lost(tc->mc, -ENOMEM);
		return -1;
	}
	CDS_INIT_LIST_HEAD(&tc->kept->link);
	tc->kept->tc = tc;
	tc->kept->len = len - (size_t)r;
	memcpy(tc->kept->data, data + r, tc->kept->len);
	budget_add((ssize_t)tc->kept->len);
	kt_update_events(tc);
	return 0;
}

/* Offers the kept input again (the connection resumed). Returns true if it went. */
static bool kt_offer_kept(struct transport_conn *tc)
{
	ssize_t r;

	if (tc->closed || tc->read_paused || tc->kept == NULL)
		return false;
	r = proto_input(tc->mc, tc->kept->data, tc->kept->len);
	if (r < 0)
		return true;    /* closed: the buffer goes at reap */
	if ((size_t)r < tc->kept->len) {
		/* Paused again: keep the rest, in order. */
		memmove(tc->kept->data, tc->kept->data + r, tc->kept->len - (size_t)r);
		budget_add(-(ssize_t)r);
		tc->kept->len -= (size_t)r;
		return true;
	}
	kt_kept_free(tc);
	kt_update_events(tc);
	return true;
}

/* Start of a poll: resumed connections get their kept input first. Those resumed
 * meanwhile wait for the next poll. Returns how many were offered. */
static int kt_offer_pending(struct kt_worker *kw)
{
	CDS_LIST_HEAD(todo);
	int n = 0;

	cds_list_splice(&kw->pending, &todo);
	CDS_INIT_LIST_HEAD(&kw->pending);
	while (!cds_list_empty(&todo)) {
		struct kt_kept *k = cds_list_first_entry(&todo, struct kt_kept, link);

		cds_list_del_init(&k->link);
		n += kt_offer_kept(k->tc);
	}
	return n;
}

static void kt_readable(struct kt_worker *kw, struct transport_conn *tc)
{
	for (int i = 0; i < KT_READS_PER_EVENT && !tc->closed && !tc->read_paused &&
	     tc->kept == NULL; i++) {
		ssize_t n = read(tc->fd, kw->rxbuf, sizeof(kw->rxbuf));

		if (n > 0) {
			kw->w->stats.bytes_in += (uint64_t)n;
			if (kt_offer(tc, kw->rxbuf, (size_t)n) < 0)
				return;
			if ((size_t)n < sizeof(kw->rxbuf))
				return;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		tc->peer_gone = true;
		proto_lost(tc->mc, n == 0 ? 0 : -errno);
		return;
	}
}

/* Writes the engine's output from its start until it is all out or the socket is
 * full, releasing what the kernel took. Sets *blocked when the socket is full.
 * Returns 0 or -errno (the connection is broken). */
static int kt_send(struct transport_conn *tc, bool *blocked)
{
	struct tx_span sp[KT_SPANS];
	struct iovec iov[KT_SPANS];

	*blocked = false;
	while (proto_out_len(tc->mc) > 0) {
		int n = proto_out_view(tc->mc, 0, sp, KT_SPANS);
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		size_t want = 0;
		ssize_t r;

		for (int i = 0; i < n; i++) {
			iov[i].iov_base = (void *)(uintptr_t)sp[i].base;
			iov[i].iov_len = sp[i].len;
			want += sp[i].len;
		}
		r = sendmsg(tc->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			r = 0;
		}
		tc->kw->w->stats.bytes_out += (uint64_t)r;
		/* The kernel copied them: done with, as far as the engine goes. It may
		 * move more messages into the stream meanwhile; the loop takes them. */
		proto_out_release(tc->mc, (size_t)r);
		if ((size_t)r < want) {
			*blocked = true;
			return 0;
		}
	}
	return 0;
}

/* Sends what it can and waits for EPOLLOUT if the socket filled up. */
static int kt_push(struct transport_conn *tc)
{
	bool blocked;
	int rc = kt_send(tc, &blocked);

	if (rc < 0) {
		tc->peer_gone = true;   /* the engine closes it on this error */
		return rc;
	}
	if (blocked != tc->out_blocked) {
		if (blocked)
			tc->kw->w->stats.output_blocked++;
		tc->out_blocked = blocked;
		kt_update_events(tc);
	}
	return 0;
}

static int kt_poll(struct worker *w, int timeout_ms)
{
	struct kt_worker *kw = w->transport;
	struct epoll_event evs[KT_EVENTS];
	int n, done;

	kt_accept_resume(kw);
	done = kt_offer_pending(kw);
	if (done > 0)
		timeout_ms = 0;    /* the engine has work from it this turn */
	/* QSBR: a thread blocked in epoll_wait must not hold up grace periods; it goes
	 * back online before it dispatches anything that reads RCU structures. */
	if (timeout_ms != 0) {
		rcu_thread_offline();
		n = epoll_wait(kw->epfd, evs, KT_EVENTS, timeout_ms);
		rcu_thread_online();
	} else {
		n = epoll_wait(kw->epfd, evs, KT_EVENTS, 0);
	}
	if (n < 0) {
		int rc = -errno;

		if (rc == -EINTR)
			return done;
		/* Cannot happen with our own epoll descriptor; if it does, do not spin:
		 * wait as long as we were asked to, and say so once. */
		w->stats.poll_failed++;
		if (!kw->poll_episode)
			log_err("epoll_wait: %s", strerror(-rc));
		kw->poll_episode = true;
		if (timeout_ms != 0)
			usleep((useconds_t)timeout_ms * 1000u);
		return rc;
	}
	kw->poll_episode = false;
	for (int i = 0; i < n; i++) {
		struct transport_conn *tc = evs[i].data.ptr;
		uint32_t e = evs[i].events;

		switch (tc->kind) {
		case KT_LISTENER:
			kt_accept(kw);
			break;
		case KT_WAKE: {
			uint64_t v;

			/* EAGAIN: another turn already consumed the wake-up. */
			if (read(tc->fd, &v, sizeof(v)) < 0 && errno != EAGAIN &&
			    errno != EINTR)
				log_warn("wake eventfd: %s", strerror(errno));
			break;
		}
		case KT_CONN:
			if (tc->closed)
				break;
			if (e & EPOLLOUT) {
				/* Room again: the rest goes by itself, the engine is not
				 * asked (it marks the connection when it adds output). */
				int rc = kt_push(tc);

				if (rc < 0) {
					proto_lost(tc->mc, rc);   /* peer_gone set */
					break;
				}
			}
			if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (tc->read_paused || tc->kept != NULL) {
					/* Paused: only a broken socket gets here; with EPOLLIN
					 * off we would otherwise spin on the error. */
					tc->peer_gone = true;
					proto_lost(tc->mc, -ECONNRESET);
					break;
				}
				kt_readable(kw, tc);
			}
			break;
		}
	}
	return done + n;
}

static int kt_output(struct transport_conn *tc)
{
	if (tc->closed)
		return 0;
	/* Full socket: EPOLLOUT sends it all, in order, when there is room. */
	if (tc->out_blocked)
		return 0;
	return kt_push(tc);
}

static void kt_pause_read(struct transport_conn *tc, bool paused)
{
	if (tc->read_paused == paused || tc->closed)
		return;
	tc->read_paused = paused;
	kt_update_events(tc);
	/* Not from here (transport.h): the engine is in the middle of its turn. */
	if (!paused && tc->kept != NULL && cds_list_empty(&tc->kept->link))
		cds_list_add_tail(&tc->kept->link, &tc->kw->pending);
}

static uint64_t kt_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void kt_close(struct transport_conn *tc)
{
	bool blocked;

	if (tc->closed)
		return;
	/* Last words (a CONNACK with an error code), best effort: no waiting for
	 * room on a socket that is about to close, none to a peer that is gone. */
	if (!tc->out_blocked && !tc->peer_gone && tc->mc != NULL)
		(void)kt_send(tc, &blocked);
	tc->closed = true;
	if (tc->kept != NULL)
		cds_list_del_init(&tc->kept->link);
	epoll_ctl(tc->kw->epfd, EPOLL_CTL_DEL, tc->fd, NULL);
	close(tc->fd);
	tc->fd = -1;
	tc->next_dead = tc->kw->dead;
	tc->kw->dead = tc;
}

static void kt_reap(struct worker *w)
{
	struct kt_worker *kw = w->transport;

	while (kw->dead != NULL) {
		struct transport_conn *tc = kw->dead;

		kw->dead = tc->next_dead;
		/* Not at close: the engine may still be reading it then. */
		kt_kept_free(tc);
		free(tc);
	}
}

static const char *kt_peer(const struct transport_conn *tc)
{
	return tc->peer;
}

static void kt_teardown(struct worker *w)
{
	struct kt_worker *kw = w->transport;

	if (kw == NULL)
		return;
	kt_reap(w);
	close(kw->listener.fd);
	close(kw->epfd);
	free(kw);
	w->transport = NULL;
}

const struct transport_ops transport_kernel_ops = {
	.name = "kernel",
	.setup = kt_setup,
	.now_us = kt_now_us,
	.poll = kt_poll,
	.output = kt_output,
	.pause_read = kt_pause_read,
	.close = kt_close,
	.reap = kt_reap,
	.peer = kt_peer,
	.teardown = kt_teardown,
};
