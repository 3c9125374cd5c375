/* tcp_script.c - see tcp_script.h. */
#include <criterion/criterion.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eal_test.h"
#include "tcp_script.h"

/* ---- the fake user ---------------------------------------------------------- */

static void *script_accepted(void *listen_arg, struct tcb *t)
{
	struct tcp_script *s = listen_arg;

	if (s->refuse_accept)
		return NULL;
	s->user.accepted++;
	s->user.t = t;
	if (s->user.close_in_accept) {
		tcp_close(t);
		s->user.t = NULL;
	}
	return &s->user;
}

static void script_connected(void *user, int err)
{
	struct tcp_script_user *u = user;

	u->connected++;
	u->connected_err = err;
	if (err < 0)
		u->t = NULL;
}

static size_t script_recv(void *user, const uint8_t *data, size_t len)
{
	struct tcp_script_user *u = user;
	size_t n = len;

	u->recv_calls++;
	u->last_ptr = data;
	u->last_len = len;
	if (!u->consume)
		return 0;
	if (u->consume_max > 0 && n > u->consume_max)
		n = u->consume_max;
	cr_assert_leq(u->in_len + n, TCP_SCRIPT_BUF, "tcp_script: input buffer full");
	memcpy(u->in + u->in_len, data, n);
	u->in_len += n;
	if (u->close_in_recv) {
		u->close_in_recv = false;
		tcp_close(u->t);
		u->t = NULL;
	}
	return n;
}

static int script_send_view(void *user, size_t off, struct tx_span *sp, int max)
{
	struct tcp_script_user *u = user;
	size_t pos = u->out_acked + off;
	int n = 0;

	while (n < max && pos < u->out_len) {
		size_t len = u->out_len - pos;

		if (len > u->span_max)
			len = u->span_max;
		sp[n++] = (struct tx_span){ .base = u->out + pos, .len = (uint32_t)len,
					    .ref = u->span_ref ? u : NULL };
		pos += len;
	}
	return n;
}

static size_t script_send_len(void *user)
{
	struct tcp_script_user *u = user;

	return u->out_len - u->out_acked;
}

static void script_send_acked(void *user, size_t n)
{
	struct tcp_script_user *u = user;

	cr_assert_leq(n, u->out_len - u->out_acked, "send_acked(%zu) past the output", n);
	u->out_acked += n;
	u->send_acked_calls++;
}

static void script_eof(void *user)
{
	struct tcp_script_user *u = user;

	u->eof++;
}

static void script_gone(void *user, int err)
{
	struct tcp_script_user *u = user;

	u->gone++;
	u->gone_err = err;
	u->t = NULL;
}

static void script_span_hold(void *ref)
{
	struct tcp_script_user *u = ref;

	u->holds++;
}

static void script_span_release(void *ref)
{
	struct tcp_script_user *u = ref;

	cr_assert_lt(u->releases, u->holds, "span_release() without a hold");
	u->releases++;
}

static const struct tcp_user_ops script_ops = {
	.accepted = script_accepted,
	.connected = script_connected,
	.recv = script_recv,
	.send_view = script_send_view,
	.send_len = script_send_len,
	.send_acked = script_send_acked,
	.eof = script_eof,
	.gone = script_gone,
	.span_hold = script_span_hold,
	.span_release = script_span_release,
};

/* ---- capture ---------------------------------------------------------------- */

static int script_output(void *arg, struct rte_mbuf *m, uint32_t dst_ip)
{
	struct tcp_script *s = arg;
	unsigned n = sizeof(s->outq) / sizeof(s->outq[0]);

	cr_assert_lt(s->out_w - s->out_r, n, "tcp_script: more than %u segments unread", n);
	m->hash.usr = dst_ip;
	s->outq[s->out_w++ % n] = m;
	s->emitted++;
	return 0;
}

