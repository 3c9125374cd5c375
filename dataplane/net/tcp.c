/* tcp.c - the stack and the TCB's life: create/destroy, listen, connect, close,
 * abort, and the two byte streams between a TCB and its user (tcp.h): output read
 * through send_view() (or, after tcp_close(), from mbufs the TCB owns) and input
 * offered to recv() straight from the segment's mbuf, kept when not consumed.
 * RFC 9293 3.10.1-3.10.5 (OPEN, SEND, RECEIVE, CLOSE, ABORT). Freed TCBs go through a
 * dead list emptied at the end of each stack call, so a user may close or abort
 * from inside a callback. */
#include <errno.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/log.h"
#include "tcp_int.h"

/* Per-connection memory at a million connections (docs/benchmarks.md): 216 bytes is
 * a 224-byte malloc chunk. */
_Static_assert(sizeof(struct tcb) <= 216, "struct tcb outgrew its budget");

void tcp_params_default(struct tcp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->mss = 1460;
	p->rcv_buf = 65536;
	p->max_conns = 65536;
	p->syn_backlog = 1024;
	p->rto_min_us = 200000;          /* as Linux; RFC 6298 2.4 allows below 1 s */
	p->rto_max_us = 60000000;        /* RFC 6298 2.5: at least 60 s */
	p->rto_initial_us = 1000000;     /* RFC 6298 2.1 */
	p->delack_us = 40000;            /* RFC 1122 4.2.3.2: under 500 ms */
	p->time_wait_us = 60000000;      /* 2 MSL with MSL = 30 s */
	p->max_retries = 12;
	p->ooo_max = 32;
	p->challenge_acks_per_s = 1000;
}

struct tcp_stack *tcp_stack_create(const struct tcp_params *p, uint64_t now_us)
{
	struct tcp_stack *ts = calloc(1, sizeof(*ts));

	if (ts == NULL)
		return NULL;
	ts->p = *p;
	ts->cc_ops = &tcp_newreno;
	ts->can_attach = tcp_txdata_can_attach(p);
	ts->now_us = now_us;
	if (ts->p.mss < TCP_MSS_MIN)
		ts->p.mss = TCP_MSS_MIN;
	if (ts->p.rcv_buf < ts->p.mss)
		ts->p.rcv_buf = ts->p.mss;
	/* RFC 7323 2.3: the smallest shift that fits rcv_buf into the 16-bit field. */
	while (ts->rcv_scale < 14 && (ts->p.rcv_buf >> ts->rcv_scale) > 65535)
		ts->rcv_scale++;
	ts->ephemeral_next = (uint16_t)(p->secret % 16384);
	if (tcp_syncookie_key_init(&ts->cookie_key, p->secret) < 0)
		goto err_free;
	if (tcp_table_init(ts) < 0)
		goto err_fini_key;
	return ts;

err_fini_key:
	tcp_syncookie_key_fini(&ts->cookie_key);
err_free:
	free(ts);
	return NULL;
}

static void tcb_free_mbufs(struct rte_mbuf **head)
{
	struct rte_mbuf *m = *head;

	while (m != NULL) {
		struct rte_mbuf *n = m->next;

		m->next = NULL;
		rte_pktmbuf_free(m);
		m = n;
	}
	*head = NULL;
}

static void tcb_free(struct tcb *t)
{
	tcb_free_mbufs(&t->rcvq);
	tcb_free_mbufs(&t->ooo);
	tcb_free_mbufs(&t->sndq);
	free(t);
}

void tcp_stack_destroy(struct tcp_stack *ts)
{
	if (ts == NULL)
		return;
	tcb_reap(ts);
	for (uint32_t i = 0; i < ts->nbuckets; i++) {
		struct tcb *t = ts->buckets[i];

		while (t != NULL) {
			struct tcb *n = t->hnext;

			tcb_free(t);
			t = n;
		}
	}
	free(ts->heap);
	tcp_table_fini(ts);
	tcp_syncookie_key_fini(&ts->cookie_key);
	free(ts);
}

const struct tcp_stats *tcp_stack_stats(const struct tcp_stack *ts)
{
	return &ts->stats;
}

/* RFC 6528 3: ISN = M + F(4-tuple, secret), M a 4 microsecond clock, F a keyed hash,
 * so ISNs of one 4-tuple grow with time and nobody can predict another's. */
uint32_t tcb_isn(struct tcp_stack *ts, uint32_t rip, uint16_t rport, uint16_t lport)
{
	uint64_t h = ts->p.secret ^ 0x9e3779b97f4a7c15ull;

	h ^= (uint64_t)rip << 32 | ts->p.local_ip;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 29;
	h ^= (uint64_t)rport << 16 | lport;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 32;
	return (uint32_t)h + (uint32_t)(ts->now_us / 4);
}

