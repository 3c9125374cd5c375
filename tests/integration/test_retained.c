/* test_retained.c - retained messages through the real broker (MQTT 3.1.1 section
 * 3.3.1.3): stored and sent to new subscribers with RETAIN 1, replaced, deleted by an
 * empty payload, matched by wildcards, forwarded live with RETAIN 0, delivered at
 * min(published, granted) QoS, and visible from every worker.
 *
 * Retained messages are always published at QoS 1 or 2 (waited for until acknowledged)
 * before the subscriber subscribes, so the broker has stored them by then; a QoS 0
 * retained publish is followed by an acknowledged one on the same connection, which the
 * broker handles in order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Kills any broker a failed assertion left running. */
TestSuite(retained, .fini = harness_fini);

static void publish_retained(struct client *pub, const char *topic, const char *payload,
			     int qos)
{
	cr_assert_eq(client_publish(pub, topic, payload, (int)strlen(payload), qos, true), 0,
		     "retained publish to %s not acknowledged", topic);
}

/* A new subscriber to <filter> at <qos>. */
static struct client *new_subscriber(struct broker *b, const char *id, const char *filter,
				     int qos)
{
	struct client *c = connected_client(b, id, true);

	cr_assert_eq(client_subscribe(c, filter, qos), qos, "SUBACK for %s", filter);
	return c;
}

Test(retained, new_subscriber_receives_retained_with_retain_flag, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *pub = connected_client(&b, "pub", true);
	publish_retained(pub, "r/a", "hello", 1);

	struct client *sub = new_subscriber(&b, "sub", "r/a", 1);
	cr_assert(client_wait_msg(sub, &m, 3000), "retained message delivered on subscribe");
	cr_assert_str_eq(m.topic, "r/a");
	cr_assert(msg_payload_is(&m, "hello"));
	cr_assert(m.retain, "sent because of a new subscription: RETAIN 1 (MQTT-3.3.1-8)");
	cr_assert_eq(m.qos, 1);
	cr_assert_not(client_wait_msg(sub, &m, 300), "only one retained message");

	client_close(sub);
	client_close(pub);
	broker_stop_clean(&b);
}

Test(retained, replaced_retained_message_only_newest_delivered, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *pub = connected_client(&b, "pub", true);
	publish_retained(pub, "r/a", "v1", 1);
	publish_retained(pub, "r/a", "v2", 1);

	struct client *sub = new_subscriber(&b, "sub", "r/a", 1);
	cr_assert(client_wait_msg(sub, &m, 3000), "retained message delivered");
	cr_assert(msg_payload_is(&m, "v2"), "got \"%.*s\", want the newest \"v2\"",
		  m.payload_len, (const char *)m.payload);
	cr_assert(m.retain);
	cr_assert_not(client_wait_msg(sub, &m, 300), "the replaced value was also sent");

	client_close(sub);
	client_close(pub);
	broker_stop_clean(&b);
}

/* MQTT-3.3.1-10/11: a retained PUBLISH with an empty payload removes the retained
 * message and is itself not stored; it is still forwarded to current subscribers. */
Test(retained, empty_retained_payload_deletes_retained_message, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *pub = connected_client(&b, "pub", true);
	struct client *live = new_subscriber(&b, "live", "r/a", 1);
	publish_retained(pub, "r/a", "hello", 1);
	cr_assert(client_wait_msg(live, &m, 3000));
	cr_assert(msg_payload_is(&m, "hello"));

	cr_assert_eq(client_publish(pub, "r/a", "", 0, 1, true), 0);
	cr_assert(client_wait_msg(live, &m, 3000), "the empty message is forwarded as normal");
	cr_assert_eq(m.payload_len, 0);
	cr_assert_str_eq(m.topic, "r/a");

	struct client *sub = new_subscriber(&b, "sub", "r/a", 1);
	cr_assert_not(client_wait_msg(sub, &m, 500),
		      "retained message still delivered after deletion (payload \"%.*s\")",
		      m.payload_len, (const char *)m.payload);
	/* Also through a wildcard, which walks the store differently. */
	struct client *wild = new_subscriber(&b, "wild", "r/#", 1);
	cr_assert_not(client_wait_msg(wild, &m, 500), "deleted retained message found via r/#");

	client_close(wild);
	client_close(sub);
	client_close(live);
	client_close(pub);
	broker_stop_clean(&b);
}

