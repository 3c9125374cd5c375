/* test_protocol.c - protocol details at the edges of a connection: the first packet
 * (MQTT-3.1.0-1) judged by its fixed header alone, MQTT 3.1 ("MQIsdp", level 3)
 * clients getting 3.1's CONNACK and DUP rules while 3.1.1 stays strict, and a broker
 * without persistence leaving no data directory behind. */
#include "harness.h"
#include "raw_client.h"

#include <criterion/criterion.h>
#include <mosquitto.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(protocol, .fini = harness_fini, .timeout = 60);

/* 200 MB announced: far more than the test ever sends. */
#define HUGE_BODY (200u * 1024u * 1024u)

/* Sends only a fixed header: <first_byte> and a remaining length of <rl>. */
static void send_fixed_header(int fd, uint8_t first_byte, uint32_t rl)
{
	uint8_t hdr[5];

	hdr[0] = first_byte;
	cr_assert_eq(raw_send(fd, hdr, 1 + mqtt_varint_encode(hdr + 1, rl)), 0);
}

/* connect_timeout is 60 s here, so a close within 2 s is the broker's own decision. */
#define SLOW_TIMEOUT "connect_timeout 60\n"

Test(protocol, first_packet_publish_header_is_refused_before_its_body)
{
	struct broker b;

	broker_start(&b, 1, SLOW_TIMEOUT);
	int fd = raw_connect(&b);

	send_fixed_header(fd, MQTT_PUBLISH << 4, HUGE_BODY);
	cr_assert(raw_wait_closed(fd, 2000), "a PUBLISH header as the first bytes must close "
		  "the connection at once (MQTT-3.1.0-1), not wait for 200 MB");
	close(fd);
	cr_assert(broker_log_contains(&b, "first packet is not CONNECT"));

	/* One byte is enough to know. */
	fd = raw_connect(&b);
	cr_assert_eq(raw_send(fd, (uint8_t[]){ MQTT_SUBSCRIBE << 4 | 2 }, 1), 0);
	cr_assert(raw_wait_closed(fd, 2000), "a SUBSCRIBE type byte alone must close it");
	close(fd);
	broker_stop_clean(&b);
}

Test(protocol, connect_announcing_more_than_a_connect_can_hold_is_refused_at_once)
{
	struct broker b;

	broker_start(&b, 1, SLOW_TIMEOUT);
	int fd = raw_connect(&b);

	send_fixed_header(fd, MQTT_CONNECT << 4, HUGE_BODY);
	cr_assert(raw_wait_closed(fd, 2000), "a CONNECT of 200 MB cannot be well formed "
		  "(five 64 KiB fields at most): close at once");
	close(fd);

	/* The largest legal CONNECT size is still waited for. */
	fd = raw_connect(&b);
	send_fixed_header(fd, MQTT_CONNECT << 4, 12 + 5 * (2 + 65535));
	rx_nothing(fd, 500);
	close(fd);
	broker_stop_clean(&b);
}

/* Connects a raw client with protocol <level> and returns the fd; CONNACK 0 asserted,
 * its session present flag (byte 1 bit 0) in *present. */
static int raw_level_session(struct broker *b, uint8_t level, const char *id, bool clean,
			     bool *present)
{
	struct raw_connect_opts o = { .client_id = id, .clean = clean, .keepalive = 60,
				      .level = level };
	int fd = raw_connect(b);

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, present), 0, "CONNECT level %u refused",
		     (unsigned)level);
	return fd;
}

Test(protocol, mqtt31_connack_byte_1_is_reserved_zero_on_resume)
{
	struct broker b;
	bool present = true;

	broker_start(&b, 1, NULL);
	int fd = raw_level_session(&b, MQTT_PROTO_V31, "v31-resume", false, &present);

	cr_assert_not(present);
	cr_assert_eq(tx_subscribe(fd, 1, "v31/t", 1), 1);
	tx_disconnect(fd);
	/* The session is resumed, but 3.1 has no Session Present flag: the byte is
	 * reserved and must be 0 (3.1 section 3.2). */
	fd = raw_level_session(&b, MQTT_PROTO_V31, "v31-resume", false, &present);
	cr_assert_not(present, "a 3.1 CONNACK must carry 0 in its reserved first byte");
	tx_disconnect(fd);

	/* 3.1.1 keeps its flag (MQTT-3.2.2-2). */
	fd = raw_level_session(&b, MQTT_PROTO_V311, "v311-resume", false, &present);
	tx_disconnect(fd);
	fd = raw_level_session(&b, MQTT_PROTO_V311, "v311-resume", false, &present);
	cr_assert(present, "3.1.1 resume must report session present 1");
	tx_disconnect(fd);
	broker_stop_clean(&b);
}

/* Sends SUBSCRIBE (one filter, QoS 1) with fixed header byte <first>. */
static void send_subscribe(int fd, uint8_t first, uint16_t id, const char *filter)
{
	struct raw_pkt p;

	raw_pkt_init(&p);
	raw_pkt_u16(&p, id);
	raw_pkt_str(&p, filter);
	raw_pkt_u8(&p, 1);
	cr_assert_eq(raw_pkt_send(fd, &p, first), 0);
}

