/* test_timer.c - the per-worker timer wheel (dataplane/timer.c) driven with synthetic
 * clocks: deadlines are met but never anticipated, cancel and re-arm, deadlines more
 * than one turn of the wheel away, callbacks that arm or cancel timers while the wheel
 * runs, crowded slots, and the armed count; a wheel in microseconds with a tick of
 * 100 or 1000 us (the TCP stack's). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <urcu/compiler.h>

#include "petrel/timer.h"

#define TURN_MS ((uint64_t)TIMER_SLOTS * TIMER_TICK_MS)
#define T0 1000000u	/* a start that is not 0, tick aligned */

/* A timer and what happened to it. */
struct probe {
	struct timer t;
	unsigned fired;
	uint64_t deadline;	/* what the test armed it for */
	uint64_t fired_at;	/* now_ms of the last firing */
	uint64_t early;		/* firings with now_ms < deadline */
	struct probe *other;	/* for callbacks that act on another timer */
	uint64_t rearm_at;	/* for callbacks that re-arm */
	unsigned rearms;	/* how many re-arms are left */
};

static struct timer_wheel tw;

static void record(struct timer *t, uint64_t now_ms)
{
	struct probe *p = caa_container_of(t, struct probe, t);

	p->fired++;
	p->fired_at = now_ms;
	if (now_ms < p->deadline)
		p->early++;
}

static void probe_arm(struct probe *p, uint64_t deadline)
{
	p->deadline = deadline;
	timer_arm(&tw, &p->t, deadline);
}

static void probe_init(struct probe *p, timer_fn *fn)
{
	*p = (struct probe){ 0 };
	timer_init(&p->t, fn);
}

/* Runs the wheel at every <step> ms in (from, to]. */
static void run_every(uint64_t from, uint64_t to, uint64_t step)
{
	for (uint64_t now = from + step; now <= to; now += step)
		timer_wheel_run(&tw, now);
}

/* ---- deadlines ---------------------------------------------------------------------- */

Test(timer, fires_at_a_tick_aligned_deadline_and_not_before)
{
	struct probe p;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, record);
	probe_arm(&p, T0 + 20 * TIMER_TICK_MS);
	cr_assert_eq(tw.armed, 1);
	run_every(T0, p.deadline - 1, 1);
	cr_assert_eq(p.fired, 0, "fired before its deadline");
	timer_wheel_run(&tw, p.deadline);
	cr_assert_eq(p.fired, 1, "not fired at its deadline");
	cr_assert_eq(p.fired_at, p.deadline);
	cr_assert_not(p.t.armed);
	cr_assert_eq(tw.armed, 0);
	run_every(p.deadline, p.deadline + 2 * TURN_MS, TIMER_TICK_MS);
	cr_assert_eq(p.fired, 1, "a timer fires once");
	timer_wheel_fini(&tw);
}

Test(timer, never_fires_before_a_deadline_inside_a_tick)
{
	/* timer.h: "fire at or after <expires_ms>". A deadline in the middle of a tick
	 * must not fire when the clock reaches the start of that tick. */
	static const uint64_t offs[] = { 1, 17, TIMER_TICK_MS / 2, TIMER_TICK_MS - 1 };

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct probe p;

		timer_wheel_init(&tw, T0, TIMER_TICK_MS);
		probe_init(&p, record);
		probe_arm(&p, T0 + 10 * TIMER_TICK_MS + offs[i]);
		run_every(T0, p.deadline + TIMER_TICK_MS, 1);
		cr_assert_eq(p.fired, 1, "deadline T0+%llu: fired %u times",
			     (unsigned long long)(p.deadline - T0), p.fired);
		cr_assert_eq(p.early, 0, "deadline T0+%llu fired early, at T0+%llu",
			     (unsigned long long)(p.deadline - T0),
			     (unsigned long long)(p.fired_at - T0));
		timer_wheel_fini(&tw);
	}
}

Test(timer, fires_within_a_tick_of_the_deadline_with_a_coarse_clock)
{
	struct probe p[50];

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	srand(3);
	for (int i = 0; i < 50; i++) {
		probe_init(&p[i], record);
		probe_arm(&p[i], T0 + 1 + (uint64_t)(rand() % 5000));
	}
	/* The loop reads its clock every 7 ms, never on a tick boundary for long. */
	run_every(T0, T0 + 5000 + 2 * TIMER_TICK_MS, 7);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(p[i].fired, 1, "timer %d fired %u times", i, p[i].fired);
		cr_assert_leq(p[i].fired_at, p[i].deadline + TIMER_TICK_MS + 7,
			      "timer %d late by %llu ms", i,
			      (unsigned long long)(p[i].fired_at - p[i].deadline));
	}
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

