/* test_persist.c - the workers' side of persistence (dataplane/persist.c): records in
 * order with their fields, the message references batches hold, store ids, batch
 * seqs, the queue into the control plane and its wake-up, the push before every
 * cross-worker post and at the end of every loop turn, and commit notices handed to
 * the engine once per advance. A real broker's workers over the in-memory transport,
 * never started: the test drives them (mem_transport.h) and plays the control plane
 * with persist_take and <committed>. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/worker.h"
#include "mem_client.h"
#include "mem_transport.h"
#include "unit_util.h"

enum { WA, WB, NWORKERS };
enum { MAX_SID = 41, MAX_MSG_ID = 1000 };

static struct broker B;
static struct persist *P;

TestSuite(persist, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 60);

/* A broker of two unstarted workers; with <attach>, persistence on (ids going on
 * from MAX_SID and MAX_MSG_ID, as after loading a store). */
static void broker_up(bool attach)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	cfg.workers = NWORKERS;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_ERR);
	cr_assert_eq(mem_broker_init(&B, &cfg, 1000000), 0);
	P = NULL;
	if (attach) {
		cr_assert_eq(persist_create(&P, MAX_SID, MAX_MSG_ID), 0);
		cr_assert_eq(persist_attach(&B, P), 0);
	}
}

static void broker_down(void)
{
	mem_broker_shutdown(&B);
	persist_destroy(P);
	P = NULL;
	assert_no_leaks_rcu();
}

static struct worker *W(unsigned i)
{
	return B.workers[i];
}

/* Runs on worker <i>'s behalf, as its thread would. */
#define ON_WORKER(i) for (int prev_ = worker_set_current(i), once_ = 1; once_; \
			  once_ = 0, worker_set_current(prev_))

/* Takes everything queued, asserting there are exactly <n> batches. */
static void take(struct persist_batch **out, size_t max, size_t n)
{
	size_t got = persist_take(P, out, max);

	cr_assert_eq(got, n, "batches queued: %zu, expected %zu", got, n);
}

static bool rec_str_is(const struct persist_batch *bt, const struct persist_rec *r,
		       const char *s)
{
	return r->str_len == strlen(s) && memcmp(bt->arena + r->str_off, s, r->str_len) == 0;
}

static struct msg *msg_new(const char *topic, size_t payload_len, bool retain)
{
	static char payload[20000];
	struct msg *m;

	cr_assert_leq(payload_len, sizeof(payload));
	memset(payload, 'p', payload_len);
	m = msg_create(topic, strlen(topic), payload, payload_len, 1, retain);
	cr_assert_not_null(m);
	return m;
}

/* One record of each kind, on <w>'s behalf: sid <sid>, entry message <m>, retained
 * message <r>. Asserts each appender returned 0. */
static void append_one_of_each(struct worker *w, uint64_t sid, struct msg *m, struct msg *r)
{
	cr_assert_eq(persist_session_put(w, sid, "client-1", 8, 1234), 0);
	cr_assert_eq(persist_sub_put(w, sid, "a/+", 3, 2), 0);
	cr_assert_eq(persist_entry_put(w, sid, m, 1, true), 0);
	cr_assert_eq(persist_entry_state(w, sid, 77, 9, 2), 0);
	cr_assert_eq(persist_entry_del(w, sid, 77), 0);
	cr_assert_eq(persist_rel_put(w, sid, 300), 0);
	cr_assert_eq(persist_rel_del(w, sid, 300), 0);
	cr_assert_eq(persist_retain_put(w, r), 0);
	cr_assert_eq(persist_retain_del(w, "r/t", 3), 0);
	cr_assert_eq(persist_sub_del(w, sid, "a/+", 3), 0);
	cr_assert_eq(persist_session_del(w, sid), 0);
}

