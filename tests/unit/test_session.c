/* test_session.c - the owner-only containers of a session (dataplane/session.c), with
 * real msgs and real refcounts: the inflight ring as the QoS 1/2 state machines of
 * qos.c use it (send order, out-of-order acks, holes, growth, compaction), packet id
 * allocation (MQTT-2.3.1-2), the outgoing msg queue, the incoming QoS 2 id set
 * (MQTT 4.3.3 method B), the subscription list and the session's reference count.
 * Leaks are checked by running this binary under ASan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/msg.h"
#include "petrel/session.h"
#include "unit_util.h"

static struct session *new_session(void)
{
	struct session *s = session_create("client-1", 8, 0);

	cr_assert_not_null(s);
	return s;
}

static struct msg *mk(const char *topic, size_t payload_len)
{
	static const uint8_t zeros[256];
	struct msg *m;

	cr_assert_leq(payload_len, sizeof(zeros));
	m = msg_create(topic, strlen(topic), zeros, payload_len, 1, false);
	cr_assert_not_null(m);
	return m;
}

static unsigned refs(struct msg *m)
{
	return atomic_load(&m->refcnt);
}

/* What session_send_new does after inflight_add: the entry holds a msg reference. */
static struct inflight *add_sent(struct inflight_ring *r, uint32_t limit, uint16_t id,
				 struct msg *m)
{
	struct inflight *e = inflight_add(r, limit);

	if (e == NULL)
		return NULL;
	e->m = m != NULL ? msg_ref(m) : NULL;
	e->packet_id = id;
	e->qos = 1;
	e->state = INFLIGHT_WAIT_PUBACK;
	return e;
}

static void ack(struct inflight_ring *r, uint16_t id)
{
	struct inflight *e = inflight_find(r, id);

	cr_assert_not_null(e, "id %u not in flight", id);
	inflight_remove(r, e);
}

/* Asserts the live entries, walked in send order as session_resend does, are <want>. */
static void assert_order(struct inflight_ring *r, const uint16_t *want, uint32_t n)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < r->span; i++) {
		struct inflight *e = inflight_at(r, i);

		if (e->state == INFLIGHT_FREE)
			continue;
		cr_assert_lt(j, n, "more live entries than the %u expected", n);
		cr_assert_eq(e->packet_id, want[j], "entry %u: id %u, want %u", j,
			     e->packet_id, want[j]);
		j++;
	}
	cr_assert_eq(j, n, "%u live entries, want %u", j, n);
	cr_assert_eq(r->live, n);
	cr_assert_leq(r->span, r->cap);
	/* The head never rests on a hole. */
	if (r->span > 0)
		cr_assert_neq(inflight_at(r, 0)->state, INFLIGHT_FREE);
}

/* ---- inflight ring ----------------------------------------------------------------- */

Test(session, inflight_add_stops_at_the_limit)
{
	struct session *s = new_session();
	struct msg *m = mk("t", 1);
	uint16_t want[5];

	for (uint16_t id = 1; id <= 5; id++) {
		cr_assert_not_null(add_sent(&s->inflight, 5, id, m), "add %u", id);
		want[id - 1] = id;
	}
	cr_assert_null(inflight_add(&s->inflight, 5), "sixth entry over a limit of 5");
	cr_assert_eq(s->inflight.live, 5);
	assert_order(&s->inflight, want, 5);
	cr_assert_leq(s->inflight.cap, 5, "the ring never grows past the limit");
	/* One ack makes room for exactly one more. */
	ack(&s->inflight, 3);
	cr_assert_not_null(add_sent(&s->inflight, 5, 6, m));
	cr_assert_null(inflight_add(&s->inflight, 5));
	session_unref(s);
	cr_assert_eq(refs(m), 1, "session_free dropped every inflight reference");
	msg_unref(m);
	assert_no_leaks();
}

Test(session, inflight_limit_of_zero_admits_nothing)
{
	struct inflight_ring r = { 0 };

	cr_assert_null(inflight_add(&r, 0));
	cr_assert_eq(r.live, 0);
	cr_assert_eq(r.span, 0);
	free(r.e);
}

