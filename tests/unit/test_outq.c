/* test_outq.c - the connection output queue (dataplane/mqtt/outq.c) with real msgs and
 * the real codec: a queued PUBLISH is written as iovecs straight from the msg and must
 * decode (mqtt_decode) to exactly the message; partial writes at every byte offset give
 * the same byte stream; the iovec limit never splits a PUBLISH; byte accounting and
 * msg references. Leaks are checked by running this binary under ASan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/msg.h"
#include "petrel/mqtt.h"
#include "petrel/outq.h"
#include "unit_util.h"

#define BIG (1u << 28)	/* max_packet_size that never gets in the way */
#define IOV_MAX_TEST 64

static unsigned refs(struct msg *m)
{
	return atomic_load(&m->refcnt);
}

/* A payload of <len> bytes that differ from their neighbours, so a shifted or repeated
 * byte shows. */
static struct msg *mk(const char *topic, size_t len, uint8_t qos, bool retain)
{
	uint8_t *p = malloc(len ? len : 1);
	struct msg *m;

	cr_assert_not_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	m = msg_create(topic, strlen(topic), p, len, qos, retain);
	free(p);
	cr_assert_not_null(m);
	return m;
}

static size_t span_total(const struct tx_span *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].len;
	return t;
}

/* Concatenates what outq_iov returns with room for <max> iovecs. */
static size_t gather(struct outq *q, int max, uint8_t *buf, size_t cap)
{
	struct tx_span iov[IOV_MAX_TEST];
	int n;
	size_t off = 0;

	cr_assert_leq(max, IOV_MAX_TEST);
	n = outq_view(q, 0, iov, max);
	cr_assert_geq(n, 0);
	cr_assert_leq(n, max);
	for (int i = 0; i < n; i++) {
		cr_assert_gt(iov[i].len, 0, "iovec %d is empty", i);
		cr_assert_leq(off + iov[i].len, cap);
		memcpy(buf + off, iov[i].base, iov[i].len);
		off += iov[i].len;
	}
	return off;
}

/* Decodes the single packet in <buf, len>: it must take exactly <len> bytes. */
static struct mqtt_pkt decode_one(const uint8_t *buf, size_t len)
{
	struct mqtt_pkt pkt;
	ssize_t r = mqtt_decode(buf, len, BIG, &pkt);

	cr_assert_eq(r, (ssize_t)len, "mqtt_decode returned %zd for %zu bytes", r, len);
	return pkt;
}

static void assert_publish_of(const struct mqtt_pkt *pkt, const struct msg *m,
			      uint8_t qos, bool dup, bool retain, uint16_t id)
{
	const struct mqtt_publish *p = &pkt->u.publish;

	cr_assert_eq(pkt->type, MQTT_PUBLISH);
	cr_assert_eq(p->topic.len, m->topic_len);
	cr_assert(memcmp(p->topic.ptr, m->topic, m->topic_len) == 0, "topic differs");
	cr_assert_eq(p->payload_len, m->payload_len);
	cr_assert(m->payload_len == 0 || memcmp(p->payload, m->payload, m->payload_len) == 0,
		  "payload differs");
	cr_assert_eq(p->qos, qos);
	cr_assert_eq(p->dup, dup);
	cr_assert_eq(p->retain, retain);
	cr_assert_eq(p->packet_id, id);
}

/* ---- PUBLISH on the wire ------------------------------------------------------------- */

Test(outq, publish_iovecs_decode_to_exactly_the_message)
{
	static const struct {
		uint8_t qos;
		bool dup, retain;
		uint16_t id;
	} cases[] = {
		{ 1, false, false, 1 }, { 1, true, false, 0x1234 }, { 2, false, true, 65535 },
		{ 2, true, true, 0x0100 }, { 0, false, true, 0 }, { 0, false, false, 0 },
	};
	/* Payload sizes around each remaining-length varint boundary. */
	static const size_t sizes[] = { 0, 1, 100, 127, 128, 16383, 16384, 2097151 };
	uint8_t *buf = malloc(2097152 + 64);

	cr_assert_not_null(buf);
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		struct msg *m = mk("sensors/\xc3\xa9t\xc3\xa9/temp", sizes[z], 1, false);

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct outq q;
			struct mqtt_pkt pkt;
			size_t n;

			outq_init(&q);
			cr_assert_eq(outq_push_publish(&q, m, cases[i].qos, cases[i].dup,
						       cases[i].retain, cases[i].id), 0);
			n = gather(&q, IOV_MAX_TEST, buf, 2097152 + 64);
			cr_assert_eq(n, q.bytes, "iovecs cover the unsent bytes");
			pkt = decode_one(buf, n);
			assert_publish_of(&pkt, m, cases[i].qos, cases[i].dup, cases[i].retain,
					  cases[i].id);
			outq_fini(&q);
		}
		cr_assert_eq(refs(m), 1);
		msg_unref(m);
	}
	free(buf);
	assert_no_leaks();
}

