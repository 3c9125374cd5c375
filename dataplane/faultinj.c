/* faultinj.c - seeded drop / duplicate / reorder / corrupt over mbuf bursts (see
 * faultinj.h). Each frame draws four numbers from the injector's PRNG, one per
 * fault, whatever happens to it, so the same seed and the same frames give the same
 * faults. The decisions, in this order:
 *
 *   drop       the frame is freed
 *   corrupt    one byte after the ethernet header is XORed with a non-zero value:
 *              the IPv4 header checksum or the TCP checksum must catch it
 *   duplicate  a deep copy (rte_pktmbuf_copy) follows the original, so corrupting or
 *              freeing one never touches the other
 *   reorder    the frame is held back (one at a time) and leaves right after the next
 *              frame, or after hold_us if none comes
 *
 * Corruption only writes into a direct mbuf's own first segment that no one else
 * holds (refcnt 1): a PUBLISH payload rides as an external buffer shared with the
 * message and every subscriber (DESIGN.md), and must never be written. On TX a frame
 * asking for checksum offload is left alone: the NIC would checksum the damage and
 * the peer would take it for data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "petrel/faultinj.h"
#include "petrel/log.h"

#define FAULTINJ_PPM 1000000u
#define FAULTINJ_ETH_HLEN 14

struct faultinj {
	uint64_t rng;               /* splitmix64 state */
	uint32_t drop_ppm, dup_ppm, reorder_ppm, corrupt_ppm;
	uint64_t hold_us;
	struct rte_mbuf *held;      /* the frame held back for reordering, or NULL */
	uint64_t held_since_us;
	int dir;
	struct faultinj_stats stats;
	struct rte_mbuf *out[FAULTINJ_BURST_MAX];   /* the burst being rebuilt */
};

static uint64_t faultinj_next(struct faultinj *f)
{
	/* splitmix64: a full-period 64-bit generator, good enough to decide faults and
	 * cheap enough to draw four per frame. */
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A number below <bound>, by multiply-shift (no modulo bias worth the name). */
static uint32_t faultinj_below(struct faultinj *f, uint32_t bound)
{
	return (uint32_t)(((faultinj_next(f) >> 32) * bound) >> 32);
}

static bool faultinj_rate_ok(double pct)
{
	return pct >= 0.0 && pct <= 100.0;	/* false for NaN too */
}

static uint32_t faultinj_ppm(double pct)
{
	return (uint32_t)(pct * (FAULTINJ_PPM / 100) + 0.5);
}

bool faultinj_enabled(const struct faultinj_params *p)
{
	return faultinj_ppm(p->drop) > 0 || faultinj_ppm(p->duplicate) > 0 ||
	       faultinj_ppm(p->reorder) > 0 || faultinj_ppm(p->corrupt) > 0;
}

struct faultinj *faultinj_create(const struct faultinj_params *p, unsigned worker_id,
				 int dir)
{
	struct faultinj *f;

	if (!faultinj_rate_ok(p->drop) || !faultinj_rate_ok(p->duplicate) ||
	    !faultinj_rate_ok(p->reorder) || !faultinj_rate_ok(p->corrupt) ||
	    (dir != FAULTINJ_RX && dir != FAULTINJ_TX)) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->drop_ppm = faultinj_ppm(p->drop);
	f->dup_ppm = faultinj_ppm(p->duplicate);
	f->reorder_ppm = faultinj_ppm(p->reorder);
	f->corrupt_ppm = faultinj_ppm(p->corrupt);
	f->hold_us = p->hold_us != 0 ? p->hold_us : FAULTINJ_HOLD_US_DEFAULT;
	f->dir = dir;
	/* Workers and directions draw different streams from one configured seed. */
	f->rng = p->seed;
	f->rng ^= faultinj_next(f) + ((uint64_t)worker_id << 1 | (uint64_t)dir);
	log_warn("fault injection on worker %u %s: drop %.4f %%, duplicate %.4f %%, "
		 "reorder %.4f %%, corrupt %.4f %%, seed %llu", worker_id,
		 dir == FAULTINJ_RX ? "rx" : "tx", p->drop, p->duplicate, p->reorder,
		 p->corrupt, (unsigned long long)p->seed);
	return f;
}

void faultinj_destroy(struct faultinj *f)
{
	if (f == NULL)
		return;
	rte_pktmbuf_free(f->held);
	free(f);
}

const struct faultinj_stats *faultinj_stats(const struct faultinj *f)
{
	return &f->stats;
}

/* Flips one byte of <m> after the ethernet header, if <m> may be written. */
static void faultinj_corrupt(struct faultinj *f, struct rte_mbuf *m, uint32_t draw)
{
	uint8_t *p;
	uint16_t len = rte_pktmbuf_data_len(m);

	if (!RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1 ||
	    len <= FAULTINJ_ETH_HLEN ||
	    (f->dir == FAULTINJ_TX &&
	     (m->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK)) != 0)) {
		f->stats.corrupt_skipped++;
		return;
	}
	p = rte_pktmbuf_mtod(m, uint8_t *);
	p[FAULTINJ_ETH_HLEN + draw % (uint32_t)(len - FAULTINJ_ETH_HLEN)] ^=
		(uint8_t)(1 + (draw >> 16) % 255);
	f->stats.corrupted++;
}

