/* test_persist.c - persistence end to end (issue 8, docs/operations.md): the real
 * broker stopped (SIGTERM) or killed (SIGKILL) and started again on the same
 * persistence_location. Persistent sessions (cleanSession 0, MQTT 3.1.1 section
 * 3.1.2.4) come back with their subscriptions, queued messages in order, outgoing
 * inflight state (re-sent with DUP and the same packet ids, MQTT-4.4.0-1) and incoming
 * QoS 2 ids awaiting PUBREL (4.3.3); retained messages come back (3.3.1.3);
 * cleanSession 1 sessions do not. persistent_client_expiration ends offline sessions,
 * also across a restart. A full disk holds acknowledgements of stored messages, and
 * nothing acknowledged is lost. The kill -9 rounds are in test_persist_crash.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "persist_clients.h"
#include "petrel/mqtt.h"
#include "raw_client.h"

TestSuite(persist, .fini = harness_fini);

/* ---- helpers ----------------------------------------------------------------------- */

/* A persistent session <id> with <n> subscriptions, left offline. */
static void rt_offline_session(struct broker *b, const char *id, const char *const *filters,
			       const int *qos, size_t n)
{
	struct client *c = connected_client(b, id, false);

	cr_assert_not(client_session_present(c), "%s: a new session", id);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(client_subscribe(c, filters[i], qos[i]), qos[i], "%s: SUBACK %s", id,
			     filters[i]);
	client_close(c);
}

/* Connects <id> with cleanSession 0 and returns whether the broker had its session. */
static bool rt_session_present(struct broker *b, const char *id)
{
	struct client *c = connected_client(b, id, false);
	bool present = client_session_present(c);

	client_close(c);
	return present;
}

/* Stops with SIGTERM (the orderly path: everything flushed) and starts again on the
 * same store; waits for the start-up load's log line. */
static void rt_restart(struct broker *b)
{
	broker_stop_keep_clean(b);
	broker_restart(b);
	cr_assert(broker_wait_log(b, "store: loaded", 5000), "no start-up load line");
}

/* ---- 1. round trip over SIGTERM ---------------------------------------------------- */

/* Subscriptions at QoS 0, 1 and 2 with both wildcards work after a restart without a
 * new SUBSCRIBE, at the QoS granted before; a cleanSession 1 session, and a persistent
 * one ended by a cleanSession 1 connection (MQTT-3.1.2-6), are not brought back. */
Test(persist, restart_keeps_persistent_subscriptions_and_drops_clean_sessions, .timeout = 60)
{
	struct broker b;
	struct rx_msg m;
	static const char *const filters[] = { "rt/a/+", "rt/b/#", "rt/c" };
	static const int qos[] = { 0, 1, 2 };

	broker_start(&b, 2, NULL);
	rt_offline_session(&b, "rt-subs", filters, qos, 3);
	/* Ended before the restart by a cleanSession 1 connection (MQTT-3.1.2-6). */
	rt_offline_session(&b, "rt-ended", filters, qos, 1);
	client_close(connected_client(&b, "rt-ended", true));
	/* Online across the stop, cleanSession 1: nothing of it may be stored. */
	struct client *clean = connected_client(&b, "rt-clean", true);

	cr_assert_eq(client_subscribe(clean, "rt/#", 1), 1);
	rt_restart(&b);
	cr_assert(broker_log_contains(&b, "store: loaded 1 sessions"),
		  "only rt-subs is stored (rt-ended ended, rt-clean is cleanSession 1)");
	client_free(clean);

	struct client *sub = connected_client(&b, "rt-subs", false);

	cr_assert(client_session_present(sub), "session present 1 after a restart "
		  "(MQTT-3.2.2-2)");
	struct client *pub = connected_client(&b, "rt-pub", true);

	/* Delivered at min(2, granted) (MQTT 3.1.1 section 3.8.4); rt/d matches nothing. */
	cr_assert_eq(client_publish(pub, "rt/d", "none", 4, 2, false), 0);
	cr_assert_eq(client_publish(pub, "rt/a/x", "a", 1, 2, false), 0);
	cr_assert_eq(client_publish(pub, "rt/b/y/z", "b", 1, 2, false), 0);
	cr_assert_eq(client_publish(pub, "rt/c", "c", 1, 2, false), 0);
	static const char *const want[] = { "a", "b", "c" };

	for (int i = 0; i < 3; i++) {
		cr_assert(client_wait_msg(sub, &m, 3000), "message %s not delivered: the "
			  "subscription did not come back", want[i]);
		cr_assert(msg_payload_is(&m, want[i]), "got %s, want %s", m.topic, want[i]);
		cr_assert_eq(m.qos, i, "%s delivered at QoS %d, granted %d", m.topic, m.qos, i);
	}
	cr_assert_not(client_wait_msg(sub, &m, 300), "extra message on %s", m.topic);
	client_close(sub);

	cr_assert_not(rt_session_present(&b, "rt-ended"), "a session ended by cleanSession "
		      "1 came back");
	/* rt-clean's subscription rt/# would get this if it had come back. */
	struct client *again = connected_client(&b, "rt-clean", false);

	cr_assert_not(client_session_present(again), "a cleanSession 1 session came back");
	cr_assert_eq(client_publish(pub, "rt/x", "x", 1, 1, false), 0);
	cr_assert_not(client_wait_msg(again, &m, 500), "a cleanSession 1 subscription came "
		      "back");
	client_close(again);
	client_close(pub);
	broker_stop_clean(&b);
}