Test(outq, publish_bytes_equal_the_codec_encoding)
{
	struct msg *m = mk("a/b", 300, 2, false);
	uint8_t want[400], got[400];
	size_t hl, n;
	struct outq q;

	hl = mqtt_encode_publish_header(want, sizeof(want), true, 2, true, m->topic,
					m->topic_len, 0xbeef, m->payload_len);
	cr_assert_gt(hl, 0);
	memcpy(want + hl, m->payload, m->payload_len);
	outq_init(&q);
	cr_assert_eq(outq_push_publish(&q, m, 2, true, true, 0xbeef), 0);
	n = gather(&q, IOV_MAX_TEST, got, sizeof(got));
	cr_assert_eq(n, hl + m->payload_len);
	cr_assert(memcmp(got, want, n) == 0);
	outq_fini(&q);
	msg_unref(m);
	assert_no_leaks();
}

Test(outq, qos0_publish_has_no_packet_id)
{
	struct msg *m = mk("t", 5, 0, false);
	struct tx_span iov[8];
	uint8_t buf[64];
	struct mqtt_pkt pkt;
	struct outq q;
	size_t n;

	outq_init(&q);
	/* A stray id must not reach the wire for QoS 0 (MQTT-2.3.1-5). */
	cr_assert_eq(outq_push_publish(&q, m, 0, false, false, 77), 0);
	cr_assert_eq(q.bytes, 2 + 2 + 1 + 5, "fixed header, topic length, topic, payload");
	cr_assert_eq(outq_view(&q, 0, iov, 8), 3, "header, topic, payload: no packet id piece");
	n = gather(&q, 8, buf, sizeof(buf));
	pkt = decode_one(buf, n);
	assert_publish_of(&pkt, m, 0, false, false, 0);
	outq_fini(&q);
	msg_unref(m);
	assert_no_leaks();
}

Test(outq, qos0_publish_never_carries_dup)
{
	struct msg *m = mk("t", 5, 0, false);
	uint8_t buf[64];
	struct mqtt_pkt pkt;
	struct outq q;
	size_t n;
	ssize_t r;

	outq_init(&q);
	cr_assert_eq(outq_push_publish(&q, m, 0, true, false, 0), 0);
	n = gather(&q, 8, buf, sizeof(buf));
	outq_fini(&q);
	msg_unref(m);
	assert_no_leaks();
	/* MQTT-3.3.1-2: DUP must be 0 on QoS 0; mqtt_encode_publish_header drops it, and a
	 * receiver closes the connection on it (our own decoder returns -EPROTO). */
	cr_assert_eq(buf[0] & 0x08, 0, "DUP flag set on a QoS 0 PUBLISH: 0x%02x", buf[0]);
	r = mqtt_decode(buf, n, BIG, &pkt);
	cr_assert_eq(r, (ssize_t)n, "mqtt_decode returned %zd", r);
}

Test(outq, payload_and_topic_are_never_copied)
{
	struct msg *m = mk("x/y/z", 1000, 1, false);
	struct tx_span iov[8];
	struct outq q;
	int n;

	outq_init(&q);
	cr_assert_eq(outq_push_publish(&q, m, 1, false, false, 9), 0);
	n = outq_view(&q, 0, iov, 8);
	cr_assert_eq(n, 4, "header, topic, packet id, payload");
	cr_assert_eq(iov[1].base, (void *)m->topic, "topic iovec points into the msg");
	cr_assert_eq(iov[1].len, m->topic_len);
	cr_assert_eq(iov[3].base, (const void *)m->payload,
		     "payload iovec points into the msg");
	cr_assert_eq(iov[3].len, m->payload_len);
	/* Half the payload written: the rest still comes from the msg itself. */
	outq_release(&q, iov[0].len + iov[1].len + iov[2].len + 500);
	n = outq_view(&q, 0, iov, 8);
	cr_assert_eq(n, 1);
	cr_assert_eq(iov[0].base, (const void *)(m->payload + 500));
	cr_assert_eq(iov[0].len, 500);
	outq_fini(&q);
	msg_unref(m);
	assert_no_leaks();
}

