/* test_connect.c - CONNECT / CONNACK / DISCONNECT (MQTT 3.1.1 section 3.1, 3.2, 3.14)
 * against the real broker, with libmosquitto where a real client can say it and raw
 * sockets where it cannot (zero-length ids, refused protocol levels, packet order). */
#include "harness.h"

#include <criterion/criterion.h>
#include <mosquitto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(connect, .fini = harness_fini, .timeout = 30);

/* SIGTERM must end the broker with status 0. */
/* A refused CONNECT gets exactly one CONNACK with <rc>, then the server closes
 * (MQTT-3.2.2-5). */
static void expect_refused_raw(struct broker *b, const struct raw_connect_opts *o, int rc,
			       const char *what)
{
	int fd = raw_connect(b);
	bool sp = true;
	int got = raw_mqtt_connect_opts(fd, o, &sp);

	cr_assert_eq(got, rc, "%s: expected CONNACK %d, got %d (-1: none or not a CONNACK)",
		     what, rc, got);
	cr_assert_not(sp, "%s: a refused CONNACK must have session present 0 (MQTT-3.2.2-4)",
		      what);
	cr_assert(raw_wait_closed(fd, 2000), "%s: connection not closed after CONNACK %d", what,
		  rc);
	close(fd);
}

/* Two clients can still talk through the broker: <sub> subscribed to <topic> gets what
 * <pub> publishes. */
static void expect_delivery(struct client *pub, struct client *sub, const char *topic)
{
	struct rx_msg m;

	cr_assert_eq(client_subscribe(sub, topic, 1), 1);
	cr_assert_eq(client_publish(pub, topic, "ping", 4, 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 2000), "no message on %s", topic);
	cr_assert_str_eq(m.topic, topic);
	cr_assert_eq(m.payload_len, 4);
	cr_assert_eq(memcmp(m.payload, "ping", 4), 0);
}

Test(connect, new_session_is_accepted_with_session_present_0)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *c = client_new(&b, "conn-new", true, 60);

	cr_assert_eq(client_connack_rc(c), 0);
	cr_assert_not(client_session_present(c), "clean session must report session present 0");
	client_disconnect(c);
	client_free(c);

	/* A persistent session that did not exist yet is new too (MQTT-3.2.2-3). */
	c = client_new(&b, "conn-new-persistent", false, 60);
	cr_assert_eq(client_connack_rc(c), 0);
	cr_assert_not(client_session_present(c), "no stored session: session present must be 0");
	client_disconnect(c);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, persistent_session_reconnect_has_session_present_1)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *c = client_new(&b, "conn-persist", false, 60);

	cr_assert_eq(client_connack_rc(c), 0);
	cr_assert_not(client_session_present(c));
	client_disconnect(c);
	client_free(c);

	c = client_new(&b, "conn-persist", false, 60);
	cr_assert_eq(client_connack_rc(c), 0);
	cr_assert(client_session_present(c), "stored session must be reported (MQTT-3.2.2-2)");
	client_disconnect(c);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, clean_session_discards_the_previous_persistent_session)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *c = client_new(&b, "conn-discard", false, 60);

	cr_assert_eq(client_connack_rc(c), 0);
	cr_assert_eq(client_subscribe(c, "discard/t", 1), 1);
	client_disconnect(c);
	client_free(c);

	/* cleanSession=1 throws the stored session away (MQTT-3.1.2-6)... */
	c = client_new(&b, "conn-discard", true, 60);
	cr_assert_eq(client_connack_rc(c), 0);
	cr_assert_not(client_session_present(c), "cleanSession=1 must report session present 0");
	client_disconnect(c);
	client_free(c);

	/* ...so the next persistent connect starts from nothing: no session present and
	 * no subscription left behind. */
	c = client_new(&b, "conn-discard", false, 60);
	cr_assert_eq(client_connack_rc(c), 0);
	cr_assert_not(client_session_present(c), "the old persistent session survived clean=1");

	struct client *pub = client_new(&b, "conn-discard-pub", true, 60);

	cr_assert_eq(client_connack_rc(pub), 0);
	cr_assert_eq(client_publish(pub, "discard/t", "x", 1, 1, false), 0);
	cr_assert_not(client_wait_msg(c, &m, 500), "old subscription still delivers to %s",
		      m.topic);
	client_disconnect(pub);
	client_free(pub);
	client_disconnect(c);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, zero_length_client_id_with_clean_session_is_accepted)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = raw_connect(&b);
	struct raw_connect_opts o = { .client_id = "", .clean = true, .keepalive = 60 };
	bool sp = true;

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, &sp), 0, "zero-length id, clean=1 (MQTT-3.1.3-6)");
	cr_assert_not(sp);
	cr_assert(raw_ping(fd, 2000), "connection with an assigned id does not work");
	close(fd);

	/* libmosquitto sends a zero-length id for a NULL id with clean session. */
	struct client *c = client_new(&b, NULL, true, 60);

	cr_assert_eq(client_connack_rc(c), 0);
	client_disconnect(c);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, zero_length_client_id_without_clean_session_gets_rc_2_and_close)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "", .clean = false, .keepalive = 60 };

	broker_start(&b, 1, NULL);
	expect_refused_raw(&b, &o, 2, "zero-length id, clean=0 (MQTT-3.1.3-8)");
	broker_stop_clean(&b);
}