struct tcb *tcb_new(struct tcp_stack *ts, uint32_t rip, uint16_t rport, uint16_t lport)
{
	struct tcb *t;

	if (ts->nconns >= ts->p.max_conns) {
		ts->stats.conns_over_limit++;
		tcp_limit_hit(ts, TCP_LIMIT_CONNS);
		errno = ENOBUFS;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL; /* errno ENOMEM */
	tcp_limit_clear(ts, TCP_LIMIT_CONNS);
	t->ts = ts;
	t->rip = rip;
	t->rport = rport;
	t->lport = lport;
	t->heap_idx = UINT32_MAX;
	t->rto_us = ts->p.rto_initial_us;
	t->last_sent = (uint32_t)ts->now_us; /* our SYN, for RFC 5681 4.1 */
	t->mss = 536; /* RFC 9293 3.7.1: without an MSS option */
	t->rcv_scale = ts->rcv_scale;
	t->iss = tcb_isn(ts, rip, rport, lport);
	t->snd_una = t->iss;
	t->snd_nxt = t->iss + 1;
	t->snd_max = t->iss + 1;
	t->cc.cwnd = UINT32_MAX;
	t->cc.ssthresh = UINT32_MAX;
	tcp_table_insert(ts, t);
	return t;
}

void tcb_init_from_syn(struct tcb *t, const struct tcp_seg *seg)
{
	uint32_t mss = seg->has_mss ? seg->mss : 536;

	t->irs = seg->seq;
	t->rcv_nxt = seg->seq + 1;
	t->rcv_adv = t->rcv_nxt;
	/* RFC 7323 2.2: the window of a SYN is never scaled. */
	t->snd_wnd = seg->wnd;
	t->max_snd_wnd = seg->wnd;
	t->snd_wl1 = seg->seq;
	t->snd_wl2 = seg->ack;
	if (seg->has_ws && (t->flags & TF_WS)) {
		/* RFC 7323 2.3: a shift over 14 is used as 14. */
		t->snd_scale = seg->ws > 14 ? 14 : seg->ws;
	} else {
		t->flags &= ~TF_WS;
		t->snd_scale = 0;
		t->rcv_scale = 0;
	}
	if (seg->has_ts && (t->flags & TF_TS))
		t->ts_recent = seg->tsval;
	else
		t->flags &= ~TF_TS;
	if (mss > t->ts->p.mss)
		mss = t->ts->p.mss;
	if (mss < TCP_MSS_MIN)
		mss = TCP_MSS_MIN; /* a peer's 0 would leave no segment size (assert in cc) */
	/* RFC 9293 3.7.1: the MSS counts data only; our options come off it. */
	if (t->flags & TF_TS)
		mss -= 12;
	t->mss = (uint16_t)mss;
	t->ts->cc_ops->init(&t->cc, t->mss);
}

static void tcb_flush_unlink(struct tcb *t)
{
	struct tcb **pp = &t->ts->flush_head;

	while (*pp != NULL && *pp != t)
		pp = &(*pp)->fnext;
	if (*pp != NULL)
		*pp = t->fnext;
	t->fnext = NULL;
	t->flags &= ~TF_ON_FLUSH;
}

void tcp_limit_hit(struct tcp_stack *ts, uint32_t bit)
{
	static const struct {
		uint32_t bit;
		const char *what;
	} limits[] = {
		{ TCP_LIMIT_CONNS, "max_conns reached: SYNs answered with RST" },
		{ TCP_LIMIT_BACKLOG, "syn_backlog full: answering SYNs with cookies" },
		{ TCP_LIMIT_OOO, "ooo_max reached: out-of-order segments dropped" },
		{ TCP_LIMIT_CHACK, "challenge_acks_per_s reached: challenge ACKs withheld" },
		{ TCP_LIMIT_MBUF, "mbuf pool empty: segments not sent" },
	};

	if (ts->limits_logged & bit)
		return;
	ts->limits_logged |= bit;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (limits[i].bit == bit)
			log_warn("tcp: worker %u: %s (counted in tcp_stats)", ts->p.worker_id,
				 limits[i].what);
}

void tcb_drop(struct tcb *t)
{
	struct tcp_stack *ts = t->ts;

	if (t->flags & TF_DEAD)
		return;
	if (t->flags & TF_ON_FLUSH)
		tcb_flush_unlink(t);
	if (t->state == TCPS_SYN_RCVD && !(t->flags & TF_ACTIVE))
		ts->nsyn--;
	tcp_table_remove(ts, t);
	tcp_timer_remove(t);
	t->state = TCPS_CLOSED;
	t->flags |= TF_DEAD;
	t->user = NULL;
	/* Off the table, hnext is free to chain the dead list. */
	t->hnext = ts->dead;
	ts->dead = t;
}

void tcb_reap(struct tcp_stack *ts)
{
	while (ts->dead != NULL) {
		struct tcb *t = ts->dead;

		ts->dead = t->hnext;
		tcb_free(t);
	}
}

void tcb_fail(struct tcb *t, int err)
{
	const struct tcp_user_ops *ops = t->ts->p.ops;
	void *user = t->user;
	bool opening = (t->flags & TF_ACTIVE) &&
		       (t->state == TCPS_SYN_SENT || t->state == TCPS_SYN_RCVD);

	if (err == -ECONNRESET || err == -ECONNREFUSED)
		t->ts->stats.conns_reset++;
	else if (err == -ETIMEDOUT)
		t->ts->stats.conns_timeout++;
	tcb_drop(t);
	if (user == NULL)
		return;
	if (opening)
		ops->connected(user, err);
	else
		ops->gone(user, err);
}

void tcb_flush_add(struct tcb *t, uint32_t flag)
{
	if (t->flags & TF_DEAD)
		return;
	t->flags |= flag;
	if (t->flags & TF_ON_FLUSH)
		return;
	t->flags |= TF_ON_FLUSH;
	t->fnext = t->ts->flush_head;
	t->ts->flush_head = t;
}

void tcb_established(struct tcb *t)
{
	struct tcp_stack *ts = t->ts;
	struct tcp_listener *l;

	if (t->state == TCPS_SYN_RCVD && !(t->flags & TF_ACTIVE))
		ts->nsyn--;
	t->state = TCPS_ESTABLISHED;
	tcp_rto_handshake_done(t);
	if (t->flags & TF_ACTIVE) {
		ts->stats.conns_active++;
		if (t->user != NULL)
			ts->p.ops->connected(t->user, 0);
		return;
	}
	ts->stats.conns_passive++;
	/* The listener's argument is looked up now rather than kept in every TCB from
	 * the SYN on (8 bytes of each of a million idle TCBs); listeners never go. */
	l = tcp_table_listener(ts, t->lport);
	t->user = l != NULL ? ts->p.ops->accepted(l->arg, t) : NULL;
	if (t->flags & (TF_DEAD | TF_CLOSED_USER)) {
		/* closed or aborted from inside accepted(): no callbacks follow */
		t->user = NULL;
		return;
	}
	if (t->user == NULL) {
		/* The user refused it (tcp.h): RST. */
		tcp_send_ctl(t, RTE_TCP_RST_FLAG, t->snd_nxt);
		tcb_drop(t);
	}
}

uint32_t tcb_rcv_wnd(const struct tcb *t)
{
	uint32_t buf = t->ts->p.rcv_buf;

	return t->rcvq_len >= buf ? 0 : buf - t->rcvq_len;
}

size_t tcb_send_len(const struct tcb *t)
{
	if (t->flags & TF_CLOSED_USER)
		return t->sndq_len;
	if (t->user == NULL)
		return 0;
	return t->ts->p.ops->send_len(t->user);
}

void tcb_send_acked(struct tcb *t, uint32_t n)
{
	if (n == 0)
		return;
	if (!(t->flags & TF_CLOSED_USER)) {
		if (t->user != NULL)
			t->ts->p.ops->send_acked(t->user, n);
		return;
	}
	t->sndq_len -= n < t->sndq_len ? n : t->sndq_len;
	while (t->sndq != NULL && n > 0) {
		struct rte_mbuf *m = t->sndq;

		if (n < m->data_len) {
			rte_pktmbuf_adj(m, (uint16_t)n);
			return;
		}
		n -= m->data_len;
		t->sndq = m->next;
		m->next = NULL;
		rte_pktmbuf_free(m);
	}
}

int tcb_send_copy(struct tcb *t, size_t off, uint8_t *dst, uint32_t len)
{
	if (t->flags & TF_CLOSED_USER) {
		for (struct rte_mbuf *m = t->sndq; m != NULL && len > 0; m = m->next) {
			uint32_t n;

			if (off >= m->data_len) {
				off -= m->data_len;
				continue;
			}
			n = m->data_len - (uint32_t)off < len ? m->data_len - (uint32_t)off : len;
			memcpy(dst, rte_pktmbuf_mtod_offset(m, uint8_t *, off), n);
			dst += n;
			len -= n;
			off = 0;
		}
		return len == 0 ? 0 : -EIO;
	}
	while (len > 0 && t->user != NULL) {
		struct tx_span sp[8];
		int n = t->ts->p.ops->send_view(t->user, off, sp, 8);

		if (n <= 0)
			return -EIO;
		for (int i = 0; i < n && len > 0; i++) {
			uint32_t c = sp[i].len < len ? sp[i].len : len;

			memcpy(dst, sp[i].base, c);
			dst += c;
			len -= c;
			off += c;
		}
	}
	return len == 0 ? 0 : -EIO;
}

/* The user's output from snd_una on, copied into mbufs the TCB owns. */
static int tcb_take_output(struct tcb *t)
{
	size_t len = tcb_send_len(t), off = 0;
	struct rte_mbuf **tail = &t->sndq;

	while (off < len) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(t->ts->p.pool);
		uint16_t room, n;

		if (m == NULL) {
			t->ts->stats.no_mbuf++;
			tcp_limit_hit(t->ts, TCP_LIMIT_MBUF);
			return -ENOBUFS;
		}
		room = rte_pktmbuf_tailroom(m);
		n = len - off < room ? (uint16_t)(len - off) : room;
		*tail = m;
		tail = &m->next;
		if (tcb_send_copy(t, off, (uint8_t *)rte_pktmbuf_append(m, n), n) < 0)
			return -EIO;
		off += n;
		t->sndq_len += n;
	}
	return 0;
}