Test(outq, oversized_publish_is_emsgsize_and_queues_nothing)
{
	/* Remaining length over 268435455 cannot be encoded (MQTT 2.2.3). Only the
	 * lengths are read before the check, so a header-only msg stands in for a
	 * 256 MiB one. */
	struct msg *m = calloc(1, sizeof(*m) + 2);
	struct outq q;

	cr_assert_not_null(m);
	atomic_init(&m->refcnt, 1);
	m->topic[0] = 't';
	m->topic_len = 1;
	m->payload_len = MQTT_MAX_REMAINING_LEN - 2 - 1 - 2 + 1;
	outq_init(&q);
	cr_assert_eq(outq_push_publish(&q, m, 1, false, false, 1), -EMSGSIZE);
	cr_assert(outq_empty(&q));
	cr_assert_eq(q.bytes, 0);
	cr_assert_eq(refs(m), 1, "no reference taken on failure");
	outq_fini(&q);
	free(m);
	assert_no_leaks();
}

/* ---- control packets ------------------------------------------------------------------- */

Test(outq, control_packets_longer_than_inline_survive_intact)
{
	static const size_t sizes[] = { 1, OUTQ_INLINE - 1, OUTQ_INLINE, OUTQ_INLINE + 1,
					 300, 70000 };
	size_t total = 0;
	uint8_t *want = malloc(80000), *got = malloc(80000 * 2);
	uint8_t *all = malloc(80000 * 2);
	struct outq q;
	size_t n;

	cr_assert(want && got && all);
	for (size_t i = 0; i < 80000; i++)
		want[i] = (uint8_t)(i * 13 + 1);
	outq_init(&q);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cr_assert_eq(outq_push_bytes(&q, want, sizes[i]), 0);
		memcpy(all + total, want, sizes[i]);
		total += sizes[i];
	}
	/* The caller's buffer is copied: scribbling on it changes nothing queued. */
	memset(want, 0xee, 80000);
	cr_assert_eq(q.bytes, total);
	n = gather(&q, IOV_MAX_TEST, got, 80000 * 2);
	cr_assert_eq(n, total);
	cr_assert(memcmp(got, all, total) == 0);
	outq_fini(&q);
	free(want);
	free(got);
	free(all);
	assert_no_leaks();
}

/* ---- partial writes ---------------------------------------------------------------------- */

/* PUBACK, a QoS 1 PUBLISH, a SUBACK longer than OUTQ_INLINE, a QoS 0 PUBLISH, PINGRESP. */
static size_t push_mixed(struct outq *q, struct msg *m1, struct msg *m0)
{
	uint8_t pkt[64];
	uint8_t rcs[30];
	size_t n;

	memset(rcs, 1, sizeof(rcs));
	n = mqtt_encode_ack(pkt, MQTT_PUBACK, 0x0102);
	cr_assert_eq(outq_push_bytes(q, pkt, n), 0);
	cr_assert_eq(outq_push_publish(q, m1, 1, true, false, 0x0a0b), 0);
	n = mqtt_encode_suback(pkt, sizeof(pkt), 0x0304, rcs, sizeof(rcs));
	cr_assert_gt(n, OUTQ_INLINE);
	cr_assert_eq(outq_push_bytes(q, pkt, n), 0);
	cr_assert_eq(outq_push_publish(q, m0, 0, false, true, 0), 0);
	n = mqtt_encode_pingresp(pkt);
	cr_assert_eq(outq_push_bytes(q, pkt, n), 0);
	return q->bytes;
}

/* The stream must hold the five packets back to back, each decoding as pushed. */
static void assert_mixed_stream(const uint8_t *b, size_t len, struct msg *m1,
				struct msg *m0)
{
	struct mqtt_pkt pkt;
	ssize_t r;
	size_t off = 0;