Test(session, out_of_order_acks_leave_holes_the_head_skips)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	static const uint16_t after_3[] = { 1, 2, 4 };
	static const uint16_t after_2[] = { 1, 4 };
	static const uint16_t after_1[] = { 4 };

	for (uint16_t id = 1; id <= 4; id++)
		cr_assert_not_null(add_sent(r, 16, id, NULL));
	ack(r, 3);
	cr_assert_eq(r->span, 4, "a hole in the middle stays counted in the span");
	assert_order(r, after_3, 3);
	ack(r, 2);
	assert_order(r, after_2, 2);
	ack(r, 1);
	/* The head skipped the holes left by 2 and 3 and rests on 4. */
	cr_assert_eq(r->span, 1);
	cr_assert_eq(inflight_at(r, 0)->packet_id, 4);
	assert_order(r, after_1, 1);
	ack(r, 4);
	cr_assert_eq(r->span, 0);
	cr_assert_eq(r->live, 0);
	session_unref(s);
	assert_no_leaks();
}

Test(session, growth_keeps_send_order)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	uint16_t want[100];
	uint32_t n = 0;

	/* Wrap the head away from slot 0 first, so growth must unroll a wrapped ring. */
	for (uint16_t id = 1; id <= 3; id++)
		cr_assert_not_null(add_sent(r, 100, id, NULL));
	ack(r, 1);
	ack(r, 2);
	want[n++] = 3;
	for (uint16_t id = 4; n < 100; id++) {
		cr_assert_not_null(add_sent(r, 100, id, NULL), "add %u", id);
		want[n++] = id;
		assert_order(r, want, n);
	}
	cr_assert_eq(r->cap, 100, "growth is capped at the limit");
	cr_assert_null(inflight_add(r, 100));
	session_unref(s);
	assert_no_leaks();
}

Test(session, holes_are_reclaimed_before_growth_and_order_is_kept)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	static const uint16_t want[] = { 1, 3, 5, 7, 8, 9, 10, 11, 12 };

	for (uint16_t id = 1; id <= 8; id++)
		cr_assert_not_null(add_sent(r, 64, id, NULL));
	ack(r, 2);
	ack(r, 4);
	ack(r, 6);
	cr_assert_eq(r->cap, 8);
	cr_assert_not_null(add_sent(r, 64, 9, NULL));
	cr_assert_eq(r->cap, 8, "three holes are reclaimed before the ring grows");
	for (uint16_t id = 10; id <= 12; id++)
		cr_assert_not_null(add_sent(r, 64, id, NULL));
	assert_order(r, want, sizeof(want) / sizeof(want[0]));
	session_unref(s);
	assert_no_leaks();
}

Test(session, full_ring_with_a_middle_hole_compacts_in_place)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	struct msg *m[6];
	static const uint16_t want[] = { 1, 3, 4, 5 };

	for (int i = 0; i < 6; i++)
		m[i] = mk("t", 1);
	for (uint16_t id = 1; id <= 4; id++)
		cr_assert_not_null(add_sent(r, 4, id, m[id]));
	cr_assert_eq(r->cap, 4);
	cr_assert_eq(r->span, r->cap, "filled to capacity");
	ack(r, 2);
	cr_assert_eq(refs(m[2]), 1);
	cr_assert_not_null(add_sent(r, 4, 5, m[5]), "the hole makes room at the limit");
	cr_assert_eq(r->cap, 4, "compacted, not grown past the limit");
	assert_order(r, want, 4);
	/* Nothing lost: every live entry still holds its own msg. */
	for (uint16_t id = 1; id <= 5; id++) {
		if (id == 2)
			continue;
		cr_assert_eq(inflight_find(r, id)->m, m[id], "id %u kept its msg", id);
		cr_assert_eq(refs(m[id]), 2);
	}
	session_unref(s);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(refs(m[i]), 1);
		msg_unref(m[i]);
	}
	assert_no_leaks();
}

Test(session, wrapped_tail_with_holes_compacts_in_send_order)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	struct msg *m = mk("t", 1);
	static const uint16_t wrapped[] = { 2, 3, 4, 5 };
	static const uint16_t want[] = { 2, 4, 5, 6 };

	for (uint16_t id = 1; id <= 4; id++)
		cr_assert_not_null(add_sent(r, 4, id, m));
	ack(r, 1);
	cr_assert_not_null(add_sent(r, 4, 5, m));
	cr_assert_eq(r->head, 1);
	cr_assert_eq(r->span, 4);
	assert_order(r, wrapped, 4);
	cr_assert_eq(inflight_at(r, 3), &r->e[0], "id 5 sits in slot 0: the tail wrapped");
	ack(r, 3);
	cr_assert_not_null(add_sent(r, 4, 6, m));
	assert_order(r, want, 4);
	cr_assert_eq(refs(m), 5, "four entries hold a reference, nothing lost or doubled");
	inflight_clear(r);
	cr_assert_eq(refs(m), 1);
	session_unref(s);
	msg_unref(m);
	assert_no_leaks();
}

