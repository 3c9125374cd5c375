/* tbatch.h - change-record batches (persist.h's struct persist_batch) built by hand,
 * for suites that drive the store (store.h) without workers: the same records the
 * workers' appenders in dataplane/persist.c produce, in the same structs. A record with
 * a message holds a reference to it, dropped by tbatch_free. Allocation failure aborts
 * the test process (a helper, not production code). */
#ifndef PETREL_TEST_TBATCH_H
#define PETREL_TEST_TBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg;
struct persist_batch;

struct persist_batch *tbatch_create(unsigned worker, uint64_t seq);
void tbatch_free(struct persist_batch *b);

void tbatch_session_put(struct persist_batch *b, uint64_t sid, const char *client_id,
			size_t len, uint64_t offline_since_ms);
void tbatch_session_del(struct persist_batch *b, uint64_t sid);
void tbatch_sub_put(struct persist_batch *b, uint64_t sid, const char *filter, size_t len,
		    uint8_t qos);
void tbatch_sub_del(struct persist_batch *b, uint64_t sid, const char *filter, size_t len);
/* <m> must have its store id (m->store_id) set. */
void tbatch_entry_put(struct persist_batch *b, uint64_t sid, struct msg *m, uint8_t qos,
		      bool retain);
void tbatch_entry_state(struct persist_batch *b, uint64_t sid, uint64_t msg_id,
			uint16_t packet_id, uint8_t state);
void tbatch_entry_del(struct persist_batch *b, uint64_t sid, uint64_t msg_id);
void tbatch_rel_put(struct persist_batch *b, uint64_t sid, uint16_t packet_id);
void tbatch_rel_del(struct persist_batch *b, uint64_t sid, uint16_t packet_id);
void tbatch_retain_put(struct persist_batch *b, struct msg *m);
void tbatch_retain_del(struct persist_batch *b, const char *topic, size_t len);

#endif