	r = mqtt_decode(b + off, len - off, BIG, &pkt);
	cr_assert_gt(r, 0);
	cr_assert_eq(pkt.type, MQTT_PUBACK);
	cr_assert_eq(pkt.u.packet_id, 0x0102);
	off += (size_t)r;
	r = mqtt_decode(b + off, len - off, BIG, &pkt);
	cr_assert_gt(r, 0);
	assert_publish_of(&pkt, m1, 1, true, false, 0x0a0b);
	off += (size_t)r;
	r = mqtt_decode(b + off, len - off, BIG, &pkt);
	cr_assert_gt(r, 0);
	cr_assert_eq(pkt.type, MQTT_SUBACK);
	cr_assert_eq(pkt.u.suback.count, 30);
	off += (size_t)r;
	r = mqtt_decode(b + off, len - off, BIG, &pkt);
	cr_assert_gt(r, 0);
	assert_publish_of(&pkt, m0, 0, false, true, 0);
	off += (size_t)r;
	r = mqtt_decode(b + off, len - off, BIG, &pkt);
	cr_assert_gt(r, 0);
	cr_assert_eq(pkt.type, MQTT_PINGRESP);
	off += (size_t)r;
	cr_assert_eq(off, len, "trailing bytes after the last packet");
}

/* The whole stream of push_mixed into <ref>. Returns its length. */
static size_t mixed_ref(struct msg *m1, struct msg *m0, uint8_t *ref, size_t cap)
{
	struct outq q;
	size_t total;

	outq_init(&q);
	total = push_mixed(&q, m1, m0);
	cr_assert_eq(gather(&q, IOV_MAX_TEST, ref, cap), total);
	outq_fini(&q);
	return total;
}

/* End of a push_mixed test: the queue let go of both msgs; so do we. */
static void mixed_done(struct msg *m1, struct msg *m0)
{
	cr_assert_eq(refs(m1), 1);
	cr_assert_eq(refs(m0), 1);
	msg_unref(m1);
	msg_unref(m0);
	assert_no_leaks();
}

Test(outq, consuming_at_every_byte_offset_resumes_the_same_stream)
{
	struct msg *m1 = mk("a/b", 40, 1, false);
	struct msg *m0 = mk("c", 3, 0, true);
	uint8_t ref[512], rest[512];
	struct outq q;
	size_t total, n;

	total = mixed_ref(m1, m0, ref, sizeof(ref));
	assert_mixed_stream(ref, total, m1, m0);
	for (size_t k = 1; k <= total; k++) {
		outq_init(&q);
		push_mixed(&q, m1, m0);
		outq_release(&q, k);
		cr_assert_eq(q.bytes, total - k, "after %zu bytes", k);
		n = gather(&q, IOV_MAX_TEST, rest, sizeof(rest));
		cr_assert_eq(n, total - k, "after %zu bytes: %zu left in iovecs", k, n);
		cr_assert(memcmp(rest, ref + k, n) == 0, "stream differs after %zu bytes", k);
		cr_assert_eq(outq_empty(&q), k == total);
		outq_fini(&q);
	}
	mixed_done(m1, m0);
}

/* Writes the queue out <k> bytes at a time, as a transport that accepts only <k> per
 * writev would, with <max> iovecs per call. Returns the bytes written. */
static size_t drain_in_chunks(struct outq *q, size_t k, int max, uint8_t *out, size_t cap)
{
	uint8_t tmp[512];
	size_t off = 0;

	while (!outq_empty(q)) {
		size_t n = gather(q, max, tmp, sizeof(tmp));
		size_t w = n < k ? n : k;

		cr_assert_gt(n, 0, "outq_iov returned nothing with %zu bytes queued", q->bytes);
		cr_assert_leq(off + w, cap);
		memcpy(out + off, tmp, w);
		off += w;
		outq_release(q, w);
	}
	cr_assert_eq(q->bytes, 0);
	return off;
}