Test(session, long_run_of_random_acks_keeps_order_and_references)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	struct msg *m = mk("t", 1);
	uint16_t live[32];
	uint32_t n = 0;
	uint16_t next = 1;

	srand(7);
	for (int round = 0; round < 20000; round++) {
		if (n < 32 && (n == 0 || rand() % 2 == 0)) {
			cr_assert_not_null(add_sent(r, 32, next, m));
			live[n++] = next++;
		} else {
			uint32_t k = (uint32_t)rand() % n;

			ack(r, live[k]);
			memmove(&live[k], &live[k + 1], (n - k - 1) * sizeof(live[0]));
			n--;
		}
		assert_order(r, live, n);
		cr_assert_eq(refs(m), 1 + n);
	}
	session_unref(s);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
	assert_no_leaks();
}

Test(session, inflight_find_sees_live_ids_only)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	struct inflight *e;

	cr_assert_null(inflight_find(r, 1), "empty ring");
	for (uint16_t id = 10; id <= 13; id++)
		cr_assert_not_null(add_sent(r, 8, id, NULL));
	e = inflight_find(r, 12);
	cr_assert_not_null(e);
	cr_assert_eq(e->packet_id, 12);
	ack(r, 12);
	cr_assert_null(inflight_find(r, 12), "an acked id is gone");
	cr_assert_null(inflight_find(r, 0), "id 0 never matches the zeroed holes");
	cr_assert_null(inflight_find(r, 14));
	/* A QoS 2 entry past PUBREC holds no msg but its id is still in flight. */
	e = inflight_find(r, 11);
	e->state = INFLIGHT_WAIT_PUBCOMP;
	cr_assert_eq(inflight_find(r, 11), e);
	session_unref(s);
	assert_no_leaks();
}

Test(session, inflight_remove_drops_the_msg_reference)
{
	struct session *s = new_session();
	struct msg *m = mk("a/b", 10);
	struct inflight *e;

	e = add_sent(&s->inflight, 8, 1, m);
	cr_assert_eq(refs(m), 2);
	inflight_remove(&s->inflight, e);
	cr_assert_eq(refs(m), 1);
	cr_assert_eq(s->inflight.live, 0);
	/* A WAIT_PUBCOMP entry (msg already released at PUBREC) removes cleanly. */
	e = add_sent(&s->inflight, 8, 2, m);
	msg_unref(e->m);
	e->m = NULL;
	e->state = INFLIGHT_WAIT_PUBCOMP;
	inflight_remove(&s->inflight, e);
	cr_assert_eq(refs(m), 1);
	session_unref(s);
	msg_unref(m);
	assert_no_leaks();
}

Test(session, inflight_clear_drops_every_reference_and_empties)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;
	struct msg *m = mk("t", 3);

	for (uint16_t id = 1; id <= 6; id++)
		cr_assert_not_null(add_sent(r, 8, id, m));
	ack(r, 1);
	ack(r, 4);
	inflight_find(r, 5)->state = INFLIGHT_WAIT_PUBCOMP;
	msg_unref(inflight_find(r, 5)->m);
	inflight_find(r, 5)->m = NULL;
	cr_assert_eq(refs(m), 4);
	inflight_clear(r);
	cr_assert_eq(refs(m), 1);
	cr_assert_eq(r->live, 0);
	cr_assert_eq(r->span, 0);
	for (uint16_t id = 1; id <= 6; id++)
		cr_assert_null(inflight_find(r, id));
	/* The ring is usable again after a clear. */
	cr_assert_not_null(add_sent(r, 8, 7, m));
	cr_assert_eq(inflight_at(r, 0)->packet_id, 7);
	session_unref(s);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
	assert_no_leaks();
}

/* ---- packet ids ---------------------------------------------------------------------- */

Test(session, packet_ids_start_at_1_and_never_use_0)
{
	struct session *s = new_session();

	cr_assert_eq(session_next_packet_id(s), 1);
	cr_assert_eq(session_next_packet_id(s), 2);
	s->last_packet_id = 65534;
	cr_assert_eq(session_next_packet_id(s), 65535);
	cr_assert_eq(session_next_packet_id(s), 1, "65535 wraps to 1, skipping 0");
	session_unref(s);
}

