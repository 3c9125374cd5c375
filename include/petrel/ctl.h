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
 *
 * Codes: bad_request, too_long, unknown_command, not_found (client, retained topic),
 * not_connected (kick of an offline session), unavailable (e.g. store.* with
 * persistence off), timeout (a worker did not answer in control_request_timeout),
 * busy (control_max_clients), failed (the command itself failed: reload's file).
 */
#ifndef PETREL_CTL_H
#define PETREL_CTL_H

#include <jansson.h>
#include <stddef.h>

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
/* Once a second: idle timeouts. */
void ctl_tick(struct ctl *c);

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
/* The reload of `reload` and SIGHUP (control/ctl_reload.c): reads the -c file and the
 * command line's overrides again, applies the keys that may change live (to every
 * worker through ADMIN_CONFIG, and to the control plane), logs one line naming what
 * was applied and what needs a restart. Returns 0 with *<result> (if <result> is not
 * NULL; the caller's reference) = {"applied": [{"key","from","to"}],
 * "restart_needed": [...]}, or -errno with the file's error lines in <err> (also
 * logged): nothing applied. Control plane thread. */
int ctl_reload_run(struct cplane *cp, json_t **result, char *err, size_t errlen);
ctl_cmd_fn ctl_cmd_store_stats;   /* control/ctl_store.c */
ctl_cmd_fn ctl_cmd_store_compact; /* control/ctl_store.c */

#endif
