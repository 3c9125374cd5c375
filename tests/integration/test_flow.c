/* test_flow.c - flow control without head-of-line blocking (docs/architecture.md
 * "Backpressure", issue 6): a subscriber that stops acknowledging holds its publishers
 * back for at most backpressure_timeout, then it alone pays (slow_subscriber_policy);
 * a connection held back keeps processing its acks, PINGREQ and DISCONNECT, so no
 * client deadlocks on itself or with a peer; keep-alive counts whole packets only;
 * a client that never reads is disconnected at max_outgoing_control_bytes; wills obey
 * the queue limits.
 *
 * Stuck subscribers are raw sockets (raw_client.h) that never PUBACK (reading or not
 * makes no difference: the broker sends them max_inflight_messages at most); the
 * healthy clients are libmosquitto (harness.h), which acknowledges everything. */
#include <criterion/criterion.h>
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "petrel/mqtt.h"
#include "raw_client.h"

TestSuite(flow, .fini = harness_fini);

/* Payload "<i>" as an int, or -1. */
static int seq_of(const void *payload, size_t len)
{
	char s[16];

	if (len == 0 || len >= sizeof s)
		return -1;
	memcpy(s, payload, len);
	s[len] = '\0';
	return atoi(s);
}

/* Sends <n> QoS 1 PUBLISHes "0".."n-1" on <topic> (ids 1..n) without waiting, then
 * reads PUBACKs until all <n> came or <ms> passed. Returns the PUBACKs read. */
static int pub_pipelined(int fd, const char *topic, int n, int ms)
{
	uint64_t deadline = now_ms() + (uint64_t)ms;
	int acks = 0;

	for (int i = 0; i < n; i++) {
		char s[16];
		int len = snprintf(s, sizeof s, "%d", i);

		tx_publish(fd, topic, s, (size_t)len, 1, false, false, (uint16_t)(i + 1));
	}
	while (acks < n && now_ms() < deadline) {
		struct rpkt p;
		int r = rx_packet(fd, &p, 200);

		if (r < 0)
			break;
		if (r == 1 && p.type == MQTT_PUBACK)
			acks++;
	}
	return acks;
}

/* Queues <n> QoS 1 messages "0".."n-1" on <topic> in <c>'s libmosquitto without
 * waiting for their acks: the client sends them as its own window allows. */
static void mosq_publish_seq(struct client *c, const char *topic, int n)
{
	for (int i = 0; i < n; i++) {
		char s[16];
		int len = snprintf(s, sizeof s, "%d", i);

		cr_assert_eq(mosquitto_publish(client_mosq(c), NULL, topic, len, s, 1, false),
			     MOSQ_ERR_SUCCESS);
	}
}

/* Waits <= ms until <c> has received <n> messages in all; returns how many. */
static int wait_pending(struct client *c, int n, int ms)
{
	uint64_t deadline = now_ms() + (uint64_t)ms;

	while (client_pending(c) < n && now_ms() < deadline)
		usleep(10000);
	return client_pending(c);
}

/* Takes <n> messages from <c> and asserts they are "0".."n-1" in order. */
static void expect_in_order(struct client *c, int n)
{
	for (int i = 0; i < n; i++) {
		struct rx_msg m;

		cr_assert(client_wait_msg(c, &m, 1000), "message %d missing", i);
		cr_assert_eq(seq_of(m.payload, (size_t)m.payload_len), i,
			     "position %d holds '%.*s'", i, m.payload_len, (char *)m.payload);
	}
}

/* The issue as filed, default configuration: a stuck '#' subscriber at QoS 1 must not
 * freeze a publisher feeding a healthy subscriber. Two workers, so publisher and
 * subscribers may sit on different workers (the cross-worker resume). */