Test(timer, a_past_deadline_fires_on_the_next_tick)
{
	struct probe p;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	run_every(T0, T0 + 10 * TIMER_TICK_MS, TIMER_TICK_MS);
	probe_init(&p, record);
	probe_arm(&p, T0);	/* 10 ticks ago: its slot was passed */
	timer_wheel_run(&tw, T0 + 11 * TIMER_TICK_MS);
	cr_assert_eq(p.fired, 1, "a past deadline waited for another turn");
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

Test(timer, one_late_run_fires_everything_that_came_due)
{
	struct probe p[10];

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	for (int i = 0; i < 10; i++) {
		probe_init(&p[i], record);
		probe_arm(&p[i], T0 + (uint64_t)(i + 1) * 3 * TIMER_TICK_MS);
	}
	/* The worker was stuck for 20 ticks, then runs the wheel once. */
	timer_wheel_run(&tw, T0 + 20 * TIMER_TICK_MS);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(p[i].fired, p[i].deadline <= T0 + 20 * TIMER_TICK_MS ? 1u : 0u,
			     "timer %d", i);
	cr_assert_eq(tw.armed, 4);
	timer_wheel_run(&tw, T0 + 30 * TIMER_TICK_MS);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(p[i].fired, 1, "timer %d", i);
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

/* ---- cancel and re-arm ------------------------------------------------------------------ */

Test(timer, cancel_prevents_firing)
{
	struct probe p, q;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, record);
	probe_init(&q, record);
	probe_arm(&p, T0 + 5 * TIMER_TICK_MS);
	probe_arm(&q, T0 + 5 * TIMER_TICK_MS);
	cr_assert_eq(tw.armed, 2);
	timer_cancel(&tw, &p.t);
	cr_assert_not(p.t.armed);
	cr_assert_eq(tw.armed, 1);
	timer_cancel(&tw, &p.t);	/* twice: no-op */
	cr_assert_eq(tw.armed, 1);
	run_every(T0, T0 + TURN_MS + 10 * TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(p.fired, 0, "a cancelled timer fired");
	cr_assert_eq(q.fired, 1, "cancelling its slot neighbour stopped it");
	timer_cancel(&tw, &q.t);	/* after firing: no-op */
	cr_assert_eq(tw.armed, 0);
	/* A cancelled timer can be armed again. */
	probe_arm(&p, T0 + TURN_MS + 12 * TIMER_TICK_MS);
	timer_wheel_run(&tw, T0 + TURN_MS + 12 * TIMER_TICK_MS);
	cr_assert_eq(p.fired, 1);
	timer_wheel_fini(&tw);
}

Test(timer, cancel_of_a_never_armed_timer_is_harmless)
{
	struct probe p;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, record);
	timer_cancel(&tw, &p.t);
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

Test(timer, rearm_later_moves_the_deadline)
{
	struct probe p;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, record);
	probe_arm(&p, T0 + 5 * TIMER_TICK_MS);
	probe_arm(&p, T0 + 40 * TIMER_TICK_MS);
	cr_assert_eq(tw.armed, 1, "re-arming does not count twice");
	run_every(T0, T0 + 39 * TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(p.fired, 0, "fired at the old deadline");
	timer_wheel_run(&tw, T0 + 40 * TIMER_TICK_MS);
	cr_assert_eq(p.fired, 1);
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

Test(timer, rearm_earlier_moves_the_deadline_and_fires_once)
{
	struct probe p;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, record);
	probe_arm(&p, T0 + 40 * TIMER_TICK_MS);
	probe_arm(&p, T0 + 5 * TIMER_TICK_MS);
	run_every(T0, T0 + 5 * TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(p.fired, 1);
	run_every(T0 + 5 * TIMER_TICK_MS, T0 + 80 * TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(p.fired, 1, "the old deadline fired too");
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

/* ---- more than one turn ------------------------------------------------------------------ */

Test(timer, a_deadline_beyond_one_turn_waits_the_extra_turns)
{
	struct probe one, three;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&one, record);
	probe_init(&three, record);
	/* Same slot as T0 + 7 ticks, one and three turns later. */
	probe_arm(&one, T0 + TURN_MS + 7 * TIMER_TICK_MS);
	probe_arm(&three, T0 + 3 * TURN_MS + 7 * TIMER_TICK_MS);
	run_every(T0, one.deadline - TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(one.fired, 0, "fired a turn early");
	timer_wheel_run(&tw, one.deadline);
	cr_assert_eq(one.fired, 1);
	cr_assert_eq(three.fired, 0);
	/* Coarse runs, a third of a turn apart, across the remaining turns. */
	run_every(one.deadline, three.deadline - TIMER_TICK_MS, TURN_MS / 3);
	cr_assert_eq(three.fired, 0, "fired %llu ms early",
		     (unsigned long long)(three.deadline - three.fired_at));
	timer_wheel_run(&tw, three.deadline);
	cr_assert_eq(three.fired, 1);
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

Test(timer, a_deadline_beyond_one_turn_fires_in_a_single_late_run)
{
	struct probe p;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, record);
	probe_arm(&p, T0 + 2 * TURN_MS + 3 * TIMER_TICK_MS);
	timer_wheel_run(&tw, T0 + 2 * TURN_MS);
	cr_assert_eq(p.fired, 0);
	timer_wheel_run(&tw, T0 + 5 * TURN_MS);
	cr_assert_eq(p.fired, 1);
	cr_assert_eq(p.early, 0);
	timer_wheel_fini(&tw);
}

/* ---- callbacks that touch the wheel -------------------------------------------------------- */

static void rearm_self_now(struct timer *t, uint64_t now_ms)
{
	struct probe *p = caa_container_of(t, struct probe, t);

	record(t, now_ms);
	if (p->rearms > 0) {
		p->rearms--;
		p->deadline = now_ms;
		timer_arm(&tw, t, now_ms);
	}
}

Test(timer, a_callback_rearming_itself_for_now_fires_on_the_next_tick)
{
	struct probe p;
	uint64_t d = T0 + 10 * TIMER_TICK_MS;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, rearm_self_now);
	p.rearms = 1;
	probe_arm(&p, d);
	timer_wheel_run(&tw, d);
	cr_assert_eq(p.fired, 1, "fired again inside the same tick");
	cr_assert(p.t.armed);
	cr_assert_eq(tw.armed, 1);
	timer_wheel_run(&tw, d + TIMER_TICK_MS);
	cr_assert_eq(p.fired, 2, "a deadline of now waited for another turn of the wheel");
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

Test(timer, a_callback_rearming_itself_repeatedly_fires_once_per_tick)
{
	struct probe p;
	uint64_t d = T0 + 10 * TIMER_TICK_MS;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&p, rearm_self_now);
	p.rearms = 1000;
	probe_arm(&p, d);
	run_every(d - TIMER_TICK_MS, d + 99 * TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(p.fired, 100);
	cr_assert(p.t.armed);
	timer_cancel(&tw, &p.t);
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

static void cancel_other(struct timer *t, uint64_t now_ms)
{
	struct probe *p = caa_container_of(t, struct probe, t);

	record(t, now_ms);
	timer_cancel(&tw, &p->other->t);
}

Test(timer, a_callback_cancelling_a_timer_due_in_the_same_tick_prevents_it)
{
	struct probe a, b;
	uint64_t d = T0 + 8 * TIMER_TICK_MS;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&a, cancel_other);
	probe_init(&b, cancel_other);
	a.other = &b;
	b.other = &a;
	probe_arm(&a, d);
	probe_arm(&b, d);
	timer_wheel_run(&tw, d);
	cr_assert_eq(a.fired + b.fired, 1, "a: %u, b: %u: the first must cancel the other",
		     a.fired, b.fired);
	cr_assert_eq(tw.armed, 0);
	run_every(d + TIMER_TICK_MS, d + TURN_MS + TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(a.fired + b.fired, 1);
	timer_wheel_fini(&tw);
}

static void rearm_other(struct timer *t, uint64_t now_ms)
{
	struct probe *p = caa_container_of(t, struct probe, t);

	record(t, now_ms);
	if (!p->other->t.armed || p->other->fired > 0)
		return;
	p->other->deadline = p->rearm_at;
	timer_arm(&tw, &p->other->t, p->rearm_at);
}

Test(timer, a_callback_postponing_a_timer_due_in_the_same_tick_moves_it)
{
	struct probe a, b;
	uint64_t d = T0 + 8 * TIMER_TICK_MS;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&a, rearm_other);
	probe_init(&b, rearm_other);
	a.other = &b;
	b.other = &a;
	a.rearm_at = b.rearm_at = d + 30 * TIMER_TICK_MS;
	probe_arm(&a, d);
	probe_arm(&b, d);
	timer_wheel_run(&tw, d);
	cr_assert_eq(a.fired + b.fired, 1);
	cr_assert_eq(tw.armed, 1);
	run_every(d, d + 29 * TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(a.fired + b.fired, 1, "the postponed timer fired at its old deadline");
	timer_wheel_run(&tw, d + 30 * TIMER_TICK_MS);
	cr_assert_eq(a.fired, 1);
	cr_assert_eq(b.fired, 1);
	cr_assert_eq(a.early + b.early, 0);
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

static void arm_next_in_past(struct timer *t, uint64_t now_ms)
{
	struct probe *p = caa_container_of(t, struct probe, t);

	record(t, now_ms);
	if (p->other != NULL)
		probe_arm(p->other, T0);	/* long past */
}

Test(timer, a_callback_arming_a_past_deadline_fires_it_next_tick)
{
	struct probe a, b;
	uint64_t d = T0 + 8 * TIMER_TICK_MS;

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	probe_init(&a, arm_next_in_past);
	probe_init(&b, record);
	a.other = &b;
	probe_arm(&a, d);
	timer_wheel_run(&tw, d);
	cr_assert_eq(a.fired, 1);
	cr_assert(b.t.armed);
	timer_wheel_run(&tw, d + TIMER_TICK_MS);
	cr_assert_eq(b.fired, 1, "a past deadline armed from a callback waited a turn");
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
}

/* ---- crowds --------------------------------------------------------------------------- */

Test(timer, many_timers_in_one_slot_all_fire)
{
	enum { N = 3000 };
	struct probe *p = calloc(N, sizeof(*p));
	uint64_t d = T0 + 4 * TIMER_TICK_MS;

	cr_assert_not_null(p);
	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	for (int i = 0; i < N; i++) {
		probe_init(&p[i], record);
		/* Every third timer is a turn later, in the same slot. */
		probe_arm(&p[i], d + (i % 3 == 2 ? TURN_MS : 0));
	}
	cr_assert_eq(tw.armed, N);
	timer_wheel_run(&tw, d);
	for (int i = 0; i < N; i++)
		cr_assert_eq(p[i].fired, i % 3 == 2 ? 0u : 1u, "timer %d", i);
	cr_assert_eq(tw.armed, N / 3);
	run_every(d, d + TURN_MS - TIMER_TICK_MS, TIMER_TICK_MS);
	cr_assert_eq(tw.armed, N / 3, "the later turn waited");
	timer_wheel_run(&tw, d + TURN_MS);
	for (int i = 0; i < N; i++)
		cr_assert_eq(p[i].fired, 1, "timer %d", i);
	cr_assert_eq(tw.armed, 0);
	timer_wheel_fini(&tw);
	free(p);
}

Test(timer, armed_count_returns_to_zero_and_fini_disarms)
{
	enum { N = 500 };
	static struct probe p[N];

	timer_wheel_init(&tw, T0, TIMER_TICK_MS);
	for (int i = 0; i < N; i++) {
		probe_init(&p[i], record);
		probe_arm(&p[i], T0 + (uint64_t)(i + 1) * 997);
	}
	cr_assert_eq(tw.armed, N);
	for (int i = 0; i < N; i += 5)
		timer_cancel(&tw, &p[i].t);
	cr_assert_eq(tw.armed, N - N / 5);
	/* Pushed past the end of the runs below, some by several turns. */
	for (int i = 1; i < N; i += 5)
		probe_arm(&p[i], T0 + (uint64_t)N * 997 + TURN_MS + (uint64_t)i * 500);
	cr_assert_eq(tw.armed, N - N / 5);
	run_every(T0, T0 + (uint64_t)N * 997 + TIMER_TICK_MS, 31);
	cr_assert_eq(tw.armed, N / 5, "only the pushed-back timers remain");
	timer_wheel_fini(&tw);
	cr_assert_eq(tw.armed, 0);
	for (int i = 0; i < N; i++) {
		cr_assert_not(p[i].t.armed, "timer %d still armed after fini", i);
		cr_assert_eq(p[i].fired, i % 5 == 0 || i % 5 == 1 ? 0u : 1u, "timer %d", i);
	}
	/* Nothing runs after fini, even far in the future. */
	timer_wheel_run(&tw, T0 + 10 * TURN_MS);
	for (int i = 1; i < N; i += 5)
		cr_assert_eq(p[i].fired, 0);
}

/* ---- a wheel in microseconds (the TCP stack's) ------------------------------------------ */

/* Timers that note the order they fired in. */
static unsigned fire_seq;
static unsigned fired_order[64];
static struct probe seqp[64];

static void record_order(struct timer *t, uint64_t now_us)
{
	struct probe *p = caa_container_of(t, struct probe, t);

	record(t, now_us);
	fired_order[fire_seq++] = (unsigned)(p - seqp);
}

/* The start of the first tick of <tick> us at or after <d>: when a run fires it. */
static uint64_t tick_start(uint64_t d, uint64_t tick)
{
	return (d + tick - 1) / tick * tick;
}

static void us_wheel_fires_in_order_at_the_right_tick(uint64_t tick)
{
	const uint64_t t0 = 5000000;	/* 5 s of microseconds, tick aligned */
	enum { N = 64 };

	timer_wheel_init(&tw, t0, tick);
	fire_seq = 0;
	srand(11);
	for (int i = 0; i < N; i++) {
		probe_init(&seqp[i], record_order);
		/* Deadlines spread over about 1.5 turns: some share a tick, some a slot. */
		probe_arm(&seqp[i], t0 + 1 + (uint64_t)rand() % (3 * TIMER_SLOTS * tick / 2));
	}
	/* The clock advances by 37 us: rarely on a tick boundary. */
	for (uint64_t now = t0; tw.armed > 0 && now < t0 + 2 * TIMER_SLOTS * tick; now += 37) {
		timer_wheel_run(&tw, now);
		for (int i = 0; i < N; i++)
			if (seqp[i].fired == 1 && seqp[i].fired_at == now) {
				uint64_t due = tick_start(seqp[i].deadline, tick);

				/* Fired by the first run at or after its tick began. */
				cr_assert_geq(now, due, "tick %llu: timer %d early",
					      (unsigned long long)tick, i);
				cr_assert_lt(now - 37, due, "tick %llu: timer %d late: due %llu, "
					     "fired %llu", (unsigned long long)tick, i,
					     (unsigned long long)due, (unsigned long long)now);
			}
	}
	cr_assert_eq(fire_seq, N, "%u of %d fired", fire_seq, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(seqp[i].fired, 1);
	/* In order of deadline tick: never a later tick before an earlier one. */
	for (unsigned k = 1; k < N; k++) {
		struct probe *a = &seqp[fired_order[k - 1]], *b = &seqp[fired_order[k]];

		cr_assert_leq(tick_start(a->deadline, tick), tick_start(b->deadline, tick),
			      "tick %llu: deadline %llu fired before %llu",
			      (unsigned long long)tick, (unsigned long long)a->deadline,
			      (unsigned long long)b->deadline);
	}
	timer_wheel_fini(&tw);
}

Test(timer, microsecond_wheel_with_100us_tick_fires_in_order)
{
	us_wheel_fires_in_order_at_the_right_tick(100);
}

Test(timer, microsecond_wheel_with_1000us_tick_fires_in_order)
{
	us_wheel_fires_in_order_at_the_right_tick(1000);
}

Test(timer, microsecond_wheel_fires_exactly_at_the_tick_when_run_every_microsecond)
{
	/* An RTO of 200 ms armed 3 us into a tick of 100 us fires at the start of the
	 * first tick at or after the deadline, not one run earlier or later. */
	const uint64_t t0 = 1000003;
	struct probe p, q;

	timer_wheel_init(&tw, t0, 100);
	probe_init(&p, record);
	probe_init(&q, record);
	probe_arm(&p, t0 + 200000);	/* 1200003: due at the tick of 1200100 */
	probe_arm(&q, t0 + 197);	/* 1000200: exactly a tick start */
	run_every(t0, 1000199, 1);
	cr_assert_eq(q.fired, 0);
	timer_wheel_run(&tw, 1000200);
	cr_assert_eq(q.fired, 1);
	run_every(1000200, 1200099, 1);
	cr_assert_eq(p.fired, 0, "fired at %llu", (unsigned long long)p.fired_at);
	timer_wheel_run(&tw, 1200100);
	cr_assert_eq(p.fired, 1);
	timer_wheel_fini(&tw);
}