Test(connect, mqtt31_mqisdp_is_accepted_on_a_raw_socket)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "v31-raw", .clean = true, .keepalive = 60,
				      .level = 3 };

	broker_start(&b, 1, NULL);
	int fd = raw_connect(&b);

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0, "MQIsdp level 3 must be accepted");
	cr_assert(raw_ping(fd, 2000));
	close(fd);
	broker_stop_clean(&b);
}

Test(connect, mqtt31_libmosquitto_client_is_accepted_and_works)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	struct client *c = client_create("v31-lib", true);

	cr_assert_eq(mosquitto_int_option(client_mosq(c), MOSQ_OPT_PROTOCOL_VERSION,
					  MQTT_PROTOCOL_V31), MOSQ_ERR_SUCCESS);
	cr_assert_eq(client_connect(c, &b, 60), 0);
	expect_delivery(c, c, "v31/echo");
	client_disconnect(c);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, mqtt31_client_id_longer_than_23_chars_gets_rc_2)
{
	struct broker b;
	/* 24 characters: one more than MQTT 3.1 allows. */
	struct raw_connect_opts o = { .client_id = "abcdefghijklmnopqrstuvwx", .clean = true,
				      .keepalive = 60, .level = 3 };

	broker_start(&b, 1, NULL);
	expect_refused_raw(&b, &o, 2, "MQTT 3.1 id of 24 chars");

	/* 23 is still fine. */
	int fd = raw_connect(&b);

	o.client_id = "abcdefghijklmnopqrstuvw";
	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0, "MQTT 3.1 id of 23 chars");
	close(fd);
	broker_stop_clean(&b);
}

Test(connect, protocol_level_6_gets_rc_1_and_close)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "lvl6", .clean = true, .keepalive = 60,
				      .level = 6 };

	broker_start(&b, 1, NULL);
	expect_refused_raw(&b, &o, 1, "protocol level 6 (MQTT-3.1.2-2)");
	broker_stop_clean(&b);
}

Test(connect, protocol_level_5_gets_rc_1_and_close)
{
	struct broker b;
	/* A real MQTT 5 CONNECT (with its property block): Petrel does not speak 5 yet. */
	struct raw_connect_opts o = { .client_id = "lvl5", .clean = true, .keepalive = 60,
				      .level = 5 };

	broker_start(&b, 1, NULL);
	expect_refused_raw(&b, &o, 1, "protocol level 5");
	broker_stop_clean(&b);
}