Test(persist, every_call_is_a_no_op_without_persistence)
{
	struct msg *m;

	broker_up(false);
	m = msg_new("t", 3, false);
	ON_WORKER(WA) {
		struct worker *w = W(WA);

		cr_assert_null(w->persist);
		append_one_of_each(w, 1, m, m);
		cr_assert_eq(persist_msg_id(w, m), 0);
		cr_assert_eq(persist_last_seq(w), 0);
		cr_assert(persist_is_committed(w, 0));
		cr_assert(persist_is_committed(w, 3));
		cr_assert(!persist_notice_pending(w));
		persist_push(w);
		persist_push_current(&B);
		persist_turn(w);
		cr_assert_eq(w->stats.persist_records, 0);
	}
	cr_assert_eq(atomic_load(&m->refcnt), 1, "no reference taken");
	cr_assert_eq(atomic_load(&m->store_id), 0);
	msg_unref(m);
	broker_down();
}

Test(persist, records_come_out_in_order_with_their_fields)
{
	struct persist_batch *bt[4];
	struct msg *m, *r;
	const struct persist_rec *rec;

	broker_up(true);
	m = msg_new("a/b", 5, false);
	r = msg_new("r/t", 7, true);
	ON_WORKER(WB) {
		append_one_of_each(W(WB), 42, m, r);
		persist_push(W(WB));
	}
	take(bt, 4, 1);
	cr_assert_eq(bt[0]->worker, WB);
	cr_assert_eq(bt[0]->seq, 1);
	cr_assert_eq(bt[0]->n, 11);
	cr_assert_eq(W(WB)->stats.persist_records, 11);
	cr_assert_eq(W(WB)->stats.persist_batches, 1);

	rec = &bt[0]->recs[0];
	cr_assert_eq(rec->type, PREC_SESSION_PUT);
	cr_assert_eq(rec->sid, 42);
	cr_assert_eq(rec->time_ms, 1234);
	cr_assert(rec_str_is(bt[0], rec, "client-1"));
	rec++;
	cr_assert_eq(rec->type, PREC_SUB_PUT);
	cr_assert_eq(rec->sid, 42);
	cr_assert_eq(rec->qos, 2);
	cr_assert(rec_str_is(bt[0], rec, "a/+"));
	rec++;
	cr_assert_eq(rec->type, PREC_ENTRY_PUT);
	cr_assert_eq(rec->sid, 42);
	cr_assert_eq(rec->m, m);
	cr_assert_eq(rec->qos, 1);
	cr_assert(rec->retain);
	cr_assert_eq(rec->msg_id, MAX_MSG_ID + 1, "ids go on from the store's highest");
	cr_assert_eq(atomic_load(&m->store_id), MAX_MSG_ID + 1);
	rec++;
	cr_assert_eq(rec->type, PREC_ENTRY_STATE);
	cr_assert_eq(rec->msg_id, 77);
	cr_assert_eq(rec->packet_id, 9);
	cr_assert_eq(rec->state, 2);
	rec++;
	cr_assert_eq(rec->type, PREC_ENTRY_DEL);
	cr_assert_eq(rec->sid, 42);
	cr_assert_eq(rec->msg_id, 77);
	rec++;
	cr_assert_eq(rec->type, PREC_REL_PUT);
	cr_assert_eq(rec->packet_id, 300);
	rec++;
	cr_assert_eq(rec->type, PREC_REL_DEL);
	cr_assert_eq(rec->packet_id, 300);
	rec++;
	cr_assert_eq(rec->type, PREC_RETAIN_PUT);
	cr_assert_eq(rec->m, r);
	cr_assert_eq(rec->msg_id, MAX_MSG_ID + 2);
	rec++;
	cr_assert_eq(rec->type, PREC_RETAIN_DEL);
	cr_assert(rec_str_is(bt[0], rec, "r/t"));
	rec++;
	cr_assert_eq(rec->type, PREC_SUB_DEL);
	cr_assert(rec_str_is(bt[0], rec, "a/+"));
	rec++;
	cr_assert_eq(rec->type, PREC_SESSION_DEL);
	cr_assert_eq(rec->sid, 42);

	persist_batch_free(bt[0]);
	msg_unref(m);
	msg_unref(r);
	broker_down();
}