/* 200 messages (QoS 1 and 2 alternating) queued for an offline session come back in
 * order at their QoS; once delivered they are gone from the store (a second restart
 * brings back the session with nothing queued). */
Test(persist, restart_keeps_queued_messages_in_order, .timeout = 90)
{
	enum { N = 200 };
	struct broker b;
	struct rx_msg m;
	static const char *const filters[] = { "rt/q/#" };
	static const int qos[] = { 2 };

	broker_start(&b, 2, "max_queued_messages 1000\n");
	rt_offline_session(&b, "rt-queue", filters, qos, 1);
	struct client *pub = connected_client(&b, "rt-pub", true);

	for (int i = 0; i < N; i++) {
		char s[16];
		int n = snprintf(s, sizeof s, "%d", i);
		int q = 1 + i % 2;

		cr_assert_eq(client_publish(pub, q == 1 ? "rt/q/1" : "rt/q/2", s, n, q, false), 0,
			     "publish %d not acknowledged", i);
	}
	client_close(pub);
	rt_restart(&b);

	/* Raw, to see the PUBLISHes in the order they leave the broker: libmosquitto
	 * hands a QoS 2 message on only at PUBREL, after QoS 1 messages sent later. */
	bool sp = false;
	int fd = raw_session(&b, "rt-queue", false, &sp);
	struct rpkt p;
	int n = 0;

	cr_assert(sp, "session present 1 after a restart (MQTT-3.2.2-2)");
	while (n < N) {
		cr_assert_eq(rx_packet(fd, &p, 5000), 1, "%d of %d queued messages came back", n,
			     N);
		if (p.type == MQTT_PUBREL) {
			tx_ack(fd, MQTT_PUBCOMP, p.id);
			continue;
		}
		cr_assert_eq(p.type, MQTT_PUBLISH, "unexpected %s", mqtt_type_name(p.type));
		int seq = atoi((const char *)p.payload);

		cr_assert_eq(seq, n, "position %d holds message %d: the queue's order (MQTT "
			     "4.6.0) did not come back", n, seq);
		cr_assert_eq(p.qos, 1 + n % 2, "message %d at QoS %u", n, p.qos);
		tx_ack(fd, p.qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p.id);
		n++;
	}
	/* The last PUBRELs; then nothing more. */
	while (rx_packet(fd, &p, 300) == 1) {
		cr_assert_eq(p.type, MQTT_PUBREL, "extra %s after the queue",
			     mqtt_type_name(p.type));
		tx_ack(fd, MQTT_PUBCOMP, p.id);
	}
	/* A round trip (PINGREQ is answered after everything sent before it) so the broker
	 * has every PUBACK and PUBCOMP before the stop. */
	cr_assert(raw_ping(fd, 3000));
	tx_disconnect(fd);

	rt_restart(&b);
	struct client *sub = connected_client(&b, "rt-queue", false);

	cr_assert(client_session_present(sub));
	cr_assert_not(client_wait_msg(sub, &m, 500), "delivered message %s came back after "
		      "a second restart", (const char *)m.payload);
	client_close(sub);
	broker_stop_clean(&b);
}

