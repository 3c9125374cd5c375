/* retain.h - retained messages (MQTT-3.3.1-5..11): one message per topic name, read
 * under RCU. Same threading rules as router.h: readers inside rcu_read_lock() on a
 * urcu-qsbr registered thread, writers serialised internally, reclamation by call_rcu.
 */
#ifndef PETREL_RETAIN_H
#define PETREL_RETAIN_H

#include <stddef.h>

struct msg;
struct retain_store;

struct retain_store *retain_create(void);
/* No reader or writer may be active. Drops every stored message. */
void retain_destroy(struct retain_store *rs);

/* Stores <m> as the retained message of m->topic, replacing any previous one; a
 * zero-length payload deletes it instead (MQTT-3.3.1-10/11). Takes its own reference
 * on <m>; the replaced message is released after a grace period. Returns 0 or -ENOMEM. */
int retain_set(struct retain_store *rs, struct msg *m);

/* Called by retain_set_logged under the store's writer lock, just before it changes
 * the slot of m->topic (not when a delete finds nothing): what it records about the
 * change (persistence: a change record, pushed at once) is thus in the order of the
 * changes across all writers. A return < 0 leaves the store unchanged. */
typedef int retain_log_fn(void *arg, struct msg *m);
/* retain_set, calling <log> (if not NULL) as said. Returns 0, -ENOMEM, or what <log>
 * returned. */
int retain_set_logged(struct retain_store *rs, struct msg *m, retain_log_fn *log,
		      void *arg);

typedef void retain_match_fn(void *arg, struct msg *m);

/* Calls <fn> for every retained message whose topic matches <filter> (a valid filter;
 * '$' rule of MQTT-4.7.2-1 applies). Caller holds rcu_read_lock(); <fn> takes its own
 * reference (msg_ref) if it keeps <m>. Returns the number reported. */
size_t retain_match(struct retain_store *rs, const char *filter, size_t len,
		    retain_match_fn *fn, void *arg);

/* Number of retained messages. Any thread. */
size_t retain_count(const struct retain_store *rs);

#endif
