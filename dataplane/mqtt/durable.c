/* durable.c - the MQTT engine's change records (persist.h, DESIGN.md "Persistence"):
 * what a stored session (cleanSession=0 with persistence on, session.store_id != 0)
 * and the retained slots tell the control plane, at the point where the engine
 * changes them in memory. The records of routing, sending and acks are appended where
 * those happen (publish.c, qos.c, subscribe.c); this file holds the session's own
 * records and the helpers they share.
 *
 * Which worker appends a copy's ENTRY_PUT: the publishing one, while it routes
 * (route_one reads the target's store id, relaxed), so the PUBACK it fences covers
 * every copy, local or remote. The owner appends one itself when the copy reaches a
 * session stored under another id than the publisher saw (or none: a will, a
 * retained copy on SUBSCRIBE, a publisher out of memory): session_deliver_held
 * compares. Every append happens on the worker's thread into its open batch; the
 * batch reaches the queue before anything the worker posts to another worker
 * (worker_post), so an owner's ENTRY_STATE/ENTRY_DEL never overtakes the ENTRY_PUT.
 */
#include <errno.h>
#include <time.h>

#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/persist.h"
#include "petrel/retain.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

uint64_t durable_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int durable_session_online(struct worker *w, struct session *s)
{
	uint64_t sid = session_store_id(s);
	int rc;

	engine_assert_owner(w, s);
	s->offline_since_ms = 0;
	if (!durable_on(w))
		return 0;
	if (sid == 0) {
		/* A new session, or one whose earlier SESSION_PUT failed: from now on it
		 * is stored. Ids are never reused, so a record still queued for an
		 * earlier incarnation cannot touch this one. */
		sid = persist_new_sid(w->broker->persist);
		rc = durable_note(w, persist_session_put(w, sid, s->client_id,
							 s->client_id_len, 0));
		if (rc < 0)
			return rc;
		atomic_store_explicit(&s->store_id, sid, memory_order_relaxed);
		return 0;
	}
	return durable_note(w, persist_session_put(w, sid, s->client_id, s->client_id_len,
						   0));
}

int durable_session_discard(struct worker *w, struct session *s)
{
	uint64_t sid = session_store_id(s);
	int rc;

	engine_assert_owner(w, s);
	if (sid == 0 || !durable_on(w))
		return 0;
	/* MQTT-3.1.2-6: the stored state goes with the in-memory one. */
	rc = durable_note(w, persist_session_del(w, sid));
	if (rc < 0)
		return rc;
	atomic_store_explicit(&s->store_id, 0, memory_order_relaxed);
	return 0;
}

void durable_session_offline(struct worker *w, struct session *s)
{
	uint64_t sid = session_store_id(s);

	engine_assert_owner(w, s);
	s->offline_since_ms = durable_wall_ms();
	if (sid == 0 || !durable_on(w))
		return;
	/* Out of memory, the store keeps it online: the load then takes it as offline
	 * since start-up, which only delays its expiry. Counted in persist_oom. */
	(void)durable_note(w, persist_session_put(w, sid, s->client_id, s->client_id_len,
						  s->offline_since_ms));
}

int durable_copy_put(struct worker *w, uint64_t sid, struct msg *m, uint8_t qos,
		     bool retain)
{
	persist_msg_id(w, m);
	return durable_note(w, persist_entry_put(w, sid, m, qos, retain));
}

void durable_copy_drop(struct worker *w, uint64_t sid, const struct msg *m)
{
	uint64_t id = atomic_load_explicit(&m->store_id, memory_order_relaxed);

	if (sid == 0 || id == 0 || !durable_on(w))
		return;
	/* Out of memory the entry stays stored: after a restart the subscriber gets a
	 * message its queue had dropped, never loses one. */
	(void)durable_note(w, persist_entry_del(w, sid, id));
}

struct retain_rec {
	struct worker *w;
	bool failed;
	bool found;            /* a delete found a message (durable_retain_delete) */
};

/* retain_log_fn: under the retained store's writer lock. The push makes the queue's
 * order of retained records that of the changes (the lock's), whichever workers
 * publish: without it, worker A's older RETAIN_PUT could reach the store after B's
 * newer one and win after a restart. */
static int retain_record(void *arg, struct msg *m)
{
	struct retain_rec *r = arg;
	struct worker *w = r->w;
	int rc;

	if (m->payload_len == 0) {
		rc = persist_retain_del(w, m->topic, m->topic_len);
	} else {
		persist_msg_id(w, m);
		rc = persist_retain_put(w, m);
	}
	if (durable_note(w, rc) < 0) {
		r->failed = true;
		return rc;
	}
	persist_push(w);
	return 0;
}

int durable_retain_set(struct worker *w, struct msg *m, bool *failed)
{
	struct retain_rec r = { w, false, false };
	int rc;

	*failed = false;
	if (!durable_on(w))
		return retain_set(w->broker->retain, m);
	rc = retain_set_logged(w->broker->retain, m, retain_record, &r);
	*failed = r.failed;
	return rc;
}

/* retain_log_fn of a delete: called only when the slot holds a message. */
static int retain_delete_record(void *arg, struct msg *m)
{
	struct retain_rec *r = arg;

	r->found = true;
	return durable_on(r->w) ? retain_record(arg, m) : 0;
}

int durable_retain_delete(struct worker *w, const char *topic, size_t len)
{
	struct retain_rec r = { w, false, false };
	struct msg *m = msg_create(topic, len, "", 0, 0, true);
	int rc;

	if (m == NULL)
		return -ENOMEM;
	rc = retain_set_logged(w->broker->retain, m, retain_delete_record, &r);
	msg_unref(m);
	if (rc < 0)
		return rc;
	return r.found ? 0 : -ENOENT;
}
