/* PLACEHOLDER for control/ctl_store.c (ctl-store, H6): see README. */
#include "petrel/cplane.h"
#include "petrel/ctl.h"

static void store_placeholder(struct cplane *cp, struct ctl_req *r)
{
	if (cplane_store(cp) == NULL)
		ctl_reply_err(r, "unavailable", "persistence is off");
	else
		ctl_reply_err(r, "failed", "store commands are not built yet");
}

void ctl_cmd_store_stats(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	(void)req;
	store_placeholder(cp, r);
}

void ctl_cmd_store_compact(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	(void)req;
	store_placeholder(cp, r);
}