Test(flow, stuck_subscriber_does_not_freeze_publisher_or_others, .timeout = 120)
{
	enum { N = 3000 };
	struct broker b;

	broker_start(&b, 2, NULL);
	int stuck = raw_session(&b, "stuck", true, NULL);
	cr_assert_eq(tx_subscribe(stuck, 1, "#", 1), 1);
	struct client *healthy = connected_client(&b, "healthy", true);
	cr_assert_eq(client_subscribe(healthy, "x", 1), 1);
	int pub = raw_session(&b, "pub", true, NULL);

	int acks = pub_pipelined(pub, "x", N, 60000);
	cr_assert_eq(acks, N, "publisher got %d of %d PUBACKs: it stayed paused", acks, N);
	cr_assert_eq(wait_pending(healthy, N, 30000), N, "healthy subscriber got %d of %d",
		     client_pending(healthy), N);
	expect_in_order(healthy, N);
	/* When the publisher's worker routes the whole burst before the subscriber's
	 * worker takes the first delivery, nobody is held back: the queue still goes
	 * over its limit, and the episode is logged at backpressure_timeout (2 s). */
	cr_assert(broker_wait_log(&b, "client 'stuck': queue over its limit", 10000),
		  "the slow episode was not logged with the client id");

	close(stuck);
	close(pub);
	client_close(healthy);
	broker_stop_clean(&b);
}

/* A client publishing QoS 1 to its own subscription at full speed: while held back it
 * must still read its own PUBACKs, or its queue never drains (the self-deadlock). */
Test(flow, client_subscribed_to_itself_finishes, .timeout = 120)
{
	enum { N = 1000 };
	struct broker b;

	broker_start(&b, 1, "max_inflight_messages 2\nmax_queued_messages 5\n");
	struct client *c = connected_client(&b, "self", true);
	cr_assert_eq(client_subscribe(c, "self/t", 1), 1);
	mosq_publish_seq(c, "self/t", N);
	cr_assert_eq(wait_pending(c, N, 60000), N, "got %d of %d of its own messages: "
		     "deadlocked", client_pending(c), N);
	expect_in_order(c, N);
	cr_assert_not(broker_log_contains(&b, "marked slow"),
		      "finished only because the episode timed out");
	client_close(c);
	broker_stop_clean(&b);
}

/* Request/response: A sends N requests on "req", B answers each on "resp". Each is
 * the other's subscriber, with small queues: holding either back must not stop it
 * from acknowledging what the other sends it. */
Test(flow, request_response_pair_finishes, .timeout = 120)
{
	enum { N = 1000 };
	struct broker b;

	broker_start(&b, 2, "max_queued_messages 5\nmax_inflight_messages 5\n");
	struct client *a = connected_client(&b, "requester", true);
	struct client *r = connected_client(&b, "responder", true);
	cr_assert_eq(client_subscribe(a, "resp", 1), 1);
	cr_assert_eq(client_subscribe(r, "req", 1), 1);
	mosq_publish_seq(a, "req", N);
	uint64_t deadline = now_ms() + 60000;
	int answered = 0;

	while (answered < N && now_ms() < deadline) {
		struct rx_msg m;

		if (!client_wait_msg(r, &m, 200))
			continue;
		cr_assert_eq(mosquitto_publish(client_mosq(r), NULL, "resp", m.payload_len,
					       m.payload, 1, false), MOSQ_ERR_SUCCESS);
		answered++;
	}
	cr_assert_eq(answered, N, "responder got %d of %d requests: deadlocked", answered, N);
	cr_assert_eq(wait_pending(a, N, 30000), N, "requester got %d of %d responses",
		     client_pending(a), N);
	expect_in_order(a, N);
	cr_assert_not(broker_log_contains(&b, "marked slow"),
		      "finished only because an episode timed out");
	client_close(a);
	client_close(r);
	broker_stop_clean(&b);
}

/* A held-back publisher's DISCONNECT is read: what it sent before goes out first,
 * QoS 0 included, then the connection closes (no will: MQTT-3.14.4-3). */
