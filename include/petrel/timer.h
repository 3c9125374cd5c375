/* timer.h - per-worker timer wheel with intrusive entries (keep-alive, connect
 * timeout). Owned by one worker: no locks. Resolution TIMER_TICK_MS; a timer further
 * out than one turn of the wheel simply waits in its slot for more turns. */
#ifndef PETREL_TIMER_H
#define PETREL_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <urcu/list.h>

#define TIMER_TICK_MS 50
#define TIMER_SLOTS 1024   /* power of two */

struct timer;
typedef void timer_fn(struct timer *t, uint64_t now_ms);

struct timer {
	struct cds_list_head link;   /* in a slot while armed */
	uint64_t expires_ms;
	timer_fn *fn;
	bool armed;
};

struct timer_wheel {
	struct cds_list_head slots[TIMER_SLOTS];
	uint64_t tick;       /* next tick to run */
	uint64_t armed;      /* number of armed timers */
	bool running;        /* inside timer_wheel_run: tick is being processed */
};

void timer_wheel_init(struct timer_wheel *tw, uint64_t now_ms);
/* Cancels every armed timer (they are left disarmed, nothing runs). */
void timer_wheel_fini(struct timer_wheel *tw);

void timer_init(struct timer *t, timer_fn *fn);
/* Arms (or re-arms) <t> to fire at or after <expires_ms>. */
void timer_arm(struct timer_wheel *tw, struct timer *t, uint64_t expires_ms);
void timer_cancel(struct timer_wheel *tw, struct timer *t);

/* Runs every timer due at <now_ms>. A callback may arm or cancel any timer. */
void timer_wheel_run(struct timer_wheel *tw, uint64_t now_ms);

#endif