Test(persist, batches_hold_their_messages_until_freed)
{
	struct persist_batch *bt[4];
	struct msg *m;
	size_t msg_bytes;

	broker_up(true);
	m = msg_new("big", 10000, false);
	msg_bytes = sizeof(*m) + 4 + 10000;
	ON_WORKER(WA) {
		/* One PUBLISH routed to three stored sessions, and retained. */
		for (uint64_t sid = 1; sid <= 3; sid++)
			cr_assert_eq(persist_entry_put(W(WA), sid, m, 1, false), 0);
		cr_assert_eq(persist_retain_put(W(WA), m), 0);
		persist_push(W(WA));
	}
	cr_assert_eq(atomic_load(&m->refcnt), 5, "one reference per record");
	take(bt, 4, 1);
	/* The message is one allocation: the pending count has it once, not per copy. */
	cr_assert_geq(bt[0]->bytes, msg_bytes);
	cr_assert_lt(bt[0]->bytes, 2 * msg_bytes, "bytes %zu for a %zu-byte message",
		     bt[0]->bytes, msg_bytes);
	cr_assert_eq(atomic_load(&P->pending_bytes), bt[0]->bytes);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(bt[0]->recs[i].msg_id, MAX_MSG_ID + 1, "stored once, one id");
	msg_unref(m);
	cr_assert_eq(atomic_load(&m->refcnt), 4, "the batch keeps it alive");
	cr_assert_eq(m->payload[9999], 'p');
	persist_batch_free(bt[0]);
	broker_down();   /* the leak check: the last reference went with the batch */
}

Test(persist, strings_past_the_first_allocation_stay_intact)
{
	enum { N = 1000 };
	struct persist_batch *bt[2];
	char id[300];

	broker_up(true);
	ON_WORKER(WA) {
		for (unsigned i = 0; i < N; i++) {
			int len = snprintf(id, sizeof(id), "client-%u-%0*u", i, (int)(i % 250), i);

			cr_assert_eq(persist_session_put(W(WA), i + 1, id, (size_t)len, i), 0);
		}
		persist_push(W(WA));
	}
	take(bt, 2, 1);
	cr_assert_eq(bt[0]->n, N);
	for (unsigned i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "client-%u-%0*u", i, (int)(i % 250), i);
		cr_assert(rec_str_is(bt[0], &bt[0]->recs[i], id), "record %u", i);
		cr_assert_eq(bt[0]->recs[i].sid, i + 1);
	}
	persist_batch_free(bt[0]);
	broker_down();
}

Test(persist, seqs_count_batches_and_committed_follows_the_control_plane)
{
	struct persist_batch *bt[4];
	struct worker *w;

	broker_up(true);
	w = W(WA);
	ON_WORKER(WA) {
		cr_assert_eq(persist_last_seq(w), 0);
		persist_push(w);     /* nothing open: nothing pushed, no seq used */
		cr_assert_eq(persist_session_del(w, 1), 0);
		cr_assert_eq(persist_last_seq(w), 1);
		cr_assert_eq(persist_session_del(w, 2), 0);
		cr_assert_eq(persist_last_seq(w), 1, "same turn, same batch");
		persist_push(w);
		cr_assert_eq(persist_last_seq(w), 1, "a fence placed now still waits for 1");
		cr_assert_eq(persist_session_del(w, 3), 0);
		cr_assert_eq(persist_last_seq(w), 2);
		persist_push(w);
	}
	take(bt, 4, 2);
	cr_assert_eq(bt[0]->seq, 1);
	cr_assert_eq(bt[0]->n, 2);
	cr_assert_eq(bt[1]->seq, 2);
	cr_assert(persist_is_committed(w, 0));
	cr_assert(!persist_is_committed(w, 1));
	atomic_store(&w->persist->committed, 1);
	cr_assert(persist_is_committed(w, 1));
	cr_assert(!persist_is_committed(w, 2));
	cr_assert(!persist_is_committed(W(WB), 1), "per worker");
	persist_batch_free(bt[0]);
	persist_batch_free(bt[1]);
	broker_down();
}