Test(flow, disconnect_while_held_back_delivers_what_came_before, .timeout = 60)
{
	enum { NQ0 = 20 };
	struct broker b;

	broker_start(&b, 1, "max_inflight_messages 1\nmax_queued_messages 1\n"
		     "backpressure_timeout 60000\n");
	int stuck = raw_session(&b, "dstuck", true, NULL);
	cr_assert_eq(tx_subscribe(stuck, 1, "d/held", 1), 1);
	struct client *watch = connected_client(&b, "dwatch", true);
	cr_assert_eq(client_subscribe(watch, "d/q0", 0), 0);
	int fd = raw_connect(&b);
	struct raw_connect_opts o = { .client_id = "dpub", .clean = true, .keepalive = 60,
				      .will_topic = "d/q0", .will_payload = "will",
				      .will_qos = 0 };

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0);
	/* As in held_publisher_costs_no_polling: held back after the 4th. */
	for (uint16_t i = 1; i <= 4; i++)
		tx_publish(fd, "d/held", "m", 1, 1, false, false, i);
	for (int i = 0; i < NQ0; i++) {
		char s[16];
		int n = snprintf(s, sizeof s, "%d", i);

		tx_publish(fd, "d/q0", s, (size_t)n, 0, false, false, 0);
	}
	static const uint8_t disconnect[2] = { 0xe0, 0x00 };

	cr_assert_eq(raw_send(fd, disconnect, sizeof disconnect), 0);
	cr_assert(raw_wait_closed(fd, 5000), "DISCONNECT of a held-back client not handled");
	cr_assert_eq(wait_pending(watch, NQ0, 5000), NQ0, "got %d of the %d QoS 0 messages "
		     "sent before DISCONNECT", client_pending(watch), NQ0);
	expect_in_order(watch, NQ0);
	struct rx_msg m;

	cr_assert_not(client_wait_msg(watch, &m, 300), "will sent after DISCONNECT");
	close(fd);
	close(stuck);
	client_close(watch);
	broker_stop_clean(&b);
}

/* What a held-back connection keeps is bounded: at max_held_input_bytes the broker
 * stops reading it, and backpressure_timeout still ends the hold, after which every
 * kept packet is handled in order. */
Test(flow, held_input_is_bounded_and_replayed, .timeout = 60)
{
	enum { N = 500 };
	struct broker b;

	broker_start(&b, 1, "max_inflight_messages 1\nmax_queued_messages 1\n"
		     "backpressure_timeout 500\nmax_held_input_bytes 1024\n");
	int stuck = raw_session(&b, "hstuck", true, NULL);
	cr_assert_eq(tx_subscribe(stuck, 1, "h/t", 1), 1);
	int pub = raw_session(&b, "hpub", true, NULL);

	/* PUBACKs come in the order of the PUBLISHes: pub_pipelined counts them all. */
	int acks = pub_pipelined(pub, "h/t", N, 15000);

	cr_assert_eq(acks, N, "publisher got %d of %d PUBACKs", acks, N);
	cr_assert(broker_log_contains(&b, "(hpub): held back with"),
		  "max_held_input_bytes was never reached");
	cr_assert(broker_log_contains(&b, "client 'hstuck': queue over its limit"));
	close(pub);
	close(stuck);
	broker_stop_clean(&b);
}

/* ---- slow_subscriber_policy ------------------------------------------------------- */

enum { SLOW_N = 50 };

#define SLOW_CONFIG "max_inflight_messages 1\nmax_queued_messages 5\n" \
	"backpressure_timeout 300\n"

struct slow_run {
	int sub;
	int pub;
	int seqs[4 * SLOW_N];
	int delivered;
	bool sub_closed;
};

/* Stuck subscriber on "slow/t", publisher sends SLOW_N QoS 1 messages 5 ms apart (so
 * they arrive in separate reads) and must get every PUBACK within 10 s: it is held
 * back for backpressure_timeout at most. */
static void slow_start(struct broker *b, struct slow_run *r)
{
	memset(r, 0, sizeof *r);
	r->sub = raw_session(b, "slowsub", true, NULL);
	cr_assert_eq(tx_subscribe(r->sub, 1, "slow/t", 1), 1);
	r->pub = raw_session(b, "slowpub", true, NULL);
	for (int i = 0; i < SLOW_N; i++) {
		char s[16];
		int n = snprintf(s, sizeof s, "%d", i);

		tx_publish(r->pub, "slow/t", s, (size_t)n, 1, false, false, (uint16_t)(i + 1));
		usleep(5000);
	}
	int acks = 0;
	uint64_t deadline = now_ms() + 10000;

	while (acks < SLOW_N && now_ms() < deadline) {
		struct rpkt p;
		int rc = rx_packet(r->pub, &p, 200);

		cr_assert_geq(rc, 0, "publisher connection closed");
		if (rc == 1 && p.type == MQTT_PUBACK)
			acks++;
	}
	cr_assert_eq(acks, SLOW_N, "publisher got %d of %d PUBACKs: held back for good",
		     acks, SLOW_N);
}