struct tcp_script *tcp_script_new(void)
{
	struct tcp_script *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	s->pool = eal_test_init("tcp_script", TCP_SCRIPT_MBUFS);
	tcp_params_default(&s->p);
	s->p.local_ip = TCP_SCRIPT_LOCAL_IP;
	s->p.pool = s->pool;
	s->p.output = script_output;
	s->p.output_arg = s;
	s->p.ops = &script_ops;
	s->p.secret = 0x5eed;
	s->now = TCP_SCRIPT_T0;
	s->peer_ip = TCP_SCRIPT_PEER_IP;
	s->peer_port = TCP_SCRIPT_PEER_PORT;
	s->port = TCP_SCRIPT_PORT;
	s->relative = true;
	s->user.s = s;
	s->user.consume = true;
	s->user.span_max = 700; /* a full segment spans three views */
	s->user.in = malloc(TCP_SCRIPT_BUF);
	s->user.out = malloc(TCP_SCRIPT_BUF);
	cr_assert(s->user.in != NULL && s->user.out != NULL);
	return s;
}

void tcp_script_start(struct tcp_script *s)
{
	s->ts = tcp_stack_create(&s->p, s->now);
	cr_assert_not_null(s->ts);
	cr_assert_eq(tcp_listen(s->ts, s->port, s), 0);
}

void tcp_script_free(struct tcp_script *s)
{
	struct tcp_script_seg seg;

	tcp_stack_destroy(s->ts);
	while (tcp_script_pop(s, &seg))
		;
	cr_assert_eq(rte_mempool_avail_count(s->pool), TCP_SCRIPT_MBUFS,
		     "mbufs leaked: %u of %u back", rte_mempool_avail_count(s->pool),
		     TCP_SCRIPT_MBUFS);
	cr_assert_eq(s->user.holds, s->user.releases, "span refs: %u held, %u released",
		     s->user.holds, s->user.releases);
	free(s->user.in);
	free(s->user.out);
	free(s);
	eal_test_fini();
}

/* ---- flags and options -------------------------------------------------------- */

static uint8_t script_flags_parse(const char *f)
{
	uint8_t v = 0;

	for (; *f; f++) {
		switch (*f) {
		case 'F': v |= RTE_TCP_FIN_FLAG; break;
		case 'S': v |= RTE_TCP_SYN_FLAG; break;
		case 'R': v |= RTE_TCP_RST_FLAG; break;
		case 'P': v |= RTE_TCP_PSH_FLAG; break;
		case '.': v |= RTE_TCP_ACK_FLAG; break;
		default: cr_assert_fail("tcp_script: flag '%c'", *f);
		}
	}
	return v;
}

static void script_flags_name(uint8_t v, char *out)
{
	if (v & RTE_TCP_FIN_FLAG)
		*out++ = 'F';
	if (v & RTE_TCP_SYN_FLAG)
		*out++ = 'S';
	if (v & RTE_TCP_RST_FLAG)
		*out++ = 'R';
	if (v & RTE_TCP_PSH_FLAG)
		*out++ = 'P';
	if (v & RTE_TCP_ACK_FLAG)
		*out++ = '.';
	*out = '\0';
}

static void put32(uint8_t *p, uint32_t v)
{
	rte_be32_t be = rte_cpu_to_be_32(v);

	memcpy(p, &be, sizeof(be));
}

static uint32_t get32(const uint8_t *p)
{
	rte_be32_t be;

	memcpy(&be, p, sizeof(be));
	return rte_be_to_cpu_32(be);
}

/* "mss 1460,ws 7,sackOK,ts 100 0,nop" into wire options, NOP-padded to 4 bytes. */
static unsigned script_opts_build(const char *opts, uint8_t *o)
{
	char buf[256], *save = NULL;
	unsigned n = 0;

	if (opts == NULL)
		return 0;
	snprintf(buf, sizeof(buf), "%s", opts);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned a = 0, b = 0;

		while (*tok == ' ')
			tok++;
		if (sscanf(tok, "mss %u", &a) == 1) {
			o[n++] = 2; o[n++] = 4; o[n++] = (uint8_t)(a >> 8); o[n++] = (uint8_t)a;
		} else if (sscanf(tok, "ws %u", &a) == 1) {
			o[n++] = 3; o[n++] = 3; o[n++] = (uint8_t)a;
		} else if (strcmp(tok, "sackOK") == 0) {
			o[n++] = 4; o[n++] = 2;
		} else if (sscanf(tok, "ts %u %u", &a, &b) == 2) {
			o[n++] = 8; o[n++] = 10;
			put32(o + n, a);
			put32(o + n + 4, b);
			n += 8;
		} else if (strcmp(tok, "nop") == 0) {
			o[n++] = 1;
		} else if (strcmp(tok, "eol") == 0) {
			o[n++] = 0;
		} else {
			cr_assert_fail("tcp_script: option '%s'", tok);
		}
		cr_assert_leq(n, 40, "tcp_script: options too long");
	}
	while (n % 4)
		o[n++] = 1;
	return n;
}

