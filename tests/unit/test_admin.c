/* test_admin.c - the workers' side of the control socket (admin.h, dataplane/mqtt/
 * admin.c), the $SYS rules of the engine (clients may not publish there, the broker's
 * own messages are retained but never stored) and the gauges and packet counters the
 * control plane reads (stats.h).
 *
 * A real broker of two workers over the in-memory transport; the test plays the
 * control plane: it posts admin_msg to a worker's inbound queue as admin_call_send
 * does, turns that worker, and reads the answer. This binary is linked with
 * -Wl,--wrap=admin_reply so that the answer comes back here instead of onto a
 * control plane's reply queue (control/admin_call.c); the engine's call is the real
 * one. Clients are real MQTT byte streams (mem_client.h). Leaks are checked at the
 * end of every test (fails under ASan). */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "petrel/admin.h"
#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/mqtt.h"
#include "petrel/persist.h"
#include "petrel/retain.h"
#include "petrel/worker.h"
#include "mem_client.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { W0, W1, NWORKERS };

static struct broker B;
static struct persist *P;          /* persistence on: the test takes the records */

TestSuite(admin, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 60);

static void broker_up_cfg(struct config *cfg)
{
	char err[256];

	cfg->workers = NWORKERS;
	cr_assert_eq(config_finalize(cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(getenv("ADMIN_DEBUG") ? LOG_DEBUG : LOG_ERR);
	cr_assert_eq(mem_broker_init(&B, cfg, 1000000), 0);
	if (cfg->persistence) {
		cr_assert_eq(persist_create(&P, 0, 0), 0);
		cr_assert_eq(persist_attach(&B, P), 0);
	}
}

static void broker_up(void)
{
	struct config cfg;

	config_defaults(&cfg);
	cfg.persistence = false;       /* on by default: nothing here commits */
	broker_up_cfg(&cfg);
}

static size_t take_records(char (*retain_del)[64], size_t max_del, size_t *retain_put);

static void broker_down(void)
{
	mem_broker_shutdown(&B);
	if (P != NULL) {
		size_t puts;

		take_records(NULL, 0, &puts);
		persist_destroy(P);
		P = NULL;
	}
	assert_no_leaks_rcu();
}

/* ---- the control plane's part --------------------------------------------------------- */

#define MAX_REPLIES 16
static struct admin_msg *replied[MAX_REPLIES];
static unsigned nreplied;

void __wrap_admin_reply(struct admin_msg *m);
void __wrap_admin_reply(struct admin_msg *m)
{
	cr_assert_lt(nreplied, MAX_REPLIES);
	replied[nreplied++] = m;
}

static struct admin_msg *post(unsigned w, enum admin_op op, json_t *args, void *ptr)
{
	struct admin_msg *m = calloc(1, sizeof(*m));

	cr_assert_not_null(m);
	m->h.type = WMSG_TYPE_ADMIN;
	m->op = op;
	m->worker = w;
	m->args = args;
	m->ptr = ptr;
	m->status = 1;               /* not answered */
	worker_post(B.workers[w], &m->h);
	return m;
}

/* Worker <w> answers <op> with <args> (a reference the message takes; NULL = none)
 * in its next turn. */
static struct admin_msg *ask(unsigned w, enum admin_op op, json_t *args)
{
	unsigned before = nreplied;
	struct admin_msg *m = post(w, op, args, NULL);

	mem_worker_turn(B.workers[w]);
	cr_assert_eq(nreplied, before + 1, "worker %u did not answer", w);
	cr_assert_eq(replied[before], m);
	nreplied = before;
	cr_assert_leq(m->status, 0);
	return m;
}

static void done(struct admin_msg *m)
{
	json_decref(m->args);
	json_decref(m->result);
	free(m);
}

/* The status worker <w> answers. */
static int ask_status(unsigned w, enum admin_op op, json_t *args)
{
	struct admin_msg *m = ask(w, op, args);
	int status = m->status;

	done(m);
	return status;
}

static json_int_t get_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v), "'%s' is not an integer", key);
	return json_integer_value(v);
}

static const char *get_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_string(v), "'%s' is not a string", key);
	return json_string_value(v);
}

static bool get_bool(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_boolean(v), "'%s' is not a boolean", key);
	return json_is_true(v);
}

/* The array <key> of a listing, whose "total" must be <total> and length <n>. */
static const json_t *listed(const struct admin_msg *m, const char *key, json_int_t total,
			    size_t n)
{
	const json_t *a;

	cr_assert_eq(m->status, 0, "status %d", m->status);
	cr_assert_eq(get_int(m->result, "total"), total, "total %lld, expected %lld",
		     (long long)get_int(m->result, "total"), (long long)total);
	a = json_object_get(m->result, key);
	cr_assert(json_is_array(a));
	cr_assert_eq(json_array_size(a), n, "%zu %s, expected %zu", json_array_size(a), key, n);
	return a;
}