/* The subscriber now acknowledges everything it gets, until quiet for 1 s. */
static void slow_drain(struct slow_run *r)
{
	uint64_t deadline = now_ms() + 15000;

	while (now_ms() < deadline) {
		struct rpkt p;
		int rc = rx_packet(r->sub, &p, 1000);

		if (rc == 0)
			return;
		if (rc < 0) {
			r->sub_closed = true;
			return;
		}
		if (p.type != MQTT_PUBLISH)
			continue;
		cr_assert_lt(r->delivered, 4 * SLOW_N, "far more deliveries than messages");
		r->seqs[r->delivered++] = seq_of(p.payload, p.payload_len);
		tx_ack(r->sub, MQTT_PUBACK, p.id);
	}
}

Test(flow, slow_policy_drop_new_keeps_the_oldest, .timeout = 60)
{
	struct broker b;
	struct slow_run r;

	broker_start(&b, 1, SLOW_CONFIG "slow_subscriber_policy drop_new\n");
	slow_start(&b, &r);
	slow_drain(&r);
	cr_assert_not(r.sub_closed, "drop_new must not disconnect");
	cr_log_info("drop_new: %d of %d delivered", r.delivered, SLOW_N);
	cr_assert(r.delivered >= 6 && r.delivered < SLOW_N, "%d delivered", r.delivered);
	for (int i = 0; i < r.delivered; i++)
		cr_assert_eq(r.seqs[i], i, "drop_new keeps the oldest: position %d holds %d",
			     i, r.seqs[i]);
	cr_assert(broker_log_contains(&b, "client 'slowsub': queue over its limit"));
	close(r.sub);
	close(r.pub);
	broker_stop_clean(&b);
}

Test(flow, slow_policy_drop_oldest_keeps_the_newest, .timeout = 60)
{
	struct broker b;
	struct slow_run r;

	broker_start(&b, 1, SLOW_CONFIG "slow_subscriber_policy drop_oldest\n");
	slow_start(&b, &r);
	slow_drain(&r);
	cr_assert_not(r.sub_closed, "drop_oldest must not disconnect");
	cr_log_info("drop_oldest: %d of %d delivered", r.delivered, SLOW_N);
	cr_assert(r.delivered >= 6 && r.delivered < SLOW_N, "%d delivered", r.delivered);
	cr_assert_eq(r.seqs[r.delivered - 1], SLOW_N - 1, "the newest message is kept");
	for (int i = 1; i < r.delivered; i++)
		cr_assert_gt(r.seqs[i], r.seqs[i - 1], "out of order at %d", i);
	close(r.sub);
	close(r.pub);
	broker_stop_clean(&b);
}

Test(flow, slow_policy_disconnect_closes_the_subscriber, .timeout = 60)
{
	struct broker b;
	struct slow_run r;

	broker_start(&b, 1, SLOW_CONFIG "slow_subscriber_policy disconnect\n");
	slow_start(&b, &r);
	cr_assert(raw_wait_closed(r.sub, 5000), "slow subscriber not disconnected");
	cr_assert(broker_log_contains(&b, "client 'slowsub': slow subscriber disconnected"));
	/* The publisher and others go on. */
	tx_publish(r.pub, "slow/t", "x", 1, 1, false, false, 1000);
	struct rpkt p;

	rx_expect(r.pub, &p, MQTT_PUBACK, 2000);
	close(r.sub);
	close(r.pub);
	broker_stop_clean(&b);
}

/* ---- wills and deliveries with no publisher to hold back -------------------------- */

/* 100 wills to a stuck subscriber: they cannot hold anyone back, so they follow the
 * drop policy instead of growing its queue past the limit (8000 of them took the
 * broker to 461 MB). A healthy subscriber paces the test: each will reached it
 * before the next client goes. */