/* A subscriber that received three messages and completed none: a QoS 1 awaiting
 * PUBACK, a QoS 2 awaiting PUBREC, a QoS 2 awaiting PUBCOMP (PUBREL sent). After the
 * restart the two PUBLISHes come again with DUP 1 and their packet ids, in their
 * order (MQTT-4.4.0-1, MQTT-4.6.0-1), and the PUBREL again. */
Test(persist, restart_resends_inflight_with_dup_and_same_packet_ids, .timeout = 60)
{
	struct broker b;
	struct rpkt p;
	bool sp = true;

	broker_start(&b, 2, NULL);
	int fd = raw_session(&b, "rt-raw", false, &sp);

	cr_assert_not(sp);
	cr_assert_eq(tx_subscribe(fd, 1, "rt/i", 2), 2);
	struct client *pub = connected_client(&b, "rt-pub", true);

	cr_assert_eq(client_publish(pub, "rt/i", "A", 1, 1, false), 0);
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert(payload_is(&p, "A") && p.qos == 1);
	uint16_t id_a = p.id;

	cr_assert_eq(client_publish(pub, "rt/i", "B", 1, 2, false), 0);
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert(payload_is(&p, "B") && p.qos == 2);
	uint16_t id_b = p.id;

	cr_assert_eq(client_publish(pub, "rt/i", "C", 1, 2, false), 0);
	rx_expect(fd, &p, MQTT_PUBLISH, 3000);
	cr_assert(payload_is(&p, "C") && p.qos == 2);
	uint16_t id_c = p.id;

	tx_ack(fd, MQTT_PUBREC, id_c);
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id_c);
	/* The PUBREL came: the broker has taken the PUBREC. No PUBCOMP. */
	client_close(pub);
	close(fd);
	rt_restart(&b);

	fd = raw_session(&b, "rt-raw", false, &sp);
	cr_assert(sp, "session present 1 after a restart");
	bool got_a = false, got_b = false, got_rel = false;

	for (int i = 0; i < 3; i++) {
		/* MQTT 4.6.0 orders the PUBLISHes among themselves, not the PUBREL
		 * among them. */
		cr_assert_eq(rx_packet(fd, &p, 3000), 1, "%d of 3 re-sent packets came", i);
		if (p.type == MQTT_PUBREL) {
			cr_assert_eq(p.id, id_c, "PUBREL for %u, want %u", p.id, id_c);
			got_rel = true;
			continue;
		}
		cr_assert_eq(p.type, MQTT_PUBLISH, "unexpected %s", mqtt_type_name(p.type));
		cr_assert(p.dup, "a re-sent PUBLISH has DUP 1 (MQTT-3.3.1-1)");
		if (payload_is(&p, "A")) {
			cr_assert_not(got_b, "A re-sent after B (MQTT-4.6.0-1)");
			cr_assert_eq(p.qos, 1);
			cr_assert_eq(p.id, id_a, "A re-sent with id %u, sent with %u", p.id, id_a);
			got_a = true;
		} else {
			cr_assert(payload_is(&p, "B"), "re-sent %.*s", (int)p.payload_len,
				  (const char *)p.payload);
			cr_assert_eq(p.qos, 2);
			cr_assert_eq(p.id, id_b, "B re-sent with id %u, sent with %u", p.id, id_b);
			got_b = true;
		}
	}
	cr_assert(got_a && got_b && got_rel, "A %d, B %d, PUBREL %d", got_a, got_b, got_rel);
	/* C was the subscriber's already (PUBREC): never sent again. */
	tx_ack(fd, MQTT_PUBACK, id_a);
	tx_ack(fd, MQTT_PUBREC, id_b);
	rx_expect(fd, &p, MQTT_PUBREL, 3000);
	cr_assert_eq(p.id, id_b);
	tx_ack(fd, MQTT_PUBCOMP, id_b);
	tx_ack(fd, MQTT_PUBCOMP, id_c);
	rx_nothing(fd, 300);
	tx_disconnect(fd);

	/* All three flows completed: nothing of them comes back. */
	rt_restart(&b);
	fd = raw_session(&b, "rt-raw", false, &sp);
	cr_assert(sp);
	rx_nothing(fd, 500);
	tx_disconnect(fd);
	broker_stop_clean(&b);
}

