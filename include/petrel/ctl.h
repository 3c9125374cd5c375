/* ctl.h - the control socket (issue 9, docs/operations.md "Control socket"): a Unix
 * socket, mode 0600, served by the control-plane thread; one JSON object per line
 * each way (jansson). petrelctl is its client.
 *
 * Request:  {"cmd": "clients", "pattern": "sensor-*", "id": 7}
 * Answer:   {"ok": true, "id": 7, "result": {...}}
 *        or {"ok": false, "id": 7, "error": "unknown client 'x'", "code": "not_found"}
 * "id" is optional and echoed as given. Each connection's answers come in the order of
 * its requests. A request field the command does not know is an error (code
 * "bad_request"), as is a line that is not a JSON object. A line longer than
 * control_max_line gets {"ok": false, "code": "too_long"} and the connection is closed.
 * An answer longer than control_max_output is replaced by {"ok": false, "code":
 * "too_large"} and the connection carries on.
 *
 * Codes: bad_request, too_long, too_large, unknown_command, not_found (client,
 * retained topic), not_connected (kick of an offline session), unavailable (e.g.
 * store.* with persistence off), timeout (a worker did not answer in
 * control_request_timeout), busy (control_max_clients), failed (the command itself
 * failed: reload's file).
 */
#ifndef PETREL_CTL_H
#define PETREL_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct cplane;
struct ctl;
struct ctl_req;

/* ---- the listening socket: main, before any thread starts ---------------------- */

/* Binds and listens on cfg->control_socket ("" = none: *fd = -1, returns 0) with mode
 * 0600 (umask while binding: no thread runs yet). A socket file nobody answers on
 * (a broker that died) is replaced; one a process answers on, or a path that is not
 * a socket, is refused: returns -EADDRINUSE / -EEXIST / -errno with one line in <err>
 * ("control_socket ./petrel.sock: another broker answers on it"). */
int ctl_listen(const struct config *cfg, int *fd, char *err, size_t errlen);
/* Closes <fd> and removes the socket file (main, at exit, after cplane_stop). */
void ctl_unlisten(const struct config *cfg, int fd);

/* ---- the server: control plane thread (control/ctl.c) --------------------------- */

/* Serves <listen_fd> (taken over) on <cp>'s epoll set. Returns NULL with errno. */
struct ctl *ctl_create(struct cplane *cp, int listen_fd);
/* Closes every connection; requests still waiting for workers are answered nowhere. */
void ctl_destroy(struct ctl *c);
/* Once a second: idle timeouts, the end of a limit's log episode. */
void ctl_tick(struct ctl *c);
/* Main's quiesce: answers nothing more, closes every connection (flushing what it
 * can without waiting), stops accepting. ctl_destroy still follows. */
void ctl_close_all(struct ctl *c);

/* The server's counters (metrics): read without locks by any thread. Each limit
 * counts the connections it closed or refused; each is logged once per episode (a
 * first occurrence, then quiet until a minute passes without one). */
struct ctl_stats {
	uint64_t connections;          /* open now */
	uint64_t accepted;
	uint64_t requests;             /* lines handled (answered or pending) */
	uint64_t bad_requests;         /* answered bad_request / unknown_command */
	uint64_t refused_busy;         /* control_max_clients */
	uint64_t closed_too_long;      /* control_max_line */
	uint64_t closed_output;        /* control_max_output: unread answers piled up */
	uint64_t closed_idle;          /* control_idle_timeout */
	uint64_t request_timeouts;     /* control_request_timeout (answered timeout) */
	uint64_t answers_too_large;    /* one answer over control_max_output (too_large) */
};
/* <c> may be NULL (control_socket none): all zero. */
void ctl_stats_read(const struct ctl *c, struct ctl_stats *out);

/* Reload (control/ctl_reload.c): re-reads the configuration and applies it (cplane.h
 * cplane_request_reload, the reload command), logging what it applied or why nothing
 * was. Returns 0 with *result (if <result> is not NULL) {"applied",
 * "restart_needed"}, or -errno with the lines of errors in <err> (nothing applied).
 * Control plane thread. */
int ctl_reload_run(struct cplane *cp, json_t **result, char *err, size_t errlen);

/* ---- commands ------------------------------------------------------------------ */

/* Runs on the control plane thread for one request whose "cmd" is this command's name
 * and whose other fields (besides "cmd" and "id") are all in <fields>. It must end
 * <r> exactly once with ctl_reply_ok or ctl_reply_err, now or later (an admin call's
 * done function). <req> is borrowed for the call: copy what a later reply needs. */
typedef void ctl_cmd_fn(struct cplane *cp, struct ctl_req *r, json_t *req);

struct ctl_cmd {
	const char *name;              /* "status", "session.show", ... */
	const char *const *fields;     /* allowed fields, NULL-terminated; NULL = none */
	ctl_cmd_fn *fn;
	const char *help;              /* one line */
};

/* Every command, ending with a NULL name (control/ctl_cmds.c). */
extern const struct ctl_cmd ctl_cmds[];

/* Answers <r> with {"ok": true, "result": <result>} (the reference is taken; NULL =
 * {}). If the connection has gone, it is dropped. */
void ctl_reply_ok(struct ctl_req *r, json_t *result);
/* Answers <r> with {"ok": false, "code": <code>, "error": <formatted line>}. */
void ctl_reply_err(struct ctl_req *r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Handlers living in other files (declared here so ctl_cmds.c's table sees them). */
ctl_cmd_fn ctl_cmd_status;        /* control/ctl_status.c */
ctl_cmd_fn ctl_cmd_metrics;       /* control/ctl_status.c */
ctl_cmd_fn ctl_cmd_reload;        /* control/ctl_reload.c */
ctl_cmd_fn ctl_cmd_store_stats;   /* control/ctl_store.c */
ctl_cmd_fn ctl_cmd_store_compact; /* control/ctl_store.c */

#endif