Test(flow, wills_obey_the_queue_limit, .timeout = 120)
{
	enum { NW = 100 };
	struct broker b;

	broker_start(&b, 1, "max_inflight_messages 1\nmax_queued_messages 10\n");
	int stuck = raw_session(&b, "willsub", true, NULL);
	cr_assert_eq(tx_subscribe(stuck, 1, "will/#", 1), 1);
	struct client *healthy = connected_client(&b, "willwatch", true);
	cr_assert_eq(client_subscribe(healthy, "will/#", 1), 1);
	for (int i = 0; i < NW; i++) {
		char id[32];
		int fd = raw_connect(&b);
		struct raw_connect_opts o = { .client_id = id, .clean = true, .keepalive = 60,
					      .will_topic = "will/x", .will_payload = id,
					      .will_qos = 1 };

		snprintf(id, sizeof id, "%d", i);
		cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0);
		close(fd);
		cr_assert_eq(wait_pending(healthy, i + 1, 5000), i + 1, "will %d not out", i);
	}
	/* Now the stuck subscriber acknowledges and takes what was kept for it. */
	int got = 0;
	struct rpkt p;

	while (rx_packet(stuck, &p, 1000) == 1) {
		if (p.type != MQTT_PUBLISH)
			continue;
		got++;
		tx_ack(stuck, MQTT_PUBACK, p.id);
	}
	cr_log_info("stuck subscriber got %d of %d wills", got, NW);
	cr_assert_leq(got, 1 + 10 + 1, "queue went past its limit: %d wills kept", got);
	cr_assert_geq(got, 1 + 10 - 1, "only %d wills kept", got);
	close(stuck);
	client_close(healthy);
	broker_stop_clean(&b);
}

/* ---- keep-alive counts whole packets ------------------------------------------------ */

/* MQTT-3.1.2-24: a byte every second of a packet that never ends is no Control
 * Packet; with keep-alive 2 the broker closes after 3 s of that. */
Test(flow, keepalive_ignores_a_dripped_partial_packet, .timeout = 60)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = raw_connect(&b);
	struct raw_connect_opts o = { .client_id = "drip", .clean = true, .keepalive = 2 };

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0);
	/* PUBLISH QoS 0, remaining length 1000: its header, then a byte at a time. */
	const uint8_t hdr[3] = { 0x30, 0xe8, 0x07 };

	cr_assert_eq(raw_send(fd, hdr, sizeof hdr), 0);
	uint64_t t0 = now_ms();
	bool closed = false;

	for (int i = 0; i < 10 && !closed; i++) {
		uint8_t byte = 'a';

		closed = raw_send(fd, &byte, 1) < 0 || raw_wait_closed(fd, 1000);
	}
	cr_assert(closed, "still open after 10 s of dripping with keep-alive 2");
	cr_assert_lt(now_ms() - t0, 8000);
	cr_assert(broker_log_contains(&b, "keep-alive timeout"));
	close(fd);
	broker_stop_clean(&b);
}

/* A publisher held back is still read: its silence counts. Keep-alive 1 (1.5 s) runs
 * out while it is held back (backpressure_timeout is 2 s by default). */
Test(flow, keepalive_counts_while_held_back, .timeout = 60)
{
	struct broker b;

	broker_start(&b, 1, "max_inflight_messages 1\nmax_queued_messages 1\n");
	int stuck = raw_session(&b, "kastuck", true, NULL);
	cr_assert_eq(tx_subscribe(stuck, 1, "ka/t", 1), 1);
	int fd = raw_connect(&b);
	struct raw_connect_opts o = { .client_id = "kapub", .clean = true, .keepalive = 1 };

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0);
	for (uint16_t i = 1; i <= 4; i++)
		tx_publish(fd, "ka/t", "m", 1, 1, false, false, i);
	/* Silent from now on; the broker must notice within 1.5 s plus a tick. */
	cr_assert(raw_wait_closed(fd, 5000), "held-back publisher never timed out");
	cr_assert(broker_log_contains(&b, "(kapub): keep-alive timeout"));
	close(fd);
	close(stuck);
	broker_stop_clean(&b);
}

