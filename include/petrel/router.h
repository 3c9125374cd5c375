/* router.h - the subscription table: a topic trie read under RCU (urcu-qsbr).
 *
 * Readers (router_match) take no lock: they must run on a thread registered with
 * urcu-qsbr, inside rcu_read_lock(), and the thread must announce quiescent states
 * (the worker loop does). Writers (router_subscribe/unsubscribe) serialise on one
 * internal mutex, may be called from any registered thread, and never block readers.
 * Memory is reclaimed with call_rcu().
 *
 * A subscriber is an opaque pointer (a struct session in the broker). The router calls
 * params.hold(sub) when it stores a new entry for <sub> and params.release(sub) after a
 * grace period once that entry is gone, so a reader may use <sub> for the rest of its
 * read-side critical section (and take its own reference there).
 */
#ifndef PETREL_ROUTER_H
#define PETREL_ROUTER_H

#include <stddef.h>
#include <stdint.h>

struct router;

struct router_params {
	void (*hold)(void *sub);     /* may be NULL */
	void (*release)(void *sub);  /* may be NULL; runs on the call_rcu thread */
};

/* Returns NULL on allocation failure. */
struct router *router_create(const struct router_params *p);
/* No reader or writer may be active. Releases every remaining entry synchronously. */
void router_destroy(struct router *r);

/* Adds <sub> on <filter> with <qos>, or replaces the QoS if <sub> already has exactly
 * this filter (MQTT-3.8.4-3). <filter> must be valid (topic_filter_valid). Returns 1
 * when a new entry was added, 0 when an existing one was replaced, -ENOMEM.
 * Cost: O(levels of <filter>) plus amortised O(1) in the number of subscribers on
 * the filter and in the number of filters <sub> has. */
int router_subscribe(struct router *r, const char *filter, size_t len, void *sub,
		     uint8_t qos);

/* Removes <sub>'s entry on exactly <filter>. Returns 0, or -ENOENT when there is no
 * such entry. Allocates nothing, so it cannot fail for lack of memory (session end
 * relies on that). Same cost as router_subscribe(). */
int router_unsubscribe(struct router *r, const char *filter, size_t len, void *sub);

/* Called once per distinct subscriber matching the topic, with the highest QoS among
 * its matching entries (MQTT-3.3.5-1: one copy per client). */
typedef void router_match_fn(void *arg, void *sub, uint8_t qos);

/* Calls <fn> for every subscriber whose filters match topic name <topic>. Filters
 * starting with a wildcard do not match names starting with '$' (MQTT-4.7.2-1).
 * Caller holds rcu_read_lock() (urcu-qsbr); <fn> must not block. Uses a thread-local
 * scratch buffer for de-duplication. Returns the number of subscribers reported. */
size_t router_match(struct router *r, const char *topic, size_t len,
		    router_match_fn *fn, void *arg);

/* Number of (subscriber, filter) entries. Any thread; approximate under concurrency. */
size_t router_count(const struct router *r);

#endif
