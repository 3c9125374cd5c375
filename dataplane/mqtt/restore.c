/* restore.c - start-up with persistence: the stored sessions and retained messages
 * back into a broker whose workers exist but do not run yet (mqtt_restore, engine.h).
 *
 * store_load (store.h) calls back per session in store id order: the session, then its
 * subscriptions, its entries in message id order, its awaiting-PUBREL ids; then every
 * retained message. Each session comes back as a client that disconnected would have
 * left it (MQTT 3.1.1 section 3.1.2.4, cleanSession=0):
 *
 *   session     offline on worker sessdir_hash(client id) % nworkers, in the session
 *               directory, on that worker's sessions list and, with
 *               persistent_client_expiration, on its offline list by offline time (one
 *               that was online when the store was last written counts from now)
 *   sub         in the router and the session's own set, at its granted QoS
 *   entry       packet id 0: the queue, in order; else the inflight window with its
 *               packet id and state, re-sent on reconnection with DUP
 *               (MQTT-4.4.0-1): WAIT_PUBACK/WAIT_PUBREC keep the message,
 *               WAIT_PUBCOMP only the id (PUBREL is re-sent); last_packet_id past
 *               the highest, so new ids start after them
 *   rel         the incoming QoS 2 ids awaiting PUBREL (MQTT 4.3.3 method B: a resent
 *               PUBLISH with one of them is acknowledged, not delivered again)
 *   retained    the retain store, which takes its own reference
 *
 * A record that cannot be right (an empty client id, an invalid filter or topic, a
 * QoS over 2) is skipped with a warning rather than refusing the whole store; a
 * second session with a client id already loaded is skipped with its records. Runs
 * on the caller's thread (main) as an online urcu-qsbr reader (registered for the
 * call if it is not one already): the router, the directory and the retain store are
 * written as any worker writes them (cds_lfht wants registered callers), and a
 * quiescent state every RESTORE_CHUNK records lets their deferred frees and the
 * directory's resizes run during a long load. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "petrel/broker.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/retain.h"
#include "petrel/router.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/store.h"
#include "petrel/topic.h"
#include "mqtt/expiry.h"
#include "mqtt/proto_int.h"

/* Records between two quiescent states of the loading thread. */
#define RESTORE_CHUNK 1024u

struct restore_ctx {
	struct broker *b;
	struct session *s;        /* the session loading now (the directory's reference) */
	struct worker *w;         /* its owner */
	uint64_t sid;             /* its store id; records of another sid are out of order */
	bool skipped;             /* <sid> was skipped: so are its records */
	uint64_t now_wall_ms;
	uint32_t since_qs;
	uint64_t skipped_records;
	/* Packet ids the current session has in flight / awaiting PUBREL: a duplicate
	 * is a second entry for the same id, which the window cannot hold. */
	uint64_t inflight_ids[65536 / 64];
	uint64_t rel_ids[65536 / 64];
	char *err;
	size_t errlen;
};

static bool id_test_set(uint64_t *bits, uint16_t id)
{
	uint64_t bit = UINT64_C(1) << (id % 64);
	bool was = bits[id / 64] & bit;

	bits[id / 64] |= bit;
	return was;
}

static void restore_quiescent(struct restore_ctx *ctx)
{
	/* Safe: between two records the loader holds no RCU-protected pointer. */
	if (++ctx->since_qs >= RESTORE_CHUNK) {
		ctx->since_qs = 0;
		worker_quiescent_point();
	}
}

/* Clears the id sets of the session done loading (its ids only: cheaper than the
 * whole 16 KiB per session). */
static void restore_session_done(struct restore_ctx *ctx)
{
	struct session *s = ctx->s;

	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->inflight.span; i++) {
		uint16_t id = inflight_at(&s->inflight, i)->packet_id;

		ctx->inflight_ids[id / 64] = 0;
	}
	for (uint32_t i = 0; i < s->awaiting_rel_len; i++)
		ctx->rel_ids[s->awaiting_rel[i] / 64] = 0;
	ctx->s = NULL;
}

static void restore_skip(struct restore_ctx *ctx, const char *what, uint64_t sid)
{
	ctx->skipped_records++;
	log_warn("store: %s of session %" PRIu64 " skipped", what, sid);
}

/* The session records <sid> belong to, NULL if they are to be skipped; -EPROTO in
 * <rc> when the store gives them out of order (store.h promises session first). */