/* ---- clients ------------------------------------------------------------------------ */

static void send_packet(struct mem_client *cl, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];

	if (type == MQTT_DISCONNECT)
		cr_assert_eq(mem_conn_input(cl->tc, buf, mqtt_encode_empty(buf, type)), -1);
	else if (type == MQTT_PINGREQ)
		mem_client_input(cl, buf, mqtt_encode_empty(buf, type));
	else
		mem_client_input(cl, buf, mqtt_encode_ack(buf, type, id));
	mem_worker_turn(B.workers[cl->w]);
}

/* CONNECT with a will and a keep-alive, answered in one turn of <w>. */
static void connect_will(struct mem_client *cl, unsigned w, const char *id, bool clean,
			 const char *will_topic, const char *will_payload)
{
	struct mqtt_connect cn = {
		.protocol_level = MQTT_PROTO_V311,
		.clean_session = clean,
		.keep_alive = 30,
		.client_id = { id, (uint16_t)strlen(id) },
		.will_flag = true,
		.will_qos = 1,
		.will_topic = { will_topic, (uint16_t)strlen(will_topic) },
		.will_payload = (const uint8_t *)will_payload,
		.will_payload_len = (uint16_t)strlen(will_payload),
	};
	uint8_t buf[256];

	cl->id = id;
	cl->b = &B;
	cl->w = w;
	cl->tc = mem_conn_open(B.workers[w]);
	cr_assert_not_null(cl->tc);
	cl->tc->keep = true;
	mem_client_input(cl, buf, mqtt_encode_connect(buf, sizeof(buf), &cn));
	mem_worker_turn(B.workers[w]);
	mem_client_expect_connack(cl, false);
}

static void publish(struct mem_client *cl, const char *topic, const void *payload,
		    size_t len, uint8_t qos, bool retain, uint16_t id)
{
	struct mqtt_publish p = {
		.qos = qos,
		.retain = retain,
		.topic = { topic, (uint16_t)strlen(topic) },
		.packet_id = qos ? id : 0,
		.payload = payload,
		.payload_len = len,
	};
	uint8_t buf[256];

	mem_client_input(cl, buf, mqtt_encode_publish(buf, sizeof(buf), &p));
	mem_turn_all(&B);
	mem_turn_all(&B);
}

static void expect_ack(struct mem_client *cl, enum mqtt_type type, uint16_t id)
{
	struct mqtt_pkt p;

	mem_client_next(cl, &p, type);
	cr_assert_eq(p.u.packet_id, id);
}

static void expect_no_publish(struct mem_client *cl)
{
	struct mqtt_pkt p;

	cr_assert_not(mem_client_next_publish(cl, &p), "%s got PUBLISH '%.*s'", cl->id,
		      (int)p.u.publish.topic.len, p.u.publish.topic.ptr);
}

static void expect_publish(struct mem_client *cl, const char *topic, const char *payload,
			   bool retain)
{
	struct mqtt_pkt p;

	cr_assert(mem_client_next_publish(cl, &p), "%s: no PUBLISH for %s", cl->id, topic);
	cr_assert_eq(p.u.publish.topic.len, strlen(topic));
	cr_assert_arr_eq(p.u.publish.topic.ptr, topic, strlen(topic), "%s: got '%.*s'",
			 cl->id, (int)p.u.publish.topic.len, p.u.publish.topic.ptr);
	cr_assert_eq(p.u.publish.payload_len, strlen(payload));
	cr_assert_arr_eq(p.u.publish.payload, payload, strlen(payload));
	cr_assert_eq(p.u.publish.retain, retain, "%s: retain %d", topic, p.u.publish.retain);
	if (p.u.publish.qos > 0)
		send_packet(cl, MQTT_PUBACK, p.u.publish.packet_id);
}

/* A takeover waits for the previous move's order fence, a grace period away (call_rcu
 * on its own thread): turns every worker until <cl> has an answer, at most 5 s. */
static void turn_until_answer(struct mem_client *cl)
{
	for (unsigned i = 0; i < 5000 && cl->tc->len == cl->tc->rd; i++) {
		mem_turn_all(&B);
		if (cl->tc->len == cl->tc->rd)
			usleep(1000);
	}
	cr_assert_gt(cl->tc->len, cl->tc->rd, "%s: no answer", cl->id);
}

