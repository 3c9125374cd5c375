/* test_qos.c - QoS 0/1/2 end to end against the real broker (MQTT 3.1.1 sections 4.3,
 * 4.4, 4.6): delivery QoS = min(published, granted), the publisher's and the
 * subscriber's acknowledgement flows, exactly-once for QoS 2 (also across a
 * reconnect), redelivery of unacknowledged messages when a persistent session comes
 * back (MQTT-4.4.0-1) and the outgoing inflight window.
 *
 * Packet-level checks use the raw MQTT client of raw_client.h, built on the project's
 * codec (include/petrel/mqtt.h): libmosquitto hides DUP flags and packet ids and always
 * acknowledges, which is exactly what these tests must control. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "petrel/mqtt.h"
#include "raw_client.h"

/* Kills any broker a failed assertion left running. */
TestSuite(qos, .fini = harness_fini);

/* ---- helpers ----------------------------------------------------------------------- */

/* Counts messages with payload <s> at <c> until the sentinel payload "end" arrives
 * (<= 5 s), then for a further 300 ms for late duplicates. */
static int count_until_end(struct client *c, const char *s)
{
	struct rx_msg m;
	int count = 0;
	bool end = false;
	uint64_t deadline = now_ms() + 5000;

	while (!end && now_ms() < deadline) {
		if (!client_wait_msg(c, &m, 100))
			continue;
		if (msg_payload_is(&m, "end"))
			end = true;
		else if (msg_payload_is(&m, s))
			count++;
	}
	cr_assert(end, "sentinel message never arrived");
	while (client_wait_msg(c, &m, 300))
		if (msg_payload_is(&m, s))
			count++;
	return count;
}

/* ---- delivery QoS = min(published, granted) ---------------------------------------- */

/* A raw subscriber at <sub_qos> receives one message published at <pub_qos> and must
 * see it at <want_qos>, then completes that QoS's flow and sees nothing more. */
static void check_delivery_qos(uint8_t pub_qos, uint8_t sub_qos, uint8_t want_qos)
{
	struct broker b;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	int fd = raw_session(&b, "sub", true, NULL);
	cr_assert_eq(tx_subscribe(fd, 1, "d/t", sub_qos), sub_qos, "SUBACK grants the request");
	struct client *pub = connected_client(&b, "pub", true);
	cr_assert_eq(client_publish(pub, "d/t", "x", 1, pub_qos, false), 0);

	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert_eq(p.qos, want_qos, "published at %u, subscribed at %u: delivered at %u",
		     pub_qos, sub_qos, p.qos);
	cr_assert_str_eq(p.topic, "d/t");
	cr_assert(payload_is(&p, "x"));
	cr_assert_not(p.dup, "first delivery must have DUP 0 (MQTT-3.3.1-3)");
	cr_assert_not(p.retain);
	if (want_qos == 1) {
		tx_ack(fd, MQTT_PUBACK, p.id);
	} else if (want_qos == 2) {
		uint16_t id = p.id;

		tx_ack(fd, MQTT_PUBREC, id);
		rx_expect(fd, &p, MQTT_PUBREL, 3000);
		cr_assert_eq(p.id, id, "PUBREL carries the PUBLISH's packet id");
		tx_ack(fd, MQTT_PUBCOMP, id);
	}
	/* No second copy and no retransmission once the flow is complete. */
	rx_nothing(fd, 300);
	cr_assert(broker_alive(&b));

	client_disconnect(pub);
	client_free(pub);
	close(fd);
	broker_stop_clean(&b);
}

Test(qos, publish_qos2_subscribe_qos1_delivers_qos1, .timeout = 30)
{
	check_delivery_qos(2, 1, 1);
}

Test(qos, publish_qos0_subscribe_qos1_delivers_qos0, .timeout = 30)
{
	check_delivery_qos(0, 1, 0);
}

Test(qos, publish_qos1_subscribe_qos2_delivers_qos1, .timeout = 30)
{
	check_delivery_qos(1, 2, 1);
}

Test(qos, publish_qos2_subscribe_qos2_delivers_qos2_with_pubrec_pubrel_pubcomp, .timeout = 30)
{
	check_delivery_qos(2, 2, 2);
}

/* ---- publisher leg ----------------------------------------------------------------- */

Test(qos, qos1_publish_gets_puback_with_same_packet_id, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "p/1", 1), 1);
	int fd = raw_session(&b, "rawpub", true, NULL);

	/* An id with both bytes non-zero catches byte-order mistakes. */
	tx_publish(fd, "p/1", "hello", 5, 1, false, false, 0x1234);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);
	cr_assert_eq(p.id, 0x1234, "PUBACK id 0x%04x", p.id);
	cr_assert(client_wait_msg(sub, &m, 3000), "subscriber got the message");
	cr_assert(msg_payload_is(&m, "hello"));
	cr_assert_eq(m.qos, 1);
	rx_nothing(fd, 200);

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