void tcb_deliver_kept(struct tcb *t)
{
	const struct tcp_user_ops *ops = t->ts->p.ops;
	uint32_t step = t->ts->p.rcv_buf / 2 < t->mss ? t->ts->p.rcv_buf / 2 : t->mss;

	while (t->rcvq != NULL && t->user != NULL) {
		struct rte_mbuf *m = t->rcvq;
		size_t took = ops->recv(t->user, rte_pktmbuf_mtod(m, uint8_t *), m->data_len);

		if (t->flags & TF_DEAD || t->rcvq != m)
			return;
		t->rcvq_len -= (uint32_t)took;
		if (took < m->data_len) {
			rte_pktmbuf_adj(m, (uint16_t)took);
			break;
		}
		t->rcvq = m->next;
		m->next = NULL;
		rte_pktmbuf_free(m);
	}
	if (t->rcvq == NULL && (t->flags & TF_EOF_DUE) && t->user != NULL) {
		t->flags &= ~TF_EOF_DUE;
		ops->eof(t->user);
		if (t->flags & TF_DEAD)
			return;
	}
	/* RFC 9293 3.8.6.2.2: a window update once it opened by min(buf/2, MSS). */
	if (tcb_rcv_wnd(t) >= t->rcv_adv - t->rcv_nxt + step)
		tcb_flush_add(t, TF_ACKNOW);
}