static struct session *restore_current(struct restore_ctx *ctx, uint64_t sid, int *rc)
{
	*rc = 0;
	restore_quiescent(ctx);
	if (sid != ctx->sid) {
		snprintf(ctx->err, ctx->errlen, "store: a record of session %" PRIu64
			 " came after session %" PRIu64 " (store_load order)", sid, ctx->sid);
		*rc = -EPROTO;
		return NULL;
	}
	return ctx->skipped ? NULL : ctx->s;
}

static int restore_session(void *arg, uint64_t sid, const char *client_id, size_t len,
			   uint64_t offline_since_ms)
{
	struct restore_ctx *ctx = arg;
	struct broker *b = ctx->b;
	struct session *s;
	struct worker *w;
	int rc;

	restore_session_done(ctx);
	restore_quiescent(ctx);
	ctx->sid = sid;
	ctx->skipped = true;
	if (len == 0 || len > UINT16_MAX || memchr(client_id, '\0', len) != NULL) {
		restore_skip(ctx, "an invalid client id", sid);
		return 0;
	}
	w = b->workers[sessdir_hash(client_id, len) % b->nworkers];
	s = session_create(client_id, len, (int)w->id);
	if (s == NULL)
		goto err_nomem;
	s->clean = false;
	atomic_store_explicit(&s->store_id, sid, memory_order_relaxed);
	rc = sessdir_insert(b->sessdir, s);
	if (rc == -EEXIST) {
		session_unref(s);
		log_warn("store: session %" PRIu64 " has client id '%.*s' of a session "
			 "loaded before it: skipped with its records", sid, (int)len,
			 client_id);
		ctx->skipped_records++;
		return 0;
	}
	if (rc < 0) {
		session_unref(s);
		goto err_nomem;
	}
	engine_adopt_session(w, s);
	expiry_session_restored(w, s, offline_since_ms, ctx->now_wall_ms);
	/* The directory holds it now; the loader borrows it until the next session. */
	session_unref(s);
	ctx->s = s;
	ctx->w = w;
	ctx->skipped = false;
	return 0;

err_nomem:
	snprintf(ctx->err, ctx->errlen, "store: out of memory restoring session %" PRIu64,
		 sid);
	return -ENOMEM;
}

static int restore_sub(void *arg, uint64_t sid, const char *filter, size_t len, uint8_t qos)
{
	struct restore_ctx *ctx = arg;
	struct router *r = ctx->b->router;
	struct session *s;
	int rc, added;

	s = restore_current(ctx, sid, &rc);
	if (s == NULL)
		return rc;
	if (qos > 2 || len > UINT16_MAX || !topic_filter_valid(filter, len)) {
		restore_skip(ctx, "an invalid subscription", sid);
		return 0;
	}
	added = router_subscribe(r, filter, len, s, qos);
	if (added < 0)
		goto err_nomem;
	if (session_sub_add(s, filter, len, qos) < 0) {
		if (added == 1)
			router_unsubscribe(r, filter, len, s);
		goto err_nomem;
	}
	return 0;

err_nomem:
	snprintf(ctx->err, ctx->errlen, "store: out of memory restoring the subscriptions "
		 "of client '%s'", s->client_id);
	return -ENOMEM;
}

/* The state an entry with a packet id can be in for its QoS, else INFLIGHT_FREE. */
static uint8_t restore_state(uint8_t qos, uint8_t state)
{
	switch (state) {
	case INFLIGHT_WAIT_PUBACK:
		return qos == 1 ? state : INFLIGHT_FREE;
	case INFLIGHT_WAIT_PUBREC:
	case INFLIGHT_WAIT_PUBCOMP:
		return qos == 2 ? state : INFLIGHT_FREE;
	default:
		return INFLIGHT_FREE;
	}
}

static int restore_entry(void *arg, uint64_t sid, struct msg *m, uint8_t qos, bool retain,
			 uint16_t packet_id, uint8_t state)
{
	struct restore_ctx *ctx = arg;
	struct session *s;
	struct inflight *e;
	int rc;

	s = restore_current(ctx, sid, &rc);
	if (s == NULL)
		return rc;
	/* QoS 0 is never stored (persist.h); a QoS over the message's cannot be. */
	if (qos == 0 || qos > 2 || qos > m->qos) {
		restore_skip(ctx, "a message with an invalid QoS", sid);
		return 0;
	}
	state = packet_id != 0 ? restore_state(qos, state) : INFLIGHT_FREE;
	if (state == INFLIGHT_FREE || id_test_set(ctx->inflight_ids, packet_id)) {
		/* Not sent yet (or a state it cannot have, or an id already taken: it
		 * goes again under a new id). */
		if (packet_id != 0)
			restore_skip(ctx, "a packet id or state", sid);
		if (msg_queue_push(&s->queue, m, qos, retain) < 0)
			goto err_nomem;
		return 0;
	}
	/* The window as it was: no limit but the id space (max_inflight_messages may
	 * have shrunk since; session_pump sends nothing new until it drains under). */
	e = inflight_add(&s->inflight, UINT16_MAX);
	if (e == NULL)
		goto err_nomem;
	e->m = state == INFLIGHT_WAIT_PUBCOMP ? NULL : msg_ref(m);
	e->msg_id = atomic_load_explicit(&m->store_id, memory_order_relaxed);
	e->packet_id = packet_id;
	e->qos = qos;
	e->retain = retain;
	e->state = state;
	if (packet_id > s->last_packet_id)
		s->last_packet_id = packet_id;
	return 0;

err_nomem:
	snprintf(ctx->err, ctx->errlen, "store: out of memory restoring the messages of "
		 "client '%s'", s->client_id);
	return -ENOMEM;
}