Test(persist, ids_are_never_reused)
{
	struct msg *a, *b;

	broker_up(true);
	a = msg_new("a", 1, false);
	b = msg_new("b", 1, false);
	cr_assert_eq(persist_new_sid(P), MAX_SID + 1);
	cr_assert_eq(persist_new_sid(P), MAX_SID + 2);
	cr_assert_eq(persist_msg_id(W(WA), a), MAX_MSG_ID + 1);
	cr_assert_eq(persist_msg_id(W(WB), a), MAX_MSG_ID + 1, "set once");
	cr_assert_eq(persist_msg_id(W(WB), b), MAX_MSG_ID + 2);
	msg_unref(a);
	msg_unref(b);
	broker_down();
}

struct race {
	struct worker *w;
	struct msg *m;
	atomic_int *go;
	uint64_t id;
};

static void *race_msg_id(void *arg)
{
	struct race *r = arg;

	while (atomic_load(r->go) == 0)
		;
	r->id = persist_msg_id(r->w, r->m);
	return NULL;
}

/* A retained copy and a live one of the same message may be routed by two workers at
 * once: both must store it under the same id. */
Test(persist, racing_workers_give_a_message_one_id)
{
	enum { ROUNDS = 200 };

	broker_up(true);
	for (int round = 0; round < ROUNDS; round++) {
		struct msg *m = msg_new("t", 1, false);
		atomic_int go = 0;
		struct race r[2] = { { W(WA), m, &go, 0 }, { W(WB), m, &go, 0 } };
		pthread_t t[2];

		for (int i = 0; i < 2; i++)
			cr_assert_eq(pthread_create(&t[i], NULL, race_msg_id, &r[i]), 0);
		atomic_store(&go, 1);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		cr_assert_neq(r[0].id, 0);
		cr_assert_eq(r[0].id, r[1].id, "round %d: ids %lu and %lu", round,
			     (unsigned long)r[0].id, (unsigned long)r[1].id);
		cr_assert_eq(atomic_load(&m->store_id), r[0].id);
		msg_unref(m);
	}
	broker_down();
}

Test(persist, a_push_wakes_the_control_plane_only_when_it_sleeps)
{
	struct persist_batch *bt[4];
	uint64_t v;

	broker_up(true);
	ON_WORKER(WA) {
		cr_assert_eq(persist_session_del(W(WA), 1), 0);
		persist_push(W(WA));
	}
	cr_assert_eq(read(P->wake_fd, &v, sizeof(v)), -1, "awake: no eventfd write");

	atomic_store(&P->cplane_sleeping, 1);
	ON_WORKER(WA) {
		cr_assert_eq(persist_session_del(W(WA), 2), 0);
		persist_push(W(WA));
	}
	cr_assert_eq(read(P->wake_fd, &v, sizeof(v)), (ssize_t)sizeof(v), "woken");
	cr_assert_eq(atomic_load(&P->cplane_sleeping), 0);
	take(bt, 4, 2);
	cr_assert_eq(atomic_load(&P->pending_bytes), bt[0]->bytes + bt[1]->bytes);
	persist_batch_free(bt[0]);
	persist_batch_free(bt[1]);
	broker_down();
}

/* Causality across workers (persist.h "Ordering"): the records a worker appended go
 * into the queue before any message it posts to another worker, here a real QoS 1
 * delivery routed from A's publisher to B's subscriber, which B acknowledges with
 * records of its own once it has it. */
