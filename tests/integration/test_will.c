/* test_will.c - Will Message (MQTT 3.1.1 section 3.1.2.5, MQTT-3.1.2-8..17). Petrel
 * publishes the will on every close that was not preceded by DISCONNECT: a dropped
 * socket, a keepalive timeout, a protocol error, a takeover by another connection with
 * the same client id. There is no will before the CONNECT was accepted. */
#include "harness.h"

#include <criterion/criterion.h>

#include <string.h>
#include <unistd.h>

TestSuite(will, .fini = harness_fini, .timeout = 30);

/* A client watching every will topic at <qos>. Keepalive 10, so it is also welcome on
 * a broker with max_keepalive 10. */
static struct client *will_watcher(struct broker *b, const char *id, int qos)
{
	struct client *s = client_new(b, id, true, 10);

	cr_assert_eq(client_connack_rc(s), 0);
	cr_assert_eq(client_subscribe(s, "will/#", qos), qos);
	return s;
}

static void expect_will(struct client *s, const char *topic, const char *payload, int qos,
			bool retain, int timeout_ms)
{
	struct rx_msg m;
	int len = (int)strlen(payload);

	cr_assert(client_wait_msg(s, &m, timeout_ms), "will on %s not published within %d ms",
		  topic, timeout_ms);
	cr_assert_str_eq(m.topic, topic);
	cr_assert(m.payload_len == len && memcmp(m.payload, payload, (size_t)len) == 0,
		  "will payload: expected \"%s\", got %d bytes", payload, m.payload_len);
	cr_assert_eq(m.qos, qos, "will on %s delivered at QoS %d, expected %d", topic, m.qos, qos);
	cr_assert_eq(m.retain, retain, "will on %s: retain flag %d, expected %d", topic,
		     (int)m.retain, (int)retain);
}

/* Proves a negative without a long sleep: give a will half a second to show up, then
 * send a marker through the same subscription; the marker must come first. */
static void expect_no_will(struct client *s, const char *why)
{
	struct rx_msg m;

	usleep(500 * 1000);
	cr_assert_eq(client_publish(s, "will/marker", "marker", 6, 1, false), 0);
	cr_assert(client_wait_msg(s, &m, 2000), "marker not received");
	cr_assert_str_eq(m.topic, "will/marker", "%s: a will was published on %s", why, m.topic);
}

Test(will, published_when_the_client_drops_the_connection)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *s = will_watcher(&b, "will-watch", 2);
	struct client *w = client_new_will(&b, "will-drop", true, 60, "will/drop", "gone", 1,
					   false);

	cr_assert_eq(client_connack_rc(w), 0);
	client_drop(w);
	/* Live delivery to an established subscription has retain 0 (MQTT-3.3.1-9). */
	expect_will(s, "will/drop", "gone", 1, false, 3000);
	client_free(w);
	client_disconnect(s);
	client_free(s);
	broker_stop_clean(&b);
}

Test(will, published_on_keepalive_timeout)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "will-ka", .clean = true, .keepalive = 1,
				      .will_topic = "will/keepalive", .will_payload = "timeout",
				      .will_qos = 1 };

	broker_start(&b, 1, NULL);
	struct client *s = will_watcher(&b, "will-watch", 1);
	int fd = raw_connect(&b);

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0);
	uint64_t t0 = now_ms();

	/* Silent from here on: after 1.5 s the broker gives up on us. */
	expect_will(s, "will/keepalive", "timeout", 1, false, 4000);
	cr_assert(now_ms() - t0 >= 1000, "will published before the keepalive ran out");
	cr_assert(raw_wait_closed(fd, 1000), "timed-out connection still open");
	close(fd);
	client_disconnect(s);
	client_free(s);
	broker_stop_clean(&b);
}

Test(will, published_on_protocol_error)
{
	/* PUBLISH with QoS 3 (MQTT-3.3.1-4). */
	static const uint8_t bad_publish[] = { 0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01 };
	struct broker b;
	struct raw_connect_opts o = { .client_id = "will-proto", .clean = true, .keepalive = 60,
				      .will_topic = "will/protocol", .will_payload = "malformed",
				      .will_qos = 1 };

	broker_start(&b, 1, NULL);
	struct client *s = will_watcher(&b, "will-watch", 1);
	int fd = raw_connect(&b);

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0);
	cr_assert_eq(raw_send(fd, bad_publish, sizeof(bad_publish)), 0);
	cr_assert(raw_wait_closed(fd, 2000), "malformed packet did not close the connection");
	expect_will(s, "will/protocol", "malformed", 1, false, 2000);
	close(fd);
	client_disconnect(s);
	client_free(s);
	broker_stop_clean(&b);
}