static void send_unsubscribe(int fd, uint8_t first, uint16_t id, const char *filter)
{
	struct raw_pkt p;

	raw_pkt_init(&p);
	raw_pkt_u16(&p, id);
	raw_pkt_str(&p, filter);
	cr_assert_eq(raw_pkt_send(fd, &p, first), 0);
}

#define DUP 0x08

Test(protocol, mqtt31_accepts_dup_on_subscribe_unsubscribe_and_pubrel)
{
	struct broker b;
	struct rpkt p;

	broker_start(&b, 1, NULL);
	int fd = raw_level_session(&b, MQTT_PROTO_V31, "v31-dup", true, NULL);

	/* 3.1 section 2.1: DUP is set when a client re-delivers SUBSCRIBE, UNSUBSCRIBE
	 * or PUBREL, which carry QoS 1 there. */
	send_subscribe(fd, MQTT_SUBSCRIBE << 4 | 2 | DUP, 7, "v31/dup");
	rx_expect(fd, &p, MQTT_SUBACK, 2000);
	cr_assert_eq(p.id, 7);
	cr_assert_eq(p.codes[0], 1);

	/* A topic nobody subscribed to: only our own QoS 2 flow comes back. */
	tx_publish(fd, "v31/nobody", "x", 1, 2, false, false, 9);
	rx_expect(fd, &p, MQTT_PUBREC, 2000);
	cr_assert_eq(p.id, 9);
	cr_assert_eq(raw_send(fd, (uint8_t[]){ MQTT_PUBREL << 4 | 2 | DUP, 2, 0, 9 }, 4), 0);
	rx_expect(fd, &p, MQTT_PUBCOMP, 2000);
	cr_assert_eq(p.id, 9);

	send_unsubscribe(fd, MQTT_UNSUBSCRIBE << 4 | 2 | DUP, 8, "v31/dup");
	rx_expect(fd, &p, MQTT_UNSUBACK, 2000);
	cr_assert_eq(p.id, 8);
	cr_assert(raw_ping(fd, 2000));
	tx_disconnect(fd);
	broker_stop_clean(&b);
}

Test(protocol, mqtt311_still_refuses_dup_on_subscribe_and_pubrel)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = raw_level_session(&b, MQTT_PROTO_V311, "v311-sub", true, NULL);

	send_subscribe(fd, MQTT_SUBSCRIBE << 4 | 2 | DUP, 7, "a/b");
	cr_assert(raw_wait_closed(fd, 2000), "3.1.1 SUBSCRIBE flags must be 0010 "
		  "(MQTT-3.8.1-1)");
	close(fd);

	fd = raw_level_session(&b, MQTT_PROTO_V311, "v311-rel", true, NULL);
	cr_assert_eq(raw_send(fd, (uint8_t[]){ MQTT_PUBREL << 4 | 2 | DUP, 2, 0, 9 }, 4), 0);
	cr_assert(raw_wait_closed(fd, 2000), "3.1.1 PUBREL flags must be 0010 "
		  "(MQTT-3.6.1-1)");
	close(fd);
	broker_stop_clean(&b);
}

Test(protocol, mqtt31_libmosquitto_resume_sees_reserved_connack_byte)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 1, NULL);
	struct client *c = client_create("v31-lib-resume", false);

	cr_assert_eq(mosquitto_int_option(client_mosq(c), MOSQ_OPT_PROTOCOL_VERSION,
					  MQTT_PROTOCOL_V31), MOSQ_ERR_SUCCESS);
	cr_assert_eq(client_connect(c, &b, 60), 0);
	cr_assert_eq(client_subscribe(c, "v31lib/t", 2), 2);
	client_disconnect(c);
	client_free(c);

	c = client_create("v31-lib-resume", false);
	cr_assert_eq(mosquitto_int_option(client_mosq(c), MOSQ_OPT_PROTOCOL_VERSION,
					  MQTT_PROTOCOL_V31), MOSQ_ERR_SUCCESS);
	cr_assert_eq(client_connect(c, &b, 60), 0);
	cr_assert_not(client_session_present(c), "3.1: CONNACK byte 1 is reserved, 0");
	/* The session did survive: the subscription still delivers, QoS 2 both ways. */
	cr_assert_eq(client_publish(c, "v31lib/t", "q2", 2, 2, false), 0);
	cr_assert(client_wait_msg(c, &m, 5000));
	cr_assert(msg_payload_is(&m, "q2"));
	cr_assert_eq(m.qos, 2);
	client_close(c);
	broker_stop_clean(&b);
}

/* True if <dir> holds an entry named <name>. */
static bool dir_has(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

Test(protocol, no_data_directory_is_created_while_persistence_is_off)
{
	char cwd[] = "/tmp/petrel-cwd-XXXXXX";
	struct broker b;

	cr_assert(mkdtemp(cwd), "mkdtemp: %s", strerror(errno));
	struct broker_opts o = { .workers = 1, .cwd = cwd,
				 .extra_config = "persistence false\n" };

	broker_start_opts(&b, &o);
	struct client *c = connected_client(&b, "nodata", false);

	client_close(c);
	broker_stop_clean(&b);
	cr_assert_not(dir_has(cwd, "data"), "persistence is off: ./data must not appear");
	cr_assert_eq(rmdir(cwd), 0, "the broker left something in its working directory");
}