Test(connect, anonymous_client_gets_rc_5_when_anonymous_not_allowed)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "anon", .clean = true, .keepalive = 60 };

	broker_start(&b, 1, "allow_anonymous false\n");
	expect_refused_raw(&b, &o, 5, "no username, allow_anonymous false");

	struct client *c = client_new(&b, "anon-lib", true, 60);

	cr_assert_eq(client_connack_rc(c), 5);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, username_gets_rc_4_when_no_user_database_exists)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "user", .clean = true, .keepalive = 60,
				      .username = "alice", .password = "secret" };

	broker_start(&b, 1, "allow_anonymous false\n");
	expect_refused_raw(&b, &o, 4, "username+password, no user database");
	o.password = NULL;
	expect_refused_raw(&b, &o, 4, "username only, no user database");

	struct client *c = client_create("user-lib", true);

	cr_assert_eq(mosquitto_username_pw_set(client_mosq(c), "alice", "secret"),
		     MOSQ_ERR_SUCCESS);
	cr_assert_eq(client_connect(c, &b, 60), 4);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, max_connections_refuses_the_extra_client_with_rc_3)
{
	struct broker b;

	broker_start(&b, 1, "max_connections 2\n");
	/* broker_start's readiness probe was a TCP connection too; give the broker a
	 * moment to see it gone before counting. */
	usleep(200 * 1000);

	struct client *c1 = client_new(&b, "maxconn-1", true, 60);
	struct client *c2 = client_new(&b, "maxconn-2", true, 60);

	cr_assert_eq(client_connack_rc(c1), 0);
	cr_assert_eq(client_connack_rc(c2), 0);

	struct raw_connect_opts o = { .client_id = "maxconn-3", .clean = true, .keepalive = 60 };

	expect_refused_raw(&b, &o, 3, "third connection with max_connections 2");
	/* A crowd of refused clients costs one log line per episode, not one each. */
	for (int i = 0; i < 5; i++)
		expect_refused_raw(&b, &o, 3, "more connections with max_connections 2");
	cr_assert_eq(broker_log_count(&b, "max_connections (2) reached"), 1,
		     "logged once per episode");

	/* The two admitted clients are not affected. */
	expect_delivery(c1, c2, "maxconn/t");
	cr_assert(client_is_connected(c1));

	/* A freed slot can be used again (bounded retry: the broker notices the close
	 * asynchronously). */
	client_disconnect(c2);
	client_free(c2);
	int rc = -1, fd4 = -1;

	for (int i = 0; i < 20 && rc != 0; i++) {
		fd4 = raw_connect(&b);
		rc = raw_mqtt_connect(fd4, "maxconn-4");
		if (rc != 0) {
			close(fd4);
			usleep(100 * 1000);
		}
	}
	cr_assert_eq(rc, 0, "slot of a disconnected client was not freed");
	/* A client left: the next refusal starts a new episode, logged again. */
	expect_refused_raw(&b, &o, 3, "over the limit again");
	cr_assert_eq(broker_log_count(&b, "max_connections (2) reached"), 2);
	close(fd4);
	client_disconnect(c1);
	client_free(c1);
	broker_stop_clean(&b);
}

Test(connect, keepalive_above_max_keepalive_gets_rc_2)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "ka-60", .clean = true, .keepalive = 60 };

	broker_start(&b, 1, "max_keepalive 10\n");
	expect_refused_raw(&b, &o, 2, "keepalive 60 with max_keepalive 10");

	struct client *c = client_new(&b, "ka-60-lib", true, 60);

	cr_assert_eq(client_connack_rc(c), 2);
	client_free(c);

	/* The limit itself is allowed. */
	c = client_new(&b, "ka-10-lib", true, 10);
	cr_assert_eq(client_connack_rc(c), 0);
	client_disconnect(c);
	client_free(c);
	broker_stop_clean(&b);
}

Test(connect, keepalive_0_gets_rc_2_when_max_keepalive_is_set)
{
	struct broker b;
	/* docs: "a 3.1.1 client asking more (or 0) gets CONNACK 2", 0 meaning "never". */
	struct raw_connect_opts o = { .client_id = "ka-0", .clean = true, .keepalive = 0 };

	broker_start(&b, 1, "max_keepalive 10\n");
	expect_refused_raw(&b, &o, 2, "keepalive 0 with max_keepalive 10");
	broker_stop_clean(&b);
}

