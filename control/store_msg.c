/* store_msg.c - the store's messages and their reference counts (store_format.h:
 * msgs and refs), and key(s) for strings that may be too long for an LMDB key. Used by
 * store_apply.c and store_load.c inside their transactions. */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "petrel/msg.h"
#include "store_format.h"

int store_key_str(uint8_t *out, const char *s, size_t len, bool *hashed)
{
	unsigned int n = 0;

	if (len <= STORE_KEY_INLINE_MAX && (len == 0 || (uint8_t)s[0] != STORE_KEY_HASHED)) {
		memcpy(out, s, len);
		*hashed = false;
		return (int)len;
	}
	out[0] = STORE_KEY_HASHED;
	if (EVP_Digest(s, len, out + 1, &n, EVP_sha256(), NULL) != 1 ||
	    n != STORE_KEY_HASH_LEN - 1)
		return -EIO;
	*hashed = true;
	return STORE_KEY_HASH_LEN;
}

size_t store_msg_val_len(const struct msg *m)
{
	return STORE_MSG_HDR_LEN + m->topic_len + m->payload_len;
}

void store_msg_val_write(uint8_t *out, const struct msg *m)
{
	out[0] = m->qos;
	out[1] = m->retain;
	store_put_be16(out + 2, m->topic_len);
	memcpy(out + STORE_MSG_HDR_LEN, m->topic, m->topic_len);
	if (m->payload_len > 0)
		memcpy(out + STORE_MSG_HDR_LEN + m->topic_len, m->payload, m->payload_len);
}

static int store_refs_get(struct store *st, MDB_txn *txn, MDB_val *k, uint32_t *refs)
{
	MDB_val v;
	int rc = mdb_get(txn, st->dbi[STORE_DB_REFS], k, &v);

	if (rc == 0)
		*refs = v.mv_size == 4 ? store_get_be32(v.mv_data) : 0;
	return rc;
}

static int store_refs_put(struct store *st, MDB_txn *txn, MDB_val *k, uint32_t refs)
{
	uint8_t buf[4];
	MDB_val v = { 4, buf };

	store_put_be32(buf, refs);
	return mdb_put(txn, st->dbi[STORE_DB_REFS], k, &v, 0);
}

int store_ref_add(struct store *st, MDB_txn *txn, uint64_t id, const struct msg *m)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	uint32_t refs = 0;
	int rc;

	store_put_be64(kb, id);
	rc = store_refs_get(st, txn, &k, &refs);
	if (rc == MDB_NOTFOUND) {
		if (m == NULL)
			return EINVAL;
		/* The first reference stores the message; MDB_RESERVE lets us write it in
		 * place, no copy through a buffer. */
		v.mv_size = store_msg_val_len(m);
		rc = mdb_put(txn, st->dbi[STORE_DB_MSGS], &k, &v, MDB_RESERVE);
		if (rc != 0)
			return rc;
		store_msg_val_write(v.mv_data, m);
		refs = 0;
	} else if (rc != 0) {
		return rc;
	}
	return store_refs_put(st, txn, &k, refs + 1);
}

int store_ref_drop(struct store *st, MDB_txn *txn, uint64_t id)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb };
	uint32_t refs = 0;
	int rc;

	store_put_be64(kb, id);
	rc = store_refs_get(st, txn, &k, &refs);
	if (rc == MDB_NOTFOUND)
		return 0;       /* nothing to drop; store_load recounts anyway */
	if (rc != 0)
		return rc;
	if (refs > 1)
		return store_refs_put(st, txn, &k, refs - 1);
	rc = mdb_del(txn, st->dbi[STORE_DB_REFS], &k, NULL);
	if (rc == 0)
		rc = mdb_del(txn, st->dbi[STORE_DB_MSGS], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

struct msg *store_msg_val_read(const MDB_val *v, uint64_t id, bool *bad)
{
	const uint8_t *p = v->mv_data;
	struct msg *m;
	size_t tlen;

	*bad = true;
	if (v->mv_size < STORE_MSG_HDR_LEN || p[0] > 2)
		return NULL;
	tlen = store_get_be16(p + 2);
	if (v->mv_size - STORE_MSG_HDR_LEN < tlen)
		return NULL;
	*bad = false;
	m = msg_create((const char *)p + STORE_MSG_HDR_LEN, tlen,
		       p + STORE_MSG_HDR_LEN + tlen, v->mv_size - STORE_MSG_HDR_LEN - tlen,
		       p[0], p[1] != 0);
	if (m != NULL)
		atomic_store_explicit(&m->store_id, id, memory_order_relaxed);
	return m;
}
