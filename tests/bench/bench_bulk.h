/* bench_bulk.h - what the storm and persist scenarios share. Their sessions are the
 * run's subscribers: session k has client id <prefix>s<k>, cleanSession 0, one QoS 1
 * (or 2) subscription to bench/<scenario>/<k, 8 digits>, and a bench_sub that tracks
 * "publisher" k. Each thread has one publisher connection that queues messages for the
 * sessions of its own thread: one pre-encoded PUBLISH window whose topic digits,
 * publisher id (= k) and sequence (= message number) are patched per message. Loop
 * thread only, as the rest of bench_loop. */
#ifndef BENCH_BULK_H
#define BENCH_BULK_H

#include <stdbool.h>
#include <stdint.h>

struct bench_run;
struct bench_thread;

/* Every thread: the phase <phase> (a literal) sets every session of the run up
 * (CONNECT, SUBSCRIBE; with <leave> also DISCONNECT, leaving it offline), at most
 * <window> at once per thread, then each thread's publisher connects. Any failure
 * aborts the run; all threads see the same bench_run_aborted() afterwards. */
void bench_bulk_setup(struct bench_thread *th, uint32_t window, const char *phase,
		      bool leave);

/* Every thread: the publish phase (bench_bulk_publish), timed into run->pub_t_first
 * and pub_t_last; a failure aborts the run, seen alike by all threads afterwards. */
void bench_bulk_publish_phase(struct bench_thread *th);

/* Publishes messages 0 .. --messages-1 to every session of <th>, message by message
 * across the sessions, and waits until the broker acknowledged each (PUBACK or
 * PUBCOMP). 0, -ETIMEDOUT at <deadline> or on abort, -EPIPE if the publisher's
 * connection failed. */
int bench_bulk_publish(struct bench_thread *th, uint64_t deadline);

/* Resets every open session of <th> (RST, no DISCONNECT). */
void bench_bulk_abort(struct bench_thread *th);

/* Opens every session of <th> again, at most <window> connecting at once, and runs
 * the loop until each reached its goal (see bench_run.h: resuming, leave_after) or
 * failed, or <deadline>. Returns how many failed. */
uint32_t bench_bulk_reopen(struct bench_thread *th, uint32_t window, uint64_t deadline);

/* Every thread: the phase <phase> (a literal) resumes every session of the run
 * (CONNACK with session present, no SUBSCRIBE; with <leave_after> > 0 each leaves
 * once that many messages arrived), at most <window> connecting per thread, bounded
 * by --timeout; the latency histogram gets how long each queued message waited.
 * Returns true in the one thread the closing barrier elected: it finishes the phase
 * (run->back_t_last is set) and the caller then waits at bench_run_barrier(). */
bool bench_bulk_resume(struct bench_thread *th, uint32_t window, uint32_t leave_after,
		       const char *phase);

/* Runs the loop until the run's sessions hold every queued message (all threads), or
 * <deadline>, or an abort. */
void bench_bulk_collect(struct bench_thread *th, uint64_t deadline);

/* By the thread a barrier elected, after the collecting: sets run->deliver_t_last
 * when every queued message arrived. */
void bench_bulk_delivered(struct bench_run *run);

#endif