/* Retained messages (QoS 0 and 1, one replaced, one deleted by an empty payload,
 * MQTT-3.3.1-10) come back and go to a new subscriber with RETAIN 1 (MQTT-3.3.1-8). */
Test(persist, restart_keeps_retained_messages, .timeout = 60)
{
	struct broker b;
	struct rx_msg m;

	broker_start(&b, 2, NULL);
	struct client *pub = connected_client(&b, "rt-pub", true);

	cr_assert_eq(client_publish(pub, "rt/r/1", "keep1", 5, 1, true), 0);
	cr_assert_eq(client_publish(pub, "rt/r/0", "keep0", 5, 0, true), 0);
	cr_assert_eq(client_publish(pub, "rt/r/x", "gone", 4, 1, true), 0);
	cr_assert_eq(client_publish(pub, "rt/r/x", "", 0, 1, true), 0);
	cr_assert_eq(client_publish(pub, "rt/r/n", "old", 3, 1, true), 0);
	cr_assert_eq(client_publish(pub, "rt/r/n", "new", 3, 2, true), 0);
	/* The QoS 0 one is not acknowledged: a round trip shows it was taken. */
	cr_assert_eq(client_sync(pub), 0);
	client_close(pub);
	rt_restart(&b);

	struct client *sub = connected_client(&b, "rt-new", true);

	cr_assert_eq(client_subscribe(sub, "rt/r/#", 2), 2);
	bool got1 = false, got0 = false, gotn = false;

	for (int i = 0; i < 3; i++) {
		cr_assert(client_wait_msg(sub, &m, 3000), "%d of 3 retained messages came back",
			  i);
		cr_assert(m.retain, "%s without RETAIN 1", m.topic);
		if (strcmp(m.topic, "rt/r/1") == 0) {
			cr_assert(msg_payload_is(&m, "keep1") && m.qos == 1);
			got1 = true;
		} else if (strcmp(m.topic, "rt/r/0") == 0) {
			cr_assert(msg_payload_is(&m, "keep0") && m.qos == 0);
			got0 = true;
		} else {
			cr_assert_str_eq(m.topic, "rt/r/n", "deleted %s came back", m.topic);
			cr_assert(msg_payload_is(&m, "new"), "replaced retained message came back");
			cr_assert_eq(m.qos, 2);
			gotn = true;
		}
	}
	cr_assert(got1 && got0 && gotn);
	cr_assert_not(client_wait_msg(sub, &m, 300), "extra retained %s", m.topic);
	client_close(sub);
	broker_stop_clean(&b);
}

/* ---- 3. a QoS 2 flow across kill -9 ------------------------------------------------ */

/* Counts deliveries per payload at <c> until "end" arrives (<= 5 s), then 300 ms more
 * for late duplicates. */