Test(outq, chunked_writes_of_every_size_rebuild_the_same_stream)
{
	struct msg *m1 = mk("a/b", 40, 1, false);
	struct msg *m0 = mk("c", 3, 0, true);
	uint8_t ref[512], out[512];
	static const int maxes[] = { 4, 5, 7, IOV_MAX_TEST };
	struct outq q;
	size_t total;

	total = mixed_ref(m1, m0, ref, sizeof(ref));
	for (size_t mi = 0; mi < sizeof(maxes) / sizeof(maxes[0]); mi++) {
		for (size_t k = 1; k <= total; k++) {
			outq_init(&q);
			push_mixed(&q, m1, m0);
			cr_assert_eq(drain_in_chunks(&q, k, maxes[mi], out, sizeof(out)), total);
			cr_assert(memcmp(out, ref, total) == 0,
				  "stream differs with %zu-byte writes, %d iovecs", k, maxes[mi]);
			outq_fini(&q);
		}
	}
	assert_mixed_stream(ref, total, m1, m0);
	mixed_done(m1, m0);
}

/* ---- iovec limit ------------------------------------------------------------------------- */

Test(outq, the_span_limit_cuts_anywhere_and_the_next_view_goes_on)
{
	struct msg *a = mk("a", 10, 1, false);
	struct msg *b = mk("b", 20, 1, false);
	struct tx_span sp[8];
	uint8_t ack[4];
	struct outq q;
	size_t first;
	int n;

	outq_init(&q);
	cr_assert_eq(outq_push_publish(&q, a, 1, false, false, 1), 0);
	cr_assert_eq(outq_push_publish(&q, b, 1, false, false, 2), 0);
	n = outq_view(&q, 0, sp, 5);
	cr_assert_eq(n, 5, "a's four pieces and b's header");
	cr_assert_eq(sp[3].base, (const void *)a->payload);
	first = span_total(sp, n);
	/* A view from where the last one ended starts at b's topic. */
	n = outq_view(&q, first, sp, 8);
	cr_assert_eq(n, 3);
	cr_assert_eq(sp[0].base, (const void *)b->topic);
	cr_assert_eq(sp[2].base, (const void *)b->payload);
	cr_assert_eq(first + span_total(sp, n), q.bytes);
	cr_assert_eq(outq_view(&q, q.bytes, sp, 8), 0, "nothing past the end");
	outq_release(&q, first - sp[0].len);  /* ... up to b's header: a is done */
	cr_assert_eq(refs(a), 1, "the released PUBLISH dropped its msg");
	outq_fini(&q);

	outq_init(&q);
	cr_assert_eq(outq_push_bytes(&q, ack, mqtt_encode_ack(ack, MQTT_PUBACK, 5)), 0);
	cr_assert_eq(outq_push_publish(&q, a, 1, false, false, 3), 0);
	cr_assert_eq(outq_view(&q, 0, sp, 4), 4, "the ack, then a's first three pieces");
	cr_assert_eq(sp[0].len, 4);
	cr_assert_eq(outq_view(&q, 0, sp, 5), 5);
	outq_fini(&q);
	msg_unref(a);
	msg_unref(b);
	assert_no_leaks();
}

Test(outq, a_publish_at_the_head_always_goes_out_with_four_iovecs)
{
	struct msg *m = mk("t/u", 9, 1, false);
	struct tx_span iov[4];
	struct outq q;

	outq_init(&q);
	cr_assert_eq(outq_push_publish(&q, m, 2, false, false, 7), 0);
	cr_assert_eq(outq_push_publish(&q, m, 0, false, false, 0), 0);
	while (!outq_empty(&q)) {
		int n = outq_view(&q, 0, iov, 4);

		cr_assert_gt(n, 0, "stalled with %zu bytes queued", q.bytes);
		outq_release(&q, 1);
	}
	outq_fini(&q);
	msg_unref(m);
	assert_no_leaks();
}

/* ---- accounting and references ------------------------------------------------------------ */