static uint64_t stat_sum(size_t offset)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < B.nworkers; i++)
		sum += *(const uint64_t *)((const char *)&B.workers[i]->stats + offset);
	return sum;
}

#define STAT(w, name) (B.workers[w]->stats.name)
#define STAT_SUM(name) stat_sum(offsetof(struct worker_stats, name))

/* ---- ADMIN_CLIENTS -------------------------------------------------------------------- */

Test(admin, clients_match_the_pattern_sorted_and_limited_with_the_total)
{
	struct mem_client c[5];
	const char *ids[] = { "sensor-3", "sensor-1", "other", "sensor-2", "sensor-4" };
	struct admin_msg *m;
	const json_t *a, *e;
	time_t now = time(NULL);

	broker_up();
	for (unsigned i = 0; i < 5; i++)
		mem_client_connect(&c[i], &B, i < 4 ? W0 : W1, ids[i], i != 1);
	send_packet(&c[1], MQTT_DISCONNECT, 0);   /* sensor-1: offline, kept */

	m = ask(W0, ADMIN_CLIENTS, json_pack("{s:s, s:i}", "pattern", "sensor-*", "limit", 2));
	a = listed(m, "clients", 3, 2);
	cr_assert_str_eq(get_str(json_array_get(a, 0), "client"), "sensor-1");
	cr_assert_str_eq(get_str(json_array_get(a, 1), "client"), "sensor-2");
	e = json_array_get(a, 0);
	cr_assert_not(get_bool(e, "connected"));
	cr_assert(json_is_null(json_object_get(e, "address")));
	cr_assert(json_is_null(json_object_get(e, "connected_since")));
	cr_assert_geq(get_int(e, "offline_since"), now - 5);
	cr_assert_not(get_bool(e, "clean"));
	e = json_array_get(a, 1);
	cr_assert(get_bool(e, "connected"));
	cr_assert_str_eq(get_str(e, "address"), "memory");
	cr_assert_str_eq(get_str(e, "protocol"), "3.1.1");
	cr_assert_eq(get_int(e, "worker"), W0);
	cr_assert(get_bool(e, "clean"));
	cr_assert_geq(get_int(e, "connected_since"), now - 5);
	cr_assert_leq(get_int(e, "connected_since"), now + 5);
	cr_assert(json_is_null(json_object_get(e, "offline_since")));
	cr_assert_eq(get_int(e, "subscriptions"), 0);
	cr_assert_eq(get_int(e, "inflight"), 0);
	cr_assert_eq(get_int(e, "queued"), 0);
	done(m);

	/* limit 0: all of them; no pattern: every client of the worker. */
	m = ask(W0, ADMIN_CLIENTS, json_pack("{s:s, s:i}", "pattern", "sensor-*", "limit", 0));
	a = listed(m, "clients", 3, 3);
	cr_assert_str_eq(get_str(json_array_get(a, 2), "client"), "sensor-3");
	done(m);
	m = ask(W0, ADMIN_CLIENTS, json_object());
	a = listed(m, "clients", 4, 4);
	cr_assert_str_eq(get_str(json_array_get(a, 0), "client"), "other");
	done(m);
	m = ask(W1, ADMIN_CLIENTS, json_pack("{s:s}", "pattern", "sensor-*"));
	a = listed(m, "clients", 1, 1);
	cr_assert_str_eq(get_str(json_array_get(a, 0), "client"), "sensor-4");
	cr_assert_eq(get_int(json_array_get(a, 0), "worker"), W1);
	done(m);

	cr_assert_eq(ask_status(W0, ADMIN_CLIENTS, json_pack("{s:i}", "limit", -1)), -EINVAL);
	cr_assert_eq(STAT_SUM(admin_requests), 5);
	broker_down();
}

/* The bounded selection keeps exactly the first <limit> ids whatever the order the
 * sessions were made in: ids from a fixed shuffle, every limit from 1 to N+1. */
Test(admin, clients_limit_keeps_the_first_ids_in_order)
{
	enum { N = 40 };
	struct mem_client c[N];
	static char ids[N][16];

	broker_up();
	for (unsigned i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "id-%02u", (i * 17) % N);   /* 17 coprime to 40 */
		mem_client_connect(&c[i], &B, W0, ids[i], true);
	}
	for (int limit = 1; limit <= N + 1; limit++) {
		struct admin_msg *m = ask(W0, ADMIN_CLIENTS, json_pack("{s:i}", "limit", limit));
		size_t n = limit < N ? (size_t)limit : N;
		const json_t *a = listed(m, "clients", N, n);

		for (size_t i = 0; i < n; i++) {
			char want[16];

			snprintf(want, sizeof(want), "id-%02zu", i);
			cr_assert_str_eq(get_str(json_array_get(a, i), "client"), want,
					 "limit %d, item %zu", limit, i);
		}
		done(m);
	}
	broker_down();
}

