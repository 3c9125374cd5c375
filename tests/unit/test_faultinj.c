/* test_faultinj.c - the fault injector (dataplane/faultinj.c) on real mbufs from a
 * real pool (eal_test.h): rates within binomial bounds over 10,000 frames, the same
 * seed gives the same faults, reordering never loses a frame, corruption changes
 * exactly one byte past the ethernet header, 0 % changes nothing, the burst never
 * grows past its cap, a held frame comes back after its hold time, and every mbuf
 * returns to the pool. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "eal_test.h"
#include "petrel/faultinj.h"

#define FRAME_LEN 64	/* ethernet 14 + IPv4 20 + TCP 20 + 10 bytes of payload */
#define ID_OFF 54	/* the frame's number, in its payload */
#define FRAMES 10000
#define BURST 32
#define POOL_N 8191

static struct rte_mempool *pool;
static unsigned pool_start;	/* mbufs available before the test */

static void fi_setup(void)
{
	pool = eal_test_init("faultinj", POOL_N);
	pool_start = rte_mempool_avail_count(pool);
}

static void fi_teardown(void)
{
	eal_test_fini();
}

TestSuite(faultinj, .init = fi_setup, .fini = fi_teardown);

/* The bytes of frame <id>: a pattern that differs per frame and per offset. */
static void frame_bytes(uint32_t id, uint8_t *b)
{
	for (unsigned i = 0; i < FRAME_LEN; i++)
		b[i] = (uint8_t)(id * 131 + i * 7 + 1);
	memcpy(b + ID_OFF, &id, sizeof(id));
}

static struct rte_mbuf *frame(uint32_t id)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p;

	cr_assert_not_null(m, "pool empty");
	p = (uint8_t *)rte_pktmbuf_append(m, FRAME_LEN);
	cr_assert_not_null(p);
	frame_bytes(id, p);
	return m;
}

static uint32_t frame_id(const struct rte_mbuf *m)
{
	uint32_t id;

	memcpy(&id, rte_pktmbuf_mtod(m, const uint8_t *) + ID_OFF, sizeof(id));
	return id;
}

/* Bytes of <m> that differ from frame <id>; the first such offset in *where. */
static unsigned frame_diff(const struct rte_mbuf *m, uint32_t id, unsigned *where)
{
	uint8_t want[FRAME_LEN];
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned d = 0;

	cr_assert_eq(rte_pktmbuf_data_len(m), FRAME_LEN);
	frame_bytes(id, want);
	for (unsigned i = FRAME_LEN; i-- > 0;)
		if (p[i] != want[i]) {
			d++;
			*where = i;
		}
	return d;
}

/* What came out of a run. */
struct run {
	uint32_t *ids;		/* frame ids in output order */
	unsigned n;
	struct faultinj_stats st;
};

/* Sends FRAMES frames through <f> in bursts of BURST (cap 2 * BURST), the clock
 * standing still, then flushes the held frame. Calls <check> on every frame out
 * (with its index in the output) before freeing it. */
static void run_frames(struct faultinj *f, struct run *r,
		       void (*check)(struct rte_mbuf *m, unsigned idx))
{
	struct rte_mbuf *b[2 * BURST];
	uint32_t next = 0;

	r->ids = calloc(3 * FRAMES, sizeof(*r->ids));
	cr_assert_not_null(r->ids);
	r->n = 0;
	memset(&r->st, 0, sizeof(r->st));      /* no injector: nothing counted */
	while (next < FRAMES) {
		uint16_t n = 0, out;

		while (n < BURST && next < FRAMES)
			b[n++] = frame(next++);
		out = faultinj_apply(f, b, n, 2 * BURST, 1000);
		if (next == FRAMES)
			out += faultinj_flush(f, b + out, (uint16_t)(2 * BURST - out), 1000, true);
		cr_assert_leq(out, 2 * BURST);
		for (uint16_t i = 0; i < out; i++) {
			r->ids[r->n] = frame_id(b[i]);
			if (check != NULL)
				check(b[i], r->n);
			r->n++;
			rte_pktmbuf_free(b[i]);
		}
	}
	if (f != NULL)
		r->st = *faultinj_stats(f);
}

static struct faultinj *make(double drop, double dup, double reorder, double corrupt,
			     uint64_t seed)
{
	struct faultinj_params p = {
		.drop = drop, .duplicate = dup, .reorder = reorder, .corrupt = corrupt,
		.seed = seed,
	};
	struct faultinj *f = faultinj_create(&p, 0, FAULTINJ_RX);

	cr_assert_not_null(f);
	return f;
}

