/* expiry.h - private to the MQTT engine: persistent_client_expiration, the end of
 * offline cleanSession=0 sessions nobody came back for (mosquitto's key; MQTT 3.1.1
 * leaves how long a server keeps a session to the server, section 3.1.2.4).
 *
 * Each worker keeps the offline cleanSession=0 sessions it owns on one list, oldest
 * first, and a timer that looks at the head once per second while the list is not
 * empty: the cost is per expired session, not per offline session. A session joins the
 * list when its connection goes (or when start-up restores it) and leaves it when a
 * client takes it up again, when it moves to another worker (takeover) and when it
 * ends. Owner only, like everything of a session. With persistent_client_expiration
 * unset (0, the default) the list stays empty and no timer runs. */
#ifndef PETREL_MQTT_EXPIRY_H
#define PETREL_MQTT_EXPIRY_H

#include <stdint.h>
#include <urcu/list.h>

#include "petrel/timer.h"

struct session;
struct worker;

/* How often the head of the list is looked at, and how many sessions at most one look
 * ends (the rest go a tick later: a mass expiry does not stall the worker's clients). */
#define EXPIRY_CHECK_MS 1000u
#define EXPIRY_BATCH 1024u

/* Per worker, in struct mqtt_worker. */
struct expiry {
	struct cds_list_head offline;  /* session.offline_link, by offline_mono_ms */
	struct timer timer;            /* armed while <offline> is not empty */
	struct worker *w;
	uint64_t listed;               /* sessions on <offline> */
	uint64_t looked;               /* sessions the timer looked at (tests: the cost) */
};

/* engine_attach: an empty list, the timer not armed. */
void expiry_init(struct worker *w);
/* <s> (cleanSession=0) just lost its connection: offline since now on the worker's
 * clock (offline_mono_ms; durable_session_offline set the wall clock's), onto the
 * list. */
void expiry_session_offline(struct worker *w, struct session *s);
/* <s> is offline on <w> since its offline_mono_ms (a takeover whose new connection
 * left before it was bound; start-up): onto the list in its place. */
void expiry_session_add(struct worker *w, struct session *s);
/* A client took <s> up: off the list, offline_since_ms 0. */
void expiry_session_online(struct worker *w, struct session *s);
/* <s> leaves <w> (handed over, or ended): off the list. Idempotent. */
void expiry_session_remove(struct worker *w, struct session *s);

/* Start-up (restore.c): <s> is offline since wall clock <since_ms> (0: it was online
 * when the store was last written; it counts from <now_wall_ms>, the load time). Sets
 * both offline times and appends it unsorted; expiry_restored() then sorts each
 * worker's list once and arms its timer. Main thread, workers not started. */
void expiry_session_restored(struct worker *w, struct session *s, uint64_t since_ms,
			     uint64_t now_wall_ms);
/* Returns 0 or -ENOMEM. */
int expiry_restored(struct worker *w);

#endif
