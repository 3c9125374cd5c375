/* test_ctl_store.c - `store stats` and `store compact` on the control socket (issue 9,
 * control/ctl_store.c, store_compact.c) against the real broker with real clients:
 * the figures are exactly what the test stored and follow what clients consume and
 * end; compactions while a publisher keeps sending QoS 1 to offline persistent
 * sessions, then kill -9 and a restart, lose no acknowledged message; without
 * persistence both commands answer "unavailable". */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_client.h"
#include "harness.h"
#include "metrics_client.h"
#include "persist_clients.h"

TestSuite(ctl_store, .fini = harness_fini, .timeout = 240);

/* ---- helpers ----------------------------------------------------------------------- */

struct want_store {
	json_int_t sessions, subs, entries, rels, retained, msgs;
};

static bool store_is(json_t *s, const struct want_store *w)
{
	return ctl_int(s, "sessions") == w->sessions && ctl_int(s, "subs") == w->subs &&
	       ctl_int(s, "entries") == w->entries && ctl_int(s, "rels") == w->rels &&
	       ctl_int(s, "retained") == w->retained && ctl_int(s, "msgs") == w->msgs;
}

/* `petrelctl --json store stats` until it shows exactly <w> (the store commits in
 * groups; what a client's acknowledgement does not wait for, such as a session's end
 * or a delivered message's deletion, lands a little later): asserts it does within
 * 5 s and returns the figures (json_decref them). */
static json_t *store_settles_at(struct broker *b, const struct want_store *w,
				const char *when)
{
	uint64_t end = now_ms() + 5000;
	json_t *s;

	for (;;) {
		s = ctl_json(b, "store", "stats", NULL);
		if (store_is(s, w) || now_ms() > end)
			break;
		json_decref(s);
		usleep(50 * 1000);
	}
	cr_assert(store_is(s, w), "%s: store stats %s, want sessions %lld subs %lld "
		  "entries %lld rels %lld retained %lld msgs %lld", when,
		  json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS), (long long)w->sessions,
		  (long long)w->subs, (long long)w->entries, (long long)w->rels,
		  (long long)w->retained, (long long)w->msgs);
	cr_assert_gt(ctl_int(s, "file_bytes"), 0);
	cr_assert_leq(ctl_int(s, "used_bytes"), ctl_int(s, "file_bytes"));
	cr_assert_geq(ctl_int(s, "map_bytes"), ctl_int(s, "file_bytes"));
	return s;
}

/* `status` shows the store's figures too, and $SYS/broker/store/messages/count the
 * message count (mosquitto's "messages held in the message store"), both equal to
 * <w>. $SYS comes every sys_interval (1 s here): up to 5 tries. */
static void status_and_sys_agree(struct broker *b, const struct want_store *w)
{
	json_t *st = ctl_json(b, "status", NULL), *store = json_object_get(st, "store");
	char cmd[256], out[256], want[32];
	int tries = 0;

	cr_assert_not_null(store, "status has no store part with persistence on");
	cr_assert(store_is(store, w), "status store part %s",
		  json_dumps(store, JSON_COMPACT | JSON_SORT_KEYS));
	json_decref(st);
	snprintf(want, sizeof(want), "%lld\n", (long long)w->msgs);
	snprintf(cmd, sizeof(cmd), "mosquitto_sub -h %s -p %u -t "
		 "'$SYS/broker/store/messages/count' -C 1 -W 5", harness_host(),
		 (unsigned)b->port);
	do {
		if (tries > 0)
			usleep(1000 * 1000);
		cr_assert_eq(run_cmd(cmd, 10, out, sizeof(out)), 0, "mosquitto_sub: %s", out);
	} while (strcmp(out, want) != 0 && ++tries < 5);
	cr_assert_str_eq(out, want, "$SYS/broker/store/messages/count");
}