/* <k> within 5 standard deviations of a binomial(n, pct %) mean. */
static void assert_binomial(uint64_t k, unsigned n, double pct, const char *what)
{
	double mean = n * pct / 100, sd = sqrt(n * (pct / 100) * (1 - pct / 100));

	cr_assert(fabs((double)k - mean) <= 5 * sd, "%s: %llu, expected %.0f +- %.0f", what,
		  (unsigned long long)k, mean, 5 * sd);
}

static void assert_pool_whole(void)
{
	cr_assert_eq(rte_mempool_avail_count(pool), pool_start, "%u mbufs not returned",
		     pool_start - rte_mempool_avail_count(pool));
}

/* ---- off ----------------------------------------------------------------------------- */

static void check_untouched(struct rte_mbuf *m, unsigned idx)
{
	unsigned where;

	cr_assert_eq(frame_id(m), idx, "frame %u out as %u", idx, frame_id(m));
	cr_assert_eq(frame_diff(m, idx, &where), 0, "frame %u changed at %u", idx, where);
}

Test(faultinj, zero_percent_changes_nothing)
{
	struct faultinj_params zero = { .seed = 7 };
	struct faultinj *f;
	struct run r;

	cr_assert_not(faultinj_enabled(&zero));
	/* Off as the port runs it: no injector, the burst passes as it was. */
	run_frames(NULL, &r, check_untouched);
	cr_assert_eq(r.n, FRAMES);
	free(r.ids);
	/* An injector at 0 % does nothing either, and counts only the frames. */
	f = faultinj_create(&zero, 3, FAULTINJ_TX);
	cr_assert_not_null(f);
	run_frames(f, &r, check_untouched);
	cr_assert_eq(r.n, FRAMES);
	cr_assert_eq(r.st.frames_in, FRAMES);
	cr_assert_eq(r.st.frames_out, FRAMES);
	cr_assert_eq(r.st.dropped + r.st.duplicated + r.st.reordered + r.st.corrupted +
		     r.st.corrupt_skipped + r.st.dup_failed + r.st.released_late, 0);
	free(r.ids);
	faultinj_destroy(f);
	assert_pool_whole();
}

Test(faultinj, rates_outside_0_to_100_are_refused)
{
	static const double bad[] = { -0.5, 100.01, 1e9, NAN };
	struct faultinj_params ok = { .drop = 1 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct faultinj_params p = { .corrupt = bad[i] };

		errno = 0;
		cr_assert_null(faultinj_create(&p, 0, FAULTINJ_RX), "rate %g accepted", bad[i]);
		cr_assert_eq(errno, EINVAL);
	}
	errno = 0;
	cr_assert_null(faultinj_create(&ok, 0, 2), "direction 2 accepted");
	cr_assert_eq(errno, EINVAL);
}

/* ---- rates ---------------------------------------------------------------------------- */

Test(faultinj, drop_rate_is_binomial_and_survivors_keep_their_order)
{
	struct faultinj *f = make(10, 0, 0, 0, 42);
	struct run r;

	cr_assert(faultinj_enabled(&(struct faultinj_params){ .drop = 10 }));
	run_frames(f, &r, NULL);
	assert_binomial(r.st.dropped, FRAMES, 10, "dropped");
	cr_assert_eq(r.n, FRAMES - r.st.dropped);
	for (unsigned i = 1; i < r.n; i++)
		cr_assert_gt(r.ids[i], r.ids[i - 1], "order changed at %u", i);
	free(r.ids);
	faultinj_destroy(f);
	assert_pool_whole();
}

static void check_dup_copy(struct rte_mbuf *m, unsigned idx)
{
	unsigned where;

	(void)idx;
	/* A copy is its own direct mbuf with the original's bytes. */
	cr_assert(RTE_MBUF_DIRECT(m));
	cr_assert_eq(rte_mbuf_refcnt_read(m), 1);
	cr_assert_eq(frame_diff(m, frame_id(m), &where), 0);
}

Test(faultinj, duplicate_rate_is_binomial_and_copies_are_whole)
{
	struct faultinj *f = make(0, 5, 0, 0, 43);
	struct run r;
	unsigned twins = 0;

	run_frames(f, &r, check_dup_copy);
	assert_binomial(r.st.duplicated, FRAMES, 5, "duplicated");
	cr_assert_eq(r.st.dup_failed, 0);
	cr_assert_eq(r.n, FRAMES + r.st.duplicated);
	/* A copy follows its original at once. */
	for (unsigned i = 1; i < r.n; i++)
		twins += r.ids[i] == r.ids[i - 1];
	cr_assert_eq(twins, r.st.duplicated);
	free(r.ids);
	faultinj_destroy(f);
	assert_pool_whole();
}