static void count_payloads(struct client *c, const char *const *payloads, int *counts,
			   int n)
{
	struct rx_msg m;
	bool end = false;
	uint64_t deadline = now_ms() + 5000;

	while (now_ms() < deadline && !end) {
		if (!client_wait_msg(c, &m, 100))
			continue;
		end = msg_payload_is(&m, "end");
		for (int i = 0; i < n; i++)
			counts[i] += msg_payload_is(&m, payloads[i]);
	}
	cr_assert(end, "the end marker never arrived");
	while (client_wait_msg(c, &m, 300))
		for (int i = 0; i < n; i++)
			counts[i] += msg_payload_is(&m, payloads[i]);
}

/* A persistent publisher's QoS 2 PUBLISH got its PUBREC; the broker is killed; after
 * the restart the publisher's PUBREL is answered with PUBCOMP, and a PUBLISH it re-sends
 * because it never saw its PUBREC is recognised (the id awaiting PUBREL came back,
 * MQTT-4.3.3-2): the subscriber gets each message exactly once. */
Test(persist, pubrel_after_kill9_and_restart_completes_qos2_exactly_once, .timeout = 60)
{
	struct broker b;
	struct rpkt p;
	bool sp = true;
	static const char *const filters[] = { "p3/t" };
	static const int qos[] = { 2 };

	broker_start(&b, 2, NULL);
	rt_offline_session(&b, "p3-sub", filters, qos, 1);
	int fd = raw_session(&b, "p3-pub", false, &sp);

	cr_assert_not(sp);
	tx_publish(fd, "p3/t", "rel", 3, 2, false, false, 0x0102);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 0x0102);
	tx_publish(fd, "p3/t", "dup", 3, 2, false, false, 0x0203);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 0x0203);
	broker_kill(&b);
	close(fd);
	broker_restart(&b);

	fd = raw_session(&b, "p3-pub", false, &sp);
	cr_assert(sp, "the publisher's session survived kill -9");
	tx_ack(fd, MQTT_PUBREL, 0x0102);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 0x0102, "PUBCOMP for %u", p.id);
	/* MQTT-4.4.0-1: a publisher that has not seen PUBREC re-sends the PUBLISH. */
	tx_publish(fd, "p3/t", "dup", 3, 2, false, true, 0x0203);
	rx_expect(fd, &p, MQTT_PUBREC, 3000);
	cr_assert_eq(p.id, 0x0203);
	tx_ack(fd, MQTT_PUBREL, 0x0203);
	rx_expect(fd, &p, MQTT_PUBCOMP, 3000);
	cr_assert_eq(p.id, 0x0203);
	tx_publish(fd, "p3/t", "end", 3, 1, false, false, 7);
	rx_expect(fd, &p, MQTT_PUBACK, 3000);
	tx_disconnect(fd);

	struct client *sub = connected_client(&b, "p3-sub", false);
	static const char *const payloads[] = { "rel", "dup" };
	int counts[2] = { 0, 0 };

	cr_assert(client_session_present(sub));
	count_payloads(sub, payloads, counts, 2);
	cr_assert_eq(counts[0], 1, "the message completed by PUBREL after the restart came "
		     "%d times", counts[0]);
	cr_assert_eq(counts[1], 1, "the message re-sent after the restart came %d times",
		     counts[1]);
	client_close(sub);
	broker_stop_clean(&b);
}

/* ---- 4. persistent_client_expiration ----------------------------------------------- */

/* Long enough past the 2 s expiry for the owner's once-a-second check and a loaded
 * machine; nothing observable marks the moment, and probing would revive the session. */
#define EXPIRY_WAIT_US (5 * 1000 * 1000)

/* With persistent_client_expiration 2s, an offline persistent session is gone after
 * it, from memory and from the store (it does not come back after a restart), also
 * when it went offline just before the restart; an online one stays. */