/* Appends <m> to the rebuilt burst; the held frame, if one waits, follows it unless
 * that would leave fewer than <reserve> slots below <cap> for the frames to come. */
static void faultinj_emit(struct faultinj *f, uint16_t *k, uint16_t cap, struct rte_mbuf *m,
			  uint32_t reserve)
{
	f->out[(*k)++] = m;
	if (f->held != NULL && (uint32_t)*k + 1 + reserve <= cap) {
		f->out[(*k)++] = f->held;
		f->held = NULL;
		f->stats.reordered++;
	}
}

uint16_t faultinj_apply_burst(struct faultinj *f, struct rte_mbuf **pkts, uint16_t n,
			      uint16_t cap, uint64_t now_us)
{
	uint16_t k = 0;

	if (cap > FAULTINJ_BURST_MAX)
		cap = FAULTINJ_BURST_MAX;
	if (n > cap)
		n = cap;	/* callers pass n <= cap; never write past it */
	f->stats.frames_in += n;
	/* A frame held past its time leaves first: it waited for one that never came. */
	if (f->held != NULL && now_us - f->held_since_us >= f->hold_us && n < cap) {
		f->out[k++] = f->held;
		f->held = NULL;
		f->stats.released_late++;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		bool drop = faultinj_below(f, FAULTINJ_PPM) < f->drop_ppm;
		bool corrupt = faultinj_below(f, FAULTINJ_PPM) < f->corrupt_ppm;
		bool dup = faultinj_below(f, FAULTINJ_PPM) < f->dup_ppm;
		bool hold = faultinj_below(f, FAULTINJ_PPM) < f->reorder_ppm;
		uint32_t draw = (uint32_t)faultinj_next(f);
		uint32_t left = (uint32_t)(n - i - 1);	/* input frames after this one */

		if (drop) {
			rte_pktmbuf_free(m);
			f->stats.dropped++;
			continue;
		}
		if (corrupt)
			faultinj_corrupt(f, m, draw);
		if (dup) {
			/* Room for both the original and the copy, with a slot for each
			 * input frame still to come. */
			struct rte_mbuf *c = (uint32_t)k + 2 + left <= cap ?
				rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX) : NULL;

			if (c == NULL) {
				f->stats.dup_failed++;
			} else {
				faultinj_emit(f, &k, cap, m, left + 1);
				m = c;
				f->stats.duplicated++;
			}
		}
		if (hold && f->held == NULL) {
			f->held = m;
			f->held_since_us = now_us;
			continue;
		}
		faultinj_emit(f, &k, cap, m, left);
	}
	memcpy(pkts, f->out, k * sizeof(pkts[0]));
	f->stats.frames_out += k;
	return k;
}

uint16_t faultinj_flush(struct faultinj *f, struct rte_mbuf **pkts, uint16_t cap,
			uint64_t now_us, bool all)
{
	if (f == NULL || f->held == NULL || cap == 0 ||
	    (!all && now_us - f->held_since_us < f->hold_us))
		return 0;
	pkts[0] = f->held;
	f->held = NULL;
	f->stats.released_late++;
	f->stats.frames_out++;
	return 1;
}
