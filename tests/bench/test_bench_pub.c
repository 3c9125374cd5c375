/* test_bench_pub.c - petrel-bench's fixed-rate schedule (bench_pub.c): messages carry
 * the time they were due, not the time they left, and a full window or a late wake-up
 * delays them without dropping them from the schedule, so latency counted from the
 * stamp includes every stall (no coordinated omission). Drives the real bench_pub
 * window and reads the stamps back from the bytes it would write, decoded with the
 * real codec. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include <petrel/mqtt.h>

#include "bench_hist.h"
#include "bench_opts.h"
#include "bench_pub.h"
#include "bench_time.h"

#define T0 (5 * BENCH_NS_PER_S)  /* a schedule start that is not 0 */
#define MS BENCH_NS_PER_MS

struct stamped {
	uint64_t seq;
	uint64_t stamp;
	uint16_t packet_id;
};

/* Takes everything <p> has queued as the socket would (all of it), decodes the
 * PUBLISHes and fills <out>. Returns how many. */
static size_t take_queued(struct bench_pub *p, struct stamped *out, size_t max)
{
	static uint8_t wire[1 << 16];
	struct iovec iov[64];
	size_t n, bytes = 0, len = 0, off = 0, k = 0, i;
	struct mqtt_pkt pkt;
	ssize_t r;

	n = bench_pub_iov(p, iov, 64, &bytes);
	cr_assert_leq(bytes, sizeof(wire));
	for (i = 0; i < n; i++) {
		memcpy(wire + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	bench_pub_written(p, len);
	while (off < len) {
		r = mqtt_decode(wire + off, len - off, sizeof(wire), &pkt);
		cr_assert_gt(r, 0, "the window holds whole, valid PUBLISHes");
		cr_assert_eq(pkt.type, MQTT_PUBLISH);
		cr_assert_lt(k, max);
		memcpy(&out[k].seq, pkt.u.publish.payload + BENCH_HDR_SEQ_OFF, sizeof(uint64_t));
		memcpy(&out[k].stamp, pkt.u.publish.payload + BENCH_HDR_TS_OFF, sizeof(uint64_t));
		out[k].packet_id = pkt.u.publish.packet_id;
		k++;
		off += (size_t)r;
	}
	return k;
}

static void ack_all(struct bench_pub *p, const struct stamped *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(bench_pub_ack(p, MQTT_PUBACK, m[i].packet_id), 0);
	cr_assert_eq(bench_pub_inflight(p), 0);
}

/* 1000 msg/s through a 4-message QoS 1 window, acks 10 ms late: the 11 messages due
 * by then all go out, each stamped with its own due time. */
Test(bench_pub, stamps_the_due_time_and_owes_what_a_full_window_held_back)
{
	struct bench_pub p;
	struct stamped m[16];
	uint64_t now = T0 + 10 * MS;
	size_t n, total = 0;

	cr_assert_eq(bench_pub_init(&p, 7, "bench/7", 1, 64, 4), 0);
	bench_pub_rate_start(&p, 1000, T0);
	/* Due at 10 ms: messages 0..10. The window takes 4. */
	cr_assert_eq(bench_pub_backlog(&p, now), 11);
	cr_assert_eq(bench_pub_produce(&p, now, NULL), 4);
	cr_assert_eq(bench_pub_next_due(&p), UINT64_MAX, "a full window waits for acks");
	while (total < 11) {
		n = take_queued(&p, m, 16);
		cr_assert_gt(n, 0);
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(m[i].seq, total + i);
			cr_expect_eq(m[i].stamp, T0 + (total + i) * MS,
				     "message %zu stamped %llu ns after the start, due at %zu ms",
				     total + i, (unsigned long long)(m[i].stamp - T0), total + i);
		}
		total += n;
		ack_all(&p, m, n);
		/* The acks arrive at 10 ms: the held-back messages are still owed. */
		bench_pub_produce(&p, now, NULL);
	}
	cr_assert_eq(total, 11);
	cr_assert_eq(bench_pub_backlog(&p, now), 0);
	cr_assert_eq(bench_pub_next_due(&p), T0 + 11 * MS);
	bench_pub_fini(&p);
}

/* A generator that wakes 3 ms late stamps the due times and records its lateness. */
Test(bench_pub, late_wakeup_is_measured_as_lag_not_hidden)
{
	static struct bench_hist lag;
	struct bench_pub p;
	struct stamped m[8];
	size_t n;

	memset(&lag, 0, sizeof(lag));
	cr_assert_eq(bench_pub_init(&p, 1, "bench/1", 0, 32, 8), 0);
	bench_pub_rate_start(&p, 500, T0);           /* one every 2 ms */
	cr_assert_eq(bench_pub_produce(&p, T0 - 1, &lag), 0, "nothing before the start");
	cr_assert_eq(bench_pub_next_due(&p), T0);
	cr_assert_eq(bench_pub_produce(&p, T0 + 3 * MS, &lag), 2);
	n = take_queued(&p, m, 8);
	cr_assert_eq(n, 2);
	cr_assert_eq(m[0].stamp, T0);
	cr_assert_eq(m[1].stamp, T0 + 2 * MS);
	cr_assert_eq(lag.count, 2);
	cr_assert_eq(lag.max, 3 * MS);
	bench_pub_fini(&p);
}

/* The schedule arithmetic: the count of due messages and the due times agree exactly
 * at every edge, for rates whose period is not a whole number of nanoseconds. */
Test(bench_sched, due_count_agrees_with_due_times)
{
	static const double rates[] = { 1, 3, 7.5, 333.3, 1000, 12345.678, 3e5, 1e6, 7e6 };

	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		double period = 1e9 / rates[r];
		uint64_t prev = 0;

		cr_assert_eq(bench_sched_due(T0, period, T0 - 1), 0);
		cr_assert_eq(bench_sched_time(T0, period, 0), T0);
		for (uint64_t k = 0; k < 5000; k += 1 + k / 50) {
			uint64_t t = bench_sched_time(T0, period, k);

			cr_assert_geq(t, prev, "due times never go back");
			prev = t;
			/* At its due time message k is due, and so are all before it. */
			cr_assert_geq(bench_sched_due(T0, period, t), k + 1,
				      "rate %g, message %llu", rates[r], (unsigned long long)k);
			/* Just before it, it is not. */
			if (t > T0)
				cr_assert_leq(bench_sched_due(T0, period, t - 1), k,
					      "rate %g, message %llu", rates[r],
					      (unsigned long long)k);
		}
		/* Over one second exactly <rate> messages fall due (the one at t0 + 1 s
		 * included when the period divides it). */
		uint64_t one_s = bench_sched_due(T0, period, T0 + BENCH_NS_PER_S - 1);

		cr_assert(one_s >= (uint64_t)rates[r] && one_s <= (uint64_t)rates[r] + 1,
			  "rate %g: %llu due in the first second", rates[r],
			  (unsigned long long)one_s);
	}
}