Test(outq, bytes_count_what_is_unsent)
{
	struct msg *m = mk("abc", 100, 1, false);
	uint8_t ack[4];
	struct outq q;

	outq_init(&q);
	cr_assert(outq_empty(&q));
	cr_assert_eq(q.bytes, 0);
	cr_assert_eq(outq_push_bytes(&q, ack, mqtt_encode_ack(ack, MQTT_PUBREL, 1)), 0);
	cr_assert_eq(q.bytes, 4);
	cr_assert_eq(outq_push_publish(&q, m, 1, false, false, 2), 0);
	/* 1 + varint(2+3+2+100 = 107: one byte) + 107 */
	cr_assert_eq(q.bytes, 4 + 1 + 1 + 107);
	cr_assert_eq(outq_push_publish(&q, m, 0, false, false, 0), 0);
	cr_assert_eq(q.bytes, 113 + 1 + 1 + 105);
	outq_release(&q, 3);
	cr_assert_eq(q.bytes, 217);
	cr_assert_not(outq_empty(&q));
	outq_release(&q, 200);
	cr_assert_eq(q.bytes, 17);
	outq_release(&q, 17);
	cr_assert_eq(q.bytes, 0);
	cr_assert(outq_empty(&q));
	outq_fini(&q);
	msg_unref(m);
	assert_no_leaks();
}

Test(outq, fini_drops_every_msg_reference)
{
	struct msg *m = mk("t", 10, 1, false);
	uint8_t big[100];
	struct outq q;

	memset(big, 0x42, sizeof(big));
	outq_init(&q);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(outq_push_publish(&q, m, (uint8_t)(i % 3), false, false,
					       (uint16_t)(i + 1)), 0);
		cr_assert_eq(outq_push_bytes(&q, big, sizeof(big)), 0);
	}
	cr_assert_eq(refs(m), 6);
	outq_release(&q, 3);	/* a partly written head is dropped too */
	outq_fini(&q);
	cr_assert_eq(refs(m), 1);
	cr_assert(outq_empty(&q));
	cr_assert_eq(q.bytes, 0);
	/* Usable after fini, as after init. */
	cr_assert_eq(outq_push_publish(&q, m, 1, false, false, 1), 0);
	outq_fini(&q);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
	assert_no_leaks();
}

Test(outq, a_written_publish_releases_its_msg_at_its_last_byte)
{
	struct msg *m = mk("t", 10, 1, false);
	struct outq q;
	size_t total;

	outq_init(&q);
	cr_assert_eq(outq_push_publish(&q, m, 1, false, false, 1), 0);
	total = q.bytes;
	outq_release(&q, total - 1);
	cr_assert_eq(refs(m), 2, "one byte unsent: still referenced");
	outq_release(&q, 1);
	cr_assert_eq(refs(m), 1);
	cr_assert(outq_empty(&q));
	outq_fini(&q);
	msg_unref(m);
	assert_no_leaks();
}

Test(outq, order_survives_ring_wrap_growth_and_burst_release)
{
	struct msg *m[200];
	uint8_t buf[256];
	struct outq q;
	uint16_t next_in = 1, next_out = 1;

	for (int i = 0; i < 200; i++)
		m[i] = mk("w", (size_t)i % 17, 1, false);
	outq_init(&q);
	/* 6 in, 4 out, then enough to wrap the ring and grow it twice. */
	for (; next_in <= 6; next_in++)
		cr_assert_eq(outq_push_publish(&q, m[next_in - 1], 1, false, false, next_in), 0);
	for (int round = 0; round < 2; round++) {
		for (int j = 0; j < (round == 0 ? 4 : 196); j++, next_out++) {
			struct mqtt_pkt pkt;
			size_t n = gather(&q, 4, buf, sizeof(buf));
			ssize_t r = mqtt_decode(buf, n, BIG, &pkt);

			/* Four spans hold at least one whole PUBLISH (four pieces). */
			cr_assert_gt(r, 0, "mqtt_decode returned %zd for %zu bytes", r, n);
			assert_publish_of(&pkt, m[next_out - 1], 1, false, false, next_out);
			outq_release(&q, (size_t)r);
			cr_assert_eq(refs(m[next_out - 1]), 1);
		}
		for (; round == 0 && next_in <= 200; next_in++)
			cr_assert_eq(outq_push_publish(&q, m[next_in - 1], 1, false, false,
						       next_in), 0);
	}
	cr_assert(outq_empty(&q));
	cr_assert_eq(q.cap, 0, "a drained queue releases its array");
	outq_fini(&q);
	for (int i = 0; i < 200; i++)
		msg_unref(m[i]);
	assert_no_leaks();
}