static void script_opts_parse(const uint8_t *o, unsigned n, struct tcp_script_seg *seg)
{
	char *p = seg->opts;
	size_t room = sizeof(seg->opts);
	unsigned i = 0;

	seg->opts[0] = '\0';
	while (i < n && o[i] != 0) {
		int w = 0;

		if (o[i] == 1) {
			i++;
			continue;
		}
		cr_assert(i + 1 < n && o[i + 1] >= 2 && i + o[i + 1] <= n, "bad option emitted");
		switch (o[i]) {
		case 2:
			w = snprintf(p, room, "%smss %u", p == seg->opts ? "" : ",",
				     (unsigned)(o[i + 2] << 8 | o[i + 3]));
			break;
		case 3:
			w = snprintf(p, room, "%sws %u", p == seg->opts ? "" : ",", o[i + 2]);
			break;
		case 4:
			w = snprintf(p, room, "%ssackOK", p == seg->opts ? "" : ",");
			break;
		case 8:
			seg->has_ts = true;
			seg->tsval = get32(o + i + 2);
			seg->tsecr = get32(o + i + 6);
			w = snprintf(p, room, "%sts %u %u", p == seg->opts ? "" : ",",
				     seg->tsval, seg->tsecr);
			break;
		default:
			w = snprintf(p, room, "%sopt%u", p == seg->opts ? "" : ",", o[i]);
			break;
		}
		p += w;
		room -= (size_t)w;
		i += o[i + 1];
	}
}

/* Token by token, "*" in <want> matching any one token. */
static bool script_opts_match(const char *want, const char *got)
{
	char a[256], b[256], *sa = NULL, *sb = NULL, *ta, *tb;

	snprintf(a, sizeof(a), "%s", want);
	snprintf(b, sizeof(b), "%s", got);
	ta = strtok_r(a, " ,", &sa);
	tb = strtok_r(b, " ,", &sb);
	while (ta != NULL && tb != NULL) {
		if (strcmp(ta, "*") != 0 && strcmp(ta, tb) != 0)
			return false;
		ta = strtok_r(NULL, " ,", &sa);
		tb = strtok_r(NULL, " ,", &sb);
	}
	return ta == NULL && tb == NULL;
}

/* ---- segments in and out -------------------------------------------------------- */

void tcp_script_in(struct tcp_script *s, const char *flags, uint32_t seq, uint32_t ack,
		   uint16_t win, const char *opts, const void *data, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(s->pool);
	uint8_t o[40];
	unsigned olen = script_opts_build(opts, o);
	uint8_t f = script_flags_parse(flags);
	struct rte_tcp_hdr *th;

	cr_assert_not_null(m);
	th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, (uint16_t)(sizeof(*th) + olen + len));
	cr_assert_not_null(th);
	if (s->relative) {
		seq += TCP_SCRIPT_PEER_ISN;
		if (f & RTE_TCP_ACK_FLAG)
			ack += s->our_isn;
	}
	th->src_port = rte_cpu_to_be_16(s->peer_port);
	th->dst_port = rte_cpu_to_be_16(s->port);
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)(((sizeof(*th) + olen) / 4) << 4);
	th->tcp_flags = f;
	th->rx_win = rte_cpu_to_be_16(win);
	th->cksum = 0;
	th->tcp_urp = 0;
	memcpy(th + 1, o, olen);
	if (len > 0)
		memcpy((uint8_t *)(th + 1) + olen, data, len);
	tcp_input(s->ts, m, s->peer_ip, s->p.local_ip, s->now);
	tcp_flush(s->ts, s->now);
}

