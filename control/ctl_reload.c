/* ctl_reload.c - `petrelctl reload` and SIGHUP (issue 9): read the configuration again
 * and hand what can change live to every worker.
 *
 *   config_reload (control/config_reload.c): defaults < -c file < command line, the
 *       diff against the configuration in force; restart-only keys keep their value
 *   -> one config_ref, one reference per worker: ADMIN_CONFIG to every worker, whose
 *      engine swaps worker->cfg at its next turn (worker_set_config)
 *   -> cplane_set_config: the control plane's own limits (control_*, sys_interval)
 *   -> log_set_level when log_level changed; one log line says what changed
 *   -> the `reload` request is answered once every worker confirmed.
 *
 * A bad file changes nothing: its lines are logged and returned, as start-up prints
 * them. log_level is applied only when the file's value changed, so a level set with
 * `petrelctl log level` stays until the file says otherwise. Control plane thread. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/admin.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/log.h"

/* One reload waiting for the workers. */
struct reload_wait {
	struct ctl_req *req;        /* the request to answer; NULL: SIGHUP */
	json_t *result;             /* {"applied", "restart_needed"} */
	struct config_ref *ref;     /* read by reload_ref_for during admin_call_send */
};

static json_t *change_json(const struct config_change *ch)
{
	return json_pack("{s:s, s:s, s:s}", "key", ch->key, "from", ch->from, "to", ch->to);
}

/* {"applied": [...], "restart_needed": [...]}, or NULL when out of memory. */
static json_t *diff_json(const struct config_diff *d)
{
	json_t *out = json_pack("{s:[], s:[]}", "applied", "restart_needed");

	for (unsigned i = 0; out != NULL && i < d->n; i++) {
		json_t *list = json_object_get(out, d->v[i].live ? "applied" : "restart_needed");

		if (json_array_append_new(list, change_json(&d->v[i])) < 0) {
			json_decref(out);
			out = NULL;
		}
	}
	return out;
}

static const char *shown(const char *v)
{
	return v[0] != '\0' ? v : "(none)";
}

/* "reload: applied max_connections 100 -> 2; needs a restart: workers 2 -> 4" */
static void log_diff(const struct config_diff *d, const char *path)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	if (f == NULL) {
		log_notice("reload: %u change%s (out of memory for the details)", d->n,
			   d->n == 1 ? "" : "s");
		return;
	}
	for (int live = 1; live >= 0; live--) {
		const char *sep = live ? "applied " : "needs a restart: ";

		if (!live && ftell(f) > 0)
			sep = "; needs a restart: ";
		for (unsigned i = 0; i < d->n; i++) {
			if (d->v[i].live != (bool)live)
				continue;
			fprintf(f, "%s%s %s -> %s", sep, d->v[i].key, shown(d->v[i].from),
				shown(d->v[i].to));
			sep = ", ";
		}
	}
	if (fclose(f) == 0)
		log_notice("reload of %s: %s", path != NULL ? path : "the defaults",
			   len > 0 ? line : "no changes");
	free(line);
}

/* Every error line of <err>, then what it means. */
static void log_errors(const char *err)
{
	while (*err != '\0') {
		size_t len = strcspn(err, "\n");

		log_err("reload: %.*s", (int)len, err);
		err += len;
		if (*err == '\n')
			err++;
	}
	log_err("reload: nothing applied");
}

/* Answers the request (if any) and frees <w>. <bad>: a worker's part that failed
 * (NULL: every worker runs the new configuration). */
static void reload_finish(struct reload_wait *w, const struct admin_msg *bad)
{
	if (w->req != NULL && bad == NULL)
		ctl_reply_ok(w->req, json_incref(w->result));
	else if (w->req != NULL && bad->status == -ETIMEDOUT)
		ctl_reply_err(w->req, "timeout", "worker %u did not confirm the new "
			      "configuration within control_request_timeout; it applies it "
			      "when it gets to it", bad->worker);
	else if (w->req != NULL)
		ctl_reply_err(w->req, "failed", "worker %u was not sent the new "
			      "configuration: %s", bad->worker, strerror(-bad->status));
	json_decref(w->result);
	free(w);
}

