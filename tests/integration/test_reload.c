/* test_reload.c - `petrelctl reload` and SIGHUP against the real broker: the harness's
 * config file is edited, the broker reads it again, and real clients (libmosquitto)
 * see the new limits: max_connections lowered refuses the next CONNECT while the
 * connected clients carry on; max_packet_size lowered closes a client that sends a
 * bigger packet; max_inflight_messages / max_queued_messages / queue_full_policy
 * change what a new publish to a stored session does. A key that needs a restart is
 * reported and not applied; a bad file changes nothing and is answered with its lines. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_client.h"
#include "harness.h"

TestSuite(reload, .fini = harness_fini, .timeout = 60);

/* Appends <lines> to the broker's config file: later lines win. */
static void conf_append(struct broker *b, const char *lines)
{
	FILE *f = fopen(b->conf_path, "a");

	cr_assert_not_null(f, "%s: %s", b->conf_path, strerror(errno));
	cr_assert_geq(fputs(lines, f), 0);
	cr_assert_eq(fclose(f), 0);
}

/* Replaces the first line starting with <prefix> by <line> (one line, no newline). */
static void conf_replace(struct broker *b, const char *prefix, const char *line)
{
	char text[16384], out[16384 + 256];
	FILE *f = fopen(b->conf_path, "r");
	size_t n, used = 0;
	char *at;

	cr_assert_not_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, prefix);
	cr_assert_not_null(at, "no '%s' in %s", prefix, b->conf_path);
	used = (size_t)(at - text);
	memcpy(out, text, used);
	used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", line,
				 strchr(at, '\n'));
	f = fopen(b->conf_path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(out, 1, used, f), used);
	cr_assert_eq(fclose(f), 0);
}

/* The entry of <key> in the reload result's list <list>, or NULL. */
static json_t *change_of(json_t *result, const char *list, const char *key)
{
	json_t *a = json_object_get(result, list), *e;
	size_t i;

	cr_assert(json_is_array(a), "no '%s' list in the reload result", list);
	json_array_foreach(a, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
			return e;
	}
	return NULL;
}

static void expect_change(json_t *result, const char *list, const char *key,
			  const char *from, const char *to)
{
	json_t *e = change_of(result, list, key);

	cr_assert_not_null(e, "%s is not in '%s': %s", key, list,
			   json_dumps(result, JSON_COMPACT));
	cr_expect_str_eq(json_string_value(json_object_get(e, "from")), from, "%s", key);
	cr_expect_str_eq(json_string_value(json_object_get(e, "to")), to, "%s", key);
}

/* <sub> gets what <pub> publishes: a connection the reload must not have touched. */
static void expect_exchange(struct client *pub, struct client *sub, const char *topic)
{
	struct rx_msg m;

	cr_assert_eq(client_subscribe(sub, topic, 1), 1);
	cr_assert_eq(client_publish(pub, topic, "still here", 10, 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 2000), "no message on %s", topic);
	cr_expect(msg_payload_is(&m, "still here"));
}

Test(reload, max_connections_lowered_refuses_the_next_connect)
{
	struct broker b;
	char line[512];

	broker_start(&b, 2, NULL);
	struct client *c1 = connected_client(&b, "first", true);
	struct client *c2 = connected_client(&b, "second", true);
	/* Before: a third client is welcome. */
	struct client *c3 = connected_client(&b, "third", true);
	client_close(c3);

	conf_append(&b, "max_connections 2\n");
	json_t *r = ctl_json(&b, "reload", NULL);
	expect_change(r, "applied", "max_connections", "-1", "2");
	cr_expect_eq(json_array_size(json_object_get(r, "restart_needed")), 0);
	json_decref(r);
	snprintf(line, sizeof(line), "reload of %s: applied max_connections -1 -> 2",
		 b.conf_path);
	cr_expect(broker_wait_log(&b, line, 2000), "no '%s' in the log", line);

	/* The answer came once every worker runs the new limit: the next CONNECT,
	 * whichever worker takes it, is refused with CONNACK 3. */
	for (int i = 0; i < 4; i++) {
		struct client *c = client_new(&b, "one-too-many", true, 60);

		cr_expect_eq(client_connack_rc(c), 3, "try %d: CONNACK %d", i,
			     client_connack_rc(c));
		client_free(c);
	}
	expect_exchange(c1, c2, "reload/conn");

	/* Raised again: new clients come in. */
	conf_append(&b, "max_connections 3\n");
	r = ctl_json(&b, "reload", NULL);
	expect_change(r, "applied", "max_connections", "2", "3");
	json_decref(r);
	c3 = connected_client(&b, "third-again", true);
	client_close(c3);
	client_close(c1);
	client_close(c2);
	broker_stop_clean(&b);
}