Test(session, a_full_cycle_of_packet_ids_is_1_to_65535_once_each)
{
	struct session *s = new_session();
	static uint8_t seen[65536];

	for (uint32_t i = 0; i < 65535; i++) {
		uint16_t id = session_next_packet_id(s);

		cr_assert_neq(id, 0);
		cr_assert_eq(seen[id], 0, "id %u handed out twice in one cycle", id);
		seen[id] = 1;
	}
	cr_assert_eq(session_next_packet_id(s), 1);
	session_unref(s);
}

Test(session, packet_ids_skip_ids_still_in_flight_across_the_wrap)
{
	struct session *s = new_session();
	struct msg *m = mk("t", 1);
	struct inflight *e;

	/* 65534 and 1 await PUBACK, 2 awaits PUBCOMP (no msg), 3 was acked. */
	cr_assert_not_null(add_sent(&s->inflight, 16, 65534, m));
	cr_assert_not_null(add_sent(&s->inflight, 16, 1, m));
	e = add_sent(&s->inflight, 16, 2, NULL);
	e->state = INFLIGHT_WAIT_PUBCOMP;
	cr_assert_not_null(add_sent(&s->inflight, 16, 3, m));
	ack(&s->inflight, 3);
	s->last_packet_id = 65532;
	cr_assert_eq(session_next_packet_id(s), 65533);
	cr_assert_eq(session_next_packet_id(s), 65535, "65534 is in flight");
	cr_assert_eq(session_next_packet_id(s), 3, "0 is never used, 1 and 2 in flight, "
		     "3 was acked and is free again");
	session_unref(s);
	msg_unref(m);
	assert_no_leaks();
}

Test(session, packet_ids_never_collide_with_a_nearly_full_window)
{
	struct session *s = new_session();
	struct inflight_ring *r = &s->inflight;

	/* Every id but 40000 in flight: the allocator must find that one. */
	for (uint32_t id = 1; id <= 65535; id++) {
		if (id == 40000)
			continue;
		cr_assert_not_null(add_sent(r, 65535, (uint16_t)id, NULL));
	}
	s->last_packet_id = 39990;
	cr_assert_eq(session_next_packet_id(s), 40000);
	add_sent(r, 65535, 40000, NULL);
	cr_assert_eq(r->live, 65535, "the whole id space is in flight");
	session_unref(s);
	assert_no_leaks();
}

/* ---- msg queue ----------------------------------------------------------------------- */

Test(session, queue_is_fifo_across_wrap_and_growth)
{
	struct session *s = new_session();
	struct msg_queue *q = &s->queue;
	struct msg *m[40];
	struct queued out;
	int next_in = 0, next_out = 0;

	for (int i = 0; i < 40; i++)
		m[i] = mk("t", (size_t)i);
	/* 6 in, 4 out: the head sits at 4 of 8; 6 more wrap the tail; then growth. */
	for (; next_in < 6; next_in++)
		cr_assert_eq(msg_queue_push(q, m[next_in], 1, false), 0);
	for (; next_out < 4; next_out++) {
		cr_assert(msg_queue_pop(q, &out));
		cr_assert_eq(out.m, m[next_out]);
		msg_unref(out.m);
	}
	for (; next_in < 12; next_in++)
		cr_assert_eq(msg_queue_push(q, m[next_in], (uint8_t)(next_in % 3),
					    next_in % 2 == 0), 0);
	cr_assert_eq(q->cap, 8);
	cr_assert_lt(q->head + q->len, 2 * q->cap);
	cr_assert_gt(q->head + q->len, q->cap, "the tail wrapped");
	for (; next_in < 40; next_in++)
		cr_assert_eq(msg_queue_push(q, m[next_in], (uint8_t)(next_in % 3),
					    next_in % 2 == 0), 0);
	cr_assert_eq(q->len, 36);
	for (; next_out < 40; next_out++) {
		cr_assert(msg_queue_pop(q, &out));
		cr_assert_eq(out.m, m[next_out], "pop %d out of order", next_out);
		if (next_out >= 6) {
			cr_assert_eq(out.qos, next_out % 3);
			cr_assert_eq(out.retain, next_out % 2 == 0);
		}
		msg_unref(out.m);
	}
	cr_assert_not(msg_queue_pop(q, &out));
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(refs(m[i]), 1);
		msg_unref(m[i]);
	}
	session_unref(s);
	assert_no_leaks();
}

