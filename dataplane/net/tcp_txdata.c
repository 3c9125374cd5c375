/* tcp_txdata.c - the data of a segment we send, from the send buffer at an offset
 * past snd_una: copied into the segment's mbuf, or, for a long enough piece of a
 * span with a ref (span.h: a PUBLISH payload inside its refcounted msg), attached as
 * the external buffer of an mbuf of its own (rte_pktmbuf_attach_extbuf) that holds a
 * ref through span_hold() until the mbuf is freed (after the port sent it), so a
 * fan-out copies only headers and a retransmission re-sends from the same bytes.
 *
 * Attaching needs the buffer's IOVA: only in IOVA-as-VA mode, and only when the
 * caller says the port sends chains (tcp_params.tx_chains); else everything is
 * copied. The small struct that DPDK's free callback needs (shared info, the user
 * ops, the ref) lives in the attaching mbuf's own data room, unused while attached,
 * so nothing is allocated but mbufs. */
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <string.h>

#include "tcp_int.h"

/* Shorter pieces are cheaper to copy than to chain. */
#define TCP_TXDATA_ATTACH_MIN 256

struct tcp_extbuf {
	struct rte_mbuf_ext_shared_info shinfo;
	const struct tcp_user_ops *ops;
	void *ref;
};

bool tcp_txdata_can_attach(const struct tcp_params *p)
{
	return p->tx_chains && p->ops->span_hold != NULL && p->ops->span_release != NULL &&
	       rte_eal_iova_mode() == RTE_IOVA_VA;
}

/* DPDK calls it when the last mbuf pointing at the buffer is freed. */
static void tcp_extbuf_free(void *addr, void *opaque)
{
	struct tcp_extbuf *x = opaque;

	(void)addr;
	x->ops->span_release(x->ref);
}

static struct rte_mbuf *tcp_txdata_seg(struct tcp_stack *ts)
{
	struct rte_mbuf *n = rte_pktmbuf_alloc(ts->p.pool);

	if (n == NULL) {
		ts->stats.no_mbuf++;
		tcp_limit_hit(ts, TCP_LIMIT_MBUF);
		return NULL;
	}
	n->data_off = 0; /* a middle segment needs no headroom */
	return n;
}

/* <len> bytes from <src> at the end of chain <m>: into the last segment while it is
 * direct and has room, else into new segments. */
static int tcp_txdata_copy(struct tcp_stack *ts, struct rte_mbuf *m, const uint8_t *src,
			   uint32_t len)
{
	while (len > 0) {
		struct rte_mbuf *last = rte_pktmbuf_lastseg(m);
		uint32_t room = RTE_MBUF_HAS_EXTBUF(last) ? 0 : rte_pktmbuf_tailroom(last);
		uint32_t c;

		if (room == 0) {
			struct rte_mbuf *n = tcp_txdata_seg(ts);

			if (n == NULL)
				return -ENOBUFS;
			if (rte_pktmbuf_chain(m, n) < 0) {
				rte_pktmbuf_free(n);
				return -EMSGSIZE;
			}
			continue;
		}
		c = len < room ? len : room;
		memcpy(rte_pktmbuf_mtod_offset(last, uint8_t *, last->data_len), src, c);
		last->data_len = (uint16_t)(last->data_len + c);
		m->pkt_len += c;
		src += c;
		len -= c;
	}
	return 0;
}

/* <len> bytes of span <sp> from its start, attached to a new segment of chain <m>. */
static int tcp_txdata_attach(struct tcp_stack *ts, struct rte_mbuf *m, const struct tx_span *sp,
			     uint32_t len)
{
	struct rte_mbuf *e = tcp_txdata_seg(ts);
	struct tcp_extbuf *x;
	uintptr_t base = (uintptr_t)sp->base;

	if (e == NULL)
		return -ENOBUFS;
	RTE_BUILD_BUG_ON(sizeof(struct tcp_extbuf) > RTE_MBUF_DEFAULT_DATAROOM);
	x = rte_pktmbuf_mtod(e, struct tcp_extbuf *);
	x->ops = ts->p.ops;
	x->ref = sp->ref;
	x->shinfo.free_cb = tcp_extbuf_free;
	x->shinfo.fcb_opaque = x;
	rte_mbuf_ext_refcnt_set(&x->shinfo, 1);
	ts->p.ops->span_hold(sp->ref);
	/* IOVA-as-VA (tcp_txdata_can_attach): the address is the IOVA. */
	rte_pktmbuf_attach_extbuf(e, (void *)base, (rte_iova_t)base, (uint16_t)len, &x->shinfo);
	e->data_len = (uint16_t)len;
	e->pkt_len = len;
	if (rte_pktmbuf_chain(m, e) < 0) {
		rte_pktmbuf_free(e); /* releases the ref */
		return -EMSGSIZE;
	}
	return 0;
}

int tcp_txdata_fill(struct tcb *t, struct rte_mbuf *m, size_t off, uint32_t len)
{
	struct tcp_stack *ts = t->ts;

	if ((t->flags & TF_CLOSED_USER) || !ts->can_attach) {
		uint8_t *dst = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);

		if (dst == NULL) {
			ts->stats.no_mbuf++;
			return -ENOBUFS;
		}
		return tcb_send_copy(t, off, dst, len);
	}
	while (len > 0 && t->user != NULL) {
		struct tx_span sp[8];
		int n = ts->p.ops->send_view(t->user, off, sp, 8), rc = 0;

		if (n <= 0)
			return -EIO;
		for (int i = 0; i < n && len > 0 && rc == 0; i++) {
			uint32_t c = sp[i].len < len ? sp[i].len : len;

			if (sp[i].ref != NULL && c >= TCP_TXDATA_ATTACH_MIN)
				rc = tcp_txdata_attach(ts, m, &sp[i], c);
			else
				rc = tcp_txdata_copy(ts, m, sp[i].base, c);
			off += c;
			len -= c;
		}
		if (rc < 0)
			return rc;
	}
	return len == 0 ? 0 : -EIO;
}
