/* admin.c - a worker's answers to the control plane (admin.h): what the control socket
 * asks of the sessions, connections and configuration this worker owns, and the
 * retained store changes it makes through the engine's own paths. Each request is an
 * admin_msg taken off the worker's inbound queue (engine_handle); the worker builds
 * the jansson result, which it owns until admin_reply() hands the message back.
 *
 * Listings (clients, subscriptions, retained) honour the request's limit the way the
 * control plane merges them: each worker keeps its <limit> first entries in the
 * reply's order (a bounded max-heap while it walks, sorted at the end) and counts
 * every match in "total", so the merged first <limit> are the broker's first.
 */
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/admin.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/retain.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/topic.h"
#include "mqtt/proto_int.h"

/* The wire's default (ctl_contract): a request without "limit". */
#define ADMIN_DEFAULT_LIMIT 1000

/* ---- arguments ------------------------------------------------------------------- */

/* *out = the string <key> of <args>, NULL when absent. -EINVAL if not a string. */
static int arg_str(const json_t *args, const char *key, const char **out)
{
	const json_t *v = args != NULL ? json_object_get(args, key) : NULL;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	*out = json_string_value(v);
	return 0;
}

static int arg_limit(const json_t *args, size_t *out)
{
	const json_t *v = args != NULL ? json_object_get(args, "limit") : NULL;

	*out = ADMIN_DEFAULT_LIMIT;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (size_t)json_integer_value(v);
	return 0;
}

/* ---- the first <limit> matches in order ------------------------------------------- */

struct pick {
	const char *key;         /* client id, or topic */
	const char *key2;        /* then filter; NULL: none */
	void *p;                 /* the session, subscription or msg */
};

struct picks {
	struct pick *v;
	size_t n, cap;
	size_t limit;            /* 0: all */
	uint64_t total;          /* every match offered */
	bool oom;
};

static int pick_cmp(const struct pick *a, const struct pick *b)
{
	int d = strcmp(a->key, b->key);

	if (d != 0 || a->key2 == NULL || b->key2 == NULL)
		return d;
	return strcmp(a->key2, b->key2);
}

static int pick_qsort_cmp(const void *a, const void *b)
{
	return pick_cmp(a, b);
}

static void pick_swap(struct pick *v, size_t i, size_t j)
{
	struct pick t = v[i];

	v[i] = v[j];
	v[j] = t;
}

