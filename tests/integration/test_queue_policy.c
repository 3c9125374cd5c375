/* test_queue_policy.c - what happens when a subscriber cannot keep up: an online QoS 1
 * subscriber withholds PUBACK (max_inflight_messages 1, max_queued_messages 5) while a
 * publisher sends 50 QoS 1 messages, under each queue_full_policy:
 *   backpressure - the broker holds the publisher back, so its PUBACKs stall; once
 *                  the subscriber acks, everything flows and nothing is lost;
 *   drop_new     - the publisher is never slowed; messages beyond the queue are dropped;
 *   drop_oldest  - likewise, but the newest messages survive.
 * In every case the broker stays up and unrelated clients keep working. How long
 * backpressure may last (backpressure_timeout) is test_flow.c's subject.
 *
 * Both sides are raw MQTT clients (raw_client.h, on the project's codec,
 * include/petrel/mqtt.h): the publisher must pipeline without waiting for acks (which
 * libmosquitto's harness wrapper does), and the subscriber must withhold PUBACK. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "petrel/mqtt.h"
#include "raw_client.h"

/* Kills any broker a failed assertion left running. */
TestSuite(queue_policy, .fini = harness_fini);

/* ---- the slow-subscriber scenario -------------------------------------------------- */

enum { N = 50 };

#define BASE_CONFIG "max_inflight_messages 1\nmax_queued_messages 5\n"

/* State of one run: a raw subscriber on "bp/t" and a raw publisher. */
struct flow {
	int sub_fd;
	int pub_fd;
	bool sub_acks;          /* subscriber PUBACKs as it reads; else it holds them */
	uint16_t held[2 * N];   /* packet ids read but not acknowledged */
	int nheld;
	int seqs[2 * N];        /* sequence numbers in the order the subscriber got them */
	int delivered;
	int pub_acks;           /* PUBACKs the publisher got, ids 1..N */
};

static void flow_sub_packet(struct flow *f)
{
	struct rpkt p;

	cr_assert_eq(rx_packet(f->sub_fd, &p, 1000), 1,
		     "subscriber connection closed or malformed packet");
	cr_assert_eq(p.type, MQTT_PUBLISH, "subscriber got %s", mqtt_type_name(p.type));
	cr_assert_eq(p.qos, 1);
	cr_assert_lt(f->delivered, 2 * N, "far more deliveries than messages");
	char s[16];
	size_t n = p.payload_len < sizeof s - 1 ? p.payload_len : sizeof s - 1;
	memcpy(s, p.payload, n);
	s[n] = '\0';
	f->seqs[f->delivered++] = atoi(s);
	if (f->sub_acks)
		tx_ack(f->sub_fd, MQTT_PUBACK, p.id);
	else
		f->held[f->nheld++] = p.id;
}

static void flow_pub_packet(struct flow *f)
{
	struct rpkt p;

	cr_assert_eq(rx_packet(f->pub_fd, &p, 1000), 1,
		     "publisher connection closed or malformed packet");
	cr_assert_eq(p.type, MQTT_PUBACK, "publisher got %s", mqtt_type_name(p.type));
	/* PUBACKs come in the order of the PUBLISHes (MQTT-4.6.0-2): ids 1, 2, ... */
	cr_assert_eq(p.id, f->pub_acks + 1, "PUBACK id %u, want %d", p.id, f->pub_acks + 1);
	f->pub_acks++;
}

static bool all_done(const struct flow *f)
{
	return f->delivered >= N && f->pub_acks >= N;
}

static bool pub_done(const struct flow *f)
{
	return f->pub_acks >= N;
}

/* Services both sockets for up to <ms>, or until <done> holds. */
static void pump(struct flow *f, int ms, bool (*done)(const struct flow *))
{
	uint64_t deadline = now_ms() + (uint64_t)ms;

	while (!(done && done(f))) {
		uint64_t now = now_ms();

		if (now >= deadline)
			return;
		struct pollfd pfd[2] = {
			{ .fd = f->sub_fd, .events = POLLIN },
			{ .fd = f->pub_fd, .events = POLLIN },
		};
		uint64_t left = deadline - now;
		if (poll(pfd, 2, left < 50 ? (int)left : 50) <= 0)
			continue;
		if (pfd[0].revents)
			flow_sub_packet(f);
		if (pfd[1].revents)
			flow_pub_packet(f);
	}
}

/* Pumps until nothing arrives for 500 ms (<= 10 s). */
static void pump_until_quiet(struct flow *f)
{
	uint64_t deadline = now_ms() + 10000;

	while (now_ms() < deadline) {
		int before = f->delivered + f->pub_acks;

		pump(f, 500, NULL);
		if (f->delivered + f->pub_acks == before)
			return;
	}
}

/* Connects the subscriber (QoS 1 on bp/t, not acking) and the publisher, then sends the
 * N messages "0".."49" with ids 1..N, 5 ms apart so they reach the broker in separate
 * reads (a policy can only act between reads), while servicing both sockets. */
static void flow_start(struct broker *b, struct flow *f)
{
	memset(f, 0, sizeof *f);
	f->sub_fd = raw_session(b, "slow", true, NULL);
	cr_assert_eq(tx_subscribe(f->sub_fd, 1, "bp/t", 1), 1);
	f->pub_fd = raw_session(b, "fast", true, NULL);
	for (int i = 0; i < N; i++) {
		char s[16];
		int n = snprintf(s, sizeof s, "%d", i);

		tx_publish(f->pub_fd, "bp/t", s, (size_t)n, 1, false, false, (uint16_t)(i + 1));
		pump(f, 5, NULL);
	}
}

