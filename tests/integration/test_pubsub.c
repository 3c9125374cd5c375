/* test_pubsub.c - subscribe, unsubscribe, topic matching and routing through the real
 * broker (MQTT 3.1.1 sections 3.8-3.11, 4.6, 4.7): wildcard examples from the spec,
 * '$' topics, overlapping subscriptions, SUBACK return codes, per-publisher ordering and
 * fan-in / fan-out across worker threads.
 *
 * libmosquitto clients where only messages matter; the raw MQTT client of raw_client.h
 * (on the project's codec, include/petrel/mqtt.h) where the test must see packets
 * exactly: SUBACK slots, UNSUBACK ids, every copy of a PUBLISH. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "petrel/mqtt.h"
#include "raw_client.h"

/* Kills any broker a failed assertion left running. */
TestSuite(pubsub, .fini = harness_fini);

/* ---- helpers ----------------------------------------------------------------------- */

/* Parses a "<publisher>:<seq>" payload. */
static bool parse_pub_seq(const struct rx_msg *m, int *publisher, int *seq)
{
	char s[32];
	int n = m->payload_len < (int)sizeof s - 1 ? m->payload_len : (int)sizeof s - 1;

	memcpy(s, m->payload, (size_t)n);
	s[n] = '\0';
	return sscanf(s, "%d:%d", publisher, seq) == 2;
}

/* A publisher thread: <count> messages "<publisher>:<seq>" on <topic>, each waited for
 * (PUBACK) before the next, so the order on the wire is the order of seq. Only counts
 * failures: criterion assertions must stay on the main thread. */
struct pub_job {
	pthread_t thread;
	struct client *c;
	const char *topic;
	int publisher;
	int count;
	int qos;
	int failures;
};

static void *publish_sequence(void *arg)
{
	struct pub_job *j = arg;

	for (int i = 0; i < j->count; i++) {
		char s[32];
		int n = snprintf(s, sizeof s, "%d:%d", j->publisher, i);

		if (client_publish(j->c, j->topic, s, n, j->qos, false) != 0)
			j->failures++;
	}
	return NULL;
}

static void pub_job_start(struct pub_job *j)
{
	cr_assert_eq(pthread_create(&j->thread, NULL, publish_sequence, j), 0);
}

static void pub_job_join(struct pub_job *j)
{
	pthread_join(j->thread, NULL);
	cr_assert_eq(j->failures, 0, "publisher %d: %d publishes not acknowledged",
		     j->publisher, j->failures);
}

/* Takes one message from whichever of <subs> has one pending; returns its index or -1
 * if none had anything (after a 1 ms pause, so callers can poll in a loop). Draining
 * while publishing keeps the harness's receive buffers small. */
static int take_any(struct client **subs, int nsubs, struct rx_msg *m)
{
	for (int i = 0; i < nsubs; i++)
		if (client_pending(subs[i]) > 0 && client_wait_msg(subs[i], m, 100))
			return i;
	usleep(1000);
	return -1;
}

/* ---- subscribe / unsubscribe ------------------------------------------------------- */

