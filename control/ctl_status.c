/* ctl_status.c - the control socket's `status` and `metrics` commands (ctl.h): both
 * answer at once from the control plane's own samples (metrics.h), asking no worker. */
#include <stdlib.h>

#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/metrics.h"

void ctl_cmd_status(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	json_t *status = metrics_status_json(cplane_metrics(cp));

	(void)req;
	if (status == NULL) {
		ctl_reply_err(r, "failed", "status: out of memory");
		return;
	}
	ctl_reply_ok(r, status);
}

void ctl_cmd_metrics(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	size_t len;
	char *text = metrics_prometheus(cplane_metrics(cp), &len);
	json_t *result;

	(void)req;
	result = text != NULL ? json_pack("{ss%}", "text", text, len) : NULL;
	free(text);
	if (result == NULL) {
		ctl_reply_err(r, "failed", "metrics: out of memory");
		return;
	}
	ctl_reply_ok(r, result);
}