Test(session, queue_counts_payload_bytes)
{
	struct session *s = new_session();
	struct msg_queue *q = &s->queue;
	struct msg *a = mk("topic/is/not/counted", 100);
	struct msg *b = mk("t", 0);
	struct msg *c = mk("t", 7);
	struct queued out;

	cr_assert_eq(q->bytes, 0);
	msg_queue_push(q, a, 1, false);
	msg_queue_push(q, b, 1, false);
	msg_queue_push(q, c, 1, false);
	msg_queue_push(q, a, 1, false);
	cr_assert_eq(q->bytes, 207);
	cr_assert(msg_queue_pop(q, &out));
	msg_unref(out.m);
	cr_assert_eq(q->bytes, 107);
	msg_queue_clear(q);
	cr_assert_eq(q->bytes, 0);
	cr_assert_eq(q->len, 0);
	msg_unref(a);
	msg_unref(b);
	msg_unref(c);
	session_unref(s);
	assert_no_leaks();
}

Test(session, pop_on_an_empty_queue_fails_and_leaves_out_alone)
{
	struct msg_queue q = { 0 };
	struct msg *m = mk("t", 1);
	struct queued out = { .m = m, .qos = 2, .retain = true };

	cr_assert_not(msg_queue_pop(&q, &out), "never used");
	cr_assert_eq(out.m, m);
	cr_assert_eq(out.qos, 2);
	msg_queue_push(&q, m, 0, false);
	cr_assert(msg_queue_pop(&q, &out));
	msg_unref(out.m);
	cr_assert_not(msg_queue_pop(&q, &out), "drained");
	cr_assert_eq(q.len, 0);
	cr_assert_eq(q.bytes, 0);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
	free(q.e);
	assert_no_leaks();
}

Test(session, queue_clear_drops_every_reference)
{
	struct session *s = new_session();
	struct msg *m = mk("t", 5);

	for (int i = 0; i < 20; i++)
		cr_assert_eq(msg_queue_push(&s->queue, m, 1, false), 0);
	cr_assert_eq(refs(m), 21);
	msg_queue_clear(&s->queue);
	cr_assert_eq(refs(m), 1);
	cr_assert_eq(s->queue.len, 0);
	/* Usable again after a clear. */
	cr_assert_eq(msg_queue_push(&s->queue, m, 1, false), 0);
	cr_assert_eq(refs(m), 2);
	session_unref(s);
	cr_assert_eq(refs(m), 1, "session_free drops what is still queued");
	msg_unref(m);
	assert_no_leaks();
}

Test(session, queue_gives_memory_back_after_a_burst)
{
	struct session *s = new_session();
	struct msg_queue *q = &s->queue;
	struct msg *m = mk("t", 1);
	struct queued out;

	for (int i = 0; i < 100; i++)
		cr_assert_eq(msg_queue_push(q, m, 1, false), 0);
	cr_assert_gt(q->cap, 64);
	for (int i = 0; i < 100; i++) {
		cr_assert(msg_queue_pop(q, &out));
		msg_unref(out.m);
	}
	cr_assert_eq(q->cap, 0, "a drained queue releases its array");
	cr_assert_null(q->e);
	/* A small queue gives it back too: idle sessions are the many, and a push
	 * after that costs one small malloc. */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(msg_queue_push(q, m, 1, false), 0);
	for (int i = 0; i < 10; i++) {
		cr_assert(msg_queue_pop(q, &out));
		cr_assert_eq(out.m, m);
		msg_unref(out.m);
	}
	cr_assert_eq(q->cap, 0);
	cr_assert_null(q->e);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
	session_unref(s);
	assert_no_leaks();
}

/* ---- incoming QoS 2 ids ---------------------------------------------------------------- */

/* What handle_publish does for a QoS 2 PUBLISH: a resend of an id awaiting PUBREL is
 * not added again (method B). */
static void engine_rel_add(struct session *s, uint16_t id)
{
	if (!session_rel_contains(s, id))
		cr_assert_eq(session_rel_add(s, id), 0);
}