Test(connect, disconnect_makes_the_server_close_the_connection)
{
	static const uint8_t disconnect[2] = { 0xE0, 0x00 };
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = raw_connect(&b);

	cr_assert_eq(raw_mqtt_connect(fd, "bye"), 0);
	cr_assert_eq(raw_send(fd, disconnect, sizeof(disconnect)), 0);

	bool closed;
	size_t extra = raw_drain(fd, NULL, 0, 2000, &closed);

	cr_assert(closed, "server did not close after DISCONNECT (MQTT-3.14.4-1)");
	cr_assert_eq(extra, 0, "server answered DISCONNECT with %zu bytes", extra);
	close(fd);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

Test(connect, first_packet_not_connect_is_closed_without_connack)
{
	/* PINGREQ, a QoS 0 PUBLISH to "a" and a SUBSCRIBE to "a" at QoS 0. */
	static const uint8_t pingreq[] = { 0xC0, 0x00 };
	static const uint8_t publish[] = { 0x30, 0x04, 0x00, 0x01, 'a', 'x' };
	static const uint8_t subscribe[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00 };
	static const struct {
		const char *name;
		const uint8_t *bytes;
		size_t len;
	} cases[] = {
		{ "PINGREQ", pingreq, sizeof(pingreq) },
		{ "PUBLISH", publish, sizeof(publish) },
		{ "SUBSCRIBE", subscribe, sizeof(subscribe) },
	};
	struct broker b;

	broker_start(&b, 1, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = raw_connect(&b);
		bool closed;

		cr_assert_eq(raw_send(fd, cases[i].bytes, cases[i].len), 0);
		size_t got = raw_drain(fd, NULL, 0, 2000, &closed);

		cr_assert(closed, "%s before CONNECT: connection not closed (MQTT-3.1.0-1)",
			  cases[i].name);
		cr_assert_eq(got, 0, "%s before CONNECT: server sent %zu bytes", cases[i].name, got);
		close(fd);
	}
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

Test(connect, second_connect_on_the_same_connection_is_closed)
{
	struct broker b;
	struct raw_connect_opts o = { .client_id = "twice", .clean = true, .keepalive = 60 };
	uint8_t pkt[256];

	broker_start(&b, 1, NULL);
	int fd = raw_connect(&b);

	cr_assert_eq(raw_mqtt_connect(fd, "twice"), 0);
	size_t n = raw_build_connect(pkt, sizeof(pkt), &o);

	cr_assert(n > 0);
	cr_assert_eq(raw_send(fd, pkt, n), 0);

	bool closed;
	size_t got = raw_drain(fd, NULL, 0, 2000, &closed);

	cr_assert(closed, "second CONNECT must close the connection (MQTT-3.1.0-2)");
	cr_assert_eq(got, 0, "second CONNECT was answered with %zu bytes", got);
	close(fd);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

Test(connect, connection_that_never_sends_connect_is_closed_after_connect_timeout)
{
	struct broker b;

	broker_start(&b, 1, "connect_timeout 1\n");
	int fd = raw_connect(&b);
	uint64_t t0 = now_ms();
	bool closed = raw_wait_closed(fd, 5000);
	uint64_t took = now_ms() - t0;

	cr_assert(closed, "idle connection still open after 5 s with connect_timeout 1");
	cr_assert(took >= 800 && took <= 3500, "closed after %llu ms, expected ~1-3 s",
		  (unsigned long long)took);
	close(fd);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

/* SO_REUSEPORT must not let a second broker join a port that is in use: it would
 * silently take part of the first one's clients. */
Test(connect, second_broker_on_a_busy_port_refuses_to_start)
{
	harness_kernel_only("a second broker binding the same kernel port");
	struct broker b;
	char cmd[1024], out[2048];
	const char *bin = getenv("PETREL_BIN");
	int rc;

	cr_assert_not_null(bin);
	broker_start(&b, 2, NULL);
	/* The second one on a store of its own beside the first one's (persistence is
	 * on by default), removed with the first broker's directory, and no control
	 * socket (the default ./petrel.sock is shared with whatever runs beside). */
	snprintf(cmd, sizeof(cmd), "printf 'persistence_location %s2\ncontrol_socket none\n'"
		 " > %s2.conf && %s -c %s2.conf -p %u -w 2 2>&1", b.store_dir, b.store_dir,
		 bin, b.store_dir, b.port);
	rc = run_cmd(cmd, 10, out, sizeof(out));
	cr_assert(rc != 0 && rc != -1, "second broker on port %u exited %d", b.port, rc);
	cr_assert(strstr(out, "Address already in use") != NULL, "no clear error: %s", out);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}