Test(qos, qos2_publish_gets_pubrec_then_pubrel_gets_pubcomp, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "p/2", 2), 2);
	int fd = raw_session(&b, "rawpub", true, NULL);

	tx_publish(fd, "p/2", "hello", 5, 2, false, false, 0x4321);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 0x4321, "PUBREC id 0x%04x", p.id);
	tx_ack(fd, MQTT_PUBREL, 0x4321);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 0x4321, "PUBCOMP id 0x%04x", p.id);
	/* Onward delivery may start at PUBLISH or at PUBREL (spec 4.3.3, methods A and B);
	 * either way the subscriber has it by now or soon after. */
	cr_assert(client_wait_msg(sub, &m, 3000), "subscriber got the message");
	cr_assert(msg_payload_is(&m, "hello"));
	cr_assert_eq(m.qos, 2);
	rx_nothing(fd, 200);

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

/* ---- exactly once ------------------------------------------------------------------ */

Test(qos, qos2_resent_publish_before_pubrel_is_delivered_once, .timeout = 30)
{
	struct broker b;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "eo/t", 2), 2);
	int fd = raw_session(&b, "rawpub", true, NULL);

	tx_publish(fd, "eo/t", "once", 4, 2, false, false, 7);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 7);
	/* The retransmission a publisher makes when it believes the PUBREC was lost: the
	 * broker must answer PUBREC again and must not forward a second copy. */
	tx_publish(fd, "eo/t", "once", 4, 2, false, true, 7);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 7, "second PUBREC id %u", p.id);
	tx_ack(fd, MQTT_PUBREL, 7);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 7);
	tx_publish(fd, "eo/t", "end", 3, 1, false, false, 8);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);

	cr_assert_eq(count_until_end(sub, "once"), 1, "QoS 2 message delivered exactly once");

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

/* After PUBCOMP the packet id is free again (MQTT-4.3.3-2): a new PUBLISH with the same
 * id is a new message, not a duplicate. Guards against over-eager deduplication. */
Test(qos, qos2_packet_id_reused_after_pubcomp_is_a_new_message, .timeout = 30)
{
	struct broker b;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "eo/t", 2), 2);
	int fd = raw_session(&b, "rawpub", true, NULL);

	for (int round = 0; round < 2; round++) {
		tx_publish(fd, "eo/t", "again", 5, 2, false, false, 7);
		rx_expect(fd, &p, MQTT_PUBREC, 3000);
		cr_assert_eq(p.id, 7);
		tx_ack(fd, MQTT_PUBREL, 7);
		rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
		cr_assert_eq(p.id, 7);
	}
	tx_publish(fd, "eo/t", "end", 3, 1, false, false, 8);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);

	cr_assert_eq(count_until_end(sub, "again"), 2, "two distinct messages delivered");

	close(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

Test(qos, qos2_resent_after_publisher_reconnect_is_delivered_once, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	bool sp = true;

	broker_start(&b, 1, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "eo/t", 2), 2);

	int fd = raw_session(&b, "eo-pub", false, &sp);
	cr_assert_not(sp, "a new persistent session has session present 0");
	tx_publish(fd, "eo/t", "once", 4, 2, false, false, 9);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 9);
	/* Connection lost before PUBREL: no DISCONNECT. */
	close(fd);

	fd = raw_session(&b, "eo-pub", false, &sp);
	cr_assert(sp, "the session (with id 9 awaiting PUBREL) survived: session present 1");
	/* The publisher cannot know whether PUBREC came, so it resends the PUBLISH
	 * (MQTT-4.4.0-1); the broker remembers id 9 and must not forward it again. */
	tx_publish(fd, "eo/t", "once", 4, 2, false, true, 9);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 9);
	tx_ack(fd, MQTT_PUBREL, 9);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 9);
	tx_publish(fd, "eo/t", "end", 3, 1, false, false, 10);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);

	cr_assert_eq(count_until_end(sub, "once"), 1, "QoS 2 message delivered exactly once");

	tx_disconnect(fd);
	client_disconnect(sub);
	client_free(sub);
	broker_stop_clean(&b);
}

/* ---- subscriber leg: redelivery on reconnect --------------------------------------- */

/* Starts a broker with a persistent raw subscriber "rs" on "rs/t" at <qos>, publishes
 * "m" at <qos> and returns the subscriber's fd with the PUBLISH read into <p>. */
static int persistent_raw_sub_with_one_message(struct broker *b, uint8_t qos,
					       struct client **pub, struct rpkt *p)
{
	int fd = raw_session(b, "rs", false, NULL);

	cr_assert_eq(tx_subscribe(fd, 1, "rs/t", qos), qos);
	*pub = connected_client(b, "pub", true);
	cr_assert_eq(client_publish(*pub, "rs/t", "m", 1, qos, false), 0);
	rx_expect(fd, p, MQTT_PUBLISH, 3000);
	cr_assert_eq(p->qos, qos);
	cr_assert_not(p->dup);
	cr_assert(payload_is(p, "m"));
	return fd;
}

/* Petrel resends only on reconnect (MQTT-4.4.0-1 forbids nothing else, but that is the
 * documented behaviour): an unacknowledged message is not repeated on a live
 * connection. */