static int restore_rel(void *arg, uint64_t sid, uint16_t packet_id)
{
	struct restore_ctx *ctx = arg;
	struct session *s;
	int rc;

	s = restore_current(ctx, sid, &rc);
	if (s == NULL)
		return rc;
	if (packet_id == 0 || id_test_set(ctx->rel_ids, packet_id)) {
		restore_skip(ctx, "an awaiting-PUBREL id", sid);
		return 0;
	}
	rc = session_rel_add(s, packet_id);
	if (rc < 0) {
		snprintf(ctx->err, ctx->errlen, "store: out of memory restoring the QoS 2 "
			 "ids of client '%s'", s->client_id);
		return rc;
	}
	return 0;
}

static int restore_retained(void *arg, struct msg *m)
{
	struct restore_ctx *ctx = arg;

	restore_session_done(ctx);
	restore_quiescent(ctx);
	/* An empty payload would delete (MQTT-3.3.1-10): such a message is never stored. */
	if (m->payload_len == 0 || !topic_name_valid(m->topic, m->topic_len)) {
		ctx->skipped_records++;
		log_warn("store: retained message %" PRIu64 " skipped (invalid topic or "
			 "empty)", (uint64_t)atomic_load(&m->store_id));
		return 0;
	}
	if (retain_set(ctx->b->retain, m) < 0) {
		snprintf(ctx->err, ctx->errlen, "store: out of memory restoring retained "
			 "messages");
		return -ENOMEM;
	}
	return 0;
}

static const struct store_load_ops restore_ops = {
	.session = restore_session,
	.sub = restore_sub,
	.entry = restore_entry,
	.rel = restore_rel,
	.retained = restore_retained,
};

static uint64_t restore_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int mqtt_restore(struct broker *b, struct store *st, struct store_load_stats *stats,
		 char *err, size_t errlen)
{
	uint64_t t0 = restore_mono_us();
	/* Main is no reader; a unit test's thread is one already, and online. */
	bool reg = !rcu_read_ongoing();
	struct store_load_stats local;
	struct restore_ctx *ctx;
	char lerr[512];
	int rc;

	/* The two id sets are 16 KiB: not on main's stack. */
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return -ENOMEM;
	}
	if (reg)
		rcu_register_thread();
	if (stats == NULL)
		stats = &local;
	ctx->b = b;
	ctx->now_wall_ms = durable_wall_ms();
	ctx->err = err;
	ctx->errlen = errlen;
	err[0] = '\0';
	lerr[0] = '\0';
	rc = store_load(st, &restore_ops, ctx, stats, lerr, sizeof(lerr));
	restore_session_done(ctx);
	if (rc < 0) {
		/* A callback's reason is more precise than the loader's. */
		if (err[0] == '\0')
			snprintf(err, errlen, "%s", lerr[0] != '\0' ? lerr :
				 "store: loading failed");
		goto out;
	}
	for (unsigned i = 0; i < b->nworkers; i++) {
		rc = expiry_restored(b->workers[i]);
		if (rc < 0) {
			snprintf(err, errlen, "store: out of memory ordering offline sessions");
			goto out;
		}
	}
	log_notice("store: loaded %" PRIu64 " sessions (%" PRIu64 " subscriptions, %" PRIu64
		   " messages), %" PRIu64 " retained from %s in %" PRIu64 " ms",
		   stats->sessions, stats->subs, stats->entries, stats->retained,
		   store_path(st), (restore_mono_us() - t0) / 1000u);
	if (ctx->skipped_records > 0)
		log_warn("store: %" PRIu64 " records skipped (see above); they stay in %s",
			 ctx->skipped_records, store_path(st));
out:
	if (reg)
		rcu_unregister_thread();
	free(ctx);
	return rc;
}