void tcp_script_in_raw(struct tcp_script *s, const void *bytes, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(s->pool);
	uint8_t *p;

	cr_assert_not_null(m);
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	cr_assert(len == 0 || p != NULL);
	if (len > 0)
		memcpy(p, bytes, len);
	tcp_input(s->ts, m, s->peer_ip, s->p.local_ip, s->now);
	tcp_flush(s->ts, s->now);
}

bool tcp_script_pop(struct tcp_script *s, struct tcp_script_seg *seg)
{
	unsigned n = sizeof(s->outq) / sizeof(s->outq[0]);
	struct rte_mbuf *m;
	const struct rte_tcp_hdr *th;
	unsigned hlen;

	if (s->out_r == s->out_w)
		return false;
	m = s->outq[s->out_r++ % n];
	memset(seg, 0, sizeof(*seg));
	th = rte_pktmbuf_mtod(m, const struct rte_tcp_hdr *);
	seg->nb_segs = m->nb_segs;
	for (struct rte_mbuf *x = m; x != NULL; x = x->next)
		seg->ext_segs += RTE_MBUF_HAS_EXTBUF(x) ? 1 : 0;
	{
		uint32_t sum = 0;

		for (struct rte_mbuf *x = m; x != NULL; x = x->next)
			sum += x->data_len;
		cr_assert_eq(sum, m->pkt_len, "pkt_len %u, segments hold %u", m->pkt_len, sum);
	}
	hlen = (unsigned)(th->data_off >> 4) * 4;
	cr_assert(hlen >= sizeof(*th) && hlen <= m->data_len, "header outside the first mbuf");
	script_flags_name(th->tcp_flags, seg->flags);
	seg->seq = rte_be_to_cpu_32(th->sent_seq);
	seg->ack = rte_be_to_cpu_32(th->recv_ack);
	seg->win = rte_be_to_cpu_16(th->rx_win);
	seg->sport = rte_be_to_cpu_16(th->src_port);
	seg->dport = rte_be_to_cpu_16(th->dst_port);
	seg->dst_ip = m->hash.usr;
	script_opts_parse((const uint8_t *)(th + 1), hlen - sizeof(*th), seg);
	seg->len = m->pkt_len - hlen;
	cr_assert_leq(seg->len, sizeof(seg->data));
	if (seg->len > 0) {
		const void *d = rte_pktmbuf_read(m, hlen, (uint32_t)seg->len, seg->data);

		cr_assert_not_null(d);
		if (d != seg->data)
			memcpy(seg->data, d, seg->len);
	}
	if ((th->tcp_flags & RTE_TCP_SYN_FLAG) && !s->have_our_isn) {
		s->our_isn = seg->seq;
		s->have_our_isn = true;
	}
	rte_pktmbuf_free(m);
	return true;
}

struct tcp_script_seg tcp_script_out(struct tcp_script *s, const char *flags, uint32_t seq,
				     uint32_t ack, uint32_t win, const char *opts,
				     const void *data, size_t len)
{
	struct tcp_script_seg g;
	uint32_t rseq, rack;

	cr_assert(tcp_script_pop(s, &g), "expected %s seq %u ack %u, nothing was sent",
		  flags, seq, ack);
	rseq = s->relative ? g.seq - s->our_isn : g.seq;
	rack = s->relative && strchr(g.flags, '.') ? g.ack - TCP_SCRIPT_PEER_ISN : g.ack;
	cr_assert_str_eq(g.flags, flags, "flags %s, expected %s (seq %u ack %u len %zu)",
			 g.flags, flags, rseq, rack, g.len);
	if (seq != TCP_SCRIPT_ANY)
		cr_assert_eq(rseq, seq, "%s: seq %u, expected %u", flags, rseq, seq);
	if (ack != TCP_SCRIPT_ANY)
		cr_assert_eq(rack, ack, "%s: ack %u, expected %u", flags, rack, ack);
	if (win != TCP_SCRIPT_ANY)
		cr_assert_eq(g.win, win, "%s: win %u, expected %u", flags, g.win, win);
	if (opts != NULL)
		cr_assert(script_opts_match(opts, g.opts), "%s: options '%s', expected '%s'",
			  flags, g.opts, opts);
	cr_assert_eq(g.len, len, "%s: %zu data bytes, expected %zu", flags, g.len, len);
	if (data != NULL)
		cr_assert_arr_eq(g.data, data, len, "%s: payload differs", flags);
	cr_assert_eq(g.dst_ip, s->peer_ip);
	cr_assert_eq(g.dport, s->peer_port);
	return g;
}

