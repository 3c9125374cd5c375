/* store.h - the LMDB store of persistent sessions and retained messages (DESIGN.md
 * "Persistence"). One environment in persistence_location; the control-plane thread
 * (cplane.h) is its only user once workers run (main uses it before, to load). Records
 * come from the workers (persist.h) and are applied in batches, one write transaction
 * per group commit.
 *
 * Layout (a format version in the meta database; anything else is refused; the
 * byte-level tables are in control/store_format.h):
 *   meta      "format" -> u32 version, "created" -> wall clock,
 *             "max_sid", "max_msg_id" -> the highest ids ever stored
 *   sessions  sid (u64 BE) -> offline_since_ms (u64), client id
 *   subs      sid + key(filter) -> qos [, filter when hashed]
 *   entries   sid + msg_id (u64 BE) -> qos, retain, packet_id, state
 *   rels      sid + packet_id (u16 BE) -> (empty)
 *   msgs      msg_id -> qos, retain, topic length, topic, payload
 *   refs      msg_id -> u32 references (apart from msgs: a reference change never
 *             rewrites a payload)
 *   retained  key(topic) -> msg_id [, topic when hashed]
 * key(s) is s itself when it has at most 480 bytes (and does not start with 0xff),
 * else a marker byte 0xff (never in UTF-8) and its SHA-256, the full string in the
 * value. A message record lives while entries or the retained slot refer to it (its
 * <refs>).
 *
 * Refusals (store_open): one message naming the file and what to do, the files left
 * untouched: not a directory or not creatable; data.mdb not an LMDB file (garbage),
 * shorter than its meta pages say (truncated), from another format version; locked by
 * another running petrel (flock on <dir>/petrel.lock, with its pid). */
#ifndef PETREL_STORE_H
#define PETREL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg;
struct persist_batch;
struct store;

#define STORE_FORMAT_VERSION 1

/* Opens (creating <dir> and an empty store if missing) and checks the store, with an
 * LMDB map of <map_size> bytes (persistence_max_size; 0 = 64 GiB): the largest the store
 * may grow (never less than what the file already holds). Returns 0, or -errno with
 * the reason in <err> (one line, names the file and what to do): -EBUSY locked by
 * another petrel, -EUCLEAN empty, truncated, garbage or another program's LMDB file,
 * -ENOTSUP another format version, else the system's error (-ENOTDIR, -EACCES...). */
int store_open(struct store **out, const char *dir, size_t map_size, char *err,
	       size_t errlen);
void store_close(struct store *st);

/* Applies <n> batches in order in one write transaction and commits it, syncing to the
 * disk when <sync> (else the data reaches the OS only: it survives a crash of petrel,
 * not of the machine). On failure nothing of them is applied and the batches stay the
 * caller's to retry; returns -errno (-ENOSPC for a full disk or a full map) with the
 * reason in <err>. Records naming a session that does not exist (any more) are
 * skipped, as is an ENTRY_PUT for an entry that exists. */
int store_apply(struct store *st, struct persist_batch *const *batches, size_t n, bool sync,
		char *err, size_t errlen);
/* Forces what was committed without sync to the disk. Returns 0 or -errno. */
int store_sync(struct store *st);

/* Start-up: calls back for everything stored. Per session in sid order: session, then
 * its subscriptions, its entries in msg_id order, its rel ids. Then every retained
 * message. A message referred to by several is one struct msg (store_id set), borrowed
 * for the call: take a reference to keep it. A callback returning < 0 stops the load
 * with that value. Deletes what nothing refers to (a message without references, an
 * entry or subscription of a missing session) as it goes. */
struct store_load_ops {
	int (*session)(void *arg, uint64_t sid, const char *client_id, size_t len,
		       uint64_t offline_since_ms);
	int (*sub)(void *arg, uint64_t sid, const char *filter, size_t len, uint8_t qos);
	int (*entry)(void *arg, uint64_t sid, struct msg *m, uint8_t qos, bool retain,
		     uint16_t packet_id, uint8_t state);
	int (*rel)(void *arg, uint64_t sid, uint16_t packet_id);
	int (*retained)(void *arg, struct msg *m);
};

struct store_load_stats {
	uint64_t sessions, subs, entries, rels, retained, msgs;
	uint64_t max_sid, max_msg_id;    /* for persist_create */
	uint64_t orphans_deleted;
	uint64_t elapsed_us;
};

int store_load(struct store *st, const struct store_load_ops *ops, void *arg,
	       struct store_load_stats *stats, char *err, size_t errlen);

/* What `petrelctl store stats` shows. Control plane (or main before it starts). */
struct store_stats {
	uint64_t sessions, subs, entries, rels, retained, msgs;
	uint64_t file_bytes;             /* data.mdb on disk */
	uint64_t used_bytes;             /* pages in use */
	uint64_t map_bytes;              /* the map size */
	uint64_t commits, commit_failures;
	uint64_t compactions;            /* store_compact successes since open */
};
/* One read transaction: a few mdb_stat calls, a walk of LMDB's free list (one record
 * per freeing commit not yet reused: tens, not millions) and a stat(2): a few us on a
 * fragmented 36 MB store (test_store_compact logs it), cheap enough once a second.
 * Returns 0 or -errno. */
int store_stats(struct store *st, struct store_stats *out);

/* `petrelctl store compact`: rewrites the store without its free pages (LMDB's
 * MDB_CP_COMPACT copy) and swaps the copy in for data.mdb. Control plane only, which
 * thereby holds its commits until it returns. The copy goes to <dir>/data.mdb.compact,
 * is synced and opened as a check, then renamed over data.mdb and the directory
 * synced: a crash at any point leaves either the old or the new complete store (a
 * leftover copy is deleted at the next store_open). The flock on petrel.lock stays
 * held throughout. On failure (no room for the copy, ...) the old store stays in use
 * untouched and -errno is returned with the reason in <err>. */
struct store_compact_stats {
	uint64_t before_bytes, after_bytes;   /* data.mdb's size */
	uint64_t elapsed_us;
};
int store_compact(struct store *st, struct store_compact_stats *out, char *err,
		  size_t errlen);

/* The file the store lives in (for messages). */
const char *store_path(const struct store *st);

#endif
