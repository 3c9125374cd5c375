/* ctl_store.c - the store's control commands (ctl.h): store.stats and store.compact.
 * Both run on the control plane thread, the store's only user, so a compaction simply
 * holds the commits (and every other control request) until it is done. */
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/log.h"
#include "petrel/metrics.h"
#include "petrel/store.h"

static struct store *ctl_store_or_reply(struct cplane *cp, struct ctl_req *r)
{
	struct store *st = cplane_store(cp);

	if (st == NULL)
		ctl_reply_err(r, "unavailable", "persistence is off");
	return st;
}

void ctl_cmd_store_stats(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	struct store *st = ctl_store_or_reply(cp, r);
	struct store_stats ss;
	int rc;

	if (st == NULL)
		return;
	rc = store_stats(st, &ss);
	if (rc < 0) {
		ctl_reply_err(r, "failed", "store %s: cannot read its figures: %s",
			      store_path(st), strerror(-rc));
		return;
	}
	ctl_reply_ok(r, metrics_store_stats_json(&ss));
}

void ctl_cmd_store_compact(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	struct store *st = ctl_store_or_reply(cp, r);
	struct store_compact_stats cs;
	char err[512] = "";
	int rc;

	if (st == NULL)
		return;
	log_notice("store: compacting %s", store_path(st));
	rc = store_compact(st, &cs, err, sizeof(err));
	if (rc < 0) {
		log_err("%s; the store stays as it was", err);
		ctl_reply_err(r, "failed", "%s", err);
		return;
	}
	log_notice("store: compacted %s from %" PRIu64 " to %" PRIu64 " bytes in %" PRIu64
		   " ms", store_path(st), cs.before_bytes, cs.after_bytes,
		   cs.elapsed_us / 1000);
	ctl_reply_ok(r, json_pack("{sI sI sI}", "before_bytes", (json_int_t)cs.before_bytes,
				  "after_bytes", (json_int_t)cs.after_bytes,
				  "elapsed_ms", (json_int_t)(cs.elapsed_us / 1000)));
}