/* ---- ADMIN_SESSION_SHOW ---------------------------------------------------------------- */

Test(admin, session_show_online_then_offline_on_its_owner_only)
{
	struct mem_client dev;
	struct admin_msg *m;
	const json_t *subs;

	broker_up();
	connect_will(&dev, W1, "dev", false, "dev/status", "offline");
	mem_client_subscribe(&dev, "c/#");
	mem_client_subscribe(&dev, "a/b");

	cr_assert_eq(ask_status(W0, ADMIN_SESSION_SHOW, json_pack("{s:s}", "client", "dev")),
		     -ENOENT);
	m = ask(W1, ADMIN_SESSION_SHOW, json_pack("{s:s}", "client", "dev"));
	cr_assert_eq(m->status, 0);
	cr_assert_str_eq(get_str(m->result, "client"), "dev");
	cr_assert(get_bool(m->result, "connected"));
	cr_assert_eq(get_int(m->result, "keepalive"), 30);
	cr_assert_eq(get_int(m->result, "worker"), W1);
	cr_assert_eq(get_int(m->result, "subscriptions"), 2);
	cr_assert_eq(get_int(m->result, "awaiting_pubrel"), 0);
	cr_assert_eq(get_int(m->result, "queued_bytes"), 0);
	subs = json_object_get(m->result, "subscriptions_list");
	cr_assert_eq(json_array_size(subs), 2);
	cr_assert_str_eq(get_str(json_array_get(subs, 0), "filter"), "a/b");
	cr_assert_eq(get_int(json_array_get(subs, 0), "qos"), 2);
	cr_assert_str_eq(get_str(json_array_get(subs, 1), "filter"), "c/#");
	done(m);

	send_packet(&dev, MQTT_DISCONNECT, 0);
	m = ask(W1, ADMIN_SESSION_SHOW, json_pack("{s:s}", "client", "dev"));
	cr_assert_eq(m->status, 0);
	cr_assert_not(get_bool(m->result, "connected"));
	cr_assert(json_is_null(json_object_get(m->result, "address")));
	cr_assert(json_is_null(json_object_get(m->result, "keepalive")));
	cr_assert_gt(get_int(m->result, "offline_since"), 0);
	cr_assert_eq(json_array_size(json_object_get(m->result, "subscriptions_list")), 2);
	done(m);

	for (unsigned w = 0; w < NWORKERS; w++) {
		cr_assert_eq(ask_status(w, ADMIN_SESSION_SHOW,
					json_pack("{s:s}", "client", "nobody")), -ENOENT);
		cr_assert_eq(ask_status(w, ADMIN_SESSION_SHOW, json_object()), -EINVAL);
	}
	broker_down();
}

/* ---- ADMIN_SUBSCRIPTIONS --------------------------------------------------------------- */

static void subscribe_all(struct mem_client *cl, const char *const *filters, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mem_client_subscribe(cl, filters[i]);
}

Test(admin, subscriptions_are_selected_by_a_filter_over_filters)
{
	struct mem_client a, b;
	const char *fa[] = { "sensors/+/temp", "other/x", "sensors" };
	const char *fb[] = { "sensors/#", "sensorsx/y" };
	struct admin_msg *m;
	const json_t *l;

	broker_up();
	mem_client_connect(&a, &B, W0, "a", true);
	mem_client_connect(&b, &B, W0, "b", true);
	subscribe_all(&a, fa, 3);
	subscribe_all(&b, fb, 2);

	/* '#' of the query covers every filter below sensors/, and sensors itself. */
	m = ask(W0, ADMIN_SUBSCRIPTIONS, json_pack("{s:s}", "filter", "sensors/#"));
	l = listed(m, "subscriptions", 3, 3);
	cr_assert_str_eq(get_str(json_array_get(l, 0), "client"), "a");
	cr_assert_str_eq(get_str(json_array_get(l, 0), "filter"), "sensors");
	cr_assert_str_eq(get_str(json_array_get(l, 1), "filter"), "sensors/+/temp");
	cr_assert_eq(get_int(json_array_get(l, 1), "qos"), 2);
	cr_assert_str_eq(get_str(json_array_get(l, 2), "client"), "b");
	cr_assert_str_eq(get_str(json_array_get(l, 2), "filter"), "sensors/#");
	done(m);

	/* '+' of the query: one level of the filter, whatever it is. */
	m = ask(W0, ADMIN_SUBSCRIPTIONS, json_pack("{s:s}", "filter", "+/x"));
	l = listed(m, "subscriptions", 1, 1);
	cr_assert_str_eq(get_str(json_array_get(l, 0), "filter"), "other/x");
	done(m);
	/* A plain filter lists itself only: "sensors/+/temp" is text here. */
	m = ask(W0, ADMIN_SUBSCRIPTIONS, json_pack("{s:s}", "filter", "sensors/a/temp"));
	listed(m, "subscriptions", 0, 0);
	done(m);

	m = ask(W0, ADMIN_SUBSCRIPTIONS, json_pack("{s:i}", "limit", 2));
	l = listed(m, "subscriptions", 5, 2);
	cr_assert_str_eq(get_str(json_array_get(l, 0), "filter"), "other/x");
	cr_assert_str_eq(get_str(json_array_get(l, 1), "filter"), "sensors");
	done(m);
	m = ask(W1, ADMIN_SUBSCRIPTIONS, NULL);
	listed(m, "subscriptions", 0, 0);
	done(m);

	cr_assert_eq(ask_status(W0, ADMIN_SUBSCRIPTIONS, json_pack("{s:s}", "filter", "a/#/b")),
		     -EINVAL);
	broker_down();
}