Test(persist, a_post_to_another_worker_pushes_the_open_batch_first)
{
	struct persist_batch *bt[4];
	struct mem_client sub, pub;

	broker_up(true);
	mem_client_connect(&sub, &B, WB, "sub", true);
	mem_client_subscribe(&sub, "t");
	mem_client_connect(&pub, &B, WA, "pub", true);
	take(bt, 4, 0);

	ON_WORKER(WA)
		cr_assert_eq(persist_session_put(W(WA), 7, "pub", 3, 0), 0);
	/* Handled at once, within A's turn: routed and posted to B, no turn ends. */
	mem_client_publish_seq(&pub, "t", 1, 1);
	cr_assert(!cds_wfcq_empty(&W(WB)->inbound_head, &W(WB)->inbound_tail),
		  "the delivery is on B's queue");
	take(bt, 4, 1);
	cr_assert_eq(bt[0]->worker, WA);
	cr_assert_eq(bt[0]->recs[0].sid, 7);
	persist_batch_free(bt[0]);

	/* A post from a thread that runs no worker has no batch to push. */
	ON_WORKER(WB)
		cr_assert_eq(persist_session_del(W(WB), 8), 0);
	persist_push_current(&B);
	take(bt, 4, 0);
	mem_turn_all(&B);
	take(bt, 4, 1);
	cr_assert_eq(bt[0]->worker, WB);
	persist_batch_free(bt[0]);
	broker_down();
}

Test(persist, a_loop_turn_ends_with_its_records_pushed)
{
	struct persist_batch *bt[4];

	broker_up(true);
	ON_WORKER(WA)
		cr_assert_eq(persist_session_del(W(WA), 1), 0);
	mem_worker_turn(W(WB));
	take(bt, 4, 0);
	mem_worker_turn(W(WA));
	take(bt, 4, 1);
	cr_assert_eq(bt[0]->worker, WA);
	cr_assert_null(W(WA)->persist->open);
	persist_batch_free(bt[0]);

	/* The worker's last records, as it exits (its sessions going offline). */
	ON_WORKER(WB)
		cr_assert_eq(persist_session_put(W(WB), 2, "c", 1, 99), 0);
	mem_broker_shutdown(&B);
	take(bt, 4, 1);
	cr_assert_eq(bt[0]->worker, WB);
	cr_assert_eq(bt[0]->recs[0].time_ms, 99);
	persist_batch_free(bt[0]);
	persist_destroy(P);
	P = NULL;
	assert_no_leaks_rcu();
}

/* The engine hook, recording each call; then the engine's own, if it has one. */
static struct engine_ops notice_ops;
static uint64_t notices[8];
static unsigned n_notices;

static void notice_committed(struct worker *w, uint64_t seq)
{
	if (n_notices < 8)
		notices[n_notices] = seq;
	n_notices++;
	if (mqtt_engine_ops.committed != NULL)
		mqtt_engine_ops.committed(w, seq);
}

Test(persist, each_commit_advance_reaches_the_engine_once)
{
	struct worker *w;

	broker_up(true);
	w = W(WA);
	notice_ops = *w->eops;
	notice_ops.committed = notice_committed;
	w->eops = &notice_ops;

	mem_worker_turn(w);
	cr_assert_eq(n_notices, 0, "nothing committed yet");
	/* What cplane_notify does. */
	atomic_store(&w->persist->committed, 1);
	cr_assert(persist_notice_pending(w), "the loop must not sleep on it");
	mem_worker_turn(w);
	cr_assert_eq(n_notices, 1);
	cr_assert_eq(notices[0], 1);
	cr_assert(!persist_notice_pending(w));
	mem_worker_turn(w);
	cr_assert_eq(n_notices, 1, "no advance, no call");
	atomic_store(&w->persist->committed, 4);
	mem_worker_turn(w);
	cr_assert_eq(n_notices, 2);
	cr_assert_eq(notices[1], 4, "the newest seq, once");
	mem_worker_turn(W(WB));
	cr_assert_eq(n_notices, 2);
	w->eops = &mqtt_engine_ops;
	broker_down();
}

/* persist_destroy after an unorderly end: batches still queued are freed with the
 * messages they hold (the leak check). */
Test(persist, destroy_frees_what_is_still_queued)
{
	struct msg *m;

	broker_up(true);
	m = msg_new("t", 100, false);
	ON_WORKER(WA) {
		cr_assert_eq(persist_entry_put(W(WA), 1, m, 1, false), 0);
		persist_push(W(WA));
		cr_assert_eq(persist_entry_put(W(WA), 2, m, 1, false), 0);
	}
	msg_unref(m);
	broker_down();
}