/* Receives <n> messages and acknowledges them before returning (client_sync). */
static void consume(struct client *c, int n, const char *who)
{
	struct rx_msg m;

	for (int i = 0; i < n; i++)
		cr_assert(client_wait_msg(c, &m, 5000), "%s: message %d of %d not received", who,
			  i + 1, n);
	cr_assert_eq(client_sync(c), 0);
}

/* ---- store stats ------------------------------------------------------------------- */

#define ST_SESSIONS 6
#define ST_QUEUED 9
#define ST_RETAINED 4

Test(ctl_store, stats_count_exactly_what_the_clients_stored)
{
	struct broker b;
	struct client *c, *pub;
	struct want_store w;
	char id[32], topic[32], payload[32];
	json_t *s;

	broker_start(&b, 2, "max_queued_messages 0\nsys_interval 1\n");
	for (int i = 0; i < ST_SESSIONS; i++) {
		snprintf(id, sizeof(id), "st-%d", i);
		c = connected_client(&b, id, false);
		cr_assert_eq(client_subscribe(c, "st/q/#", 1), 1);
		client_close(c);
	}
	/* A clean session and its subscription are never stored. */
	c = connected_client(&b, "st-clean", true);
	cr_assert_eq(client_subscribe(c, "st/q/#", 1), 1);

	pub = connected_client(&b, "st-pub", true);
	for (int i = 0; i < ST_QUEUED; i++) {
		int len = snprintf(payload, sizeof(payload), "queued %d", i);

		cr_assert_eq(client_publish(pub, "st/q/x", payload, len, 1, false), 0);
	}
	for (int i = 0; i < ST_RETAINED; i++) {
		int len = snprintf(payload, sizeof(payload), "kept %d", i);

		snprintf(topic, sizeof(topic), "st/r/%d", i);
		cr_assert_eq(client_publish(pub, topic, payload, len, 1, true), 0);
	}
	/* A retained message set and cleared again leaves nothing behind. */
	cr_assert_eq(client_publish(pub, "st/r/gone", "soon gone", 9, 1, true), 0);
	cr_assert_eq(client_publish(pub, "st/r/gone", "", 0, 1, true), 0);
	consume(c, ST_QUEUED, "st-clean");
	client_close(c);

	/* Every queued message is one message record shared by the sessions' entries. */
	w = (struct want_store){ .sessions = ST_SESSIONS, .subs = ST_SESSIONS,
				 .entries = ST_SESSIONS * ST_QUEUED, .rels = 0,
				 .retained = ST_RETAINED, .msgs = ST_QUEUED + ST_RETAINED };
	s = store_settles_at(&b, &w, "after publishing");
	cr_assert_gt(ctl_int(s, "commits"), 0);
	cr_assert_eq(ctl_int(s, "commit_failures"), 0);
	json_decref(s);

	/* st-0 takes its messages: its entries go, the messages stay for the others. */
	c = connected_client(&b, "st-0", false);
	cr_assert(client_session_present(c));
	consume(c, ST_QUEUED, "st-0");
	client_close(c);
	w.entries -= ST_QUEUED;
	json_decref(store_settles_at(&b, &w, "after st-0 consumed"));

	/* st-1 comes back with cleanSession 1: its stored session ends (MQTT-3.1.2-6). */
	c = connected_client(&b, "st-1", true);
	cr_assert_not(client_session_present(c));
	client_close(c);
	w.sessions--;
	w.subs--;
	w.entries -= ST_QUEUED;
	json_decref(store_settles_at(&b, &w, "after st-1 ended its session"));

	/* The retained messages replaced by ones of their own. */
	for (int i = 0; i < ST_RETAINED; i++) {
		snprintf(topic, sizeof(topic), "st/r/%d", i);
		cr_assert_eq(client_publish(pub, topic, "new", 3, 1, true), 0);
	}
	client_close(pub);
	json_decref(store_settles_at(&b, &w, "after the retained messages were replaced"));
	status_and_sys_agree(&b, &w);

	/* The same figures after a compaction and across a restart. */
	s = ctl_json(&b, "store", "compact", NULL);
	cr_assert_gt(ctl_int(s, "before_bytes"), 0);
	cr_assert_leq(ctl_int(s, "after_bytes"), ctl_int(s, "before_bytes"));
	cr_assert_geq(ctl_int(s, "elapsed_ms"), 0);
	json_decref(s);
	s = store_settles_at(&b, &w, "after compact");
	cr_assert_eq(ctl_int(s, "compactions"), 1);
	json_decref(s);
	broker_stop_keep_clean(&b);
	broker_restart(&b);
	cr_assert(broker_wait_log(&b, "store: loaded", 5000));
	json_decref(store_settles_at(&b, &w, "after a restart"));
	broker_stop_clean(&b);
}