/* ---- ADMIN_KICK --------------------------------------------------------------------------- */

Test(admin, kick_closes_the_connection_and_its_will_goes_out)
{
	struct mem_client sub, victim;

	broker_up();
	mem_client_connect(&sub, &B, W0, "watcher", true);
	mem_client_subscribe(&sub, "will/#");
	connect_will(&victim, W1, "victim", false, "will/victim", "gone");
	cr_assert_eq(STAT(W1, sessions_online), 1);

	cr_assert_eq(ask_status(W0, ADMIN_KICK, json_pack("{s:s}", "client", "victim")), -ENOENT);
	cr_assert_eq(ask_status(W1, ADMIN_KICK, json_pack("{s:s}", "client", "victim")), 0);
	cr_assert(victim.tc->closed, "the kicked connection is still open");
	mem_turn_all(&B);
	mem_turn_all(&B);
	/* MQTT-3.1.2-8: not a DISCONNECT, so the will is published. */
	expect_publish(&sub, "will/victim", "gone", false);
	cr_assert_eq(STAT_SUM(will_published), 1);
	cr_assert_eq(STAT(W1, sessions_online), 0);
	cr_assert_eq(STAT(W1, sessions), 1);

	/* Its session stays (cleanSession=0), offline: nothing to kick. */
	cr_assert_eq(ask_status(W1, ADMIN_KICK, json_pack("{s:s}", "client", "victim")),
		     -ENOTCONN);
	cr_assert_eq(ask_status(W1, ADMIN_KICK, json_pack("{s:s}", "client", "none")), -ENOENT);
	broker_down();
}

/* ---- ADMIN_RETAINED_LIST / _DELETE ------------------------------------------------------- */

Test(admin, retained_list_and_delete)
{
	struct mem_client pub, sub, late;
	const uint8_t bad_utf8[] = { 0xff, 0xfe, 'x' };
	struct admin_msg *m;
	const json_t *l;

	broker_up();
	mem_client_connect(&pub, &B, W0, "pub", true);
	mem_client_connect(&sub, &B, W1, "sub", true);
	publish(&pub, "r/2", "two", 3, 1, true, 1);
	expect_ack(&pub, MQTT_PUBACK, 1);
	publish(&pub, "r/1", "one", 3, 0, true, 0);
	publish(&pub, "r/bin", bad_utf8, sizeof(bad_utf8), 0, true, 0);
	publish(&pub, "s/1", "s", 1, 0, true, 0);
	mem_client_subscribe(&sub, "r/#");
	while (mem_client_next_publish(&sub, &(struct mqtt_pkt){ 0 }))
		;

	m = ask(W0, ADMIN_RETAINED_LIST, json_pack("{s:s}", "filter", "r/#"));
	l = listed(m, "retained", 3, 3);
	cr_assert_str_eq(get_str(json_array_get(l, 0), "topic"), "r/1");
	cr_assert_str_eq(get_str(json_array_get(l, 0), "payload"), "one");
	cr_assert_eq(get_int(json_array_get(l, 0), "bytes"), 3);
	cr_assert_eq(get_int(json_array_get(l, 0), "qos"), 0);
	cr_assert_str_eq(get_str(json_array_get(l, 1), "topic"), "r/2");
	cr_assert_eq(get_int(json_array_get(l, 1), "qos"), 1);
	cr_assert_str_eq(get_str(json_array_get(l, 2), "topic"), "r/bin");
	cr_assert(json_is_null(json_object_get(json_array_get(l, 2), "payload")));
	done(m);
	m = ask(W0, ADMIN_RETAINED_LIST, json_pack("{s:i}", "limit", 1));   /* filter "#" */
	l = listed(m, "retained", 4, 1);
	cr_assert_str_eq(get_str(json_array_get(l, 0), "topic"), "r/1");
	done(m);

	cr_assert_eq(ask_status(W0, ADMIN_RETAINED_DELETE, json_pack("{s:s}", "topic", "r/1")), 0);
	mem_turn_all(&B);
	expect_no_publish(&sub);      /* a delete delivers nothing */
	cr_assert_eq(ask_status(W0, ADMIN_RETAINED_DELETE, json_pack("{s:s}", "topic", "r/1")),
		     -ENOENT);
	cr_assert_eq(ask_status(W0, ADMIN_RETAINED_DELETE, json_pack("{s:s}", "topic", "r/+")),
		     -EINVAL);
	cr_assert_eq(retain_count(B.retain), 3);

	/* A new subscriber gets what is left. */
	mem_client_connect(&late, &B, W1, "late", true);
	mem_client_subscribe(&late, "r/1");
	expect_no_publish(&late);
	mem_client_subscribe(&late, "r/2");
	expect_publish(&late, "r/2", "two", true);
	broker_down();
}

