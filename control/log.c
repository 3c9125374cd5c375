/* log.c - leveled logging to stderr and/or a file (log_dest) for every thread.
 *
 * A line looks like
 *
 *     2026-11-26T13:41:21.123Z petrel[w0] notice: text
 *
 * (UTC, milliseconds). Each line is handed to stdio in ONE fprintf call: stdio takes
 * the stream's lock for the whole call, so lines from different workers never
 * interleave, and no lock of our own sits in the hot path. The level is a single
 * relaxed atomic read, so a disabled log_debug() costs one load and one compare.
 * Owns: the level (process-wide) and one thread-name buffer per thread. */

#include "petrel/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Any thread may change the level at any time (the control socket's "log level"
 * command), and workers read it on every log call, so it is atomic. Relaxed order is
 * enough: nothing else is published through it. */
static int log_level_cur = LOG_NOTICE;

/* Set once by each thread at start (log_set_thread_name); empty until then. 16 bytes
 * = 15 chars + NUL, the same limit as pthread_setname_np, so names can be shared. */
static __thread char log_thread_name[16];

/* Destinations (log_dest). Set by the main thread before any other thread starts and
 * not changed after, so workers read them without synchronisation. */
static bool log_to_stderr = true;
static FILE *log_file;

static const char *const log_level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	if ((int)level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	__atomic_store_n(&log_level_cur, (int)level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return (enum log_level)__atomic_load_n(&log_level_cur, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_ERR },
		{ "warning", LOG_WARN },
		{ "notice", LOG_NOTICE },
		{ "information", LOG_INFO },	/* mosquitto's log_type spelling */
		{ "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};

	if (name == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

int log_open_file(const char *path)
{
	FILE *f = fopen(path, "ae");

	if (f == NULL)
		return -errno;
	/* One line per fprintf and line buffering: a line reaches the file whole and
	 * at once, and a crash loses nothing already logged. */
	setvbuf(f, NULL, _IOLBF, 0);
	if (log_file != NULL)
		fclose(log_file);
	log_file = f;
	return 0;
}

void log_set_stderr(bool on)
{
	log_to_stderr = on;
}

void log_close_file(void)
{
	if (log_file != NULL)
		fclose(log_file);
	log_file = NULL;
}

void log_set_thread_name(const char *name)
{
	if (name == NULL)
		name = "";
	/* snprintf truncates to 15 chars and always terminates. */
	snprintf(log_thread_name, sizeof(log_thread_name), "%s", name);
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into <buf> (at least 32 bytes). */
static void log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char stackbuf[512];
	char *heap = NULL;
	const char *text = stackbuf;
	const char *who = log_thread_name;
	const char *lvl;
	char ts[40];
	char tid[24];
	size_t len;
	va_list ap;
	int saved_errno = errno;	/* callers log, then still look at errno */
	int n;

	if ((int)level > __atomic_load_n(&log_level_cur, __ATOMIC_RELAXED))
		return;
	lvl = ((int)level >= LOG_ERR && level <= LOG_DEBUG) ? log_level_names[level] : "?";

	va_start(ap, fmt);
	n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
	va_end(ap);
	if (n < 0) {
		text = "(bad log format)";
	} else if ((size_t)n >= sizeof(stackbuf)) {
		/* Rare long line (a dump): format it again into a buffer that fits, so
		 * the line still goes out whole in one call. On ENOMEM keep the
		 * truncated text rather than lose the line. */
		heap = malloc((size_t)n + 1);
		if (heap != NULL) {
			va_start(ap, fmt);
			vsnprintf(heap, (size_t)n + 1, fmt, ap);
			va_end(ap);
			text = heap;
		}
	}

	/* Callers may or may not end the text with a newline; print exactly one. */
	len = strlen(text);
	while (len > 0 && text[len - 1] == '\n')
		len--;
	if (who[0] == '\0') {
		/* An unnamed thread still gets a stable, greppable tag: its tid. */
		snprintf(tid, sizeof(tid), "%ld", (long)gettid());
		who = tid;
	}
	log_timestamp(ts, sizeof(ts));
	if (log_to_stderr || log_file == NULL)
		fprintf(stderr, "%s petrel[%s] %s: %.*s\n", ts, who, lvl, (int)len, text);
	if (log_file != NULL)
		fprintf(log_file, "%s petrel[%s] %s: %.*s\n", ts, who, lvl, (int)len, text);

	free(heap);
	errno = saved_errno;
}
