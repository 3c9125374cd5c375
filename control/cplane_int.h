/* cplane_int.h - private to the control plane's files: the admin calls' bookkeeping
 * (control/admin_call.c), which control/cplane.c drives from its loop. */
#ifndef PETREL_CPLANE_INT_H
#define PETREL_CPLANE_INT_H

#include <stdint.h>

struct admin_calls;
struct cplane;

/* The reply queue and its eventfd (watched on <cp>'s epoll set). NULL with errno. */
struct admin_calls *admin_calls_create(struct cplane *cp);
/* <cp>'s: control/cplane.c keeps it. */
struct admin_calls *cplane_admin_calls(const struct cplane *cp);
/* Once a second: calls past control_request_timeout finish (timed out). */
void admin_calls_tick(struct admin_calls *ac, uint64_t now_ms);
/* The earliest deadline of a call in flight (monotonic ms), or 0 for none: the
 * control plane wakes for it, so a timeout shorter than the tick is kept. */
uint64_t admin_calls_next_deadline(const struct admin_calls *ac);
/* Quiesce: no message is posted from now on (a call sent later finishes at once with
 * every part -ECANCELED). */
void admin_calls_close(struct admin_calls *ac);
/* After every worker was joined and its queue discarded: takes the last replies and
 * frees every call. */
void admin_calls_destroy(struct admin_calls *ac);

uint64_t cplane_now_ms(void);

#endif