static void reload_done(struct admin_call *call, void *arg)
{
	const struct admin_msg *bad = NULL;

	for (unsigned i = 0; i < admin_call_count(call) && bad == NULL; i++) {
		const struct admin_msg *m = admin_call_reply(call, i);

		if (m->status != 0)
			bad = m;
	}
	if (bad != NULL && bad->status == -ETIMEDOUT)
		log_warn("reload: worker %u did not confirm the new configuration in time",
			 bad->worker);
	else if (bad != NULL)
		log_err("reload: worker %u was not sent the new configuration: %s",
			bad->worker, strerror(-bad->status));
	reload_finish(arg, bad);
}

/* Each worker's message carries a reference of its own (the worker's engine takes it
 * with worker_set_config, or drops it when it discards the message). */
static void *reload_ref_for(unsigned worker, void *arg)
{
	struct reload_wait *w = arg;

	(void)worker;
	config_ref_get(w->ref);
	return w->ref;
}

static bool diff_has_live(const struct config_diff *d)
{
	for (unsigned i = 0; i < d->n; i++)
		if (d->v[i].live)
			return true;
	return false;
}

/* The reload; <req> (may be NULL) is answered now or once the workers confirmed,
 * unless an error is returned. */
static int reload_start(struct cplane *cp, struct ctl_req *req, json_t **result,
			char *err, size_t errlen)
{
	const struct config *cur = cplane_config(cp);
	const char *path = cplane_config_path(cp);
	struct config_diff d = { 0, NULL };
	struct config_ref *ref = config_ref_new(cur);
	struct reload_wait *w = calloc(1, sizeof(*w));
	struct admin_call *call = NULL;
	int rc;

	if (ref == NULL || w == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "reload: out of memory");
		goto fail;
	}
	rc = config_reload(cur, path, cplane_overrides(cp), &ref->cfg, &d, err, errlen);
	if (rc < 0)
		goto fail;
	w->req = req;
	w->result = diff_json(&d);
	if (w->result == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "reload: out of memory");
		goto fail;
	}
	/* Nothing the workers could apply: no call, the answer is now. */
	if (diff_has_live(&d)) {
		call = admin_call_new(cp, ADMIN_CONFIG, NULL, reload_done, w);
		if (call == NULL) {
			rc = -ENOMEM;
			snprintf(err, errlen, "reload: out of memory");
			goto fail;
		}
	}
	/* From here on nothing fails: the new configuration is in force. */
	log_diff(&d, path);
	if (result != NULL)
		*result = json_incref(w->result);
	if (ref->cfg.log_level != cur->log_level)
		log_set_level((enum log_level)ref->cfg.log_level);
	if (call != NULL) {
		/* <w> may be freed inside admin_call_send (a call no part of which could
		 * be posted finishes at once): not touched after it. */
		w->ref = ref;
		admin_call_send(call, -1, reload_ref_for);
		cplane_set_config(cp, ref);
	} else {
		config_ref_put(ref);
		reload_finish(w, NULL);
	}
	config_diff_free(&d);
	return 0;
fail:
	log_errors(err);
	config_diff_free(&d);
	config_ref_put(ref);
	if (w != NULL)
		json_decref(w->result);
	free(w);
	return rc;
}

int ctl_reload_run(struct cplane *cp, json_t **result, char *err, size_t errlen)
{
	return reload_start(cp, NULL, result, err, errlen);
}

void ctl_cmd_reload(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	static char err[16384];

	(void)req;
	if (reload_start(cp, r, NULL, err, sizeof(err)) < 0)
		ctl_reply_err(r, "failed", "%s", err);
}
