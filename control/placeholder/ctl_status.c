/* PLACEHOLDER for control/ctl_status.c (ctl-metrics, H3): see README. */
#include <stdlib.h>

#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/metrics.h"

void ctl_cmd_status(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	(void)req;
	ctl_reply_ok(r, metrics_status_json(cplane_metrics(cp)));
}

void ctl_cmd_metrics(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	size_t len;
	char *text = metrics_prometheus(cplane_metrics(cp), &len);

	(void)req;
	if (text == NULL) {
		ctl_reply_err(r, "failed", "out of memory");
		return;
	}
	ctl_reply_ok(r, json_pack("{s:s%}", "text", text, len));
	free(text);
}
