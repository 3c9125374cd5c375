/* timer.c - hashed timer wheel, one per worker (see timer.h). Slots hold timers whose
 * expiry tick maps to them; a timer more than one turn ahead stays put until its turn
 * comes, so arming is O(1) and each tick touches one slot. */
#include "petrel/timer.h"

static uint64_t tick_of(uint64_t ms)
{
	return ms / TIMER_TICK_MS;
}

/* A deadline belongs to the first tick that starts at or after it, so a timer never
 * fires early; "now" rounds down (tick_of). */
static uint64_t tick_of_deadline(uint64_t ms)
{
	return (ms + TIMER_TICK_MS - 1) / TIMER_TICK_MS;
}

void timer_wheel_init(struct timer_wheel *tw, uint64_t now_ms)
{
	for (unsigned i = 0; i < TIMER_SLOTS; i++)
		CDS_INIT_LIST_HEAD(&tw->slots[i]);
	tw->tick = tick_of(now_ms);
	tw->armed = 0;
	tw->running = false;
}

void timer_wheel_fini(struct timer_wheel *tw)
{
	for (unsigned i = 0; i < TIMER_SLOTS; i++) {
		struct timer *t, *tmp;

		cds_list_for_each_entry_safe(t, tmp, &tw->slots[i], link) {
			cds_list_del(&t->link);
			t->armed = false;
		}
	}
	tw->armed = 0;
}

void timer_init(struct timer *t, timer_fn *fn)
{
	CDS_INIT_LIST_HEAD(&t->link);
	t->fn = fn;
	t->armed = false;
	t->expires_ms = 0;
}

void timer_arm(struct timer_wheel *tw, struct timer *t, uint64_t expires_ms)
{
	uint64_t tick = tick_of_deadline(expires_ms);

	if (t->armed)
		cds_list_del(&t->link);
	else
		tw->armed++;
	/* A past deadline fires on the next run, never in a slot already passed (nor in
	 * the one being run now, which would wait a whole turn). */
	if (tick < tw->tick + (tw->running ? 1 : 0))
		tick = tw->tick + (tw->running ? 1 : 0);
	t->expires_ms = expires_ms;
	t->armed = true;
	cds_list_add_tail(&t->link, &tw->slots[tick & (TIMER_SLOTS - 1)]);
}

void timer_cancel(struct timer_wheel *tw, struct timer *t)
{
	if (!t->armed)
		return;
	cds_list_del(&t->link);
	CDS_INIT_LIST_HEAD(&t->link);
	t->armed = false;
	tw->armed--;
}

void timer_wheel_run(struct timer_wheel *tw, uint64_t now_ms)
{
	uint64_t last = tick_of(now_ms);

	tw->running = true;
	for (; tw->tick <= last; tw->tick++) {
		struct cds_list_head *slot = &tw->slots[tw->tick & (TIMER_SLOTS - 1)];
		struct cds_list_head due;

		if (tw->armed == 0) {
			tw->tick = last + 1;
			break;
		}
		/* Move the slot aside first: callbacks may re-arm into this very slot. */
		CDS_INIT_LIST_HEAD(&due);
		cds_list_splice(slot, &due);
		CDS_INIT_LIST_HEAD(slot);
		while (!cds_list_empty(&due)) {
			struct timer *t = cds_list_first_entry(&due, struct timer, link);

			cds_list_del(&t->link);
			if (tick_of_deadline(t->expires_ms) > tw->tick) {
				/* Not this turn of the wheel. */
				cds_list_add_tail(&t->link, slot);
				continue;
			}
			CDS_INIT_LIST_HEAD(&t->link);
			t->armed = false;
			tw->armed--;
			t->fn(t, now_ms);
		}
	}
	tw->running = false;
}
