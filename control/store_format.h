/* store_format.h - the store's on-disk layout (format version 1, STORE_FORMAT_VERSION
 * in store.h) and the private state the store_*.c files share. Everything here is
 * read back by a later petrel: change a layout only with a new format version.
 *
 * One LMDB environment (<persistence_location>/data.mdb, no lock.mdb: MDB_NOLOCK,
 * petrel.lock's flock keeps other processes out), seven named databases, all with
 * LMDB's default memcmp key order. Integers are big-endian, so keys sort by number and
 * a session's records sit together under its sid prefix.
 *
 *   db        key                          value
 *   --------  ---------------------------  ---------------------------------------------
 *   meta      "format"                     u32 version (1)
 *             "created"                    u64 wall clock, ms
 *             "max_sid", "max_msg_id"      u64: highest ids ever stored (never reused)
 *   sessions  sid u64                      offline_since_ms u64 (0: was online), client id
 *   subs      sid u64, key(filter)         qos u8 [, filter when key(filter) is hashed]
 *   entries   sid u64, msg_id u64          qos u8, retain u8, packet_id u16, state u8
 *   rels      sid u64, packet_id u16       (empty)
 *   msgs      msg_id u64                   qos u8, retain u8, topic_len u16, topic, payload
 *   refs      msg_id u64                   u32: entries + retained slots referring to it
 *   retained  key(topic)                   msg_id u64 [, topic when key(topic) is hashed]
 *
 * key(s): <s> itself when it has at most STORE_KEY_INLINE_MAX bytes and does not start
 * with 0xff; else 0xff (a byte UTF-8 never has) and SHA-256(s), the full string in the
 * value. The bound is ours, not LMDB's build-time maximum (511 in Debian's 0.9), so the
 * layout does not depend on how LMDB was built.
 *
 * The reference count lives in its own small database, not in the msgs record: a
 * reference change rewrites 4 bytes, never the payload (LMDB copies a whole record,
 * overflow pages included, on every put). A message is deleted with its last
 * reference; start-up (store_load) recounts and deletes what nothing refers to. */
#ifndef PETREL_STORE_FORMAT_H
#define PETREL_STORE_FORMAT_H

#include <endian.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum store_db {
	STORE_DB_META,
	STORE_DB_SESSIONS,
	STORE_DB_SUBS,
	STORE_DB_ENTRIES,
	STORE_DB_RELS,
	STORE_DB_MSGS,
	STORE_DB_REFS,
	STORE_DB_RETAINED,
	STORE_DB_N,
};

/* The names of the databases, by enum store_db. */
extern const char *const store_db_names[STORE_DB_N];

#define STORE_KEY_INLINE_MAX 480          /* + an 8-byte sid prefix <= LMDB's 511 */
#define STORE_KEY_HASHED 0xff
#define STORE_KEY_HASH_LEN 33             /* marker + SHA-256 */
#define STORE_KEY_MAX (8 + STORE_KEY_INLINE_MAX)
#define STORE_ENTRY_VAL_LEN 5
#define STORE_MSG_HDR_LEN 4

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB_N];
	int lock_fd;
	unsigned psize;             /* LMDB page size */
	uint64_t max_sid;           /* meta high-water marks as stored */
	uint64_t max_msg_id;
	uint64_t commits;
	uint64_t commit_failures;
	uint64_t compactions;
	char *dir;
	char *path;                 /* <dir>/data.mdb */
};

/* An MDB_val's data pointer for bytes LMDB only reads (keys, put values). */
static inline void *store_unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

static inline void store_put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t store_get_be64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static inline void store_put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static inline uint32_t store_get_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static inline void store_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t store_get_be16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] << 8 | b[1]);
}

/* Writes key(<s>) at <out> (room for STORE_KEY_INLINE_MAX bytes). Returns its length
 * (> 0), or -EIO if hashing failed; *hashed says whether the value must carry <s>. */
int store_key_str(uint8_t *out, const char *s, size_t len, bool *hashed);

/* Maps an LMDB or errno result (> 0 errno, < 0 MDB_*) to -errno: a full map or disk
 * is -ENOSPC, LMDB's own corruption codes -EUCLEAN, anything else -EIO. */
int store_errno(int mdb_rc);

/* store_check.c: takes the flock on <dir>/petrel.lock (creating <dir>, 0700, and the
 * file) and writes our pid in it; then checks data.mdb's meta pages without LMDB.
 * Return 0 or -errno with <err> filled. */
int store_dir_lock(struct store *st, char *err, size_t errlen);
int store_check_file(const char *path, char *err, size_t errlen);

/* store.c: opens the LMDB environment at <path> (the store directory; a file with
 * MDB_NOSUBDIR in <flags>) into st->env, checks its format record and opens every
 * database into st->dbi (creating them in a new store when <may_be_new>, else a store
 * without a format record is refused). On failure st->env may be set: the caller
 * closes it. Returns 0 or -errno with <err> filled. */
int store_env_attach(struct store *st, const char *path, unsigned flags, size_t map_size,
		     bool may_be_new, char *err, size_t errlen);

/* store_compact.c: the copy compaction writes next to data.mdb before swapping it in;
 * store_open deletes one a crash left behind (the flock is held: nobody writes it). */
#define STORE_COMPACT_NAME "data.mdb.compact"
void store_compact_discard(const struct store *st);

/* The message body as stored in msgs (STORE_MSG_HDR_LEN + topic + payload). */
struct msg;
size_t store_msg_val_len(const struct msg *m);
void store_msg_val_write(uint8_t *out, const struct msg *m);
/* Builds a struct msg (one reference, store_id = <id>) from a msgs value; NULL when
 * the value is malformed (*bad set) or memory is short (*bad clear). */
struct msg *store_msg_val_read(const MDB_val *v, uint64_t id, bool *bad);

/* Increments / decrements msg <id>'s reference count inside <txn>. The first reference
 * writes the message from <m> (which must then be non-NULL); the last one deleted
 * deletes the message. Returns 0 or an LMDB/errno code (> 0 or MDB_*). */
int store_ref_add(struct store *st, MDB_txn *txn, uint64_t id, const struct msg *m);
int store_ref_drop(struct store *st, MDB_txn *txn, uint64_t id);

#endif