/* While limited, v[] is a max-heap: v[0] is the last of the first <limit>. */
static void heap_up(struct pick *v, size_t i)
{
	while (i > 0 && pick_cmp(&v[(i - 1) / 2], &v[i]) < 0) {
		pick_swap(v, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct pick *v, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, big = i;

		if (l < n && pick_cmp(&v[l], &v[big]) > 0)
			big = l;
		if (r < n && pick_cmp(&v[r], &v[big]) > 0)
			big = r;
		if (big == i)
			return;
		pick_swap(v, i, big);
		i = big;
	}
}

/* Offers a match. Returns true if kept; *out is the one it displaced (out->p NULL
 * if none), for the caller to release. */
static bool picks_offer(struct picks *ps, struct pick x, struct pick *out)
{
	out->p = NULL;
	ps->total++;
	if (ps->limit > 0 && ps->n == ps->limit) {
		if (pick_cmp(&x, &ps->v[0]) >= 0)
			return false;
		*out = ps->v[0];
		ps->v[0] = x;
		heap_down(ps->v, ps->n, 0);
		return true;
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct pick *v;

		if (ps->limit > 0 && cap > ps->limit)
			cap = ps->limit;
		v = realloc(ps->v, cap * sizeof(*v));
		if (v == NULL) {
			ps->oom = true;
			return false;
		}
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n++] = x;
	if (ps->limit > 0)
		heap_up(ps->v, ps->n - 1);
	return true;
}

static void picks_sort(struct picks *ps)
{
	if (ps->n > 1)
		qsort(ps->v, ps->n, sizeof(ps->v[0]), pick_qsort_cmp);
}

/* ---- clients and sessions ---------------------------------------------------------- */

static json_t *opt_int(bool present, json_int_t v)
{
	return present ? json_integer(v) : json_null();
}

/* CLIENT of admin.h. */
static json_t *client_json(struct worker *w, const struct session *s)
{
	const struct mqtt_conn *c = s->conn;
	bool online = c != NULL && c->state == CONN_ACTIVE;
	const char *addr = online ? w->tops->peer(c->tc) : NULL;

	return json_pack("{s:s, s:i, s:b, s:o, s:o, s:b, s:o, s:o, s:o, s:I, s:I, s:I}",
			 "client", s->client_id,
			 "worker", (int)w->id,
			 "connected", online,
			 "address", addr != NULL ? json_string(addr) : json_null(),
			 "protocol", online ? json_string(c->protocol_level == MQTT_PROTO_V31 ?
							  "3.1" : "3.1.1") : json_null(),
			 "clean", s->clean,
			 "keepalive", opt_int(online, online ? c->keep_alive : 0),
			 "connected_since", opt_int(online, online ?
						    (json_int_t)(c->connected_since_ms / 1000) : 0),
			 "offline_since", opt_int(!online && s->offline_since_ms != 0,
						  (json_int_t)(s->offline_since_ms / 1000)),
			 "subscriptions", (json_int_t)session_sub_count(s),
			 "inflight", (json_int_t)s->inflight.live,
			 "queued", (json_int_t)s->queue.len);
}

/* {"total", <name>: [items]} from sorted picks; <item> builds one. */
static int listing(struct picks *ps, const char *name, json_t *(*item)(void *arg,
		   const struct pick *p), void *arg, json_t **result)
{
	json_t *list;

	if (ps->oom)
		return -ENOMEM;
	picks_sort(ps);
	list = json_array();
	if (list == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ps->n; i++) {
		if (json_array_append_new(list, item(arg, &ps->v[i])) < 0) {
			json_decref(list);
			return -ENOMEM;
		}
	}
	*result = json_pack("{s:I, s:o}", "total", (json_int_t)ps->total, name, list);
	return *result != NULL ? 0 : -ENOMEM;
}

static json_t *client_item(void *arg, const struct pick *p)
{
	return client_json(arg, p->p);
}

static int op_clients(struct worker *w, const json_t *args, json_t **result)
{
	struct picks ps = { 0 };
	const char *pattern;
	struct session *s;
	struct pick out;
	int rc;

	if (arg_str(args, "pattern", &pattern) < 0 || arg_limit(args, &ps.limit) < 0)
		return -EINVAL;
	cds_list_for_each_entry(s, &mqtt_worker(w)->sessions, owner_link) {
		if (pattern != NULL && fnmatch(pattern, s->client_id, 0) != 0)
			continue;
		picks_offer(&ps, (struct pick){ s->client_id, NULL, s }, &out);
	}
	rc = listing(&ps, "clients", client_item, w, result);
	free(ps.v);
	return rc;
}

static json_t *subscription_item(void *arg, const struct pick *p)
{
	const struct subscription *sub = p->p;

	(void)arg;
	return json_pack("{s:s, s:s, s:i}", "client", p->key, "filter", sub->filter,
			 "qos", sub->qos);
}

static int op_subscriptions(struct worker *w, const json_t *args, json_t **result)
{
	struct picks ps = { 0 };
	const char *filter;
	struct session *s;
	struct pick out;
	int rc;

	if (arg_str(args, "filter", &filter) < 0 || arg_limit(args, &ps.limit) < 0 ||
	    (filter != NULL && !topic_filter_valid(filter, strlen(filter))))
		return -EINVAL;
	cds_list_for_each_entry(s, &mqtt_worker(w)->sessions, owner_link) {
		struct subscription *sub;
		uint32_t pos = 0;

		while ((sub = ptrhash_next(&s->subs, &pos)) != NULL) {
			/* A filter over filters: its '+' and '#' stand for levels of the
			 * subscription's filter, whose own wildcards are plain text. */
			if (filter != NULL &&
			    !topic_matches(filter, strlen(filter), sub->filter, sub->len))
				continue;
			picks_offer(&ps, (struct pick){ s->client_id, sub->filter, sub }, &out);
		}
	}
	rc = listing(&ps, "subscriptions", subscription_item, NULL, result);
	free(ps.v);
	return rc;
}

/* The session of args.client when this worker owns it (reference taken), or NULL
 * with *rc set: -ENOENT (unknown here), -EINVAL. */
static struct session *owned_session(struct worker *w, const json_t *args, int *rc)
{
	const char *id;
	struct session *s;

	if (arg_str(args, "client", &id) < 0 || id == NULL) {
		*rc = -EINVAL;
		return NULL;
	}
	/* The directory is read under RCU; the reference keeps <s> past it. Only the
	 * owner may read the rest, and ownership cannot move to us or away from us
	 * while we run (we are the ones who would move it). */
	s = sessdir_lookup(w->broker->sessdir, id, strlen(id));
	if (s != NULL && session_owner(s) != (int)w->id) {
		session_unref(s);
		s = NULL;
	}
	*rc = s != NULL ? 0 : -ENOENT;
	return s;
}

static int sub_cmp(const void *a, const void *b)
{
	const struct subscription *x = *(const struct subscription *const *)a;
	const struct subscription *y = *(const struct subscription *const *)b;

	return strcmp(x->filter, y->filter);
}

/* [{"filter", "qos"}] of <s>, by filter. */
static json_t *subscriptions_list(const struct session *s)
{
	struct subscription **v = calloc(session_sub_count(s) + 1, sizeof(*v));
	struct subscription *sub;
	uint32_t pos = 0, n = 0;
	json_t *list = json_array();

	if (v == NULL || list == NULL) {
		free(v);
		json_decref(list);
		return NULL;
	}
	while ((sub = ptrhash_next(&s->subs, &pos)) != NULL && n < session_sub_count(s))
		v[n++] = sub;
	qsort(v, n, sizeof(*v), sub_cmp);
	for (uint32_t i = 0; i < n; i++) {
		if (json_array_append_new(list, json_pack("{s:s, s:i}", "filter", v[i]->filter,
							  "qos", v[i]->qos)) < 0) {
			json_decref(list);
			list = NULL;
			break;
		}
	}
	free(v);
	return list;
}

static int op_session_show(struct worker *w, const json_t *args, json_t **result)
{
	int rc;
	struct session *s = owned_session(w, args, &rc);
	json_t *r;

	if (s == NULL)
		return rc;
	r = client_json(w, s);
	if (r == NULL || json_object_set_new(r, "subscriptions_list", subscriptions_list(s)) < 0 ||
	    json_object_set_new(r, "awaiting_pubrel", json_integer(s->awaiting_rel_len)) < 0 ||
	    json_object_set_new(r, "queued_bytes", json_integer((json_int_t)s->queue.bytes)) < 0) {
		json_decref(r);
		session_unref(s);
		return -ENOMEM;
	}
	session_unref(s);
	*result = r;
	return 0;
}

static int op_kick(struct worker *w, const json_t *args)
{
	int rc;
	struct session *s = owned_session(w, args, &rc);

	if (s == NULL)
		return rc;
	if (s->conn == NULL || s->conn->state != CONN_ACTIVE) {
		session_unref(s);
		return -ENOTCONN;
	}
	log_notice("%s (%s): kicked by the operator", w->tops->peer(s->conn->tc),
		   s->client_id);
	/* As a lost connection: MQTT-3.1.2-8, the will goes out. */
	conn_close(s->conn, CLOSE_KICKED);
	session_unref(s);
	return 0;
}

/* ---- retained messages ------------------------------------------------------------- */

static void retained_pick(void *arg, struct msg *m)
{
	struct picks *ps = arg;
	struct pick out;

	if (picks_offer(ps, (struct pick){ m->topic, NULL, m }, &out))
		msg_ref(m);
	msg_unref(out.p);
}

static json_t *retained_item(void *arg, const struct pick *p)
{
	const struct msg *m = p->p;
	/* NULL for a payload that is not UTF-8 text (jansson refuses it). */
	json_t *text = json_stringn((const char *)m->payload, m->payload_len);

	(void)arg;
	return json_pack("{s:s, s:i, s:I, s:o}", "topic", m->topic, "qos", m->qos,
			 "bytes", (json_int_t)m->payload_len,
			 "payload", text != NULL ? text : json_null());
}

static int op_retained_list(struct worker *w, const json_t *args, json_t **result)
{
	struct picks ps = { 0 };
	const char *filter;
	int rc;

	if (arg_str(args, "filter", &filter) < 0 || arg_limit(args, &ps.limit) < 0)
		return -EINVAL;
	if (filter == NULL)
		filter = "#";
	if (!topic_filter_valid(filter, strlen(filter)))
		return -EINVAL;
	rcu_read_lock();
	retain_match(w->broker->retain, filter, strlen(filter), retained_pick, &ps);
	rcu_read_unlock();
	rc = listing(&ps, "retained", retained_item, NULL, result);
	for (size_t i = 0; i < ps.n; i++)
		msg_unref(ps.v[i].p);
	free(ps.v);
	return rc;
}

static int op_retained_delete(struct worker *w, const json_t *args)
{
	const char *topic;

	if (arg_str(args, "topic", &topic) < 0 || topic == NULL ||
	    !topic_name_valid(topic, strlen(topic)))
		return -EINVAL;
	return durable_retain_delete(w, topic, strlen(topic));
}

/* ---- the broker's own messages ------------------------------------------------------ */

static int op_sys_publish(struct worker *w, const json_t *args)
{
	const json_t *list = args != NULL ? json_object_get(args, "messages") : NULL;
	const json_t *e;
	size_t i;
	int rc = 0;

	if (!json_is_array(list))
		return -EINVAL;
	json_array_foreach(list, i, e) {
		const json_t *topic = json_object_get(e, "topic");
		const json_t *payload = json_object_get(e, "payload");
		struct msg *m;

		if (!json_is_string(topic) || !json_is_string(payload) ||
		    !topic_name_valid(json_string_value(topic), json_string_length(topic))) {
			rc = -EINVAL;
			continue;
		}
		m = msg_create(json_string_value(topic), json_string_length(topic),
			       json_string_value(payload), json_string_length(payload), 0, true);
		if (m == NULL || broker_route_sys(w, m) < 0)
			rc = -ENOMEM;
		msg_unref(m);
	}
	return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static int admin_op(struct worker *w, struct admin_msg *m, json_t **result)
{
	switch (m->op) {
	case ADMIN_CLIENTS:
		return op_clients(w, m->args, result);
	case ADMIN_SESSION_SHOW:
		return op_session_show(w, m->args, result);
	case ADMIN_SUBSCRIPTIONS:
		return op_subscriptions(w, m->args, result);
	case ADMIN_KICK:
		return op_kick(w, m->args);
	case ADMIN_RETAINED_LIST:
		return op_retained_list(w, m->args, result);
	case ADMIN_RETAINED_DELETE:
		return op_retained_delete(w, m->args);
	case ADMIN_CONFIG:
		if (m->ptr == NULL)
			return -EINVAL;
		/* Taken (NULL from now on): the reference is the worker's. */
		worker_set_config(w, m->ptr);
		m->ptr = NULL;
		return 0;
	case ADMIN_SYS_PUBLISH:
		return op_sys_publish(w, m->args);
	}
	return -EINVAL;
}

void admin_handle(struct worker *w, struct admin_msg *m)
{
	json_t *result = NULL;

	worker_assert_current(w);
	w->stats.admin_requests++;
	m->status = admin_op(w, m, &result);
	if (m->status < 0) {
		json_decref(result);
		result = NULL;
	}
	m->result = result;
	admin_reply(m);
}

void admin_discard(struct admin_msg *m)
{
	/* Never taken: the reference this worker would have held goes here. */
	if (m->op == ADMIN_CONFIG && m->ptr != NULL) {
		config_ref_put(m->ptr);
		m->ptr = NULL;
	}
	m->status = -ECANCELED;
	m->result = NULL;
	admin_reply(m);
}