/* Every record the workers pushed since the last call: the topics of RETAIN_DEL into
 * <retain_del>, the count of RETAIN_PUT. Returns the number of records. */
static size_t take_records(char (*retain_del)[64], size_t max_del, size_t *retain_put)
{
	struct persist_batch *bs[64];
	size_t n, total = 0, ndel = 0;

	*retain_put = 0;
	while ((n = persist_take(P, bs, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct persist_batch *b = bs[i];

			for (uint32_t j = 0; j < b->n; j++) {
				const struct persist_rec *r = &b->recs[j];

				total++;
				if (r->type == PREC_RETAIN_PUT)
					(*retain_put)++;
				if (r->type == PREC_RETAIN_DEL && ndel < max_del) {
					cr_assert_lt(r->str_len, 64);
					memcpy(retain_del[ndel], b->arena + r->str_off, r->str_len);
					retain_del[ndel++][r->str_len] = '\0';
				}
			}
			atomic_fetch_sub(&P->pending_bytes, b->bytes);
			persist_batch_free(b);
		}
	}
	return total;
}

Test(admin, retained_delete_is_recorded_and_sys_messages_are_not)
{
	struct config cfg;
	struct mem_client pub;
	char del[4][64];
	size_t puts;

	config_defaults(&cfg);
	cfg.persistence = true;
	broker_up_cfg(&cfg);
	mem_client_connect(&pub, &B, W1, "pub", true);
	publish(&pub, "keep/me", "v", 1, 0, true, 0);
	take_records(del, 4, &puts);
	cr_assert_eq(puts, 1);

	cr_assert_eq(ask_status(W0, ADMIN_RETAINED_DELETE,
				json_pack("{s:s}", "topic", "keep/me")), 0);
	cr_assert_eq(take_records(del, 4, &puts), 1);
	cr_assert_str_eq(del[0], "keep/me");
	/* Nothing found, nothing recorded. */
	cr_assert_eq(ask_status(W0, ADMIN_RETAINED_DELETE,
				json_pack("{s:s}", "topic", "keep/me")), -ENOENT);
	cr_assert_eq(take_records(del, 4, &puts), 0);

	cr_assert_eq(ask_status(W0, ADMIN_SYS_PUBLISH, json_pack("{s:[{s:s, s:s}]}", "messages",
				"topic", "$SYS/broker/uptime", "payload", "5 seconds")), 0);
	cr_assert_eq(retain_count(B.retain), 1);
	cr_assert_eq(take_records(del, 4, &puts), 0, "a $SYS message was recorded");
	broker_down();
}

/* ---- ADMIN_CONFIG ------------------------------------------------------------------------ */

Test(admin, config_swap_changes_max_inflight_for_the_next_publish)
{
	struct mem_client pub, sub;
	struct config cfg2;
	struct config_ref *ref;
	struct mqtt_pkt p;
	unsigned got = 0;
	uint16_t id;

	broker_up();
	mem_client_connect(&pub, &B, W0, "pub", true);
	mem_client_connect(&sub, &B, W1, "sub", true);
	mem_client_subscribe(&sub, "t");
	for (unsigned i = 1; i <= 3; i++)
		mem_client_publish_seq(&pub, "t", i, 1);
	mem_turn_all(&B);
	mem_turn_all(&B);
	while (mem_client_next_publish(&sub, &p)) {
		got++;
		send_packet(&sub, MQTT_PUBACK, p.u.publish.packet_id);
	}
	cr_assert_eq(got, 3, "the default window holds 3, %u sent", got);

	cfg2 = B.cfg;
	cfg2.max_inflight_messages = 1;
	ref = config_ref_new(&cfg2);
	cr_assert_not_null(ref);
	config_ref_get(ref);                   /* one reference per worker */
	for (unsigned w = 0; w < NWORKERS; w++) {
		struct admin_msg *m = post(w, ADMIN_CONFIG, NULL, ref);

		mem_worker_turn(B.workers[w]);
		cr_assert_eq(nreplied, 1);
		nreplied = 0;
		cr_assert_eq(m->status, 0);
		cr_assert_null(m->ptr, "the worker took its reference");
		cr_assert_eq(B.workers[w]->cfg, &ref->cfg);
		done(m);
	}

	for (unsigned i = 4; i <= 6; i++)
		mem_client_publish_seq(&pub, "t", i, 1);
	mem_turn_all(&B);
	mem_turn_all(&B);
	cr_assert(mem_client_next_publish(&sub, &p));
	cr_assert_eq(mem_client_seq(&p), 4);
	id = p.u.publish.packet_id;
	cr_assert_not(mem_client_next_publish(&sub, &p), "window of 1: m5 went too");
	send_packet(&sub, MQTT_PUBACK, id);
	cr_assert(mem_client_next_publish(&sub, &p));
	cr_assert_eq(mem_client_seq(&p), 5);
	broker_down();
}

/* ---- ADMIN_SYS_PUBLISH and clients' $SYS PUBLISH ----------------------------------------- */

Test(admin, sys_publish_reaches_sys_subscribers_and_is_retained)
{
	struct mem_client sys, all, late;
	struct admin_msg *m;

	broker_up();
	mem_client_connect(&sys, &B, W1, "sys", true);
	mem_client_subscribe(&sys, "$SYS/#");
	mem_client_connect(&all, &B, W1, "all", true);
	mem_client_subscribe(&all, "#");

	m = ask(W0, ADMIN_SYS_PUBLISH, json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "messages",
		"topic", "$SYS/broker/uptime", "payload", "5 seconds",
		"topic", "$SYS/broker/version", "payload", "petrel 0.1.0"));
	cr_assert_eq(m->status, 0);
	done(m);
	mem_turn_all(&B);
	expect_publish(&sys, "$SYS/broker/uptime", "5 seconds", false);
	expect_publish(&sys, "$SYS/broker/version", "petrel 0.1.0", false);
	/* MQTT-4.7.2-1: '#' does not reach topics starting with '$'. */
	expect_no_publish(&all);

	mem_client_connect(&late, &B, W0, "late", true);
	mem_client_subscribe(&late, "$SYS/broker/uptime");
	expect_publish(&late, "$SYS/broker/uptime", "5 seconds", true);
	cr_assert_eq(retain_count(B.retain), 2);

	cr_assert_eq(ask_status(W0, ADMIN_SYS_PUBLISH, json_pack("{s:[{s:s}]}", "messages",
				"topic", "$SYS/x")), -EINVAL);
	cr_assert_eq(ask_status(W0, ADMIN_SYS_PUBLISH, json_object()), -EINVAL);
	broker_down();
}