Test(persist, expiration_ends_offline_sessions_also_across_restart, .timeout = 90)
{
	struct broker b;
	static const char *const filters[] = { "ex/t" };
	static const int qos[] = { 1 };

	broker_start(&b, 2, "persistent_client_expiration 2s\n");
	struct client *on = connected_client(&b, "ex-on", false);

	cr_assert_eq(client_subscribe(on, "ex/t", 1), 1);
	rt_offline_session(&b, "ex-probe", filters, qos, 1);
	rt_offline_session(&b, "ex-stored", filters, qos, 1);
	usleep(EXPIRY_WAIT_US);

	cr_assert_not(rt_session_present(&b, "ex-probe"), "an offline session outlived "
		      "persistent_client_expiration 2s");
	/* Online all along: the same client id taking over finds the session. */
	struct client *on2 = connected_client(&b, "ex-on", false);

	cr_assert(client_session_present(on2), "an online session was expired");
	client_free(on);
	client_close(on2);

	/* Offline a moment before the stop: its clock runs on across the restart. */
	rt_offline_session(&b, "ex-late", filters, qos, 1);
	rt_restart(&b);
	cr_assert_not(rt_session_present(&b, "ex-stored"), "a session expired before the "
		      "restart came back from the store");
	usleep(EXPIRY_WAIT_US);
	cr_assert_not(rt_session_present(&b, "ex-late"), "an offline session restored at "
		      "start-up outlived persistent_client_expiration 2s");
	broker_stop_clean(&b);
}

/* ---- 5. full disk ------------------------------------------------------------------ */

#define FULL_TMPFS_SIZE "1m"
#define FULL_FILLER_BYTES (256 * 1024)
#define FULL_PAYLOAD 200

static char full_mnt[64];

/* Every path out of the test: the broker first (it keeps the store open), then the
 * mount (lazily, in case something still holds it). */
static void full_fini(void)
{
	harness_fini();
	if (full_mnt[0] != '\0') {
		umount2(full_mnt, MNT_DETACH);
		rmdir(full_mnt);
		full_mnt[0] = '\0';
	}
}

static void full_write_filler(const char *path, size_t bytes)
{
	char buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	memset(buf, 'f', sizeof buf);
	for (size_t done = 0; done < bytes; done += sizeof buf)
		cr_assert_eq(write(fd, buf, sizeof buf), (ssize_t)sizeof buf, "write %s: %s",
			     path, strerror(errno));
	close(fd);
}

/* Publishes (window of 20) until the broker stops acknowledging for 2 s. Returns true
 * if it stalled within <ms>. */
static bool full_publish_until_stalled(struct ppub *pub, int ms)
{
	uint64_t deadline = now_ms() + (uint64_t)ms;
	uint32_t last_acked = ppub_acked_count(pub);
	uint64_t last_progress = now_ms();

	while (now_ms() < deadline) {
		ppub_step(pub);
		cr_assert(ppub_is_up(pub), "the broker closed the publisher's connection");
		uint32_t a = ppub_acked_count(pub);

		if (a != last_acked) {
			last_acked = a;
			last_progress = now_ms();
		} else if (now_ms() - last_progress > 2000 && ppub_sent_count(pub) > a) {
			return true;
		}
		usleep(2000);
	}
	return false;
}

/* persistence_location on a 1 MiB tmpfs: publishing stored messages fills it; the
 * broker says why it stops acknowledging, the publisher waits, a cleanSession pair on
 * the same worker goes on; space freed -> acknowledgements resume; after a restart
 * every acknowledged message is delivered. */