Test(session, awaiting_rel_add_contains_remove)
{
	struct session *s = new_session();

	cr_assert_not(session_rel_contains(s, 7));
	session_rel_remove(s, 7);	/* PUBREL for an id we never saw: no-op */
	cr_assert_eq(s->awaiting_rel_len, 0);
	engine_rel_add(s, 7);
	engine_rel_add(s, 9);
	cr_assert(session_rel_contains(s, 7));
	cr_assert(session_rel_contains(s, 9));
	cr_assert_not(session_rel_contains(s, 8));
	session_rel_remove(s, 7);
	cr_assert_not(session_rel_contains(s, 7));
	cr_assert(session_rel_contains(s, 9));
	session_rel_remove(s, 9);
	cr_assert_eq(s->awaiting_rel_len, 0);
	session_unref(s);
	assert_no_leaks();
}

Test(session, awaiting_rel_resent_publish_then_one_pubrel_forgets_the_id)
{
	struct session *s = new_session();

	engine_rel_add(s, 42);
	engine_rel_add(s, 42);	/* DUP resend of the same QoS 2 PUBLISH */
	engine_rel_add(s, 42);
	cr_assert_eq(s->awaiting_rel_len, 1);
	session_rel_remove(s, 42);
	cr_assert_not(session_rel_contains(s, 42), "one PUBREL completes the exchange");
	session_unref(s);
	assert_no_leaks();
}

Test(session, awaiting_rel_grows_and_removal_keeps_the_others)
{
	struct session *s = new_session();

	for (uint16_t id = 1; id <= 1000; id++)
		engine_rel_add(s, id);
	cr_assert_eq(s->awaiting_rel_len, 1000);
	for (uint16_t id = 1; id <= 1000; id += 2)
		session_rel_remove(s, id);
	cr_assert_eq(s->awaiting_rel_len, 500);
	for (uint16_t id = 1; id <= 1000; id++)
		cr_assert_eq(session_rel_contains(s, id), id % 2 == 0, "id %u", id);
	session_unref(s);
	assert_no_leaks();
}

Test(session, awaiting_rel_holds_every_possible_id)
{
	struct session *s = new_session();

	for (uint32_t id = 1; id <= 65535; id++)
		cr_assert_eq(session_rel_add(s, (uint16_t)id), 0, "id %u", id);
	cr_assert_eq(s->awaiting_rel_len, 65535);
	cr_assert(session_rel_contains(s, 1));
	cr_assert(session_rel_contains(s, 65535));
	session_rel_remove(s, 1);
	cr_assert_not(session_rel_contains(s, 1));
	session_unref(s);
	assert_no_leaks();
}

/* ---- subscriptions ------------------------------------------------------------------- */

static struct subscription *find_sub(struct session *s, const char *filter)
{
	struct subscription *sub = session_sub_find(s, filter, strlen(filter));

	cr_assert(sub == NULL || strcmp(sub->filter, filter) == 0);
	return sub;
}

static int sub_add(struct session *s, const char *filter, uint8_t qos)
{
	return session_sub_add(s, filter, strlen(filter), qos);
}

Test(session, sub_add_records_a_nul_terminated_copy)
{
	struct session *s = new_session();
	char buf[] = "a/b/#XYZ";
	struct subscription *sub;

	/* Filters arrive inside the packet buffer, not NUL terminated. */
	cr_assert_eq(session_sub_add(s, buf, 5, 1), 0);
	memset(buf, 'Q', sizeof(buf) - 1);
	cr_assert_eq(session_sub_count(s), 1);
	sub = find_sub(s, "a/b/#");
	cr_assert_not_null(sub);
	cr_assert_eq(sub->len, 5);
	cr_assert_eq(sub->qos, 1);
	session_unref(s);
	assert_no_leaks();
}

Test(session, sub_add_of_an_equal_filter_replaces_its_qos)
{
	struct session *s = new_session();

	cr_assert_eq(sub_add(s, "a/b", 0), 0);
	cr_assert_eq(sub_add(s, "a/b/c", 1), 0);
	cr_assert_eq(sub_add(s, "a/+", 2), 0);
	cr_assert_eq(sub_add(s, "a/b", 2), 0);	/* MQTT-3.8.4-3 */
	cr_assert_eq(session_sub_count(s), 3);
	cr_assert_eq(find_sub(s, "a/b")->qos, 2);
	cr_assert_eq(find_sub(s, "a/b/c")->qos, 1, "a longer filter is another filter");
	cr_assert_eq(find_sub(s, "a/+")->qos, 2);
	cr_assert_eq(sub_add(s, "a/b", 0), 0, "a downgrade replaces too");
	cr_assert_eq(find_sub(s, "a/b")->qos, 0);
	session_unref(s);
	assert_no_leaks();
}

