/* log.h - leveled logging to stderr and/or a file, safe from any thread. A line is one fprintf, so
 * lines from different workers never interleave. */
#ifndef PETREL_LOG_H
#define PETREL_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

/* Sets the most verbose level that is printed (default LOG_NOTICE). Any thread. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "notice", "information"/"info", "debug" (mosquitto's
 * log_type names). Returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

/* log_dest: also (or, with log_set_stderr(false), only) append lines to <path>,
 * created if missing. Main thread, before other threads start. Returns 0 or -errno. */
int log_open_file(const char *path);
/* Whether lines go to stderr (default true). Without a file they always do. */
void log_set_stderr(bool on);
/* Closes the log file; later lines go to stderr. Main thread, other threads joined. */
void log_close_file(void);

/* Names the calling thread in its log lines, e.g. "w0", "main". At most 15 chars. */
void log_set_thread_name(const char *name);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)    log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  do { if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
