/* petrelctl.h - private to petrelctl (control/petrelctl*.c): the connection to the
 * broker's control socket and the printers. petrelctl links only jansson and libc, not
 * petrel_core: it is the client of the wire protocol ctl.h describes, nothing more.
 *
 * Exit codes: 0 done, 1 the command failed (socket, timeout, the broker's error),
 * 2 usage (unknown command, bad option). Every error is one line on stderr. */
#ifndef PETREL_PETRELCTL_H
#define PETREL_PETRELCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum { PCTL_OK = 0, PCTL_FAILED = 1, PCTL_USAGE = 2 };

/* One connection to the broker, opened on the first request and kept for the next
 * (top asks once a frame). */
struct pctl {
	const char *path;        /* the control socket */
	unsigned timeout_s;      /* for each request: connect, send, answer */
	bool json;               /* --json */
	int fd;                  /* -1 until connected */
	unsigned next_id;
	char *buf;               /* bytes read past the last answer line */
	size_t len, cap;
};

/* Prints "petrelctl: <message>" as one line on stderr. */
void pctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends <req> (a JSON object with "cmd"; the reference is taken) and waits for its
 * answer. Returns the answer's "result" (a new reference), or NULL after printing the
 * error line: cannot connect, no answer in time, the broker's own error. */
json_t *pctl_call(struct pctl *p, json_t *req);
void pctl_close(struct pctl *p);

/* ---- printers (petrelctl_fmt.c): each prints one command's result for people ---- */

typedef void pctl_print_fn(json_t *result);
pctl_print_fn fmt_status, fmt_clients, fmt_session, fmt_subscriptions, fmt_kick,
	fmt_retained_list, fmt_retained_delete, fmt_log_level, fmt_reload, fmt_metrics,
	fmt_shutdown, fmt_store_stats, fmt_store_compact;

/* <o>'s member at a dotted <path> ("messages.received"), or NULL. */
json_t *fmt_get(json_t *o, const char *path);
/* Its text, or <dflt> when absent or not a string. */
const char *fmt_str(json_t *o, const char *path, const char *dflt);
/* Its number (integer or real), or 0 when absent. */
double fmt_num(json_t *o, const char *path);
/* "512 B", "1.5 KiB", "3.2 GiB" into <buf>; returns <buf>. */
const char *fmt_bytes(double n, char *buf, size_t len);
/* A count per second: "0.0", "12.5", "3.4k", "1.2M". */
const char *fmt_rate(double n, char *buf, size_t len);
/* A duration in seconds: "45s", "3m 05s", "2h 03m", "4d 01h". */
const char *fmt_duration(double s, char *buf, size_t len);

/* Columns, measured and printed once every row is in. */
struct fmt_table {
	unsigned ncols;
	const char *align;       /* one of 'l' / 'r' per column */
	char **cells;            /* rows * ncols, the header first */
	size_t rows, cap;
};
/* <headers>: ncols titles, or NULL for a table without a header row. */
void fmt_table_init(struct fmt_table *t, unsigned ncols, const char *align,
		    const char *const *headers);
/* Appends a row of ncols cells (copied). */
void fmt_table_row(struct fmt_table *t, const char *const *cells);
/* Prints (each line starting with <indent>) and frees. */
void fmt_table_print(struct fmt_table *t, const char *indent);

/* ---- top (petrelctl_top.c) ------------------------------------------------------ */

/* Runs `top [-n COUNT] [-d SECONDS]` with the words after "top". Returns an exit code. */
int top_run(struct pctl *p, int argc, char **argv);

#endif