/* The subscriber acknowledges what it holds and everything from now on. */
static void flow_release(struct flow *f)
{
	f->sub_acks = true;
	for (int i = 0; i < f->nheld; i++)
		tx_ack(f->sub_fd, MQTT_PUBACK, f->held[i]);
	f->nheld = 0;
}

static void flow_close(struct flow *f)
{
	close(f->sub_fd);
	close(f->pub_fd);
}

/* A fresh pair of libmosquitto clients on another topic exchanges a QoS 1 message
 * within 1 s: the worker is not blocked and new connections are accepted. */
static void check_others_unaffected(struct broker *b)
{
	struct rx_msg m;
	struct client *sub = client_new(b, "other-sub", true, 60);
	struct client *pub = client_new(b, "other-pub", true, 60);

	cr_assert_eq(client_connack_rc(sub), 0, "other subscriber not connected");
	cr_assert_eq(client_connack_rc(pub), 0, "other publisher not connected");
	cr_assert_eq(client_subscribe(sub, "other/t", 1), 1);
	cr_assert_eq(client_publish(pub, "other/t", "hi", 2, 1, false), 0,
		     "unrelated publisher not acknowledged");
	cr_assert(client_wait_msg(sub, &m, 1000), "unrelated subscriber got nothing");
	cr_assert_eq(m.payload_len, 2);
	client_disconnect(pub);
	client_free(pub);
	client_disconnect(sub);
	client_free(sub);
}

Test(queue_policy, backpressure_stalls_publisher_then_delivers_everything, .timeout = 60)
{
	struct broker b;
	struct flow f;

	/* The stall must outlast this test's checks: backpressure_timeout (test_flow.c)
	 * would otherwise mark the subscriber slow and drop. */
	broker_start(&b, 1, BASE_CONFIG "queue_full_policy backpressure\n"
		     "backpressure_timeout 60000\n");
	uint64_t t0 = now_ms();
	flow_start(&b, &f);
	uint64_t spent = now_ms() - t0;
	pump(&f, spent < 1000 ? (int)(1000 - spent) : 0, NULL);

	/* Expected about 1 (inflight) + 5 (queue) acks, plus whatever the broker had read
	 * before the queue filled; certainly not all 50. */
	cr_log_info("backpressure: %d PUBACKs, %d deliveries while the subscriber stalled",
		    f.pub_acks, f.delivered);
	cr_assert_lt(f.pub_acks, N, "publisher got all %d PUBACKs although the subscriber "
		     "stalled: no backpressure", f.pub_acks);
	cr_expect_leq(f.delivered, 1, "inflight window 1, yet %d unacked deliveries",
		      f.delivered);
	check_others_unaffected(&b);

	flow_release(&f);
	pump(&f, 10000, all_done);
	cr_assert_eq(f.delivered, N, "subscriber got %d of %d messages", f.delivered, N);
	cr_assert_eq(f.pub_acks, N, "publisher got %d of %d PUBACKs", f.pub_acks, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(f.seqs[i], i, "position %d holds message %d", i, f.seqs[i]);
	pump(&f, 300, NULL);
	cr_assert_eq(f.delivered, N, "duplicate deliveries");
	cr_assert(broker_alive(&b));

	flow_close(&f);
	broker_stop_clean(&b);
}

/* Runs the scenario under a dropping policy: the publisher is acknowledged for all 50
 * promptly, then the subscriber drains what was kept. Returns the deliveries. */
static int run_dropping(struct broker *b, struct flow *f)
{
	flow_start(b, f);
	pump(f, 2000, pub_done);
	cr_assert_eq(f->pub_acks, N, "dropping policy: publisher got only %d of %d PUBACKs "
		     "within 2 s", f->pub_acks, N);
	cr_expect_leq(f->delivered, 1, "inflight window 1, yet %d unacked deliveries",
		      f->delivered);
	check_others_unaffected(b);

	flow_release(f);
	pump_until_quiet(f);
	cr_log_info("%d of %d messages delivered", f->delivered, N);
	cr_assert_lt(f->delivered, N, "nothing was dropped");
	cr_assert(broker_alive(b));
	return f->delivered;
}

Test(queue_policy, drop_new_acks_publisher_and_drops_newest, .timeout = 60)
{
	struct broker b;
	struct flow f;

	broker_start(&b, 1, BASE_CONFIG "queue_full_policy drop_new\n");
	int n = run_dropping(&b, &f);

	/* Expected 6: message 0 in flight, 1..5 queued, 6..49 refused. 5..7 tolerates
	 * counting the inflight message against the queue, or one extra. */
	cr_assert(n >= 5 && n <= 7, "%d messages delivered, want about 6", n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(f.seqs[i], i, "drop_new keeps the oldest: position %d holds %d",
			     i, f.seqs[i]);

	flow_close(&f);
	broker_stop_clean(&b);
}

Test(queue_policy, drop_oldest_acks_publisher_and_keeps_newest, .timeout = 60)
{
	struct broker b;
	struct flow f;

	broker_start(&b, 1, BASE_CONFIG "queue_full_policy drop_oldest\n");
	int n = run_dropping(&b, &f);

	/* Expected 6: message 0 (already sent, in flight: cannot be recalled), then the
	 * newest 5, 45..49. */
	cr_assert(n >= 5 && n <= 7, "%d messages delivered, want about 6", n);
	cr_assert_eq(f.seqs[0], 0, "the in-flight message 0 is delivered first");
	for (int i = 1; i < n; i++)
		cr_assert_eq(f.seqs[i], N - n + i, "drop_oldest keeps the newest: position %d "
			     "holds %d, want %d", i, f.seqs[i], N - n + i);

	flow_close(&f);
	broker_stop_clean(&b);
}
