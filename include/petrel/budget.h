/* budget.h - the broker-wide memory budget (`memory_limit`, mosquitto's key): the bytes
 * clients can make the broker hold - messages (topic and payload, shared by every
 * queue, inflight slot and retained slot that refers to them), session queue slots,
 * and input buffers of partial packets. One budget per process (the broker is one per
 * process; a test that makes brokers one after another reconfigures it each time).
 *
 * Charging is cheap enough for the PUBLISH path: a thread that called
 * budget_thread_enter() adds to its own cache line with a plain load and store; other
 * threads (call_rcu's, main at shutdown) share one atomic slot. A slot may go negative
 * (a message made on one worker is freed on another); only the sum means anything.
 *
 * What happens when the budget is spent is the callers' business and documented per
 * case in docs/configuration.md (memory_limit): a partial packet that would grow past
 * it closes its connection, an offline session's queue refuses new messages, a new
 * retained message is not stored. Deliveries to online sessions go on: they are bounded
 * per session already. */
#ifndef PETREL_BUDGET_H
#define PETREL_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Sets the limit in bytes (0 = no limit) and zeroes every slot. Main thread, before
 * any worker runs and while no charged object is alive. */
void budget_configure(size_t limit);
/* Gives the calling thread a slot of its own (workers, at start). Idempotent. */
void budget_thread_enter(void);
void budget_thread_exit(void);

/* Adds <delta> bytes (negative to release). Any thread. */
void budget_add(ssize_t delta);

/* Bytes charged now, summed over every slot (a few updates old at most). Any thread. */
size_t budget_used(void);
size_t budget_limit(void);
/* True if <more> bytes fit under the limit (always true without a limit). */
bool budget_allows(size_t more);

/* Logs, once per episode, that the budget refused <what>; the episode ends when use
 * falls under half of the limit (checked by the next call of budget_allows). Any
 * thread. */
void budget_note_refusal(const char *what);

#endif