Test(pubsub, unsubscribe_gets_unsuback_and_stops_delivery, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	struct client *pub = connected_client(&b, "pub", true);
	cr_assert_eq(client_subscribe(sub, "u/t", 1), 1);
	cr_assert_eq(client_subscribe(sub, "u/sentinel", 1), 1);

	cr_assert_eq(client_publish(pub, "u/t", "before", 6, 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 3000), "subscribed: message delivered");
	cr_assert(msg_payload_is(&m, "before"));
	cr_assert_str_eq(m.topic, "u/t");

	cr_assert_eq(client_unsubscribe(sub, "u/t"), 0, "UNSUBACK received");
	cr_assert_eq(client_publish(pub, "u/t", "after", 5, 1, false), 0);
	/* The sentinel on a still-subscribed topic, published after, bounds the wait: once
	 * it is here, "after" would have been too. Then 300 ms more for stragglers. */
	cr_assert_eq(client_publish(pub, "u/sentinel", "end", 3, 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 3000), "sentinel delivered");
	cr_assert_str_eq(m.topic, "u/sentinel", "got %s instead of the sentinel", m.topic);
	cr_assert_not(client_wait_msg(sub, &m, 300), "message on %s after UNSUBSCRIBE",
		      m.topic);

	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

/* UNSUBACK echoes the packet id, also for a filter the client never subscribed to
 * (MQTT-3.10.4-4, MQTT-3.10.4-5), and the connection stays usable. */
Test(pubsub, unsuback_echoes_packet_id_also_for_unknown_filter, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	uint8_t buf[256];

	broker_start(&b, 1, NULL);
	int fd = raw_session(&b, "rawsub", true, NULL);
	cr_assert_eq(tx_subscribe(fd, 1, "x/y", 1), 1);

	struct mqtt_str filters[2] = {
		{ .ptr = "x/y", .len = 3 },
		{ .ptr = "never/subscribed", .len = 16 },
	};
	size_t n = mqtt_encode_unsubscribe(buf, sizeof buf, 0x0203, filters, 2);
	cr_assert_gt(n, 0);
	cr_assert_eq(raw_send(fd, buf, n), 0);
	rx_expect(fd, &p, MQTT_UNSUBACK, 3000);
	cr_assert_eq(p.id, 0x0203, "UNSUBACK id 0x%04x", p.id);

	n = mqtt_encode_empty(buf, MQTT_PINGREQ);
	cr_assert_eq(raw_send(fd, buf, n), 0);
	rx_expect(fd, &p, MQTT_PINGRESP, 3000);

	close(fd);
	broker_stop_clean(&b);
}

/* ---- topic matching ---------------------------------------------------------------- */

/* Filters and topics from the examples in MQTT 3.1.1 section 4.7.1. */
static const char *const wild_topics[] = {
	"sport/tennis/player1",                  /* 0 */
	"sport/tennis/player1/ranking",          /* 1 */
	"sport/tennis/player1/score/wimbledon",  /* 2 */
	"sport",                                 /* 3 */
	"sport/tennis/player2",                  /* 4 */
	"sport/",                                /* 5 */
	"/finance",                              /* 6 */
	"finance",                               /* 7 */
	"sport/badminton/player1",               /* 8 */
};
#define NWILD_TOPICS (int)(sizeof wild_topics / sizeof wild_topics[0])
#define BIT(i) (1u << (i))

static const struct {
	const char *filter;
	unsigned expect;     /* bit i: wild_topics[i] matches */
} wild_cases[] = {
	/* '#' matches the parent level too: "sport/tennis/player1" */
	{ "sport/tennis/player1/#", BIT(0) | BIT(1) | BIT(2) },
	/* "sport/#" also matches the singular "sport" */
	{ "sport/#", BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(8) },
	/* '+' is exactly one level */
	{ "sport/tennis/+", BIT(0) | BIT(4) },
	/* "sport/+" does not match "sport" but does match "sport/" */
	{ "sport/+", BIT(5) },
	/* "+/+" and "/+" match "/finance", "+" does not */
	{ "+/+", BIT(5) | BIT(6) },
	{ "/+", BIT(6) },
	{ "+", BIT(3) | BIT(7) },
	{ "#", (1u << NWILD_TOPICS) - 1 },
	{ "sport/+/player1", BIT(0) | BIT(8) },
	{ "+/tennis/#", BIT(0) | BIT(1) | BIT(2) | BIT(4) },
};
#define NWILD_CASES (int)(sizeof wild_cases / sizeof wild_cases[0])

static int topic_index(const char *const *topics, int n, const char *t)
{
	for (int i = 0; i < n; i++)
		if (strcmp(topics[i], t) == 0)
			return i;
	return -1;
}

/* One subscriber per filter, every topic published once at QoS 1; each subscriber must
 * get exactly the matching set, each once. Waits for the expected count (<= 5 s), then
 * 300 ms more so extra deliveries are seen. */
static void check_matching(struct broker *b, const char *const *topics, int ntopics,
			   const char *const *filters, const unsigned *expect, int nfilters)
{
	struct client *subs[16];
	unsigned got[16] = { 0 };
	int count[16] = { 0 };
	int want_total = 0;
	int total = 0;
	struct rx_msg m;

	cr_assert_leq(nfilters, 16);
	for (int i = 0; i < nfilters; i++) {
		char id[32];

		snprintf(id, sizeof id, "match%d", i);
		subs[i] = connected_client(b, id, true);
		cr_assert_eq(client_subscribe(subs[i], filters[i], 1), 1, "SUBACK for %s",
			     filters[i]);
		want_total += __builtin_popcount(expect[i]);
	}
	struct client *pub = connected_client(b, "pub", true);
	for (int t = 0; t < ntopics; t++)
		cr_assert_eq(client_publish(pub, topics[t], "x", 1, 1, false), 0);

	uint64_t deadline = now_ms() + 5000;
	while (total < want_total && now_ms() < deadline) {
		int i = take_any(subs, nfilters, &m);

		if (i < 0)
			continue;
		int t = topic_index(topics, ntopics, m.topic);
		cr_assert_geq(t, 0, "unknown topic %s delivered", m.topic);
		cr_assert_not(got[i] & BIT(t), "filter %s: %s delivered twice", filters[i],
			      m.topic);
		got[i] |= BIT(t);
		count[i]++;
		total++;
	}
	usleep(300 * 1000);
	for (int i = 0; i < nfilters; i++) {
		while (client_pending(subs[i]) > 0 && client_wait_msg(subs[i], &m, 100)) {
			int t = topic_index(topics, ntopics, m.topic);

			cr_assert(t >= 0 && !(got[i] & BIT(t)),
				  "filter %s: unexpected extra delivery of %s", filters[i],
				  m.topic);
			got[i] |= BIT(t);
		}
		for (int t = 0; t < ntopics; t++)
			cr_expect_eq(!!(got[i] & BIT(t)), !!(expect[i] & BIT(t)),
				     "filter \"%s\" vs topic \"%s\": %s", filters[i], topics[t],
				     (expect[i] & BIT(t)) ? "should match" : "must not match");
	}
	for (int i = 0; i < nfilters; i++)
		client_close(subs[i]);
	client_close(pub);
}

Test(pubsub, wildcard_filters_match_spec_examples, .timeout = 30)
{
	struct broker b;
	const char *filters[NWILD_CASES];
	unsigned expect[NWILD_CASES];

	for (int i = 0; i < NWILD_CASES; i++) {
		filters[i] = wild_cases[i].filter;
		expect[i] = wild_cases[i].expect;
	}
	broker_start(&b, 1, NULL);
	check_matching(&b, wild_topics, NWILD_TOPICS, filters, expect, NWILD_CASES);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

/* MQTT-4.7.2-1: a filter starting with a wildcard does not match a topic starting with
 * '$'; an explicit "$app/#" does. "$app" rather than "$SYS" because the broker may own
 * (and refuse client publishes to) $SYS. */
Test(pubsub, dollar_topics_not_matched_by_leading_wildcards, .timeout = 30)
{
	static const char *const topics[] = { "$app/status", "app/status" };
	static const char *const filters[] = {
		"#", "+/status", "+/+", "$app/#", "$app/+", "$app/status", "+/#",
	};
	static const unsigned expect[] = {
		BIT(1), BIT(1), BIT(1), BIT(0), BIT(0), BIT(0), BIT(1),
	};
	struct broker b;

	broker_start(&b, 1, NULL);
	check_matching(&b, topics, 2, filters, expect, 7);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

/* Collected PUBLISHes at a raw subscriber that acknowledges everything (QoS 1 PUBACK,
 * QoS 2 PUBREC, PUBREL -> PUBCOMP). */
struct seen {
	char topic[256];
	uint8_t qos;
};

static int collect_and_ack(int fd, struct seen *out, int max, const char *last_topic,
			   int quiet_ms)
{
	struct rpkt p;
	int n = 0;
	bool last_seen = false;
	uint64_t deadline = now_ms() + 5000;

	while (now_ms() < deadline) {
		int r = rx_packet(fd, &p, last_seen ? quiet_ms : 100);

		cr_assert_geq(r, 0, "subscriber connection closed or malformed packet");
		if (r == 0) {
			if (last_seen)
				break;
			continue;
		}
		if (p.type == MQTT_PUBREL) {
			tx_ack(fd, MQTT_PUBCOMP, p.id);
			continue;
		}
		cr_assert_eq(p.type, MQTT_PUBLISH, "unexpected %s", mqtt_type_name(p.type));
		if (p.qos == 1)
			tx_ack(fd, MQTT_PUBACK, p.id);
		else if (p.qos == 2)
			tx_ack(fd, MQTT_PUBREC, p.id);
		cr_assert_lt(n, max, "too many deliveries");
		snprintf(out[n].topic, sizeof out[n].topic, "%s", p.topic);
		out[n].qos = p.qos;
		n++;
		if (strcmp(p.topic, last_topic) == 0)
			last_seen = true;
	}
	cr_assert(last_seen, "%s never delivered", last_topic);
	return n;
}

/* MQTT-3.3.5-1 lets a server send one copy per matching subscription or one at the
 * highest QoS; Petrel sends one copy, at the maximum QoS of the matching ones. */
Test(pubsub, overlapping_subscriptions_deliver_one_copy_at_highest_qos, .timeout = 30)
{
	struct broker b;
	struct seen seen[8];

	broker_start(&b, 1, NULL);
	int fd = raw_session(&b, "overlap", true, NULL);
	cr_assert_eq(tx_subscribe(fd, 1, "a/#", 0), 0);
	cr_assert_eq(tx_subscribe(fd, 2, "a/b", 2), 2);
	struct client *pub = connected_client(&b, "pub", true);
	cr_assert_eq(client_publish(pub, "a/b", "one", 3, 2, false), 0);
	/* "a/c" only matches "a/#": one copy at QoS 0. Published last, it bounds the wait. */
	cr_assert_eq(client_publish(pub, "a/c", "two", 3, 2, false), 0);

	int n = collect_and_ack(fd, seen, 8, "a/c", 300);
	int ab = 0;
	int ac = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(seen[i].topic, "a/b") == 0) {
			ab++;
			cr_assert_eq(seen[i].qos, 2, "a/b delivered at QoS %u, want 2",
				     seen[i].qos);
		} else if (strcmp(seen[i].topic, "a/c") == 0) {
			ac++;
			cr_assert_eq(seen[i].qos, 0, "a/c delivered at QoS %u, want 0",
				     seen[i].qos);
		}
	}
	cr_assert_eq(ab, 1, "a/b delivered %d times, want exactly one copy", ab);
	cr_assert_eq(ac, 1, "a/c delivered %d times", ac);
	cr_assert_eq(n, 2);

	close(fd);
	client_close(pub);
	broker_stop_clean(&b);
}

/* ---- SUBACK ------------------------------------------------------------------------ */

Test(pubsub, suback_grants_requested_qos_per_filter, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	uint8_t buf[256];
	struct mqtt_str filters[3] = {
		{ .ptr = "g/0", .len = 3 },
		{ .ptr = "g/1", .len = 3 },
		{ .ptr = "g/2", .len = 3 },
	};
	uint8_t qos[3] = { 0, 1, 2 };

	broker_start(&b, 1, NULL);
	int fd = raw_session(&b, "granted", true, NULL);
	size_t n = mqtt_encode_subscribe(buf, sizeof buf, 0x0A0B, filters, qos, 3);
	cr_assert_gt(n, 0);
	cr_assert_eq(raw_send(fd, buf, n), 0);
	rx_expect(fd, &p, MQTT_SUBACK, 3000);
	cr_assert_eq(p.id, 0x0A0B, "SUBACK id 0x%04x", p.id);
	cr_assert_eq(p.ncodes, 3, "one return code per filter (MQTT-3.8.4-5)");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(p.codes[i], qos[i], "filter %d granted %u, requested %u", i,
			     p.codes[i], qos[i]);

	/* The libmosquitto path reports the same. */
	struct client *c = connected_client(&b, "lib", true);
	for (int q = 0; q <= 2; q++)
		cr_assert_eq(client_subscribe(c, "g/lib", q), q);

	client_close(c);
	close(fd);
	broker_stop_clean(&b);
}

/* MQTT 4.7.1/4.8: an invalid filter closes the connection before any filter of the
 * packet takes effect: a persistent session keeps none of them. */
Test(pubsub, invalid_filter_closes_the_connection_and_no_filter_of_the_packet_applies,
     .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	bool present = false;
	/* Built by hand so no encoder can refuse or "fix" the invalid filter:
	 * SUBSCRIBE id 0x0011: "ok/1" QoS 1, "a/#/b" QoS 1 ('#' not last: MQTT-4.7.1-2),
	 * "ok/+" QoS 2. Remaining length 2 + 7 + 8 + 7 = 24. */
	static const uint8_t subscribe[] = {
		0x82, 24, 0x00, 0x11,
		0x00, 4, 'o', 'k', '/', '1', 1,
		0x00, 5, 'a', '/', '#', '/', 'b', 1,
		0x00, 4, 'o', 'k', '/', '+', 2,
	};

	broker_start(&b, 1, NULL);
	int fd = raw_session(&b, "badfilter", false, NULL);
	cr_assert_eq(raw_send(fd, subscribe, sizeof subscribe), 0);
	cr_assert_eq(rx_packet(fd, &p, 3000), -1, "closed without SUBACK (got type %d)",
		     (int)p.type);
	close(fd);

	/* The session survived (cleanSession 0) with neither "ok/1" nor "ok/+". */
	fd = raw_session(&b, "badfilter", false, &present);
	cr_assert(present, "the persistent session is kept");
	struct client *pub = connected_client(&b, "pub", true);
	cr_assert_eq(client_publish(pub, "ok/1", "hi", 2, 1, false), 0);
	rx_nothing(fd, 500);
	cr_assert_eq(tx_subscribe(fd, 2, "ok/1", 1), 1, "valid filters still work");
	cr_assert_eq(client_publish(pub, "ok/1", "hi", 2, 1, false), 0);
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert_str_eq(p.topic, "ok/1");
	tx_ack(fd, MQTT_PUBACK, p.id);

	client_close(pub);
	close(fd);
	broker_stop_clean(&b);
}

/* ---- ordering and load across workers ---------------------------------------------- */

/* MQTT 4.6: messages from one publisher on one topic at one QoS arrive in order. */
Test(pubsub, one_publisher_1000_qos1_messages_arrive_in_order, .timeout = 60)
{
	enum { N = 1000 };
	struct broker b;
	struct rx_msg m;
	int next = 0;

	broker_start(&b, 2, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "ord/t", 1), 1);
	struct pub_job job = {
		.c = connected_client(&b, "pub", true), .topic = "ord/t", .publisher = 0,
		.count = N, .qos = 1,
	};
	pub_job_start(&job);

	uint64_t deadline = now_ms() + 20000;
	while (next < N && now_ms() < deadline) {
		int publisher;
		int seq;

		if (!client_wait_msg(sub, &m, 100))
			continue;
		cr_assert(parse_pub_seq(&m, &publisher, &seq), "bad payload");
		cr_assert_eq(seq, next, "message %d arrived when %d was due", seq, next);
		cr_assert_eq(m.qos, 1);
		next++;
	}
	pub_job_join(&job);
	cr_assert_eq(next, N, "only %d of %d messages arrived", next, N);
	cr_assert_not(client_wait_msg(sub, &m, 300), "extra message after the last");

	client_close(job.c);
	client_close(sub);
	broker_stop_clean(&b);
}

