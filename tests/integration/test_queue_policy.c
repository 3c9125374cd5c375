/* test_queue_policy.c - what happens when a subscriber cannot keep up: an online QoS 1
 * subscriber withholds PUBACK (max_inflight_messages 1, max_queued_messages 5) while a
 * publisher sends 50 QoS 1 messages, under each queue_full_policy:
 *   backpressure - the broker stops reading the publisher, so its PUBACKs stall; once
 *                  the subscriber acks, everything flows and nothing is lost;
 *   drop_new     - the publisher is never slowed; messages beyond the queue are dropped;
 *   drop_oldest  - likewise, but the newest messages survive.
 * In every case the broker stays up and unrelated clients keep working.
 *
 * Both sides are raw MQTT clients written here on top of the project's codec
 * (include/petrel/mqtt.h): the publisher must pipeline without waiting for acks (which
 * libmosquitto's harness wrapper does), and the subscriber must withhold PUBACK. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "petrel/mqtt.h"

/* Kills any broker a failed assertion left running. */
TestSuite(queue_policy, .fini = harness_fini);

/* Stops the broker and asserts it shut down cleanly on SIGTERM (exit 0): a crash or a
 * sanitizer report at exit must fail the test that provoked it. */
static void broker_stop_clean(struct broker *b)
{
	int st = broker_stop(b);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "broker did not exit cleanly (wait status 0x%x)", (unsigned)st);
}

/* ---- raw MQTT client ------------------------------------------------------------- */

/* One packet from the broker, copied out of the receive buffer. */
struct rpkt {
	enum mqtt_type type;
	uint8_t flags;             /* low nibble of the fixed header */
	bool dup;                  /* PUBLISH */
	bool retain;               /* PUBLISH */
	uint8_t qos;               /* PUBLISH */
	uint16_t id;               /* PUBLISH (qos > 0), PUBACK..PUBCOMP, SUBACK, UNSUBACK */
	char topic[256];           /* PUBLISH, NUL terminated */
	uint8_t payload[1024];     /* PUBLISH */
	size_t payload_len;
	bool session_present;      /* CONNACK */
	uint8_t rc;                /* CONNACK */
	uint8_t codes[16];         /* SUBACK return codes */
	size_t ncodes;
};

/* Waits <= timeout_ms for the first byte of a packet, then reads the rest (<= 2 s) and
 * decodes it with the strict codec, so a malformed packet from the broker fails the
 * test. Returns 1 with <p> filled, 0 if nothing arrived in time, -1 on EOF, a short
 * read or a packet the codec rejects. Uses poll itself because raw_recv cannot tell a
 * timeout from EOF, and "nothing arrived" must not pass on a closed connection. */
static int rx_packet(int fd, struct rpkt *p, int timeout_ms)
{
	uint8_t buf[4096];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int pr;

	memset(p, 0, sizeof *p);
	pr = poll(&pfd, 1, timeout_ms);
	if (pr == 0)
		return 0;
	if (pr < 0 || recv(fd, buf, 1, 0) != 1)
		return -1;
	size_t len = 1;
	size_t rem = 0;
	unsigned shift = 0;
	for (;;) {
		if (len > 4 || raw_recv(fd, buf + len, 1, 2000) != 1)
			return -1;
		rem |= (size_t)(buf[len] & 0x7f) << shift;
		shift += 7;
		if (!(buf[len++] & 0x80))
			break;
	}
	if (rem > sizeof buf - len)
		return -1;
	if (rem > 0 && raw_recv(fd, buf + len, rem, 2000) != (ssize_t)rem)
		return -1;
	len += rem;

	struct mqtt_pkt pkt;
	if (mqtt_decode(buf, len, sizeof buf, &pkt) != (ssize_t)len)
		return -1;
	p->type = pkt.type;
	p->flags = pkt.flags;
	switch (pkt.type) {
	case MQTT_CONNACK:
		p->session_present = pkt.u.connack.session_present;
		p->rc = pkt.u.connack.return_code;
		break;
	case MQTT_PUBLISH: {
		const struct mqtt_publish *pub = &pkt.u.publish;
		p->dup = pub->dup;
		p->retain = pub->retain;
		p->qos = pub->qos;
		p->id = pub->packet_id;
		size_t tl = pub->topic.len < sizeof p->topic - 1 ? pub->topic.len
								  : sizeof p->topic - 1;
		memcpy(p->topic, pub->topic.ptr, tl);
		p->payload_len = pub->payload_len < sizeof p->payload ? pub->payload_len
								      : sizeof p->payload;
		memcpy(p->payload, pub->payload, p->payload_len);
		break;
	}
	case MQTT_SUBACK:
		p->id = pkt.u.suback.packet_id;
		p->ncodes = pkt.u.suback.count < sizeof p->codes ? pkt.u.suback.count
								 : sizeof p->codes;
		memcpy(p->codes, pkt.u.suback.return_codes, p->ncodes);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		p->id = pkt.u.packet_id;
		break;
	default:
		break;
	}
	return 1;
}