Test(admin, clients_cannot_publish_to_sys)
{
	struct mem_client pub, sys;
	struct mqtt_pkt p;

	broker_up();
	mem_client_connect(&sys, &B, W1, "sys", true);
	mem_client_subscribe(&sys, "$SYS/#");
	mem_client_subscribe(&sys, "$SYS");
	mem_client_subscribe(&sys, "$SYSTEM/#");
	mem_client_connect(&pub, &B, W0, "pub", true);

	publish(&pub, "$SYS/x", "q0", 2, 0, true, 0);
	publish(&pub, "$SYS", "q0", 2, 0, false, 0);
	publish(&pub, "$SYS/broker/clients/total", "q1", 2, 1, true, 7);
	expect_ack(&pub, MQTT_PUBACK, 7);
	publish(&pub, "$SYS/y", "q2", 2, 2, false, 8);
	expect_ack(&pub, MQTT_PUBREC, 8);
	/* Resent before PUBREL: acknowledged again, still nothing routed. */
	publish(&pub, "$SYS/y", "q2", 2, 2, false, 8);
	expect_ack(&pub, MQTT_PUBREC, 8);
	send_packet(&pub, MQTT_PUBREL, 8);
	expect_ack(&pub, MQTT_PUBCOMP, 8);
	cr_assert_eq(mem_conn_next(pub.tc, &p), 0, "more output to the publisher");

	mem_turn_all(&B);
	expect_no_publish(&sys);
	cr_assert_eq(retain_count(B.retain), 0);
	cr_assert_eq(STAT(W0, publish_sys_denied), 5);
	cr_assert_eq(STAT(W0, publish_in), 5);

	/* Only "$SYS" and below: "$SYSTEM" is an ordinary topic. */
	publish(&pub, "$SYSTEM/a", "ok", 2, 0, false, 0);
	expect_publish(&sys, "$SYSTEM/a", "ok", false);
	cr_assert_eq(STAT(W0, publish_sys_denied), 5);
	broker_down();
}