Test(outq, runs_of_acks_share_one_iovec_in_order)
{
	struct outq q;
	struct tx_span iov[IOV_MAX_TEST];
	uint8_t want[4 * 6], got[sizeof(want)];
	size_t off = 0;
	int n;

	outq_init(&q);
	/* Six PUBACKs (4 bytes each) fit one inline entry; the seventh starts another. */
	for (uint16_t id = 1; id <= 6; id++) {
		cr_assert_eq(mqtt_encode_ack(want + off, MQTT_PUBACK, id), 4);
		cr_assert_eq(outq_push_bytes(&q, want + off, 4), 0);
		off += 4;
	}
	n = outq_view(&q, 0, iov, IOV_MAX_TEST);
	cr_assert_eq(n, 1, "six acks took %d iovecs", n);
	cr_assert_eq(iov[0].len, sizeof(want));
	memcpy(got, iov[0].base, sizeof(got));
	cr_assert_arr_eq(got, want, sizeof(want));
	cr_assert_eq(q.bytes, sizeof(want));
	cr_assert_eq(outq_push_bytes(&q, want, 4), 0);
	cr_assert_eq(outq_view(&q, 0, iov, IOV_MAX_TEST), 2);
	outq_release(&q, sizeof(want) + 4);
	cr_assert(outq_empty(&q));
	outq_fini(&q);
}

/* ---- views at any offset (the send buffer a TCP stack reads) ------------------------- */

/* Concatenates the spans of one outq_view(q, off, .., max) into <buf>; checks that
 * none is empty, that a span with a ref lies in that msg's payload, and (for <m>) that
 * a span in m's payload has ref m. Returns the bytes. */
static size_t view_at(struct outq *q, size_t off, int max, uint8_t *buf, size_t cap,
		      const struct msg *m)
{
	struct tx_span sp[IOV_MAX_TEST];
	size_t len = 0;
	int n;

	cr_assert_leq(max, IOV_MAX_TEST);
	n = outq_view(q, off, sp, max);
	cr_assert_geq(n, 0);
	cr_assert_leq(n, max);
	for (int i = 0; i < n; i++) {
		const uint8_t *b = sp[i].base;
		const struct msg *r = sp[i].ref;

		cr_assert_gt(sp[i].len, 0, "span %d at offset %zu is empty", i, off);
		if (m != NULL && m->payload_len > 0 && b >= m->payload &&
		    b < m->payload + m->payload_len)
			cr_assert_eq((const void *)r, (const void *)m,
				     "payload span without its msg");
		if (r != NULL)
			cr_assert(b >= r->payload && b + sp[i].len <= r->payload + r->payload_len,
				  "span %d at offset %zu has a ref but is not in its payload",
				  i, off);
		else
			cr_assert(m == NULL || b < m->payload || b >= m->payload + m->payload_len,
				  "span %d at offset %zu: payload bytes without a ref", i, off);
		cr_assert_leq(len + sp[i].len, cap);
		memcpy(buf + len, b, sp[i].len);
		len += sp[i].len;
	}
	return len;
}

Test(outq, a_publish_viewed_from_every_byte_offset_gives_its_exact_bytes)
{
	static const uint8_t qoses[] = { 0, 1, 2 };
	static const size_t sizes[] = { 0, 1, 300 };
	uint8_t want[512], got[512];

	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		for (size_t qi = 0; qi < sizeof(qoses) / sizeof(qoses[0]); qi++) {
			struct msg *m = mk("a/topic", sizes[z], qoses[qi], false);
			uint8_t qos = qoses[qi];
			struct outq q;
			size_t hl, total;

			hl = mqtt_encode_publish_header(want, sizeof(want), false, qos, true,
							m->topic, m->topic_len, 0x0102,
							m->payload_len);
			cr_assert_gt(hl, 0);
			memcpy(want + hl, m->payload, m->payload_len);
			total = hl + m->payload_len;
			outq_init(&q);
			cr_assert_eq(outq_push_publish(&q, m, qos, false, true, 0x0102), 0);
			cr_assert_eq(q.bytes, total);
			for (size_t off = 0; off <= total; off++) {
				/* Header, topic, packet id, payload: four spans at most. */
				size_t n = view_at(&q, off, 4, got, sizeof(got), m);

				cr_assert_eq(n, total - off, "qos %u, %zu-byte payload: %zu "
					     "bytes from offset %zu", qos, sizes[z], n, off);
				cr_assert(memcmp(got, want + off, n) == 0,
					  "qos %u: bytes differ from offset %zu", qos, off);
			}
			cr_assert_eq(refs(m), 2, "views take no reference");
			outq_fini(&q);
			cr_assert_eq(refs(m), 1);
			msg_unref(m);
		}
	}
	assert_no_leaks();
}