Test(reload, max_packet_size_lowered_closes_a_bigger_packet)
{
	static char big[1000];
	struct broker b;
	struct rx_msg m;

	memset(big, 'x', sizeof(big));
	broker_start(&b, 2, NULL);
	struct client *sub = connected_client(&b, "sub", true);
	struct client *pub = connected_client(&b, "pub", true);
	cr_assert_eq(client_subscribe(sub, "reload/big", 1), 1);
	/* Before: 1000 bytes pass. */
	cr_assert_eq(client_publish(pub, "reload/big", big, sizeof(big), 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 2000));
	cr_assert_eq(m.payload_len, (int)sizeof(big));

	conf_append(&b, "max_packet_size 200\n");
	json_t *r = ctl_json(&b, "reload", NULL);
	expect_change(r, "applied", "max_packet_size", "268435460", "200");
	json_decref(r);

	/* A small one still passes on the same connections... */
	cr_assert_eq(client_publish(pub, "reload/big", "small", 5, 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 2000));
	cr_expect(msg_payload_is(&m, "small"));
	/* ...a bigger one closes its sender, and only it. */
	client_publish(pub, "reload/big", big, sizeof(big), 1, false);
	cr_expect(client_wait_disconnect(pub, 3000), "a 1000-byte packet over "
		  "max_packet_size 200 did not close its connection");
	cr_expect_eq(client_pending(sub), 0, "the big message was delivered");
	cr_expect(client_is_connected(sub));
	client_free(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

/* <n> QoS 1 messages to a stored session that is offline, then it comes back:
 * how many it gets. */
static int offline_round(struct broker *b, struct client *pub, int n)
{
	struct client *sub = client_new(b, "stored", false, 60);
	struct rx_msg m;
	int got = 0;

	cr_assert_eq(client_connack_rc(sub), 0);
	cr_assert_eq(client_subscribe(sub, "reload/q", 1), 1);
	client_disconnect(sub);
	client_free(sub);
	for (int i = 0; i < n; i++)
		cr_assert_eq(client_publish(pub, "reload/q", "m", 1, 1, false), 0,
			     "publish %d not acknowledged", i);
	sub = client_new(b, "stored", false, 60);
	cr_assert_eq(client_connack_rc(sub), 0);
	cr_assert(client_session_present(sub));
	while (got <= n && client_wait_msg(sub, &m, 1000))
		got++;
	client_disconnect(sub);
	client_free(sub);
	return got;
}

Test(reload, queue_limits_change_what_a_new_publish_does)
{
	struct broker b;

	/* drop_new: a full queue refuses the newest, and the publisher is not held. */
	broker_start(&b, 2, "queue_full_policy drop_new\n");
	struct client *pub = connected_client(&b, "pub", true);
	int before = offline_round(&b, pub, 10);

	cr_assert_eq(before, 10, "with the defaults %d of 10 arrived", before);
	conf_append(&b, "max_inflight_messages 1\nmax_queued_messages 2\n");
	json_t *r = ctl_json(&b, "reload", NULL);
	expect_change(r, "applied", "max_inflight_messages", "20", "1");
	expect_change(r, "applied", "max_queued_messages", "1000", "2");
	json_decref(r);
	int after = offline_round(&b, pub, 10);

	/* Two queued, and at most the one in the window besides. */
	cr_expect(after >= 2 && after <= 3, "after the reload %d of 10 arrived", after);
	client_close(pub);
	broker_stop_clean(&b);
}

/* True if a TCP connection to 127.0.0.1:<port> is accepted. */
static bool port_open(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

Test(reload, a_restart_key_is_reported_and_not_applied)
{
	struct broker b;
	char line[128], from[64], to[64];

	harness_kernel_only("the listener's port is a kernel socket here");
	broker_start(&b, 2, NULL);
	uint16_t other = (uint16_t)(b.port + 1);

	snprintf(line, sizeof(line), "listener %u 127.0.0.1", other);
	conf_replace(&b, "listener ", line);
	conf_append(&b, "max_worker_inbound 100\nmax_keepalive 100\n");
	json_t *r = ctl_json(&b, "reload", NULL);
	snprintf(from, sizeof(from), "%u 127.0.0.1", b.port);
	snprintf(to, sizeof(to), "%u 127.0.0.1", other);
	expect_change(r, "restart_needed", "listener", from, to);
	expect_change(r, "restart_needed", "max_worker_inbound", "65536", "100");
	expect_change(r, "applied", "max_keepalive", "0", "100");
	cr_expect_null(change_of(r, "applied", "listener"));
	json_decref(r);
	cr_expect(broker_wait_log(&b, "needs a restart: listener", 2000));

	/* Still on the old port; clients carry on. */
	cr_expect(port_open(b.port));
	struct client *sub = connected_client(&b, "sub", true);
	struct client *pub = connected_client(&b, "pub", true);
	expect_exchange(pub, sub, "reload/restart");

	/* Not applied, so still pending: the next reload says so again. */
	r = ctl_json(&b, "reload", NULL);
	expect_change(r, "restart_needed", "listener", from, to);
	cr_expect_eq(json_array_size(json_object_get(r, "applied")), 0);
	json_decref(r);
	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

Test(reload, a_bad_file_changes_nothing)
{
	struct broker b;
	struct ctl_out o;

	broker_start(&b, 2, NULL);
	struct client *c1 = connected_client(&b, "first", true);
	conf_append(&b, "max_connections 1\nmax_connections zero\nno_such_key 1\n");
	cr_assert_neq(ctl_run(&o, b.ctl_path, "reload", NULL), 0, "reload of a bad file "
		      "succeeded: %s", o.out);
	/* Every bad line, with its file and line number. */
	cr_expect_not_null(strstr(o.err, "'max_connections' expects a whole number"),
			   "%s", o.err);
	cr_expect_not_null(strstr(o.err, "unknown option 'no_such_key'"), "%s", o.err);
	cr_expect_not_null(strstr(o.err, b.conf_path), "%s", o.err);
	ctl_out_free(&o);
	cr_expect(broker_wait_log(&b, "reload: nothing applied", 2000));

	/* max_connections 1 was not applied: a second client is welcome. */
	struct client *c2 = connected_client(&b, "second", true);
	expect_exchange(c1, c2, "reload/bad");
	client_close(c1);
	client_close(c2);
	broker_stop_clean(&b);
}

Test(reload, sighup_reloads_the_same_way)
{
	struct broker b;
	char line[512];

	broker_start(&b, 2, NULL);
	struct client *c1 = connected_client(&b, "first", true);
	conf_append(&b, "max_connections 1\n");
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	snprintf(line, sizeof(line), "reload of %s: applied max_connections -1 -> 1",
		 b.conf_path);
	cr_assert(broker_wait_log(&b, line, 3000), "no '%s' in the log", line);
	/* The log line comes before the workers confirm: allow them a moment. */
	int rc = -1;
	for (int i = 0; i < 50 && rc != 3; i++) {
		struct client *c = client_new(&b, "one-too-many", true, 60);

		rc = client_connack_rc(c);
		client_free(c);
		if (rc == 0)
			usleep(20000);
	}
	cr_expect_eq(rc, 3, "after SIGHUP a second client got CONNACK %d", rc);
	cr_expect(client_is_connected(c1));
	client_close(c1);
	broker_stop_clean(&b);
}

/* The harness starts petrel with -v: the command line's debug level outlives a file
 * that asks for less, as the command line's flags always win over the file. */
Test(reload, the_command_line_log_level_wins_over_the_file)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	conf_append(&b, "log_level error\n");
	json_t *r = ctl_json(&b, "reload", NULL);
	cr_expect_null(change_of(r, "applied", "log_level"), "%s",
		       json_dumps(r, JSON_COMPACT));
	json_decref(r);
	int before = broker_log_count(&b, "debug: ");
	struct client *c = connected_client(&b, "after-reload", true);
	cr_expect(broker_wait_log(&b, "after-reload", 2000));
	cr_expect_gt(broker_log_count(&b, "debug: "), before, "no debug line after the "
		     "reload");
	client_close(c);
	broker_stop_clean(&b);
}