Test(qos, qos1_unacked_not_resent_while_connected, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 1, &pub, &p);
	rx_nothing(fd, 1500);
	tx_ack(fd, MQTT_PUBACK, p.id);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

Test(qos, qos1_unacked_resent_with_dup_and_same_id_after_reconnect, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;
	bool sp = false;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 1, &pub, &p);
	uint16_t id = p.id;
	tx_disconnect(fd);   /* no PUBACK */

	fd = raw_session(&b, "rs", false, &sp);
	cr_assert(sp, "session present 1");
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert(p.dup, "redelivery has DUP 1");
	cr_assert_eq(p.id, id, "redelivery keeps packet id %u, got %u", id, p.id);
	cr_assert_eq(p.qos, 1);
	cr_assert_str_eq(p.topic, "rs/t");
	cr_assert(payload_is(&p, "m"));
	tx_ack(fd, MQTT_PUBACK, id);
	rx_nothing(fd, 300);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

Test(qos, qos2_without_pubrec_resent_with_dup_after_reconnect, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;
	bool sp = false;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 2, &pub, &p);
	uint16_t id = p.id;
	tx_disconnect(fd);   /* no PUBREC */

	fd = raw_session(&b, "rs", false, &sp);
	cr_assert(sp, "session present 1");
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert(p.dup, "redelivery has DUP 1");
	cr_assert_eq(p.id, id, "redelivery keeps packet id %u, got %u", id, p.id);
	cr_assert_eq(p.qos, 2);
	cr_assert(payload_is(&p, "m"));
	tx_ack(fd, MQTT_PUBREC, id);
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id);
	tx_ack(fd, MQTT_PUBCOMP, id);
	rx_nothing(fd, 300);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

Test(qos, qos2_pubrec_sent_pubcomp_missing_pubrel_resent_after_reconnect, .timeout = 30)
{
	struct broker b;
	struct client *pub;
	struct rpkt p;
	bool sp = false;

	broker_start(&b, 1, NULL);
	int fd = persistent_raw_sub_with_one_message(&b, 2, &pub, &p);
	uint16_t id = p.id;
	tx_ack(fd, MQTT_PUBREC, id);
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id);
	tx_disconnect(fd);   /* no PUBCOMP */

	fd = raw_session(&b, "rs", false, &sp);
	cr_assert(sp, "session present 1");
	/* The message itself is done with (the subscriber owns it since PUBREC): only the
	 * PUBREL is repeated (MQTT-4.4.0-1), never the PUBLISH. */
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id, "PUBREL resent for id %u, got %u", id, p.id);
	tx_ack(fd, MQTT_PUBCOMP, id);
	rx_nothing(fd, 300);

	tx_disconnect(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}

/* ---- inflight window --------------------------------------------------------------- */

Test(qos, inflight_window_limits_unacked_qos1_and_ack_releases_next_in_order, .timeout = 30)
{
	struct broker b;
	struct rpkt p;
	uint16_t ids[5];

	broker_start(&b, 1, "max_inflight_messages 2\n");
	int fd = raw_session(&b, "slow", true, NULL);
	cr_assert_eq(tx_subscribe(fd, 1, "w/t", 1), 1);
	struct client *pub = connected_client(&b, "pub", true);
	for (int i = 0; i < 5; i++) {
		char s[8];
		int n = snprintf(s, sizeof s, "%d", i);

		/* The broker acknowledges the publisher; the rest waits in the queue. */
		cr_assert_eq(client_publish(pub, "w/t", s, n, 1, false), 0);
	}

	/* Window of 2: messages 0 and 1 arrive, then nothing until an ack. */
	for (int i = 0; i < 2; i++) {
		char s[8];

		snprintf(s, sizeof s, "%d", i);
		rx_expect(fd, &p, MQTT_PUBLISH, 3000);
		cr_assert(payload_is(&p, s), "message %d in order", i);
		cr_assert_eq(p.qos, 1);
		ids[i] = p.id;
	}
	cr_assert_neq(ids[0], ids[1], "inflight messages have distinct packet ids");
	rx_nothing(fd, 500);

	/* Each PUBACK frees one slot and releases exactly the next queued message. */
	for (int i = 2; i < 5; i++) {
		char s[8];

		snprintf(s, sizeof s, "%d", i);
		tx_ack(fd, MQTT_PUBACK, ids[i - 2]);
		rx_expect(fd, &p, MQTT_PUBLISH, 3000);
		cr_assert(payload_is(&p, s), "message %d released in order", i);
		cr_assert_not(p.dup);
		ids[i] = p.id;
		cr_assert_neq(ids[i], ids[i - 1], "inflight messages have distinct packet ids");
		rx_nothing(fd, 300);
	}
	tx_ack(fd, MQTT_PUBACK, ids[3]);
	tx_ack(fd, MQTT_PUBACK, ids[4]);
	rx_nothing(fd, 300);
	cr_assert(broker_alive(&b));

	close(fd);
	client_disconnect(pub);
	client_free(pub);
	broker_stop_clean(&b);
}
