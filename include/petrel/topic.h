/* topic.h - MQTT topic names and filters (MQTT 3.1.1 section 4.7): validation and the
 * reference matcher. Strings are length-delimited, not NUL terminated; UTF-8 validity
 * is the codec's job and is assumed here. Pure functions, any thread. */
#ifndef PETREL_TOPIC_H
#define PETREL_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/* A topic name for PUBLISH: at least one byte, no '+' or '#' (MQTT-4.7.1-1,
 * MQTT-4.7.3-1), no U+0000. */
bool topic_name_valid(const char *name, size_t len);

/* A topic filter for SUBSCRIBE/UNSUBSCRIBE: at least one byte; '#' only as the whole
 * last level (MQTT-4.7.1-2); '+' only as a whole level (MQTT-4.7.1-3). */
bool topic_filter_valid(const char *filter, size_t len);

/* True when <name> matches <filter>. A name starting with '$' is never matched by a
 * filter starting with '+' or '#' (MQTT-4.7.2-1). "sport/#" matches "sport"
 * (MQTT 4.7.1.2). Both arguments must be valid. */
bool topic_matches(const char *filter, size_t filter_len, const char *name, size_t name_len);

#endif