Test(will, not_published_after_disconnect)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *s = will_watcher(&b, "will-watch", 1);
	struct client *w = client_new_will(&b, "will-clean", true, 60, "will/clean", "nope", 1,
					   false);

	cr_assert_eq(client_connack_rc(w), 0);
	client_disconnect(w);
	expect_no_will(s, "after DISCONNECT (MQTT-3.1.2-10)");
	client_free(w);
	client_disconnect(s);
	client_free(s);
	broker_stop_clean(&b);
}

Test(will, not_published_when_the_connect_is_refused)
{
	struct broker b;
	/* keepalive 60 over max_keepalive 10: CONNACK 2, the session never started. */
	struct raw_connect_opts o = { .client_id = "will-refused", .clean = true,
				      .keepalive = 60, .will_topic = "will/refused",
				      .will_payload = "nope", .will_qos = 1 };

	broker_start(&b, 1, "max_keepalive 10\n");
	struct client *s = will_watcher(&b, "will-watch", 1);
	int fd = raw_connect(&b);

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 2);
	cr_assert(raw_wait_closed(fd, 2000));
	close(fd);
	expect_no_will(s, "after a refused CONNECT");
	client_disconnect(s);
	client_free(s);
	broker_stop_clean(&b);
}

Test(will, with_retain_is_retained_for_later_subscribers)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *s = will_watcher(&b, "will-watch", 1);
	struct client *w = client_new_will(&b, "will-retain", true, 60, "will/retained",
					   "last words", 1, true);

	cr_assert_eq(client_connack_rc(w), 0);
	client_drop(w);
	expect_will(s, "will/retained", "last words", 1, false, 3000);

	/* A subscription made afterwards gets it from the retained store, flagged. */
	struct client *late = client_new(&b, "will-late", true, 60);

	cr_assert_eq(client_connack_rc(late), 0);
	cr_assert_eq(client_subscribe(late, "will/retained", 1), 1);
	expect_will(late, "will/retained", "last words", 1, true, 2000);
	client_free(w);
	client_disconnect(late);
	client_free(late);
	client_disconnect(s);
	client_free(s);
	broker_stop_clean(&b);
}

Test(will, qos_2_will_is_delivered_at_each_subscribers_qos)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *s2 = will_watcher(&b, "will-watch-2", 2);
	struct client *s1 = will_watcher(&b, "will-watch-1", 1);
	struct client *w = client_new_will(&b, "will-qos2", true, 60, "will/qos2", "two", 2,
					   false);

	cr_assert_eq(client_connack_rc(w), 0);
	client_drop(w);
	/* Delivered at min(will QoS, granted QoS) (MQTT-3.8.4-6 applied to the will). */
	expect_will(s2, "will/qos2", "two", 2, false, 3000);
	expect_will(s1, "will/qos2", "two", 1, false, 3000);
	client_free(w);
	client_disconnect(s1);
	client_free(s1);
	client_disconnect(s2);
	client_free(s2);
	broker_stop_clean(&b);
}

Test(will, published_when_another_connection_takes_over_the_client_id)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *s = will_watcher(&b, "will-watch", 1);
	struct client *first = client_new_will(&b, "will-taken", true, 60, "will/takeover",
					       "replaced", 1, false);

	cr_assert_eq(client_connack_rc(first), 0);

	struct client *second = client_new(&b, "will-taken", true, 60);

	cr_assert_eq(client_connack_rc(second), 0);
	cr_assert(client_wait_disconnect(first, 2000), "first connection not closed on takeover");
	expect_will(s, "will/takeover", "replaced", 1, false, 2000);

	/* The new connection has no will: dropping it publishes nothing. */
	client_drop(second);
	expect_no_will(s, "the taking-over connection had no will");
	client_free(first);
	client_free(second);
	client_disconnect(s);
	client_free(s);
	broker_stop_clean(&b);
}