Test(retained, wildcard_subscription_receives_every_matching_retained, .timeout = 30)
{
	static const char *const topics[] = { "w/1", "w/2", "w/x/3", "other/1", "w" };
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *pub = connected_client(&b, "pub", true);
	for (int i = 0; i < 5; i++)
		publish_retained(pub, topics[i], topics[i], 1);

	/* "w/#" matches w/1, w/2, w/x/3 and the parent "w"; "w/+" only w/1 and w/2. */
	static const struct {
		const char *filter;
		unsigned expect;   /* bit i: topics[i] */
	} cases[] = {
		{ "w/#", 0x1 | 0x2 | 0x4 | 0x10 },
		{ "w/+", 0x1 | 0x2 },
		{ "+/1", 0x1 | 0x8 },
		{ "#", 0x1f },
	};
	for (int c = 0; c < 4; c++) {
		char id[16];
		unsigned got = 0;
		int want = __builtin_popcount(cases[c].expect);
		int n = 0;

		snprintf(id, sizeof id, "sub%d", c);
		struct client *sub = new_subscriber(&b, id, cases[c].filter, 1);
		while (n < want && client_wait_msg(sub, &m, 3000)) {
			int t = -1;

			for (int i = 0; i < 5; i++)
				if (strcmp(topics[i], m.topic) == 0)
					t = i;
			cr_assert_geq(t, 0, "%s: unknown topic %s", cases[c].filter, m.topic);
			cr_assert_not(got & (1u << t), "%s: %s delivered twice", cases[c].filter,
				      m.topic);
			cr_assert(msg_payload_is(&m, m.topic), "payload belongs to its topic");
			cr_assert(m.retain, "%s: %s without RETAIN 1", cases[c].filter, m.topic);
			got |= 1u << t;
			n++;
		}
		cr_assert_not(client_wait_msg(sub, &m, 300), "%s: unexpected extra %s",
			      cases[c].filter, m.topic);
		cr_assert_eq(got, cases[c].expect, "%s: got topic set 0x%x, want 0x%x",
			     cases[c].filter, got, cases[c].expect);
		client_close(sub);
	}

	client_close(pub);
	broker_stop_clean(&b);
}

/* MQTT-3.3.1-9: a message forwarded to an existing subscription has RETAIN 0, whatever
 * the publisher set; only the copy sent for a new subscription has RETAIN 1. */
Test(retained, live_forward_of_retained_publish_has_retain_flag_0, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *pub = connected_client(&b, "pub", true);
	struct client *live = new_subscriber(&b, "live", "l/t", 1);
	publish_retained(pub, "l/t", "now", 1);
	cr_assert(client_wait_msg(live, &m, 3000), "live subscriber got the message");
	cr_assert(msg_payload_is(&m, "now"));
	cr_assert_not(m.retain, "live forward must have RETAIN 0 (MQTT-3.3.1-9)");

	struct client *late = new_subscriber(&b, "late", "l/t", 1);
	cr_assert(client_wait_msg(late, &m, 3000), "new subscriber got the retained copy");
	cr_assert(msg_payload_is(&m, "now"));
	cr_assert(m.retain, "retained copy for a new subscription has RETAIN 1");

	client_close(late);
	client_close(live);
	client_close(pub);
	broker_stop_clean(&b);
}

/* Retained copies follow the same rule as live ones (MQTT-3.8.4-6 / 3.3.5): delivered
 * at min(QoS it was published with, granted QoS). */