/* ---- store compact under traffic --------------------------------------------------- */

#define LC_SUBS 3
#define LC_MAX_SEQ 100000u
#define LC_COMPACTIONS 4
#define LC_PAYLOAD 4000              /* a store of some MB: compactions take a while */
#define LC_RATE_PER_MS 2u

static const char *const lc_topics[] = { "lc/q1", NULL };

/* Publishes (at most LC_RATE_PER_MS a ms since <t0>) until <bc>'s stdout holds the
 * compaction's answer; returns how many it published meanwhile. */
static uint32_t publish_while(struct ppub *p, struct bg_cmd *bc, uint64_t t0)
{
	uint32_t sent0 = ppub_sent_count(p);
	uint64_t end = now_ms() + 60000;

	while (!bg_cmd_wait_output(bc, "after_bytes", 0)) {
		cr_assert_lt(now_ms(), end, "store compact did not answer within 60 s");
		if (ppub_sent_count(p) < LC_RATE_PER_MS * (uint32_t)(now_ms() - t0))
			ppub_step(p);
		cr_assert(ppub_is_up(p), "the publisher lost its connection");
		usleep(200);
	}
	return ppub_sent_count(p) - sent0;
}

Test(ctl_store, compact_under_traffic_then_kill9_loses_no_acknowledged_message)
{
	struct broker b;
	struct psub subs[LC_SUBS];
	struct ppub pub;
	char cmd[768], out[4096];
	const char *ctl_bin = getenv("PETRELCTL_BIN");
	uint64_t t0;
	uint32_t during_all = 0;

	cr_assert_not_null(ctl_bin, "PETRELCTL_BIN is not set");
	broker_start(&b, 2, "max_queued_messages 0\n");
	for (int i = 0; i < LC_SUBS; i++) {
		char id[32];

		snprintf(id, sizeof(id), "lc-%d", i);
		psub_init(&subs[i], id, lc_topics, LC_MAX_SEQ);
		cr_assert_not(psub_connect(&subs[i], &b));
		psub_subscribe(&subs[i], 1, "lc/#", 1);
		psub_disconnect(&subs[i]);
	}
	ppub_init(&pub, "lc-pub", "lc/q1", 1, LC_PAYLOAD, 20, LC_MAX_SEQ);
	ppub_connect(&pub, &b);
	t0 = now_ms();
	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' --json store compact", ctl_bin, b.ctl_path);
	for (int k = 0; k < LC_COMPACTIONS; k++) {
		struct bg_cmd bc;
		uint32_t during;
		json_t *r;

		/* Some traffic first, so each compaction copies a larger store. */
		for (uint64_t until = now_ms() + 300; now_ms() < until;) {
			if (ppub_sent_count(&pub) < LC_RATE_PER_MS * (uint32_t)(now_ms() - t0))
				ppub_step(&pub);
			usleep(500);
		}
		run_cmd_bg(&bc, cmd, 60);
		during = publish_while(&pub, &bc, t0);
		during_all += during;
		cr_assert_eq(bg_cmd_finish(&bc, out, sizeof(out)), 0, "store compact: %s",
			     out);
		r = json_loads(out, 0, NULL);
		cr_assert_not_null(r, "not JSON: %s", out);
		fprintf(stderr, "[ctl_store] compaction %d: %lld -> %lld bytes in %lld ms, %u "
			"published meanwhile, %u acknowledged so far\n", k + 1,
			ctl_int(r, "before_bytes"), ctl_int(r, "after_bytes"),
			ctl_int(r, "elapsed_ms"), (unsigned)during,
			(unsigned)ppub_acked_count(&pub));
		cr_assert_leq(ctl_int(r, "after_bytes"), ctl_int(r, "before_bytes"));
		json_decref(r);
	}
	/* Soon after the last compaction, with messages still in flight: what was
	 * acknowledged since went into the compacted file, not the one it replaced. */
	for (uint64_t until = now_ms() + 200; now_ms() < until;) {
		if (ppub_sent_count(&pub) < LC_RATE_PER_MS * (uint32_t)(now_ms() - t0))
			ppub_step(&pub);
		usleep(500);
	}
	broker_kill(&b);
	ppub_close(&pub);
	cr_assert_eq(broker_log_count(&b, "store: compacted"), LC_COMPACTIONS);
	cr_assert_gt(ppub_acked_count(&pub), 500, "too little traffic to mean anything");
	cr_assert_gt(during_all, 0, "nothing was published while compactions ran");

	broker_restart(&b);
	cr_assert(broker_wait_log(&b, "store: loaded", 10000));
	for (int i = 0; i < LC_SUBS; i++) {
		uint64_t end = now_ms() + 60000;
		uint32_t missing;

		cr_assert(psub_connect(&subs[i], &b), "%s: the stored session was lost",
			  subs[i].id);
		do {
			psub_poll(&subs[i], 200, 0);
			missing = 0;
			for (uint32_t seq = 1; seq <= ppub_sent_count(&pub); seq++)
				missing += ppub_is_acked(&pub, seq) &&
					   psub_count(&subs[i], 0, seq) == 0;
		} while (missing > 0 && now_ms() < end);
		fprintf(stderr, "[ctl_store] %s: %u delivered, %u acknowledged missing\n",
			subs[i].id, (unsigned)subs[i].delivered, (unsigned)missing);
		cr_assert_eq(missing, 0, "%s: %u acknowledged messages were lost", subs[i].id,
			     (unsigned)missing);
		cr_assert_eq(subs[i].unknown, 0);
		cr_assert_eq(subs[i].order_bad_seq[0], 0, "%s: order broken at %u", subs[i].id,
			     (unsigned)subs[i].order_bad_seq[0]);
		psub_disconnect(&subs[i]);
		psub_fini(&subs[i]);
	}
	ppub_fini(&pub);
	broker_stop_clean(&b);
}