static unsigned corrupt_seen;

static void check_one_byte(struct rte_mbuf *m, unsigned idx)
{
	unsigned where = 0, d = frame_diff(m, idx, &where);

	/* No drop or reorder in these runs: output position idx is frame idx. */
	cr_assert_leq(d, 1, "frame %u: %u bytes changed", idx, d);
	if (d == 1) {
		cr_assert_geq(where, 14, "frame %u: ethernet header byte %u changed", idx,
			      where);
		corrupt_seen++;
	}
}

Test(faultinj, corrupt_rate_is_binomial_and_changes_exactly_one_byte)
{
	struct faultinj *f = make(0, 0, 0, 20, 44);
	struct run r;

	corrupt_seen = 0;
	run_frames(f, &r, check_one_byte);
	cr_assert_eq(r.n, FRAMES);
	assert_binomial(r.st.corrupted, FRAMES, 20, "corrupted");
	cr_assert_eq(corrupt_seen, r.st.corrupted);
	cr_assert_eq(r.st.corrupt_skipped, 0);
	free(r.ids);
	faultinj_destroy(f);
}

Test(faultinj, corrupt_at_100_percent_changes_one_byte_of_every_frame)
{
	struct faultinj *f = make(0, 0, 0, 100, 45);
	struct run r;

	corrupt_seen = 0;
	run_frames(f, &r, check_one_byte);
	cr_assert_eq(corrupt_seen, FRAMES);
	cr_assert_eq(r.st.corrupted, FRAMES);
	free(r.ids);
	faultinj_destroy(f);
}

Test(faultinj, corrupt_leaves_shared_and_tx_offloaded_frames_alone)
{
	struct faultinj_params p = { .corrupt = 100, .seed = 1 };
	struct faultinj *rx = faultinj_create(&p, 0, FAULTINJ_RX);
	struct faultinj *tx = faultinj_create(&p, 0, FAULTINJ_TX);
	struct rte_mbuf *b[2], *m = frame(1), *o = frame(2);
	unsigned where;

	/* A second reference (a clone, or a retransmission still queued) shares the
	 * data: writing it would damage the other holder's bytes too. */
	rte_mbuf_refcnt_update(m, 1);
	b[0] = m;
	cr_assert_eq(faultinj_apply(rx, b, 1, 2, 0), 1);
	cr_assert_eq(frame_diff(m, 1, &where), 0, "shared frame written at %u", where);
	cr_assert_eq(faultinj_stats(rx)->corrupt_skipped, 1);
	rte_mbuf_refcnt_update(m, -1);
	/* TX asking the NIC for checksums: the damage would go out with a good one. */
	o->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
	b[0] = o;
	cr_assert_eq(faultinj_apply(tx, b, 1, 2, 0), 1);
	cr_assert_eq(frame_diff(o, 2, &where), 0, "offloaded TX frame written at %u", where);
	cr_assert_eq(faultinj_stats(tx)->corrupt_skipped, 1);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(o);
	faultinj_destroy(rx);
	faultinj_destroy(tx);
	assert_pool_whole();
}

/* ---- reorder ---------------------------------------------------------------------------- */

Test(faultinj, reorder_never_loses_a_frame_and_moves_each_by_one)
{
	struct faultinj *f = make(0, 0, 30, 0, 46);
	struct run r;
	unsigned char *seen = calloc(FRAMES, 1);
	unsigned swapped = 0;

	cr_assert_not_null(seen);
	run_frames(f, &r, NULL);
	cr_assert_eq(r.n, FRAMES, "%u of %u frames came out", r.n, FRAMES);
	for (unsigned i = 0; i < r.n; i++) {
		cr_assert_lt(r.ids[i], FRAMES);
		cr_assert_eq(seen[r.ids[i]], 0, "frame %u out twice", r.ids[i]);
		seen[r.ids[i]] = 1;
		cr_assert_leq(abs((int)r.ids[i] - (int)i), 1, "frame %u out at %u", r.ids[i], i);
		swapped += i > 0 && r.ids[i] < r.ids[i - 1];
	}
	cr_assert_eq(swapped, r.st.reordered);
	/* One frame held at a time, and the frame that passes it is never held: each
	 * reorder takes two frames, so p / (1 + p) = 23 % of the frames are reordered. */
	cr_assert_gt(r.st.reordered, FRAMES / 10);
	cr_assert_lt(r.st.reordered, FRAMES * 3 / 10);
	free(seen);
	free(r.ids);
	faultinj_destroy(f);
	assert_pool_whole();
}