Test(retained, retained_delivered_at_min_of_published_and_granted_qos, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *pub = connected_client(&b, "pub", true);
	/* QoS 0 first: the acknowledged QoS 1 and 2 publishes after it on the same
	 * connection prove it was processed. */
	cr_assert_eq(client_publish(pub, "q/0", "0", 1, 0, true), 0);
	publish_retained(pub, "q/1", "1", 1);
	publish_retained(pub, "q/2", "2", 2);

	for (int granted = 0; granted <= 2; granted++) {
		char id[16];
		int got[3] = { -1, -1, -1 };

		snprintf(id, sizeof id, "sub%d", granted);
		struct client *sub = new_subscriber(&b, id, "q/+", granted);
		for (int n = 0; n < 3 && client_wait_msg(sub, &m, 3000); n++) {
			int t = m.topic[2] - '0';

			cr_assert(t >= 0 && t <= 2 && got[t] < 0, "unexpected %s", m.topic);
			cr_assert(m.retain);
			got[t] = m.qos;
		}
		for (int t = 0; t <= 2; t++) {
			int want = t < granted ? t : granted;

			cr_expect_eq(got[t], want, "q/%d (published QoS %d), granted %d: delivered "
				     "at %d, want %d", t, t, granted, got[t], want);
		}
		cr_assert_not(client_wait_msg(sub, &m, 300), "extra %s", m.topic);
		client_close(sub);
	}

	client_close(pub);
	broker_stop_clean(&b);
}

/* With 4 workers, a retained message stored through one connection must be visible to
 * new subscribers on every worker. 8 subscribers connected one after another land on
 * several workers whatever the assignment policy (unless it pins everything on one,
 * which the fan-out tests would notice). */
Test(retained, retained_delivered_across_workers, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 4, NULL);
	struct client *pub = connected_client(&b, "pub", true);
	publish_retained(pub, "x/r", "everywhere", 1);

	for (int i = 0; i < 8; i++) {
		char id[16];

		snprintf(id, sizeof id, "sub%d", i);
		struct client *sub = new_subscriber(&b, id, i % 2 ? "x/#" : "x/r", 1);
		cr_assert(client_wait_msg(sub, &m, 3000), "subscriber %d: no retained message",
			  i);
		cr_assert(msg_payload_is(&m, "everywhere"));
		cr_assert(m.retain);
		cr_assert_eq(m.qos, 1);
		client_close(sub);
	}

	/* A replacement published from another connection (maybe another worker) is what
	 * every later subscriber sees. */
	struct client *pub2 = connected_client(&b, "pub2", true);
	publish_retained(pub2, "x/r", "replaced", 2);
	for (int i = 0; i < 4; i++) {
		char id[16];

		snprintf(id, sizeof id, "later%d", i);
		struct client *sub = new_subscriber(&b, id, "x/r", 2);
		cr_assert(client_wait_msg(sub, &m, 3000), "later subscriber %d: nothing", i);
		cr_assert(msg_payload_is(&m, "replaced"), "subscriber %d got \"%.*s\"", i,
			  m.payload_len, (const char *)m.payload);
		cr_assert_eq(m.qos, 2);
		cr_assert_not(client_wait_msg(sub, &m, 200), "stale copy also delivered");
		client_close(sub);
	}

	cr_assert(broker_alive(&b));
	client_close(pub2);
	client_close(pub);
	broker_stop_clean(&b);
}

/* retain_available false: nothing is stored, the message still reaches live
 * subscribers (as a normal message, RETAIN 0). */
Test(retained, retain_available_false_stores_nothing_but_still_delivers, .timeout = 30)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, "retain_available false\n");
	struct client *live = new_subscriber(&b, "live", "r/off", 1);
	struct client *pub = connected_client(&b, "pub", true);
	publish_retained(pub, "r/off", "kept?", 1);

	cr_assert(client_wait_msg(live, &m, 3000), "live subscriber gets the message");
	cr_assert(msg_payload_is(&m, "kept?"));
	cr_assert_not(m.retain);

	struct client *late = new_subscriber(&b, "late", "r/off", 1);
	cr_assert_not(client_wait_msg(late, &m, 500), "nothing was retained");

	client_close(late);
	client_close(pub);
	client_close(live);
	broker_stop_clean(&b);
}