/* ---- persistence off ----------------------------------------------------------------- */

Test(ctl_store, both_commands_answer_unavailable_without_persistence)
{
	static const char *const cmds[] = { "store.stats", "store.compact" };
	struct broker b;
	struct ctl_out o;

	broker_start(&b, 1, "persistence false\n");
	for (size_t i = 0; i < 2; i++) {
		char line[96];
		json_t *a;

		snprintf(line, sizeof(line), "{\"cmd\": \"%s\", \"id\": %zu}\n", cmds[i], i + 1);
		a = ctl_call(&b, line);
		cr_assert(json_is_false(json_object_get(a, "ok")), "%s", line);
		cr_assert_eq(json_integer_value(json_object_get(a, "id")), (json_int_t)(i + 1));
		cr_assert_str_eq(json_string_value(json_object_get(a, "code")), "unavailable");
		cr_assert_str_eq(json_string_value(json_object_get(a, "error")),
				 "persistence is off");
		json_decref(a);
	}
	ctl_run(&o, b.ctl_path, "store", "compact", NULL);
	cr_assert_eq(o.status, 1, "stderr: %s", o.err);
	cr_assert_not_null(strstr(o.err, "persistence is off"), "stderr: %s", o.err);
	cr_assert_eq(o.out_len, 0);
	ctl_out_free(&o);
	/* The broker carries on. */
	client_close(connected_client(&b, "still-serving", true));
	broker_stop_clean(&b);
}