Test(faultinj, a_held_frame_leaves_after_its_hold_time)
{
	struct faultinj_params p = { .reorder = 100, .seed = 9, .hold_us = 500 };
	struct faultinj *f = faultinj_create(&p, 0, FAULTINJ_RX);
	struct rte_mbuf *b[4];

	b[0] = frame(1);
	cr_assert_eq(faultinj_apply(f, b, 1, 4, 10000), 0, "the frame was not held");
	cr_assert_eq(faultinj_flush(f, b, 4, 10499, false), 0, "released before 500 us");
	cr_assert_eq(faultinj_flush(f, b, 4, 10500, false), 1);
	cr_assert_eq(frame_id(b[0]), 1);
	cr_assert_eq(faultinj_stats(f)->released_late, 1);
	rte_pktmbuf_free(b[0]);
	/* Held again, then a burst after the hold time: it leaves first, and the new
	 * frame is held in its place. */
	b[0] = frame(2);
	cr_assert_eq(faultinj_apply(f, b, 1, 4, 20000), 0);
	b[0] = frame(3);
	cr_assert_eq(faultinj_apply(f, b, 1, 4, 20600), 1);
	cr_assert_eq(frame_id(b[0]), 2);
	rte_pktmbuf_free(b[0]);
	/* Destroy frees the frame still held. */
	faultinj_destroy(f);
	assert_pool_whole();
}

/* ---- cap -------------------------------------------------------------------------------- */

Test(faultinj, the_burst_never_grows_past_cap)
{
	struct faultinj *f = make(0, 100, 50, 0, 47);
	struct rte_mbuf *b[16];
	uint32_t id = 0;

	for (int round = 0; round < 200; round++) {
		uint16_t n = (uint16_t)(1 + round % 8), cap = (uint16_t)(n + round % 3), out;

		for (uint16_t i = 0; i < n; i++)
			b[i] = frame(id++);
		out = faultinj_apply(f, b, n, cap, 0);
		cr_assert_leq(out, cap, "round %d: %u frames for cap %u", round, out, cap);
		for (uint16_t i = 0; i < out; i++)
			rte_pktmbuf_free(b[i]);
	}
	cr_assert_gt(faultinj_stats(f)->dup_failed, 0, "cap never limited a duplicate");
	cr_assert_gt(faultinj_stats(f)->duplicated, 0);
	faultinj_destroy(f);
	assert_pool_whole();
}

/* ---- determinism ----------------------------------------------------------------------- */

Test(faultinj, the_same_seed_gives_the_same_faults)
{
	struct run a, b, c;
	struct faultinj *f;

	f = make(10, 10, 10, 10, 1234);
	run_frames(f, &a, NULL);
	faultinj_destroy(f);
	f = make(10, 10, 10, 10, 1234);
	run_frames(f, &b, NULL);
	faultinj_destroy(f);
	cr_assert_eq(a.n, b.n);
	cr_assert_eq(memcmp(a.ids, b.ids, a.n * sizeof(a.ids[0])), 0, "same seed, other frames");
	cr_assert_eq(memcmp(&a.st, &b.st, sizeof(a.st)), 0, "same seed, other counts");
	assert_binomial(a.st.dropped, FRAMES, 10, "dropped");
	/* Another seed: other faults. */
	f = make(10, 10, 10, 10, 1235);
	run_frames(f, &c, NULL);
	faultinj_destroy(f);
	cr_assert(c.n != a.n || memcmp(a.ids, c.ids, a.n * sizeof(a.ids[0])) != 0,
		  "another seed gave the same frames");
	free(a.ids);
	free(b.ids);
	free(c.ids);
	assert_pool_whole();
}

Test(faultinj, workers_and_directions_draw_their_own_streams)
{
	struct faultinj_params p = { .drop = 50, .seed = 77 };
	struct faultinj *f[3] = {
		faultinj_create(&p, 0, FAULTINJ_RX), faultinj_create(&p, 1, FAULTINJ_RX),
		faultinj_create(&p, 0, FAULTINJ_TX),
	};
	uint64_t kept[3] = { 0 };

	for (int k = 0; k < 3; k++) {
		for (uint32_t i = 0; i < 64; i++) {
			struct rte_mbuf *b[1] = { frame(i) };

			if (faultinj_apply(f[k], b, 1, 1, 0) == 1) {
				kept[k] |= 1ull << i;
				rte_pktmbuf_free(b[0]);
			}
		}
		faultinj_destroy(f[k]);
	}
	cr_assert_neq(kept[0], kept[1], "workers 0 and 1 dropped the same frames");
	cr_assert_neq(kept[0], kept[2], "rx and tx dropped the same frames");
	assert_pool_whole();
}
