/* ctl_cmds.c - the control socket's command table (ctl.h) and the commands that ask
 * the workers: each checks its fields, sends an admin call (admin.h) and, in the
 * call's done function, merges the workers' answers into one. A worker returns its
 * first <limit> entries sorted and the count of all it matched, so sorting the union
 * and cutting it at <limit> gives the exact answer. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petrel/admin.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/log.h"
#include "petrel/topic.h"

/* Entries listed when a request gives no limit. */
#define CTL_DEFAULT_LIMIT 1000

/* What a done function needs of its request. */
struct cmd_call {
	struct cplane *cp;
	struct ctl_req *r;
	const char *list;          /* the result's array: "clients", ... */
	const char *sort2;         /* second sort key, or NULL */
	json_int_t limit;
	char key[];                /* the client or topic asked for */
};

static struct cmd_call *cmd_call_new(struct cplane *cp, struct ctl_req *r, const char *key)
{
	size_t len = key != NULL ? strlen(key) : 0;
	struct cmd_call *cc = calloc(1, sizeof(*cc) + len + 1);

	if (cc == NULL)
		return NULL;
	cc->cp = cp;
	cc->r = r;
	if (key != NULL)
		memcpy(cc->key, key, len + 1);
	return cc;
}

/* Sends <op> with <args> to <worker> (-1 = all); done gets <cc>. */
static void cmd_send(struct cmd_call *cc, enum admin_op op, json_t *args, int worker,
		     admin_done_fn *done)
{
	struct admin_call *call = admin_call_new(cc->cp, op, args, done, cc);
	if (call == NULL) {
		ctl_reply_err(cc->r, "failed", "out of memory");
		free(cc);
		return;
	}
	admin_call_send(call, worker, NULL);
}

/* ---- fields ---------------------------------------------------------------------- */

/* <field> of <req> as a string: *out NULL when absent and not <required>. Returns
 * false having answered the request. */
