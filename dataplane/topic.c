/* topic.c - MQTT topic names and filters, MQTT 3.1.1 section 4.7: validity of names
 * (PUBLISH) and filters (SUBSCRIBE/UNSUBSCRIBE), and the reference matcher that the
 * router and retained-message tries must agree with. Owns no state; pure functions
 * on length-delimited strings, callable from any thread. */
#include <string.h>

#include "petrel/topic.h"
#include "petrel/topic_level.h"

/* MQTT 4.7.3: topic names and filters are UTF-8 strings, which the wire format caps
 * at 65535 bytes (MQTT 1.5.3). */
#define TOPIC_MAX_LEN 65535u

bool topic_name_valid(const char *name, size_t len)
{
	size_t i;

	/* MQTT-4.7.3-1: at least one character. */
	if (len == 0 || len > TOPIC_MAX_LEN)
		return false;
	for (i = 0; i < len; i++) {
		/* MQTT-4.7.1-1: wildcards only in filters; MQTT-4.7.3-2: no U+0000. */
		if (name[i] == '+' || name[i] == '#' || name[i] == '\0')
			return false;
	}
	return true;
}

bool topic_filter_valid(const char *filter, size_t len)
{
	size_t i, level_start = 0;

	if (len == 0 || len > TOPIC_MAX_LEN)
		return false;
	for (i = 0; i < len; i++) {
		switch (filter[i]) {
		case '\0':
			return false;	/* MQTT-4.7.3-2 */
		case '/':
			level_start = i + 1;
			break;
		case '#':
			/* MQTT-4.7.1-2: alone or after a '/', and the last character. */
			if (i != level_start || i + 1 != len)
				return false;
			break;
		case '+':
			/* MQTT-4.7.1-3: it must occupy an entire level. */
			if (i != level_start || (i + 1 != len && filter[i + 1] != '/'))
				return false;
			break;
		default:
			break;
		}
	}
	return true;
}

bool topic_matches(const char *filter, size_t filter_len, const char *name,
		   size_t name_len)
{
	const char *f = filter, *fend = filter + filter_len;
	const char *n = name, *nend = name + name_len;
	bool name_done = false;

	/* MQTT-4.7.2-1: "$" topics are never matched by a leading wildcard. */
	if (name_len > 0 && name[0] == '$' && filter_len > 0 &&
	    (filter[0] == '+' || filter[0] == '#'))
		return false;

	for (;;) {
		const char *fl_end = topic_level_end(f, fend);
		const char *nl_end;
		bool f_more, n_more;

		/* 4.7.1.2: '#' is the last level and matches its parent level and any
		 * number of child levels, so whatever is left of the name matches. */
		if (fl_end - f == 1 && f[0] == '#')
			return true;
		if (name_done)
			return false;
		nl_end = topic_level_end(n, nend);
		/* 4.7.1.3: '+' matches exactly one level, including a zero-length one. */
		if (!(fl_end - f == 1 && f[0] == '+')) {
			if (fl_end - f != nl_end - n ||
			    memcmp(f, n, (size_t)(fl_end - f)) != 0)
				return false;
		}
		f_more = fl_end < fend;
		n_more = nl_end < nend;
		if (!f_more)
			return !n_more;
		f = fl_end + 1;
		if (n_more)
			n = nl_end + 1;
		else
			name_done = true;
	}
}