void tcp_script_none(struct tcp_script *s)
{
	struct tcp_script_seg g;

	if (tcp_script_pop(s, &g))
		cr_assert_fail("expected nothing, got %s seq %u ack %u win %u len %zu", g.flags,
			       s->relative ? g.seq - s->our_isn : g.seq,
			       s->relative ? g.ack - TCP_SCRIPT_PEER_ISN : g.ack, g.win, g.len);
}

void tcp_script_at(struct tcp_script *s, uint64_t now_us)
{
	cr_assert_geq(now_us, s->now, "tcp_script: the clock goes forward only");
	s->now = now_us;
	tcp_timers(s->ts, now_us);
	tcp_flush(s->ts, now_us);
}

void tcp_script_send(struct tcp_script *s, const void *data, size_t len)
{
	struct tcp_script_user *u = &s->user;

	cr_assert_leq(u->out_len + len, TCP_SCRIPT_BUF, "tcp_script: output buffer full");
	memcpy(u->out + u->out_len, data, len);
	u->out_len += len;
	tcp_send_ready(u->t);
	tcp_flush(s->ts, s->now);
}

void tcp_script_resume(struct tcp_script *s)
{
	s->user.consume = true;
	tcp_recv_resume(s->user.t);
	tcp_flush(s->ts, s->now);
}

void tcp_script_close(struct tcp_script *s)
{
	tcp_close(s->user.t);
	s->user.t = NULL;
	tcp_flush(s->ts, s->now);
}

uint32_t tcp_script_tsval(const struct tcp_script *s)
{
	return (uint32_t)(s->now / 1000);
}

void tcp_script_handshake(struct tcp_script *s, uint16_t win)
{
	char o[64];

	tcp_script_in(s, "S", 0, 0, 65535, "mss 1460,sackOK,ts 100 0,nop,ws 7", NULL, 0);
	snprintf(o, sizeof(o), "mss %u,ws *,ts %u 100", s->p.mss, tcp_script_tsval(s));
	tcp_script_out(s, "S.", 0, 1, TCP_SCRIPT_ANY, o, NULL, 0);
	snprintf(o, sizeof(o), "ts 101 %u", tcp_script_tsval(s));
	tcp_script_in(s, ".", 1, 1, win, o, NULL, 0);
	cr_assert_eq(s->user.accepted, 1, "accepted() after the handshake");
}

void tcp_script_handshake_plain(struct tcp_script *s, uint16_t win)
{
	char o[32];

	tcp_script_in(s, "S", 0, 0, 65535, "mss 1460", NULL, 0);
	snprintf(o, sizeof(o), "mss %u", s->p.mss);
	tcp_script_out(s, "S.", 0, 1, TCP_SCRIPT_ANY, o, NULL, 0);
	tcp_script_in(s, ".", 1, 1, win, NULL, NULL, 0);
	cr_assert_eq(s->user.accepted, 1, "accepted() after the handshake");
}

bool tcp_script_in_pool(const struct tcp_script *s, const void *p)
{
	const struct rte_mempool_memhdr *h;

	STAILQ_FOREACH(h, &s->pool->mem_list, next)
		if ((const char *)p >= (const char *)h->addr &&
		    (const char *)p < (const char *)h->addr + h->len)
			return true;
	return false;
}

struct tcb *tcp_script_connect(struct tcp_script *s)
{
	s->user.t = tcp_connect(s->ts, s->peer_ip, s->peer_port, s->port, &s->user, s->now);
	tcp_flush(s->ts, s->now);
	return s->user.t;
}