/* ---- gauges and packet counters ------------------------------------------------------------ */

Test(admin, session_gauges_follow_connect_disconnect_and_takeover)
{
	struct mem_client a, a2, a3, c;

	broker_up();
	mem_client_connect(&a, &B, W0, "a", false);
	cr_assert_eq(STAT(W0, sessions), 1);
	cr_assert_eq(STAT(W0, sessions_online), 1);
	mem_client_connect(&c, &B, W0, "c", true);
	cr_assert_eq(STAT(W0, sessions), 2);
	cr_assert_eq(STAT(W0, sessions_online), 2);
	send_packet(&c, MQTT_DISCONNECT, 0);      /* a clean session ends with it */
	cr_assert_eq(STAT(W0, sessions), 1);
	cr_assert_eq(STAT(W0, sessions_online), 1);
	send_packet(&a, MQTT_DISCONNECT, 0);      /* kept, offline */
	cr_assert_eq(STAT(W0, sessions), 1);
	cr_assert_eq(STAT(W0, sessions_online), 0);

	/* Resumed on the other worker: the session moves there. */
	mem_client_send_connect(&a2, &B, W1, "a", false);
	turn_until_answer(&a2);
	mem_client_expect_connack(&a2, true);
	cr_assert_eq(STAT(W0, sessions), 0);
	cr_assert_eq(STAT(W0, sessions_online), 0);
	cr_assert_eq(STAT(W1, sessions), 1);
	cr_assert_eq(STAT(W1, sessions_online), 1);

	/* Taken over while online: the old connection's worker lets go of both. */
	mem_client_send_connect(&a3, &B, W0, "a", false);
	turn_until_answer(&a3);
	mem_client_expect_connack(&a3, true);
	cr_assert(a2.tc->closed);
	cr_assert_eq(STAT(W1, sessions), 0);
	cr_assert_eq(STAT(W1, sessions_online), 0);
	cr_assert_eq(STAT(W0, sessions), 1);
	cr_assert_eq(STAT(W0, sessions_online), 1);
	cr_assert_eq(STAT_SUM(sessions), 1);
	broker_down();
}

Test(admin, packets_in_and_out_count_every_mqtt_packet)
{
	struct mem_client pub, sub;
	struct mqtt_pkt p;

	broker_up();
	mem_client_connect(&sub, &B, W0, "sub", true);      /* CONNECT / CONNACK */
	mem_client_subscribe(&sub, "t");                    /* SUBSCRIBE / SUBACK */
	send_packet(&sub, MQTT_PINGREQ, 0);                 /* PINGREQ / PINGRESP */
	mem_client_next(&sub, &p, MQTT_PINGRESP);
	cr_assert_eq(STAT(W0, packets_in), 3);
	cr_assert_eq(STAT(W0, packets_out), 3);

	mem_client_connect(&pub, &B, W1, "pub", true);      /* W1: 1 in, 1 out */
	/* QoS 2 both ways: PUBLISH, PUBREL in / PUBREC, PUBCOMP out on W1; PUBLISH,
	 * PUBREL out / PUBREC, PUBCOMP in on W0. */
	publish(&pub, "t", "x", 1, 2, false, 1);
	expect_ack(&pub, MQTT_PUBREC, 1);
	send_packet(&pub, MQTT_PUBREL, 1);
	expect_ack(&pub, MQTT_PUBCOMP, 1);
	cr_assert(mem_client_next_publish(&sub, &p));
	send_packet(&sub, MQTT_PUBREC, p.u.publish.packet_id);
	mem_client_next(&sub, &p, MQTT_PUBREL);
	send_packet(&sub, MQTT_PUBCOMP, p.u.packet_id);
	cr_assert_eq(STAT(W1, packets_in), 3);
	cr_assert_eq(STAT(W1, packets_out), 3);
	cr_assert_eq(STAT(W0, packets_in), 5);
	cr_assert_eq(STAT(W0, packets_out), 5);
	broker_down();
}