/* 20 subscribers, spread by the broker over <workers> workers, each get each of 100
 * QoS 1 messages exactly once. */
static void check_fanout(unsigned workers)
{
	enum { NSUBS = 20, N = 100 };
	struct broker b;
	struct client *subs[NSUBS];
	uint8_t got[NSUBS][N];
	int total = 0;
	struct rx_msg m;

	memset(got, 0, sizeof got);
	broker_start(&b, workers, NULL);
	for (int i = 0; i < NSUBS; i++) {
		char id[32];

		snprintf(id, sizeof id, "fan%d", i);
		subs[i] = connected_client(&b, id, true);
		cr_assert_eq(client_subscribe(subs[i], "fan/t", 1), 1);
	}
	struct pub_job job = {
		.c = connected_client(&b, "pub", true), .topic = "fan/t", .publisher = 0,
		.count = N, .qos = 1,
	};
	pub_job_start(&job);

	uint64_t deadline = now_ms() + 20000;
	while (total < NSUBS * N && now_ms() < deadline) {
		int i = take_any(subs, NSUBS, &m);
		int publisher;
		int seq;

		if (i < 0)
			continue;
		cr_assert(parse_pub_seq(&m, &publisher, &seq) && seq >= 0 && seq < N,
			  "bad payload");
		cr_assert_eq(got[i][seq], 0, "subscriber %d got message %d twice", i, seq);
		got[i][seq] = 1;
		total++;
	}
	pub_job_join(&job);
	for (int i = 0; i < NSUBS; i++) {
		int have = 0;

		for (int s = 0; s < N; s++)
			have += got[i][s];
		cr_expect_eq(have, N, "subscriber %d got %d of %d messages", i, have, N);
	}
	cr_assert_eq(total, NSUBS * N);
	usleep(300 * 1000);
	for (int i = 0; i < NSUBS; i++)
		cr_assert_eq(client_pending(subs[i]), 0, "subscriber %d got extra messages", i);

	for (int i = 0; i < NSUBS; i++)
		client_close(subs[i]);
	client_close(job.c);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

Test(pubsub, fanout_20_subscribers_2_workers_each_message_exactly_once, .timeout = 60)
{
	check_fanout(2);
}

Test(pubsub, fanout_20_subscribers_4_workers_each_message_exactly_once, .timeout = 60)
{
	check_fanout(4);
}

/* Fan-in: 10 concurrent publishers (on whatever workers) x 100 QoS 1 messages to one
 * subscriber: all 1000 arrive, once each, and each publisher's stay in order (4.6). */
Test(pubsub, ten_publishers_100_qos1_each_all_arrive_at_one_subscriber, .timeout = 60)
{
	enum { NPUBS = 10, N = 100 };
	struct broker b;
	struct pub_job jobs[NPUBS];
	int next[NPUBS] = { 0 };
	int total = 0;
	struct rx_msg m;

	broker_start(&b, 4, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "fanin/t", 1), 1);
	for (int i = 0; i < NPUBS; i++) {
		char id[32];

		snprintf(id, sizeof id, "pub%d", i);
		jobs[i] = (struct pub_job){
			.c = connected_client(&b, id, true), .topic = "fanin/t", .publisher = i,
			.count = N, .qos = 1,
		};
	}
	for (int i = 0; i < NPUBS; i++)
		pub_job_start(&jobs[i]);

	uint64_t deadline = now_ms() + 20000;
	while (total < NPUBS * N && now_ms() < deadline) {
		int publisher;
		int seq;

		if (!client_wait_msg(sub, &m, 100))
			continue;
		cr_assert(parse_pub_seq(&m, &publisher, &seq) && publisher >= 0 &&
			  publisher < NPUBS, "bad payload");
		cr_assert_eq(seq, next[publisher], "publisher %d: message %d arrived when %d "
			     "was due", publisher, seq, next[publisher]);
		next[publisher]++;
		total++;
	}
	for (int i = 0; i < NPUBS; i++)
		pub_job_join(&jobs[i]);
	cr_assert_eq(total, NPUBS * N, "only %d of %d messages arrived", total, NPUBS * N);
	cr_assert_not(client_wait_msg(sub, &m, 300), "extra message after the last");

	for (int i = 0; i < NPUBS; i++)
		client_close(jobs[i].c);
	client_close(sub);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}
