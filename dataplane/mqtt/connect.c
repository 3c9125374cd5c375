/* connect.c - CONNECT / CONNACK (MQTT 3.1.1 section 3.1, 3.2), session lookup and
 * takeover. A client id lives in the session directory; its session is owned by one
 * worker. A CONNECT arriving on another worker asks the owner to close the old
 * connection and hand the session over (WMSG_TAKEOVER_REQ / _DONE); the connection
 * waits, reading nothing, until the answer comes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "mqtt/expiry.h"
#include "mqtt/proto_int.h"

/* CONNECT for an id whose session is ending elsewhere retries the lookup this often. */
#define CONNECT_LOOKUP_RETRIES 8

static int refuse(struct mqtt_conn *c, uint8_t rc, const char *why)
{
	uint8_t ack[4];

	log_notice("%s: CONNECT refused (%u): %s", c->w->tops->peer(c->tc), rc, why);
	c->w->stats.connect_refused++;
	conn_send(c, ack, mqtt_encode_connack(ack, false, rc));
	conn_close(c, CLOSE_REFUSED);
	return -1;
}

/* Binds <s> (owned by this worker, reference passed in) to <c> and answers CONNACK 0.
 * <existed> tells whether the session was found rather than created. */
static int connect_finish(struct mqtt_conn *c, struct session *s, bool existed)
{
	struct worker *w = c->w;
	uint64_t mark;
	uint8_t ack[4];
	bool present;

	/* MQTT-3.1.2-6: cleanSession=1 discards any previous session; a session that was
	 * itself clean has nothing to resume either. */
	present = existed && !s->clean && !c->pending.clean;
	if (existed && !present) {
		/* The store forgets it first: out of memory, nothing has changed. */
		if (durable_session_discard(w, s) < 0) {
			session_unref(s);
			conn_close(c, CLOSE_NO_MEMORY);
			return -1;
		}
		session_clear(w, s);
		handover_cleared(s);
	}
	s->clean = c->pending.clean;
	s->conn = c;
	c->s = s;
	w->stats.sessions_online++;
	expiry_session_online(w, s);
	c->state = CONN_ACTIVE;
	conn_arm_keepalive(c);
	mark = durable_mark(w);
	if (!s->clean && durable_session_online(w, s) < 0) {
		/* No CONNACK without the session record. The session stays, offline and
		 * unstored; the next CONNECT stores it. */
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	w->stats.connect_accepted++;
	c->connected_since_ms = durable_wall_ms();
	log_info("%s: client '%s' connected (clean=%d, keepalive=%u, present=%d)",
		 w->tops->peer(c->tc), s->client_id, s->clean, c->keep_alive, present);
	/* 3.1.1 section 3.2.2.2: bit 0 of the acknowledge flags is Session Present. MQTT
	 * 3.1 (section 3.2) has no flags there: that byte is reserved and must stay 0
	 * whatever we resumed. */
	if (conn_send(c, ack, mqtt_encode_connack(ack, present && c->protocol_level !=
						  MQTT_PROTO_V31, MQTT_CONNACK_ACCEPTED)) < 0) {
		conn_close(c, CLOSE_NO_MEMORY);
		return -1;
	}
	if (present) {
		/* The CONNACK goes now; what is re-sent waits until the records of its
		 * state are committed, the previous owner's included (ahead of ours in
		 * the queue): a QoS 2 PUBLISH re-sent before its packet id is stored
		 * could come again under another id after a crash. */
		fence_after(c, mark);
		session_resend(w, s);
	}
	session_pump(w, s);
	return 0;
}

/* Closes <s>'s current connection, if any, because another one takes its place. */
static void kick_old_connection(struct worker *w, struct session *s)
{
	if (s->conn == NULL)
		return;
	w->stats.takeover++;
	/* MQTT-3.1.4-2: the existing client is disconnected; its will goes out. */
	conn_close(s->conn, CLOSE_TAKEOVER);
}

/* Creates, finds or requests the session for <id>. Returns 0 when the connection is
 * bound or waiting for a takeover, -1 if closed. */
static int attach_session(struct mqtt_conn *c, const char *id, size_t len)
{
	struct worker *w = c->w;
	struct sessdir *dir = w->broker->sessdir;

	for (int attempt = 0; attempt < CONNECT_LOOKUP_RETRIES; attempt++) {
		struct session *s = sessdir_lookup(dir, id, len);
		int owner, rc;

		if (s == NULL) {
			s = session_create(id, len, (int)w->id);
			if (s == NULL)
				return refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
			rc = sessdir_insert(dir, s);
			if (rc < 0) {
				session_unref(s);
				/* Another worker created it meanwhile: take the found path. */
				if (rc == -EEXIST)
					continue;
				return refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
			}
			engine_adopt_session(w, s);
			return connect_finish(c, s, false);
		}
		owner = session_owner(s);
		if (owner == (int)w->id) {
			kick_old_connection(w, s);
			/* A clean session ends with its connection: start afresh. */
			if (session_owner(s) == SESSION_DEAD) {
				session_unref(s);
				continue;
			}
			return connect_finish(c, s, true);
		}
		if (owner == SESSION_DEAD) {
			session_unref(s);
			continue;
		}
		/* Owned elsewhere: ask the owner for it; wait reading nothing. */
		struct wmsg_takeover *t = calloc(1, sizeof(*t));

		if (t == NULL) {
			session_unref(s);
			return refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
		}
		t->h.type = WMSG_TAKEOVER_REQ;
		t->s = s;
		t->conn = c;
		t->requester = (int)w->id;
		c->state = CONN_TAKEOVER;
		c->takeover_pending = true;
		conn_pause_read(c, true);
		worker_post(w->broker->workers[owner], &t->h);
		return 0;
	}
	return refuse(c, MQTT_CONNACK_UNAVAILABLE, "session busy");
}

void takeover_request(struct worker *w, struct wmsg_takeover *t)
{
	struct session *s = t->s;
	int owner = session_owner(s);

	worker_assert_current(w);
	if (owner != (int)w->id) {
		if (owner != SESSION_DEAD && owner != t->requester) {
			/* Moved on before we got here: pass the request along. */
			worker_post(w->broker->workers[owner], &t->h);
			return;
		}
	} else {
		/* Our own move here has not settled: the session moves on after it. */
		if (handover_park(w, s, t))
			return;
		kick_old_connection(w, s);
		/* A clean session died with its connection; the requester starts anew. */
		if (session_owner(s) == (int)w->id)
			handover_session(w, s, (unsigned)t->requester);
	}
	t->h.type = WMSG_TAKEOVER_DONE;
	worker_post(w->broker->workers[t->requester], &t->h);
}

void takeover_done(struct worker *w, struct wmsg_takeover *t)
{
	struct mqtt_conn *c = t->conn;
	struct session *s = t->s;
	int rc;

	worker_assert_current(w);
	free(t);
	c->takeover_pending = false;
	/* Two of our connections may have asked for the same session: adopting is
	 * idempotent, and attach_session below kicks whichever was bound first. */
	if (session_owner(s) == (int)w->id)
		engine_adopt_session(w, s);
	if (c->state == CONN_CLOSED) {
		/* The new client left while waiting; the session stays ours, offline
		 * since its previous connection went. */
		if (session_owner(s) == (int)w->id && s->conn == NULL && !s->clean)
			expiry_session_add(w, s);
		session_unref(s);
		cds_list_add_tail(&c->grave_link, &mqtt_worker(w)->graveyard);
		return;
	}
	/* Attach as for a CONNECT of a session we own, or look up afresh if it ended
	 * or moved on meanwhile. Our reference keeps the id readable meanwhile. */
	c->state = CONN_NEW;
	rc = attach_session(c, s->client_id, s->client_id_len);
	session_unref(s);
	if (rc == 0 && c->state == CONN_ACTIVE)
		conn_resume_input(c);
}

void takeover_discard(struct wmsg_takeover *t)
{
	struct mqtt_conn *c = t->conn;

	/* Worker teardown closed <c> but kept it for this answer: it is ours to free.
	 * A connection still open would belong to a running worker; leave it be. */
	c->takeover_pending = false;
	if (c->state == CONN_CLOSED)
		conn_free(c);
	session_unref(t->s);
	free(t);
}

void conn_detach_session(struct mqtt_conn *c)
{
	struct worker *w = c->w;
	struct session *s = c->s;

	worker_assert_current(c->w);
	if (s == NULL)
		return;
	/* An offline session never holds publishers back: its episode ends. */
	flow_session_offline(w, s);
	s->conn = NULL;
	c->s = NULL;
	w->stats.sessions_online--;
	if (s->clean) {
		/* MQTT-3.1.2-6: a clean session lasts as long as its connection. */
		session_end_owned(w, s);
	} else {
		durable_session_offline(w, s);
		expiry_session_offline(w, s);
	}
	session_unref(s);
}

void session_end_owned(struct worker *w, struct session *s)
{
	engine_assert_owner(w, s);
	sessdir_remove(w->broker->sessdir, s);
	session_clear(w, s);
	engine_drop_session(w, s);
	atomic_store_explicit(&s->owner, SESSION_DEAD, memory_order_release);
	handover_ended(w, s);
}

static bool utf8_id_char_ok(const struct mqtt_str *id)
{
	/* Any UTF-8 id is accepted (MQTT-3.1.3-5 allows the server to); the codec has
	 * already rejected invalid UTF-8. */
	(void)id;
	return true;
}

int handle_connect(struct mqtt_conn *c, const struct mqtt_connect *p)
{
	const struct config *cfg = conn_cfg(c);
	struct broker *b = c->w->broker;
	char auto_id[64];
	const char *id = p->client_id.ptr;
	size_t id_len = p->client_id.len;
	int err = 0;

	worker_assert_current(c->w);
	c->protocol_level = p->protocol_level;
	if (p->protocol_level == MQTT_PROTO_V31 && (id_len == 0 || id_len > 23))
		/* MQTT 3.1: identifiers are 1 to 23 characters. */
		return refuse(c, MQTT_CONNACK_ID_REJECTED, "3.1 client id length");
	if (id_len == 0) {
		/* MQTT-3.1.3-7/8: an empty id needs cleanSession=1; we assign one. */
		if (!p->clean_session)
			return refuse(c, MQTT_CONNACK_ID_REJECTED, "empty id with cleanSession=0");
		if (!cfg->allow_zero_length_clientid)
			return refuse(c, MQTT_CONNACK_ID_REJECTED, "empty id not allowed");
		snprintf(auto_id, sizeof(auto_id), "%s%u-%" PRIuFAST64, cfg->auto_id_prefix,
			 c->w->id, atomic_fetch_add(&b->next_auto_id, 1) + 1);
		id = auto_id;
		id_len = strlen(auto_id);
	}
	if (!utf8_id_char_ok(&p->client_id))
		return refuse(c, MQTT_CONNACK_ID_REJECTED, "client id");
	if (cfg->max_keepalive > 0 && (p->keep_alive == 0 || p->keep_alive > cfg->max_keepalive))
		/* As mosquitto: 3.1.1 cannot tell the client a lower keep-alive. */
		return refuse(c, MQTT_CONNACK_ID_REJECTED, "keep-alive above max_keepalive");
	if (!cfg->allow_anonymous) {
		/* No user database exists yet: every login fails. */
		if (!p->has_username)
			return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED, "anonymous not allowed");
		return refuse(c, MQTT_CONNACK_BAD_CREDENTIALS, "unknown user");
	}
	if (p->will_flag) {
		c->will = will_from_connect(p, &err);
		if (c->will == NULL) {
			if (err == -ENOMEM)
				return refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
			c->w->stats.protocol_error++;
			log_notice("%s: invalid will topic", c->w->tops->peer(c->tc));
			conn_close(c, CLOSE_PROTOCOL);
			return -1;
		}
	}
	if (cfg->max_connections >= 0) {
		if (atomic_fetch_add(&b->clients_connected, 1) >= cfg->max_connections) {
			uint8_t ack[4];

			atomic_fetch_sub(&b->clients_connected, 1);
			/* One line per episode, not per refused client: a crowd of
			 * reconnecting clients must not flood the log. */
			if (!atomic_exchange(&b->max_connections_logged, true))
				log_warn("max_connections (%d) reached: new clients get CONNACK "
					 "3 (counted in connect_refused and "
					 "connect_over_limit; logged once until a client leaves)",
					 cfg->max_connections);
			c->w->stats.connect_refused++;
			c->w->stats.connect_over_limit++;
			conn_send(c, ack, mqtt_encode_connack(ack, false, MQTT_CONNACK_UNAVAILABLE));
			conn_close(c, CLOSE_REFUSED);
			return -1;
		}
	} else {
		atomic_fetch_add(&b->clients_connected, 1);
	}
	c->counted = true;
	c->keep_alive = p->keep_alive;
	c->pending.clean = p->clean_session;
	return attach_session(c, id, id_len);
}