static bool field_string(struct ctl_req *r, json_t *req, const char *field, bool required,
			 const char **out)
{
	json_t *v = json_object_get(req, field);

	*out = NULL;
	if (v == NULL && !required)
		return true;
	if (!json_is_string(v)) {
		ctl_reply_err(r, "bad_request", "\"%s\" must be a string", field);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static bool field_limit(struct ctl_req *r, json_t *req, json_int_t *out)
{
	json_t *v = json_object_get(req, "limit");

	*out = CTL_DEFAULT_LIMIT;
	if (v == NULL)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		ctl_reply_err(r, "bad_request", "\"limit\" must be a whole number, 0 = all");
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* ---- the workers' answers ---------------------------------------------------------- */

/* Answers the request and returns true if a part failed otherwise than with one of
 * the statuses <ok1>, <ok2> (0 always is). */
static bool call_failed(struct cmd_call *cc, const struct admin_call *call, int ok1, int ok2)
{
	for (unsigned i = 0; i < admin_call_count(call); i++) {
		const struct admin_msg *m = admin_call_reply(call, i);

		if (m->status == 0 || m->status == ok1 || m->status == ok2)
			continue;
		if (m->status == -ETIMEDOUT)
			ctl_reply_err(cc->r, "timeout", "worker %u did not answer within %u ms "
				      "(control_request_timeout)", m->worker,
				      cplane_config(cc->cp)->control_request_timeout);
		else if (m->status == -ECANCELED)
			ctl_reply_err(cc->r, "failed", "the broker is stopping");
		else if (m->status == -EINVAL)
			ctl_reply_err(cc->r, "bad_request", "worker %u refused the arguments",
				      m->worker);
		else
			ctl_reply_err(cc->r, "failed", "worker %u: %s", m->worker,
				      strerror(-m->status));
		return true;
	}
	if (admin_call_count(call) == 0) {
		ctl_reply_err(cc->r, "failed", "out of memory");
		return true;
	}
	return false;
}

static const char *entry_str(json_t *e, const char *key)
{
	const char *s = json_string_value(json_object_get(e, key));

	return s != NULL ? s : "";
}

static const char *sort_key, *sort_key2;   /* control plane thread only */

static int entry_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(entry_str(x, sort_key), entry_str(y, sort_key));

	if (c == 0 && sort_key2 != NULL)
		c = strcmp(entry_str(x, sort_key2), entry_str(y, sort_key2));
	return c;
}

/* {"total": sum, <list>: every worker's entries sorted by <key>, cut at limit}. */
static void merge_lists(struct admin_call *call, struct cmd_call *cc, const char *key)
{
	json_int_t total = 0;
	json_t *all = json_array(), *out = json_array(), *result = json_object();
	json_t **v = NULL;
	size_t n;

	for (unsigned i = 0; i < admin_call_count(call); i++) {
		const struct admin_msg *m = admin_call_reply(call, i);

		total += json_integer_value(json_object_get(m->result, "total"));
		json_array_extend(all, json_object_get(m->result, cc->list));
	}
	n = json_array_size(all);
	if (n > 0)
		v = malloc(n * sizeof(*v));
	if ((n > 0 && v == NULL) || all == NULL || out == NULL || result == NULL) {
		ctl_reply_err(cc->r, "failed", "out of memory");
		json_decref(all);
		json_decref(out);
		json_decref(result);
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(all, i);
	sort_key = key;
	sort_key2 = cc->sort2;
	if (n > 1)
		qsort(v, n, sizeof(*v), entry_cmp);
	if (cc->limit > 0 && (json_int_t)n > cc->limit)
		n = (size_t)cc->limit;
	for (size_t i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(all);
	json_object_set_new(result, "total", json_integer(total));
	json_object_set_new(result, cc->list, out);
	ctl_reply_ok(cc->r, result);
}

static void list_done(struct admin_call *call, void *arg)
{
	struct cmd_call *cc = arg;

	if (!call_failed(cc, call, 0, 0))
		merge_lists(call, cc, strcmp(cc->list, "retained") == 0 ? "topic" : "client");
	free(cc);
}

/* A list command: <field> is its pattern or filter, passed on as <arg>. */
static void list_cmd(struct cplane *cp, struct ctl_req *r, json_t *req, enum admin_op op,
		     const char *field, const char *list, const char *sort2, int worker)
{
	struct cmd_call *cc;
	json_int_t limit;
	const char *pattern;
	json_t *args;

	if (!field_string(r, req, field, false, &pattern) || !field_limit(r, req, &limit))
		return;
	/* The workers would refuse it too, without saying why. */
	if (pattern != NULL && strcmp(field, "filter") == 0 &&
	    !topic_filter_valid(pattern, strlen(pattern))) {
		ctl_reply_err(r, "bad_request", "'%.200s' is not a valid topic filter", pattern);
		return;
	}
	cc = cmd_call_new(cp, r, NULL);
	args = json_pack("{s:I}", "limit", limit);
	if (cc == NULL || args == NULL) {
		ctl_reply_err(r, "failed", "out of memory");
		free(cc);
		json_decref(args);
		return;
	}
	if (pattern != NULL)
		json_object_set_new(args, field, json_string(pattern));
	cc->list = list;
	cc->sort2 = sort2;
	cc->limit = limit;
	cmd_send(cc, op, args, worker, list_done);
}

/* ---- commands -------------------------------------------------------------------- */

static void cmd_clients(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	list_cmd(cp, r, req, ADMIN_CLIENTS, "pattern", "clients", NULL, -1);
}

static void cmd_subscriptions(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	list_cmd(cp, r, req, ADMIN_SUBSCRIPTIONS, "filter", "subscriptions", "filter", -1);
}

static void cmd_retained_list(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	list_cmd(cp, r, req, ADMIN_RETAINED_LIST, "filter", "retained", NULL, 0);
}

/* Sends <op> about the <field> of <req> (a client id or a topic). */
static void key_cmd(struct cplane *cp, struct ctl_req *r, json_t *req, enum admin_op op,
		    const char *field, int worker, admin_done_fn *done)
{
	const char *key;
	struct cmd_call *cc;

	if (!field_string(r, req, field, true, &key))
		return;
	if (strcmp(field, "topic") == 0 && !topic_name_valid(key, strlen(key))) {
		ctl_reply_err(r, "bad_request", "'%.200s' is not a valid topic name", key);
		return;
	}
	cc = cmd_call_new(cp, r, key);
	if (cc == NULL) {
		ctl_reply_err(r, "failed", "out of memory");
		return;
	}
	cmd_send(cc, op, json_pack("{s:s}", field, key), worker, done);
}

static const struct admin_msg *answered(const struct admin_call *call, int status)
{
	for (unsigned i = 0; i < admin_call_count(call); i++)
		if (admin_call_reply(call, i)->status == status)
			return admin_call_reply(call, i);
	return NULL;
}

static void session_show_done(struct admin_call *call, void *arg)
{
	struct cmd_call *cc = arg;
	const struct admin_msg *m;

	if (call_failed(cc, call, -ENOENT, 0))
		;
	else if ((m = answered(call, 0)) != NULL)
		ctl_reply_ok(cc->r, json_incref(m->result));
	else
		ctl_reply_err(cc->r, "not_found", "unknown client '%s'", cc->key);
	free(cc);
}

static void cmd_session_show(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	key_cmd(cp, r, req, ADMIN_SESSION_SHOW, "client", -1, session_show_done);
}

static void kick_done(struct admin_call *call, void *arg)
{
	struct cmd_call *cc = arg;

	if (call_failed(cc, call, -ENOENT, -ENOTCONN))
		;
	else if (answered(call, 0) != NULL)
		ctl_reply_ok(cc->r, json_pack("{s:s}", "kicked", cc->key));
	else if (answered(call, -ENOTCONN) != NULL)
		ctl_reply_err(cc->r, "not_connected", "client '%s' is not connected", cc->key);
	else
		ctl_reply_err(cc->r, "not_found", "unknown client '%s'", cc->key);
	free(cc);
}

static void cmd_kick(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	key_cmd(cp, r, req, ADMIN_KICK, "client", -1, kick_done);
}

static void retained_delete_done(struct admin_call *call, void *arg)
{
	struct cmd_call *cc = arg;

	if (call_failed(cc, call, -ENOENT, 0))
		;
	else if (answered(call, 0) != NULL)
		ctl_reply_ok(cc->r, json_pack("{s:s}", "deleted", cc->key));
	else
		ctl_reply_err(cc->r, "not_found", "no retained message on '%s'", cc->key);
	free(cc);
}

static void cmd_retained_delete(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	key_cmd(cp, r, req, ADMIN_RETAINED_DELETE, "topic", 0, retained_delete_done);
}

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARN] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* The level named <name>, or -1. By value: with the level's address handed to
 * log_level_parse in cmd_log_level itself, gcc 12 at -O3 warned of a dangling
 * pointer to it (-Wdangling-pointer, a false positive) and the release build failed. */
static int level_named(const char *name)
{
	enum log_level l;

	return log_level_parse(name, &l) < 0 ? -1 : (int)l;
}

static void cmd_log_level(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	const char *name;
	int l;

	(void)cp;
	if (!field_string(r, req, "level", false, &name))
		return;
	if (name != NULL) {
		l = level_named(name);
		if (l < 0) {
			ctl_reply_err(r, "bad_request", "unknown level '%.100s': error, warning, "
				      "notice, info, debug", name);
			return;
		}
		log_set_level((enum log_level)l);
		log_notice("log level %s (control socket)", level_names[l]);
	}
	ctl_reply_ok(r, json_pack("{s:s}", "level", level_names[log_get_level()]));
}

static void cmd_shutdown(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	(void)cp;
	(void)req;
	log_notice("shutdown requested on the control socket");
	ctl_reply_ok(r, json_pack("{s:b}", "stopping", 1));
	/* main's sigwait takes it: the same orderly stop as a SIGTERM. */
	kill(getpid(), SIGTERM);
}

static const char *const f_pattern_limit[] = { "pattern", "limit", NULL };
static const char *const f_filter_limit[] = { "filter", "limit", NULL };
static const char *const f_client[] = { "client", NULL };
static const char *const f_topic[] = { "topic", NULL };
static const char *const f_level[] = { "level", NULL };

const struct ctl_cmd ctl_cmds[] = {
	{ "status", NULL, ctl_cmd_status, "the broker's figures: clients, messages, rates" },
	{ "clients", f_pattern_limit, cmd_clients, "sessions whose client id matches a glob" },
	{ "session.show", f_client, cmd_session_show, "one session in detail" },
	{ "subscriptions", f_filter_limit, cmd_subscriptions,
	  "subscriptions whose filter falls under a filter" },
	{ "kick", f_client, cmd_kick, "disconnect a client (its will goes out)" },
	{ "retained.list", f_filter_limit, cmd_retained_list,
	  "retained messages matching a filter" },
	{ "retained.delete", f_topic, cmd_retained_delete, "delete a retained message" },
	{ "log.level", f_level, cmd_log_level, "show or set the log level" },
	{ "reload", NULL, ctl_cmd_reload, "re-read the configuration file" },
	{ "metrics", NULL, ctl_cmd_metrics, "every figure in Prometheus text" },
	{ "shutdown", NULL, cmd_shutdown, "stop the broker (as SIGTERM)" },
	{ "store.stats", NULL, ctl_cmd_store_stats, "the persistent store's figures" },
	{ "store.compact", NULL, ctl_cmd_store_compact, "rewrite the store without free pages" },
	{ NULL, NULL, NULL, NULL },
};