/* ---- resumed by an event, not by polling ----------------------------------------- */

/* Voluntary context switches of every thread of <pid>: each sleep in epoll_wait that
 * actually sleeps is one. */
static long ctxt_switches(pid_t pid)
{
	char cmd[128], out[64];

	snprintf(cmd, sizeof cmd, "cat /proc/%d/task/*/status | awk '/^voluntary_ctxt/ "
		 "{ n += $2 } END { print n }'", (int)pid);
	cr_assert_eq(run_cmd(cmd, 10, out, sizeof out), 0);
	return atol(out);
}

/* While a publisher is held back and nothing else happens, the worker sleeps as when
 * idle (50 ms polls, about 20 wake-ups a second); it used to poll every millisecond
 * (1000 a second) to see whether the subscriber had drained. A count, not a timing:
 * a slow machine only makes it smaller. */
Test(flow, held_publisher_costs_no_polling, .timeout = 60)
{
	/* Idle, a DPDK worker still looks at its queue every millisecond. */
	harness_kernel_only("counts the turns of a worker asleep in epoll_wait");
	struct broker b;

	broker_start(&b, 1, "max_inflight_messages 1\nmax_queued_messages 1\n"
		     "backpressure_timeout 60000\n");
	int stuck = raw_session(&b, "pollstuck", true, NULL);
	cr_assert_eq(tx_subscribe(stuck, 1, "poll/t", 1), 1);
	int pub = raw_session(&b, "pollpub", true, NULL);

	/* 1 goes out, 2 is queued, 3 congests, 4 finds it congested (acknowledged,
	 * then the publisher is held back), 5 and 6 are held. */
	for (uint16_t i = 1; i <= 6; i++)
		tx_publish(pub, "poll/t", "m", 1, 1, false, false, i);
	struct rpkt p;
	int acks = 0;

	while (rx_packet(pub, &p, 500) == 1)
		acks += p.type == MQTT_PUBACK;
	cr_assert_eq(acks, 4, "publisher not held back after the 4th (%d PUBACKs)", acks);
	long before = ctxt_switches(b.pid);

	usleep(2000 * 1000);
	long woke = ctxt_switches(b.pid) - before;

	cr_log_info("%ld wake-ups in 2 s while a publisher was held back", woke);
	cr_assert_lt(woke, 400, "%ld wake-ups in 2 s: the held publisher is polled", woke);
	close(pub);
	close(stuck);
	broker_stop_clean(&b);
}

/* ---- a client that never reads ------------------------------------------------------ */

/* A publisher that sends QoS 1 and never reads its socket: once the kernel buffers
 * are full its PUBACKs pile up in the broker, and at max_outgoing_control_bytes it is
 * disconnected. Bounded: at most 4M packets or 60 s. */