Test(session, sub_remove_forgets_one_and_keeps_the_rest)
{
	struct session *s = new_session();
	char name[16];

	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f/%d", i);
		cr_assert_eq(sub_add(s, name, (uint8_t)(i % 3)), 0);
	}
	cr_assert_eq(session_sub_count(s), 10);
	cr_assert_eq(session_sub_remove(s, "f/3", 3), 0);
	cr_assert_eq(session_sub_remove(s, "f/0", 3), 0);
	cr_assert_eq(session_sub_remove(s, "f/9", 3), 0);
	cr_assert_eq(session_sub_count(s), 7);
	for (int i = 0; i < 10; i++) {
		struct subscription *sub;

		snprintf(name, sizeof(name), "f/%d", i);
		sub = find_sub(s, name);
		if (i == 0 || i == 3 || i == 9) {
			cr_assert_null(sub, "%s was removed", name);
		} else {
			cr_assert_not_null(sub, "%s was kept", name);
			cr_assert_eq(sub->qos, i % 3);
		}
	}
	session_unref(s);
	assert_no_leaks();
}

Test(session, sub_remove_of_an_unknown_filter_is_enoent)
{
	struct session *s = new_session();

	cr_assert_eq(session_sub_remove(s, "a", 1), -ENOENT, "no subscriptions at all");
	cr_assert_eq(sub_add(s, "a/b", 1), 0);
	cr_assert_eq(session_sub_remove(s, "a", 1), -ENOENT, "a prefix is not the filter");
	cr_assert_eq(session_sub_remove(s, "a/b/c", 5), -ENOENT, "nor a longer one");
	cr_assert_eq(session_sub_remove(s, "a/b", 3), 0);
	cr_assert_eq(session_sub_remove(s, "a/b", 3), -ENOENT, "removed twice");
	cr_assert_eq(session_sub_count(s), 0);
	session_unref(s);
	assert_no_leaks();
}

/* ---- references ------------------------------------------------------------------------ */

Test(session, create_copies_the_client_id_and_holds_one_reference)
{
	char id[] = "abcdef";
	struct session *s = session_create(id, 3, 4);

	cr_assert_not_null(s);
	id[0] = 'X';
	cr_assert_str_eq(s->client_id, "abc");
	cr_assert_eq(s->client_id_len, 3);
	cr_assert_eq(session_owner(s), 4);
	cr_assert_eq(atomic_load(&s->refcnt), 1);
	session_unref(s);
	assert_no_leaks();
}

Test(session, ref_tryref_unref_balance)
{
	struct session *s = new_session();

	session_ref(s);
	cr_assert_eq(atomic_load(&s->refcnt), 2);
	cr_assert(session_tryref(s), "a live session can be taken");
	cr_assert_eq(atomic_load(&s->refcnt), 3);
	session_unref(s);
	session_unref(s);
	cr_assert_eq(atomic_load(&s->refcnt), 1, "still alive: one reference left");
	cr_assert_str_eq(s->client_id, "client-1");
	session_unref(s);
	assert_no_leaks();
}

Test(session, tryref_fails_once_the_count_reached_zero)
{
	/* The state a reader under RCU can see between the last unref and the free: only
	 * refcnt is read, so a zeroed session stands in for one being freed. */
	struct session dying;

	memset(&dying, 0, sizeof(dying));
	atomic_init(&dying.refcnt, 0);
	cr_assert_not(session_tryref(&dying));
	cr_assert_eq(atomic_load(&dying.refcnt), 0, "a failed tryref changes nothing");
}

Test(session, last_unref_frees_everything_the_session_holds)
{
	struct session *s = new_session();
	struct msg *m = mk("x/y", 9);

	cr_assert_eq(sub_add(s, "x/#", 1), 0);
	cr_assert_eq(sub_add(s, "y/+", 2), 0);
	engine_rel_add(s, 5);
	cr_assert_eq(msg_queue_push(&s->queue, m, 1, false), 0);
	cr_assert_eq(msg_queue_push(&s->queue, m, 2, true), 0);
	cr_assert_not_null(add_sent(&s->inflight, 8, session_next_packet_id(s), m));
	cr_assert_eq(refs(m), 4);
	session_unref(s);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
	assert_no_leaks();
}
