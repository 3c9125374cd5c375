/* PLACEHOLDER for control/metrics_http.c (ctl-metrics, H3): see README. */
#include <errno.h>
#include <stdio.h>

#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/metrics.h"

int metrics_http_start(struct metrics_http **out, struct cplane *cp, struct metrics *m,
		       char *err, size_t errlen)
{
	(void)m;
	*out = NULL;
	if (cplane_config(cp)->metrics_listener[0] == '\0')
		return 0;
	snprintf(err, errlen, "metrics_listener: not built yet");
	return -ENOSYS;
}

void metrics_http_stop(struct metrics_http *h)
{
	(void)h;
}
