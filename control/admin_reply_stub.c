/* admin_reply_stub.c - TEMPORARY (branch ctl-engine): the worker side of admin.h links
 * before control/admin_call.c (branch ctl-server) exists. Removed when that lands. */
#include <jansson.h>

#include "petrel/admin.h"

void admin_reply(struct admin_msg *m)
{
	json_decref(m->result);
	m->result = NULL;
}