/* Reads the queue from <off> to its end as a sender of segments does: views of at
 * most <max> spans, each starting where the last ended. */
static size_t walk_from(struct outq *q, size_t off, int max, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	while (off + len < q->bytes) {
		size_t n = view_at(q, off + len, max, buf + len, cap - len, NULL);

		cr_assert_gt(n, 0, "stalled at offset %zu", off + len);
		len += n;
	}
	return len;
}

Test(outq, views_at_any_offset_after_any_partial_release_give_the_same_stream)
{
	struct msg *m1 = mk("a/b", 40, 1, false);
	struct msg *m0 = mk("c", 3, 0, true);
	static const int maxes[] = { 1, 2, 5, IOV_MAX_TEST };
	uint8_t ref[512], got[512];
	struct outq q;
	size_t total;

	total = mixed_ref(m1, m0, ref, sizeof(ref));
	for (size_t k = 0; k <= total; k++) {
		outq_init(&q);
		push_mixed(&q, m1, m0);
		outq_release(&q, k);
		cr_assert_eq(q.bytes, total - k);
		for (size_t mi = 0; mi < sizeof(maxes) / sizeof(maxes[0]); mi++) {
			/* Forward, as segments go out; then backward, as retransmissions
			 * go back to an older offset. */
			for (size_t off = 0; off <= total - k; off++) {
				size_t n = walk_from(&q, off, maxes[mi], got, sizeof(got));

				cr_assert_eq(n, total - k - off);
				cr_assert(memcmp(got, ref + k + off, n) == 0,
					  "released %zu, offset %zu, %d spans: differs", k, off,
					  maxes[mi]);
			}
			for (size_t off = total - k; off-- > 0;) {
				size_t n = view_at(&q, off, maxes[mi], got, sizeof(got), NULL);

				cr_assert_gt(n, 0);
				cr_assert(memcmp(got, ref + k + off, n) == 0,
					  "released %zu, back to offset %zu: differs", k, off);
			}
		}
		outq_fini(&q);
	}
	mixed_done(m1, m0);
}

Test(outq, release_in_pieces_while_viewing_deep_keeps_the_stream)
{
	struct msg *m[40];
	uint8_t ref[4096], got[4096];
	struct outq q;
	size_t total, done = 0;

	outq_init(&q);
	for (int i = 0; i < 40; i++) {
		uint8_t ack[4];

		m[i] = mk("deep", (size_t)(i * 5) % 33, 1, false);
		cr_assert_eq(outq_push_publish(&q, m[i], 1, false, false, (uint16_t)(i + 1)), 0);
		cr_assert_eq(outq_push_bytes(&q, ack, mqtt_encode_ack(ack, MQTT_PUBACK,
								   (uint16_t)i)), 0);
	}
	total = q.bytes;
	cr_assert_eq(walk_from(&q, 0, IOV_MAX_TEST, ref, sizeof(ref)), total);
	/* A view far ahead (the hint moves there), then a release of 7 bytes (a cut
	 * inside some entry), and so on: the stream from any offset stays the same. */
	while (q.bytes > 0) {
		size_t ahead = q.bytes / 2;
		size_t n = view_at(&q, ahead, 3, got, sizeof(got), NULL);
		size_t r = q.bytes < 7 ? q.bytes : 7;

		cr_assert(memcmp(got, ref + done + ahead, n) == 0, "at %zu + %zu", done, ahead);
		outq_release(&q, r);
		done += r;
		n = walk_from(&q, 0, 4, got, sizeof(got));
		cr_assert_eq(n, total - done);
		cr_assert(memcmp(got, ref + done, n) == 0, "after releasing %zu", done);
	}
	cr_assert(outq_empty(&q));
	outq_fini(&q);
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(refs(m[i]), 1);
		msg_unref(m[i]);
	}
	assert_no_leaks();
}