Test(flow, publisher_that_never_reads_is_disconnected, .timeout = 120)
{
	struct broker b;

	broker_start(&b, 1, "max_outgoing_control_bytes 65536\n");
	int fd = raw_session(&b, "deaf", true, NULL);
	int small = 4096;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	/* 1000 PUBLISH QoS 1 packets on "d", ids 1..1000, in one buffer. */
	static uint8_t batch[1000 * 9];
	size_t len = 0;

	for (int i = 0; i < 1000; i++) {
		uint16_t id = (uint16_t)(i + 1);
		uint8_t pkt[9] = { 0x32, 7, 0, 1, 'd', (uint8_t)(id >> 8), (uint8_t)id, 'p', 'p' };

		memcpy(batch + len, pkt, sizeof pkt);
		len += sizeof pkt;
	}
	uint64_t deadline = now_ms() + 60000;
	bool closed = false;
	long sent = 0;

	while (!closed && sent < 4000000 && now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (pfd.revents & (POLLERR | POLLHUP)) {
			closed = true;
			break;
		}
		ssize_t n = send(fd, batch, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			closed = true;
		else if (n > 0)
			sent += n / 9;
	}
	cr_log_info("sent about %ld PUBLISHes before the broker closed", sent);
	cr_assert(closed || raw_wait_closed(fd, 5000), "publisher that never reads was not "
		  "disconnected after %ld PUBLISHes", sent);
	cr_assert(broker_log_contains(&b, "over max_outgoing_control_bytes"));
	close(fd);
	broker_stop_clean(&b);
}

/* A subscriber that does not read loses QoS 0 messages once max_outgoing_bytes are
 * unsent (MQTT allows it for QoS 0): counted, and logged once for the episode rather
 * than once per message or never. */
Test(flow, qos0_drops_to_a_slow_reader_are_logged_once, .timeout = 60)
{
	struct broker b;
	static char payload[8192];

	broker_start(&b, 1, "max_outgoing_bytes 65536\n");
	int fd = raw_session(&b, "slowreader", true, NULL);
	int small = 4096;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	cr_assert_eq(tx_subscribe(fd, 1, "q0", 0), 0);
	struct client *pub = connected_client(&b, "q0pub", true);

	/* 2.4 MB to a reader that takes nothing: far past 64 KiB plus socket buffers. */
	for (int i = 0; i < 300; i++)
		cr_assert_eq(client_publish(pub, "q0", payload, sizeof payload, 0, false), 0);
	cr_assert_eq(client_sync(pub), 0);
	cr_assert(broker_wait_log(&b, "QoS 0 messages to it are dropped", 5000),
		  "QoS 0 drops to a slow reader are not logged");
	cr_assert_eq(broker_log_count(&b, "QoS 0 messages to it are dropped"), 1,
		     "logged once per episode, not per message");
	client_close(pub);
	close(fd);
	broker_stop_clean(&b);
}

/* A subscriber that reads nothing for a while, then everything: its output outgrows
 * the socket buffers, so the broker's writes come up short, the connection waits for
 * EPOLLOUT (counted in output_blocked) and the transport sends the rest by itself as
 * room comes, without losing, doubling or reordering a message. 16 MB, bounded in
 * count; the limits are raised so that nothing may be dropped. */
Test(flow, a_reader_that_pauses_gets_everything_in_order_after_short_writes, .timeout = 120)
{
	enum { N = 16000, LEN = 1000 };
	struct broker b;
	static char payload[LEN];
	struct rpkt p;

	/* Default socket buffers: a receive buffer shrunk under an open connection
	 * makes the kernel probe a zero window with backoff, seconds per step. A reader
	 * that does not read keeps its buffer small (autotuning grows it on reads). */
	/* Over net_af_xdp this stalled at a few hundred messages: frames the PMD took
	 * waited in the AF_XDP TX ring for a transmission that never came (port.c
	 * port_info.tx_kick, docs/operations.md "On AF_XDP"). */
	broker_start(&b, 1, "max_outgoing_bytes 67108864\nmax_queued_messages 0\n");
	int fd = raw_session(&b, "lazy", true, NULL);

	cr_assert_eq(tx_subscribe(fd, 1, "big", 0), 0);
	struct client *pub = connected_client(&b, "bigpub", true);

	memset(payload, 'x', sizeof payload);
	for (int i = 0; i < N; i++) {
		int n = snprintf(payload, sizeof payload, "%d", i);

		payload[n] = ' ';
		cr_assert_eq(client_publish(pub, "big", payload, LEN, 0, false), 0);
	}
	/* Every PUBLISH handled: the broker holds what the socket did not take. */
	cr_assert_eq(client_sync(pub), 0);
	usleep(200000);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(rx_packet(fd, &p, 10000), 1, "message %d of %d did not come", i, N);
		cr_assert_eq(p.type, MQTT_PUBLISH);
		cr_assert_eq(p.payload_len, LEN);
		cr_assert_eq(atoi((const char *)p.payload), i, "got %d where %d was due",
			     atoi((const char *)p.payload), i);
	}
	rx_nothing(fd, 300);
	client_close(pub);
	close(fd);
	/* The kernel transport counts its waits for EPOLLOUT; over DPDK the same short
	 * writes are a full TCP window, which the stack does not count per se. */
	if (harness_dataplane() == HARNESS_KERNEL)
		broker_stop_expect_total(&b, "output_blocked=");
	else
		broker_stop_clean(&b);
}
