/* ctl_client.h - runs the real petrelctl ($PETRELCTL_BIN, set by meson for the
 * integration suites) against a broker's control socket (b->ctl_path) and captures its
 * stdout, stderr and exit status, every run bounded in time. For tests of the control
 * socket, of petrelctl itself, and of anything a command shows (status counts, store
 * stats, reload).
 *
 *   struct ctl_out o;
 *   ctl_run(&o, b->ctl_path, "kick", "sensor-1", NULL);      exit 0, "kicked sensor-1"
 *   json_t *st = ctl_json(b, "status", NULL);                 the --json result, parsed
 */
#ifndef PETREL_TEST_CTL_CLIENT_H
#define PETREL_TEST_CTL_CLIENT_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

struct broker;

struct ctl_out {
	int status;              /* the exit code; -1 if killed at the time bound or by a
	                          * signal (then <signal> says which, 0 for the bound) */
	int signal;
	char *out;               /* stdout, NUL-terminated (never NULL after a run) */
	size_t out_len;
	char *err;               /* stderr, NUL-terminated */
	size_t err_len;
};

/* Runs $PETRELCTL_BIN with <argv> (NULL-terminated; argv[0] is the first argument,
 * not the program), at most <timeout_s> seconds, then SIGKILL. <uid> >= 0 runs it as
 * that user (and its group = uid, no supplementary groups): permission tests as root.
 * Fills <o> (free it with ctl_out_free). Returns o->status. Asserts the program ran. */
int ctl_exec(struct ctl_out *o, const char *const *argv, unsigned timeout_s, int uid);
/* ctl_exec of "-s <socket> <args...>" (a NULL socket: no -s) with a 30 s bound. */
int ctl_run(struct ctl_out *o, const char *socket, const char *arg, ...)
	__attribute__((sentinel));
void ctl_out_free(struct ctl_out *o);

/* Runs "petrelctl -s b->ctl_path --json <args...>", asserts exit 0 and an empty
 * stderr, parses stdout with jansson and returns it (the broker's "result"; the
 * caller json_decref()s it). Asserts on anything else, printing what petrelctl said. */
json_t *ctl_json(struct broker *b, const char *arg, ...) __attribute__((sentinel));

/* <o>'s integer member at a dotted <path> ("sessions.online"); asserts it is there. */
json_int_t ctl_int(json_t *o, const char *path);

/* Waits <= timeout_ms (polling status every 50 ms) until the status number at <path>
 * equals <want>; returns the last value seen. Counts that workers update as traffic
 * flows settle shortly after the clients' calls return. */
json_int_t ctl_wait_status(struct broker *b, const char *path, json_int_t want,
			   int timeout_ms);

/* How many times <needle> occurs in <hay>. */
unsigned ctl_count(const char *hay, const char *needle);

#endif
