/* timer.h - timer wheel with intrusive entries: the worker's (keep-alive, connect
 * timeout; milliseconds, TIMER_TICK_MS) and the TCP stack's (RTO, delayed ACK;
 * microseconds, a fine tick). Owned by one thread: no locks. Times are in the unit of
 * the owner's clock; the tick, set at init, is the resolution in that unit. A timer
 * further out than one turn of the wheel simply waits in its slot for more turns. */
#ifndef PETREL_TIMER_H
#define PETREL_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <urcu/list.h>

#define TIMER_TICK_MS 50    /* the worker's wheel: milliseconds, 50 ms ticks */
#define TIMER_SLOTS 1024   /* power of two */

struct timer;
typedef void timer_fn(struct timer *t, uint64_t now);

struct timer {
	struct cds_list_head link;   /* in a slot while armed */
	uint64_t expires;            /* in the wheel's unit */
	timer_fn *fn;
	bool armed;
};

struct timer_wheel {
	struct cds_list_head slots[TIMER_SLOTS];
	uint64_t tick;       /* next tick to run */
	uint64_t tick_len;   /* length of a tick in the owner's unit (>= 1) */
	uint64_t armed;      /* number of armed timers */
	bool running;        /* inside timer_wheel_run: tick is being processed */
};

/* <now> and every later time are in the owner's unit (ms, us, ...); <tick_len> is a
 * tick in that unit: a timer fires on the first run at or after the start of the
 * first tick that begins at or after its deadline. */
void timer_wheel_init(struct timer_wheel *tw, uint64_t now, uint64_t tick_len);
/* Cancels every armed timer (they are left disarmed, nothing runs). */
void timer_wheel_fini(struct timer_wheel *tw);

void timer_init(struct timer *t, timer_fn *fn);
/* Arms (or re-arms) <t> to fire at or after <expires>. */
void timer_arm(struct timer_wheel *tw, struct timer *t, uint64_t expires);
void timer_cancel(struct timer_wheel *tw, struct timer *t);

/* Runs every timer due at <now>. A callback may arm or cancel any timer. */
void timer_wheel_run(struct timer_wheel *tw, uint64_t now);

#endif