/* Reads the next packet and asserts it arrived within timeout_ms and is of <type>. */
static void rx_expect(int fd, struct rpkt *p, enum mqtt_type type, int timeout_ms)
{
	int r = rx_packet(fd, p, timeout_ms);

	cr_assert_eq(r, 1, "expected %s within %d ms, got %s", mqtt_type_name(type),
		     timeout_ms, r == 0 ? "nothing" : "EOF or a malformed packet");
	cr_assert_eq(p->type, type, "expected %s, got %s", mqtt_type_name(type),
		     mqtt_type_name(p->type));
}

/* Connects a raw 3.1.1 client (keepalive 60) and asserts CONNACK 0. Returns the fd;
 * <session_present> (may be NULL) gets the CONNACK flag. */
static int raw_session(struct broker *b, const char *id, bool clean, bool *session_present)
{
	int fd = raw_connect(b);
	struct mqtt_connect c = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = clean,
		.keep_alive = 60,
		.client_id = { .ptr = id, .len = (uint16_t)strlen(id) },
	};
	uint8_t buf[512];
	size_t n = mqtt_encode_connect(buf, sizeof buf, &c);
	struct rpkt p;

	cr_assert_gt(n, 0, "mqtt_encode_connect failed");
	cr_assert_eq(raw_send(fd, buf, n), 0);
	rx_expect(fd, &p, MQTT_CONNACK, 5000);
	cr_assert_eq(p.rc, 0, "CONNACK return code %u for %s", p.rc, id);
	if (session_present)
		*session_present = p.session_present;
	return fd;
}

static void tx_publish(int fd, const char *topic, const void *payload, size_t len,
		       uint8_t qos, bool retain, bool dup, uint16_t id)
{
	struct mqtt_publish pub = {
		.dup = dup,
		.qos = qos,
		.retain = retain,
		.topic = { .ptr = topic, .len = (uint16_t)strlen(topic) },
		.packet_id = id,
		.payload = payload,
		.payload_len = len,
	};
	uint8_t buf[2048];
	size_t n = mqtt_encode_publish(buf, sizeof buf, &pub);

	cr_assert_gt(n, 0, "mqtt_encode_publish failed");
	cr_assert_eq(raw_send(fd, buf, n), 0);
}

static void tx_ack(int fd, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];
	size_t n = mqtt_encode_ack(buf, type, id);

	cr_assert_eq(raw_send(fd, buf, n), 0);
}

/* Subscribes to one filter and returns the SUBACK return code. */
static uint8_t tx_subscribe(int fd, uint16_t id, const char *filter, uint8_t qos)
{
	struct mqtt_str f = { .ptr = filter, .len = (uint16_t)strlen(filter) };
	uint8_t buf[512];
	size_t n = mqtt_encode_subscribe(buf, sizeof buf, id, &f, &qos, 1);
	struct rpkt p;

	cr_assert_gt(n, 0, "mqtt_encode_subscribe failed");
	cr_assert_eq(raw_send(fd, buf, n), 0);
	rx_expect(fd, &p, MQTT_SUBACK, 5000);
	cr_assert_eq(p.id, id, "SUBACK packet id %u, sent %u", p.id, id);
	cr_assert_eq(p.ncodes, 1);
	return p.codes[0];
}

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

	broker_start(&b, 1, BASE_CONFIG "queue_full_policy backpressure\n");
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
