/* sessdir.h - the session directory: client id -> session, a cds_lfht read under RCU
 * by every worker. Lookups are lock-free (inside rcu_read_lock on a urcu-qsbr thread);
 * insert/remove are lock-free too (cds_lfht add_unique/del). The directory holds one
 * session reference per entry, dropped after a grace period on removal. */
#ifndef PETREL_SESSDIR_H
#define PETREL_SESSDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct sessdir;

struct sessdir *sessdir_create(void);
/* As sessdir_create, with buckets for <expected> sessions from the start (at most
 * SESSDIR_BUCKETS_MAX; 0: the default 1024). The table grows by itself past that,
 * but its growth runs on liburcu's resize thread after grace periods, and in a
 * connect storm it fell far behind: at 160k sessions in a 1024-bucket start,
 * lookups took 30% of a DPDK worker (docs/benchmarks.md). */
#define SESSDIR_BUCKETS_MAX (1ul << 22)
struct sessdir *sessdir_create_sized(size_t expected);
/* No worker may be running. Entries must have been removed. */
void sessdir_destroy(struct sessdir *d);

/* Returns the session for <client_id> with a reference taken, or NULL. */
struct session *sessdir_lookup(struct sessdir *d, const char *client_id, size_t len);
/* Adds <s> (taking a reference) unless the id is present. Returns 0, -EEXIST, or
 * -ENOMEM (the directory's entry for <s> is a small allocation of its own). */
int sessdir_insert(struct sessdir *d, struct session *s);
/* Removes <s> if listed; its reference is dropped after a grace period. */
void sessdir_remove(struct sessdir *d, struct session *s);
/* Calls <fn> for every listed session (shutdown). Caller holds rcu_read_lock. */
void sessdir_for_each(struct sessdir *d, void (*fn)(void *arg, struct session *s), void *arg);
size_t sessdir_count(struct sessdir *d);

/* The directory's hash of a client id (FNV-1a). Start-up places a stored session on
 * worker sessdir_hash(id) % nworkers (mqtt/restore.c). Any thread. */
uint32_t sessdir_hash(const char *client_id, size_t len);

#endif
