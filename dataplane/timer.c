/* timer.c - hashed timer wheel, one per owner (see timer.h). Slots hold timers whose
 * expiry tick maps to them; a timer more than one turn ahead stays put until its turn
 * comes, so arming is O(1) and each tick touches one slot. Times are in the owner's
 * unit; tick_len converts them to ticks. */
#include <assert.h>

#include "petrel/timer.h"

static uint64_t tick_of(const struct timer_wheel *tw, uint64_t t)
{
	return t / tw->tick_len;
}

/* A deadline belongs to the first tick that starts at or after it, so a timer never
 * fires early; "now" rounds down (tick_of). */
static uint64_t tick_of_deadline(const struct timer_wheel *tw, uint64_t t)
{
	return t / tw->tick_len + (t % tw->tick_len != 0);
}

void timer_wheel_init(struct timer_wheel *tw, uint64_t now, uint64_t tick_len)
{
	assert(tick_len > 0);
	for (unsigned i = 0; i < TIMER_SLOTS; i++)
		CDS_INIT_LIST_HEAD(&tw->slots[i]);
	tw->tick_len = tick_len;
	tw->tick = tick_of(tw, now);
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
	t->expires = 0;
}

void timer_arm(struct timer_wheel *tw, struct timer *t, uint64_t expires)
{
	uint64_t tick = tick_of_deadline(tw, expires);

	if (t->armed)
		cds_list_del(&t->link);
	else
		tw->armed++;
	/* A past deadline fires on the next run, never in a slot already passed (nor in
	 * the one being run now, which would wait a whole turn). */
	if (tick < tw->tick + (tw->running ? 1 : 0))
		tick = tw->tick + (tw->running ? 1 : 0);
	t->expires = expires;
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

void timer_wheel_run(struct timer_wheel *tw, uint64_t now)
{
	uint64_t last = tick_of(tw, now);

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
			if (tick_of_deadline(tw, t->expires) > tw->tick) {
				/* Not this turn of the wheel. */
				cds_list_add_tail(&t->link, slot);
				continue;
			}
			CDS_INIT_LIST_HEAD(&t->link);
			t->armed = false;
			tw->armed--;
			t->fn(t, now);
		}
	}
	tw->running = false;
}