/* Kept bytes go into the last kept mbuf when they fit in its tailroom, so a peer
 * that sends tiny segments to a paused user holds a few mbufs, not one (of 2 KB) per
 * segment. Only a direct mbuf nobody else references is written. */
static bool tcb_rcvq_append(struct rte_mbuf *last, const uint8_t *data, uint32_t len)
{
	if (!RTE_MBUF_DIRECT(last) || rte_mbuf_refcnt_read(last) != 1 ||
	    rte_pktmbuf_tailroom(last) < len)
		return false;
	memcpy(rte_pktmbuf_mtod_offset(last, uint8_t *, last->data_len), data, len);
	last->data_len = (uint16_t)(last->data_len + len);
	last->pkt_len += len;
	return true;
}

bool tcb_deliver_seg(struct tcb *t, struct rte_mbuf *m, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf **tail;
	size_t took = 0;

	if (t->user == NULL || len == 0)
		return false; /* closed by the user: acknowledged and dropped */
	if (t->rcvq == NULL) {
		took = t->ts->p.ops->recv(t->user, data, len);
		if (took >= len || t->flags & TF_DEAD || t->user == NULL)
			return false;
	}
	t->rcvq_len += (uint32_t)(len - took);
	for (tail = &t->rcvq; *tail != NULL && (*tail)->next != NULL; tail = &(*tail)->next)
		;
	if (*tail != NULL && tcb_rcvq_append(*tail, data + took, (uint32_t)(len - took)))
		return false;
	rte_pktmbuf_adj(m, (uint16_t)(data + took - rte_pktmbuf_mtod(m, uint8_t *)));
	rte_pktmbuf_trim(m, (uint16_t)(m->data_len - (len - took)));
	if (*tail != NULL)
		tail = &(*tail)->next;
	*tail = m;
	m->next = NULL;
	return true;
}

