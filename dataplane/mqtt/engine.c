/* engine.c - the MQTT engine behind engine_ops (engine.h): its per-worker state, the
 * cross-worker messages it exchanges, and its part of each loop turn. The worker loop
 * calls it only through mqtt_engine_ops; everything else of the engine stays private
 * to dataplane/mqtt. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/admin.h"
#include "petrel/broker.h"
#include "petrel/engine.h"
#include "petrel/session.h"
#include "mqtt/proto_int.h"

static int engine_attach(struct worker *w)
{
	struct mqtt_worker *mw;

	if (posix_memalign((void **)&mw, PETREL_CACHE_LINE, sizeof(*mw)) != 0)
		return -ENOMEM;
	memset(mw, 0, sizeof(*mw));
	atomic_init(&mw->recheck_paused, false);
	atomic_init(&mw->held_publishers, 0);
	atomic_init(&mw->inbound_deliveries, 0);
	atomic_init(&mw->inbound_full, false);
	CDS_INIT_LIST_HEAD(&mw->conns);
	CDS_INIT_LIST_HEAD(&mw->dirty);
	CDS_INIT_LIST_HEAD(&mw->paused);
	CDS_INIT_LIST_HEAD(&mw->sessions);
	CDS_INIT_LIST_HEAD(&mw->graveyard);
	mw->fanout = calloc(w->cfg->workers, sizeof(*mw->fanout));
	if (mw->fanout == NULL) {
		free(mw);
		return -ENOMEM;
	}
	mw->self = w;
	w->engine = mw;
	fence_worker_init(w);
	expiry_init(w);
	return 0;
}

static void engine_detach(struct worker *w)
{
	struct mqtt_worker *mw = mqtt_worker(w);

	if (mw == NULL)
		return;
	for (unsigned i = 0; i < w->cfg->workers; i++)
		free(mw->fanout[i].t);
	free(mw->fanout);
	free(mw);
	w->engine = NULL;
}

void engine_handle(struct worker *w, struct wmsg *m)
{
	worker_assert_current(w);
	if (m->type == WMSG_TYPE_ADMIN) {
		admin_handle(w, caa_container_of(m, struct admin_msg, h));
		return;
	}
	switch ((enum wmsg_type)m->type) {
	case WMSG_DELIVER:
		deliver_batch(w, caa_container_of(m, struct wmsg_deliver, h));
		break;
	case WMSG_TAKEOVER_REQ:
		takeover_request(w, caa_container_of(m, struct wmsg_takeover, h));
		break;
	case WMSG_TAKEOVER_DONE:
		takeover_done(w, caa_container_of(m, struct wmsg_takeover, h));
		break;
	case WMSG_HANDOVER_DRAINED:
		handover_drained(w, caa_container_of(m, struct wmsg_handover, h));
		break;
	case WMSG_HANDOVER_FENCE:
		handover_fence(w, caa_container_of(m, struct wmsg_handover, h));
		break;
	}
}

void engine_discard(struct wmsg *m)
{
	if (m->type == WMSG_TYPE_ADMIN) {
		admin_discard(caa_container_of(m, struct admin_msg, h));
		return;
	}
	switch ((enum wmsg_type)m->type) {
	case WMSG_DELIVER:
		deliver_discard(caa_container_of(m, struct wmsg_deliver, h));
		break;
	case WMSG_TAKEOVER_REQ:
	case WMSG_TAKEOVER_DONE:
		takeover_discard(caa_container_of(m, struct wmsg_takeover, h));
		break;
	case WMSG_HANDOVER_DRAINED:
	case WMSG_HANDOVER_FENCE:
		handover_discard(caa_container_of(m, struct wmsg_handover, h));
		break;
	}
}

void engine_adopt_session(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	if (s->listed)
		return;
	s->listed = true;
	w->stats.sessions++;
	cds_list_add_tail(&s->owner_link, &mqtt_worker(w)->sessions);
}

void engine_drop_session(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	expiry_session_remove(w, s);
	if (!s->listed)
		return;
	s->listed = false;
	w->stats.sessions--;
	cds_list_del(&s->owner_link);
	CDS_INIT_LIST_HEAD(&s->owner_link);
}

static bool engine_busy(struct worker *w)
{
	struct mqtt_worker *mw = mqtt_worker(w);

	/* Sequentially consistent: pairs with flow_recheck (flag, then <sleeping>). */
	return !cds_list_empty(&mw->dirty) || atomic_load(&mw->recheck_paused);
}

static void flush_dirty(struct mqtt_worker *mw)
{
	while (!cds_list_empty(&mw->dirty)) {
		struct mqtt_conn *c = cds_list_first_entry(&mw->dirty, struct mqtt_conn,
							   dirty_link);

		cds_list_del(&c->dirty_link);
		c->in_dirty = false;
		/* The transport may release bytes in the call, which may mark <c>
		 * again (more of its queue moved into the window): it goes back on the
		 * list and comes round again, until its queue or its room runs out. */
		conn_output(c);
	}
}

static void reap(struct mqtt_worker *mw)
{
	while (!cds_list_empty(&mw->graveyard)) {
		struct mqtt_conn *c = cds_list_first_entry(&mw->graveyard, struct mqtt_conn,
							   grave_link);

		cds_list_del(&c->grave_link);
		conn_free(c);
	}
}

static void engine_turn_end(struct worker *w)
{
	struct mqtt_worker *mw = mqtt_worker(w);

	worker_assert_current(w);
	flow_check_paused(w);
	flush_dirty(mw);
	reap(mw);
}

static void engine_teardown(struct worker *w)
{
	struct mqtt_conn *c, *tmp;

	worker_assert_current(w);
	cds_list_for_each_entry_safe(c, tmp, &mqtt_worker(w)->conns, link)
		conn_close(c, CLOSE_SHUTDOWN);
}

static void engine_session_end(struct session *s)
{
	handover_discard_held(s);
	session_drop_messages(s);
}

const struct engine_ops mqtt_engine_ops = {
	.name = "mqtt",
	.attach = engine_attach,
	.detach = engine_detach,
	.handle = engine_handle,
	.discard = engine_discard,
	.busy = engine_busy,
	.turn_end = engine_turn_end,
	.teardown = engine_teardown,
	.session_end = engine_session_end,
	.committed = fence_committed,
};
