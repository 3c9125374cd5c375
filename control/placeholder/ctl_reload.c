/* PLACEHOLDER for control/ctl_reload.c (ctl-reload, H5): see README. */
#include <errno.h>
#include <stdio.h>

#include "petrel/ctl.h"
#include "petrel/log.h"

int ctl_reload_run(struct cplane *cp, json_t **result, char *err, size_t errlen)
{
	(void)cp;
	if (result != NULL)
		*result = NULL;
	snprintf(err, errlen, "reload is not built yet");
	log_err("reload: %s; nothing applied", err);
	return -ENOSYS;
}

void ctl_cmd_reload(struct cplane *cp, struct ctl_req *r, json_t *req)
{
	json_t *result;
	char err[256];

	(void)req;
	if (ctl_reload_run(cp, &result, err, sizeof(err)) < 0)
		ctl_reply_err(r, "failed", "%s", err);
	else
		ctl_reply_ok(r, result);
}