int tcp_listen(struct tcp_stack *ts, uint16_t port, void *listen_arg)
{
	return tcp_table_listen(ts, port, listen_arg);
}

struct tcb *tcp_connect(struct tcp_stack *ts, uint32_t dst_ip, uint16_t dst_port,
			uint16_t src_port, void *user, uint64_t now_us)
{
	struct tcb *t;
	int port = src_port;

	ts->now_us = now_us;
	if (port == 0) {
		port = tcp_table_ephemeral(ts, dst_ip, dst_port);
		if (port < 0) {
			errno = -port;
			return NULL;
		}
	} else if (tcp_table_lookup(ts, dst_ip, dst_port, src_port) != NULL) {
		errno = EADDRINUSE;
		return NULL;
	}
	t = tcb_new(ts, dst_ip, dst_port, (uint16_t)port);
	if (t == NULL)
		return NULL;
	t->state = TCPS_SYN_SENT;
	t->user = user;
	/* We offer window scaling and timestamps; the SYN-ACK says what stays on. */
	t->flags |= TF_ACTIVE | TF_WS | TF_TS;
	tcp_send_ctl(t, RTE_TCP_SYN_FLAG, t->iss);
	tcp_rexmt_arm(t);
	tcp_timer_update(t);
	return t;
}

void tcp_send_ready(struct tcb *t)
{
	tcb_flush_add(t, TF_OUTPUT);
}

void tcp_recv_resume(struct tcb *t)
{
	if (t->rcvq != NULL || (t->flags & TF_EOF_DUE))
		tcb_flush_add(t, TF_RESUME);
}

void tcp_close(struct tcb *t)
{
	if (t->flags & TF_DEAD)
		return;
	if (t->state == TCPS_SYN_SENT || t->state == TCPS_SYN_RCVD) {
		/* RFC 9293 3.10.4: nothing sent yet worth a FIN; SYN_RCVD gets a RST. */
		if (t->state == TCPS_SYN_RCVD)
			tcp_send_ctl(t, RTE_TCP_RST_FLAG, t->snd_nxt);
		tcb_drop(t);
		return;
	}
	if (tcb_take_output(t) < 0) {
		log_warn("tcp: worker %u: no mbufs for a closing connection's output, reset",
			 t->ts->p.worker_id);
		tcp_abort(t);
		return;
	}
	t->flags |= TF_CLOSED_USER;
	t->flags &= ~(TF_EOF_DUE | TF_RESUME);
	t->user = NULL;
	/* Input after close has no reader: acknowledged and dropped (RFC 9293 3.10.4). */
	tcb_free_mbufs(&t->rcvq);
	t->rcvq_len = 0;
	tcb_flush_add(t, TF_OUTPUT);
	/* FIN_WAIT_2 must not wait forever for a peer that never closes. */
}

void tcp_abort(struct tcb *t)
{
	if (t->flags & TF_DEAD)
		return;
	/* RFC 9293 3.10.5: RST in the synchronized states. */
	if (t->state != TCPS_SYN_SENT && t->state != TCPS_TIME_WAIT)
		tcp_send_ctl(t, RTE_TCP_RST_FLAG | (t->state == TCPS_SYN_RCVD ? RTE_TCP_ACK_FLAG : 0),
			     t->snd_nxt);
	tcb_drop(t);
}

void tcp_peer(const struct tcb *t, uint32_t *ip, uint16_t *port)
{
	*ip = t->rip;
	*port = t->rport;
}

void tcp_flush(struct tcp_stack *ts, uint64_t now_us)
{
	ts->now_us = now_us;
	while (ts->flush_head != NULL) {
		struct tcb *t = ts->flush_head;

		ts->flush_head = t->fnext;
		t->fnext = NULL;
		t->flags &= ~TF_ON_FLUSH;
		if (t->flags & TF_RESUME) {
			t->flags &= ~TF_RESUME;
			tcb_deliver_kept(t);
			if (t->flags & TF_DEAD)
				continue;
		}
		if (t->flags & (TF_OUTPUT | TF_ACKNOW)) {
			t->flags &= ~TF_OUTPUT;
			tcp_output(t);
		}
	}
	tcb_reap(ts);
}

void tcp_timers(struct tcp_stack *ts, uint64_t now_us)
{
	ts->now_us = now_us;
	tcp_timers_run(ts);
	tcb_reap(ts);
}

uint64_t tcp_next_timer_us(const struct tcp_stack *ts, uint64_t now_us)
{
	uint64_t due = tcp_timer_next(ts);

	if (due == UINT64_MAX)
		return UINT64_MAX;
	return due > now_us ? due - now_us : 0;
}
