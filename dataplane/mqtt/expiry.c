/* expiry.c - persistent_client_expiration: each worker ends the offline
 * cleanSession=0 sessions it owns once they have been offline that long (see
 * expiry.h). Its will went out when the connection was lost; here the session goes
 * from the session directory, the router and, when stored, the store (SESSION_DEL).
 *
 *   offline (conn lost / start-up / takeover left offline) -> tail of w's list
 *   online (CONNECT took it up), handed over, ended          -> off the list
 *   timer, every EXPIRY_CHECK_MS while the list is not empty:
 *       while head offline for persistent_client_expiration_ms: end it (at most
 *       EXPIRY_BATCH, then again a tick later)
 *
 * Times: the list is ordered by offline_mono_ms, the workers' monotonic clock, so a
 * wall-clock step does not expire sessions early or keep them for ever; the wall clock
 * (offline_since_ms) is only what the store keeps, turned back into the workers' clock
 * at start-up (expiry_session_restored). */
#include <errno.h>
#include <stdlib.h>

#include "petrel/broker.h"
#include "petrel/log.h"
#include "petrel/session.h"
#include "mqtt/expiry.h"
#include "mqtt/proto_int.h"

static struct expiry *expiry_of(struct worker *w)
{
	return &mqtt_worker(w)->expiry;
}

static uint64_t expiry_after_ms(const struct worker *w)
{
	return w->cfg->persistent_client_expiration_ms;
}

static void expiry_arm(struct expiry *ex, uint64_t in_ms)
{
	timer_arm(&ex->w->wheel, &ex->timer, ex->w->now_ms + in_ms);
}

/* Ends <s>, offline past its time: out of the store first (the record goes behind any
 * of its own this worker appended), then as a clean session ends. */
static void expiry_end(struct worker *w, struct session *s)
{
	w->stats.sessions_expired++;
	log_notice("client '%s': offline for %llu s, session expired "
		   "(persistent_client_expiration)", s->client_id,
		   (unsigned long long)((w->now_ms - s->offline_mono_ms) / 1000u));
	/* SESSION_DEL. Out of memory (persist_oom counts it) the session stays in the
	 * store: it comes back at the next start, long offline, and expires again. */
	if (durable_session_discard(w, s) < 0)
		log_warn("client '%s': out of memory, the expired session stays in the "
			 "store until the next start", s->client_id);
	/* The list holds no reference, and the directory's and the router's go a grace
	 * period after their removal, which session_clear may let pass: hold one. */
	session_ref(s);
	session_end_owned(w, s);
	session_unref(s);
}

static void expiry_run(struct timer *t, uint64_t now)
{
	struct expiry *ex = caa_container_of(t, struct expiry, timer);
	struct worker *w = ex->w;
	uint64_t after = expiry_after_ms(w);
	unsigned ended = 0;

	while (!cds_list_empty(&ex->offline)) {
		struct session *s = cds_list_first_entry(&ex->offline, struct session,
							  offline_link);

		ex->looked++;
		if (now < s->offline_mono_ms + after)
			break;
		if (ended == EXPIRY_BATCH) {
			/* More are due: the next tick, after this turn's clients. */
			expiry_arm(ex, TIMER_TICK_MS);
			return;
		}
		expiry_session_remove(w, s);
		expiry_end(w, s);
		ended++;
	}
	if (!cds_list_empty(&ex->offline))
		expiry_arm(ex, EXPIRY_CHECK_MS);
}

void expiry_init(struct worker *w)
{
	struct expiry *ex = expiry_of(w);

	CDS_INIT_LIST_HEAD(&ex->offline);
	timer_init(&ex->timer, expiry_run);
	ex->w = w;
	ex->listed = 0;
	ex->looked = 0;
}

void expiry_session_add(struct worker *w, struct session *s)
{
	struct expiry *ex = expiry_of(w);
	struct cds_list_head *pos = ex->offline.prev;

	engine_assert_owner(w, s);
	if (expiry_after_ms(w) == 0 || !cds_list_empty(&s->offline_link))
		return;
	/* From the tail: a session going offline now is the newest, so this is one
	 * step; only one offline for a while before a takeover goes further back. */
	while (pos != &ex->offline &&
	       cds_list_entry(pos, struct session, offline_link)->offline_mono_ms >
	       s->offline_mono_ms)
		pos = pos->prev;
	cds_list_add(&s->offline_link, pos);
	ex->listed++;
	if (!ex->timer.armed)
		expiry_arm(ex, EXPIRY_CHECK_MS);
}

void expiry_session_offline(struct worker *w, struct session *s)
{
	s->offline_mono_ms = w->now_ms;
	expiry_session_add(w, s);
}

void expiry_session_remove(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	if (cds_list_empty(&s->offline_link))
		return;
	cds_list_del_init(&s->offline_link);
	expiry_of(w)->listed--;
	/* The timer stays armed: it finds the list empty once and is not re-armed. */
}

void expiry_session_online(struct worker *w, struct session *s)
{
	expiry_session_remove(w, s);
	s->offline_since_ms = 0;
}

void expiry_session_restored(struct worker *w, struct session *s, uint64_t since_ms,
			     uint64_t now_wall_ms)
{
	struct expiry *ex = expiry_of(w);
	uint64_t age;

	engine_assert_owner(w, s);
	if (since_ms == 0 || since_ms > now_wall_ms)
		since_ms = now_wall_ms;
	age = now_wall_ms - since_ms;
	s->offline_since_ms = since_ms;
	s->offline_mono_ms = w->now_ms > age ? w->now_ms - age : 0;
	if (expiry_after_ms(w) == 0)
		return;
	cds_list_add_tail(&s->offline_link, &ex->offline);
	ex->listed++;
}

static int by_offline_time(const void *a, const void *b)
{
	const struct session *x = *(struct session *const *)a;
	const struct session *y = *(struct session *const *)b;

	return (x->offline_mono_ms > y->offline_mono_ms) - (x->offline_mono_ms < y->offline_mono_ms);
}

int expiry_restored(struct worker *w)
{
	struct expiry *ex = expiry_of(w);
	struct session **v, *s;
	size_t n = 0;

	if (cds_list_empty(&ex->offline))
		return 0;
	/* The store gives sessions in store id order, not offline order: sort once. */
	v = malloc(ex->listed * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	cds_list_for_each_entry(s, &ex->offline, offline_link)
		v[n++] = s;
	qsort(v, n, sizeof(*v), by_offline_time);
	CDS_INIT_LIST_HEAD(&ex->offline);
	for (size_t i = 0; i < n; i++)
		cds_list_add_tail(&v[i]->offline_link, &ex->offline);
	free(v);
	if (!ex->timer.armed)
		expiry_arm(ex, EXPIRY_CHECK_MS);
	return 0;
}
