/* bench_sub.c - a subscriber's receive bookkeeping (see bench_sub.h). */
#include "bench_sub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_opts.h"

int bench_sub_init(struct bench_sub *s, uint32_t id, uint32_t pub_base, uint32_t pub_count)
{
	memset(s, 0, sizeof(*s));
	s->track = calloc(pub_count, sizeof(*s->track));
	if (s->track == NULL)
		return -ENOMEM;
	s->id = id;
	s->pub_base = pub_base;
	s->pub_count = pub_count;
	return 0;
}

void bench_sub_fini(struct bench_sub *s)
{
	uint32_t i;

	for (i = 0; i < s->pub_count; i++)
		bench_track_fini(&s->track[i]);
	free(s->track);
	memset(s, 0, sizeof(*s));
}

int bench_sub_receive(struct bench_sub *s, const uint8_t *payload, size_t len,
		      uint64_t *stamp)
{
	uint32_t pub;
	uint64_t seq;
	int rc;

	if (len < BENCH_HDR_LEN)
		return BENCH_RX_FOREIGN;
	memcpy(&pub, payload + BENCH_HDR_ID_OFF, sizeof(pub));
	memcpy(&seq, payload + BENCH_HDR_SEQ_OFF, sizeof(seq));
	memcpy(stamp, payload + BENCH_HDR_TS_OFF, sizeof(*stamp));
	/* Unsigned wrap turns pub < pub_base into a huge index too. */
	if (pub - s->pub_base >= s->pub_count)
		return BENCH_RX_FOREIGN;
	rc = bench_track_add(&s->track[pub - s->pub_base], seq);
	if (rc == -ERANGE)
		return BENCH_RX_FOREIGN;
	if (rc < 0)
		return rc;
	return rc == 1 ? BENCH_RX_DUP : BENCH_RX_NEW;
}

void bench_sub_totals(const struct bench_sub *s, uint64_t *distinct, uint64_t *dups,
		      uint64_t *ooo)
{
	uint32_t i;

	for (i = 0; i < s->pub_count; i++) {
		*distinct += s->track[i].distinct;
		*dups += s->track[i].dups;
		*ooo += s->track[i].ooo;
	}
}