Test(persist, full_disk_holds_acks_then_resumes_and_loses_nothing, .timeout = 120,
     .fini = full_fini)
{
	struct broker b;
	struct rx_msg m;
	char cfg[256], filler[128];
	static const char *const topics[] = { "fd/t", NULL };
	struct psub sub;
	struct ppub pub;

	snprintf(full_mnt, sizeof full_mnt, "/tmp/petrel-full-XXXXXX");
	cr_assert(mkdtemp(full_mnt), "mkdtemp: %s", strerror(errno));
	if (mount("tmpfs", full_mnt, "tmpfs", 0, "size=" FULL_TMPFS_SIZE ",mode=0700") != 0) {
		int err = errno;

		rmdir(full_mnt);
		full_mnt[0] = '\0';
		cr_skip_test("cannot mount a tmpfs (%s): needs root", strerror(err));
	}
	snprintf(filler, sizeof filler, "%s/filler", full_mnt);
	full_write_filler(filler, FULL_FILLER_BYTES);
	/* One worker: the stalled publisher and the clean pair share it. */
	snprintf(cfg, sizeof cfg, "persistence_location %s/data\nmax_queued_messages 0\n",
		 full_mnt);
	broker_start(&b, 1, cfg);

	psub_init(&sub, "fd-sub", topics, 20000);
	cr_assert_not(psub_connect(&sub, &b));
	psub_subscribe(&sub, 1, "fd/t", 1);
	psub_disconnect(&sub);
	struct client *csub = connected_client(&b, "fd-csub", true);
	struct client *cpub = connected_client(&b, "fd-cpub", true);

	cr_assert_eq(client_subscribe(csub, "fd/c", 1), 1);

	ppub_init(&pub, "fd-pub", "fd/t", 1, FULL_PAYLOAD, 20, 20000);
	ppub_connect(&pub, &b);
	cr_assert(full_publish_until_stalled(&pub, 60000), "the store never filled: %u "
		  "messages acknowledged", (unsigned)ppub_acked_count(&pub));
	uint32_t acked_full = ppub_acked_count(&pub);

	fprintf(stderr, "[full] stalled after %u acknowledged, %u sent\n", (unsigned)acked_full,
		(unsigned)ppub_sent_count(&pub));
	cr_assert(broker_wait_log(&b, "No space left on device", 5000), "the broker did not "
		  "say why it stopped acknowledging");
	cr_assert(broker_alive(&b));

	/* Traffic that stores nothing goes on beside it. */
	for (int i = 0; i < 20; i++) {
		char s[16];
		int n = snprintf(s, sizeof s, "c%d", i);

		cr_assert_eq(client_publish(cpub, "fd/c", s, n, 1, false), 0, "clean publisher "
			     "not acknowledged while the disk is full");
		cr_assert(client_wait_msg(csub, &m, 3000), "clean subscriber starved");
		cr_assert(msg_payload_is(&m, s));
	}
	cr_assert_eq(ppub_acked_count(&pub), acked_full, "a stored message was acknowledged "
		     "while the disk was full");

	cr_assert_eq(unlink(filler), 0, "unlink %s: %s", filler, strerror(errno));
	cr_assert(ppub_wait_acked(&pub, 15000), "acknowledgements did not resume after space "
		  "was freed (%u of %u)", (unsigned)ppub_acked_count(&pub),
		  (unsigned)ppub_sent_count(&pub));
	uint32_t target = ppub_sent_count(&pub) + 20;
	uint64_t deadline = now_ms() + 15000;

	while (ppub_sent_count(&pub) < target && now_ms() < deadline) {
		ppub_step(&pub);
		usleep(2000);
	}
	cr_assert(ppub_wait_acked(&pub, 15000), "new messages not acknowledged after "
		  "space was freed");
	ppub_close(&pub);
	client_close(csub);
	client_close(cpub);

	rt_restart(&b);
	cr_assert(psub_connect(&sub, &b), "the subscriber's session was lost");
	deadline = now_ms() + 30000;
	uint32_t sent = ppub_sent_count(&pub);
	uint32_t missing = sent;

	while (missing > 0 && now_ms() < deadline && sub.fd >= 0) {
		psub_poll(&sub, 200, 0);
		missing = 0;
		for (uint32_t seq = 1; seq <= sent; seq++)
			missing += ppub_is_acked(&pub, seq) && psub_count(&sub, 0, seq) == 0;
	}
	cr_assert_eq(missing, 0, "%u acknowledged messages lost", (unsigned)missing);
	cr_assert_eq(sub.order_bad_seq[0], 0, "message %u arrived after %u",
		     (unsigned)sub.order_bad_seq[0], (unsigned)sub.order_bad_after[0]);
	psub_disconnect(&sub);
	psub_fini(&sub);
	ppub_fini(&pub);
	broker_stop_clean(&b);
}
