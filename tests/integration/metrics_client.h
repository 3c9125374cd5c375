/* metrics_client.h - what the metrics and $SYS suites read a running broker with: raw
 * JSON lines on its control socket (b->ctl_path), Prometheus text parsed by the real
 * parser (python3-prometheus-client through prom_parse.py), and HTTP requests to
 * metrics_listener over a plain socket. Every wait is bounded. */
#ifndef PETREL_TEST_METRICS_CLIENT_H
#define PETREL_TEST_METRICS_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;

/* Sends one request line, returns the answer object (a new reference). Asserts that
 * the socket answers a JSON object within 5 s. */
json_t *ctl_call(struct broker *b, const char *request);
/* ctl_call asserting {"ok": true}; returns its "result" (a new reference). */
json_t *ctl_result(struct broker *b, const char *request);
/* The `metrics` command's Prometheus text (malloc'd). */
char *ctl_metrics_text(struct broker *b);

/* Runs prom_parse.py on <text> (with --grafana <dashboard> unless NULL). Returns its
 * JSON ({"families", "samples"}) or NULL; *rc gets its exit status (0 parsed, 1 a
 * dashboard metric missing, 2 the parser refused the text). */
json_t *prom_parse(const char *text, const char *dashboard, int *rc);
/* prom_parse asserting success. */
json_t *prom_parse_ok(const char *text);
/* Sum of every sample called <name> (any labels); -1 if there is none. */
double prom_sum(const json_t *parsed, const char *name);
/* The sample <name> with label <label>=<value>; -1 if there is none. */
double prom_value(const json_t *parsed, const char *name, const char *label,
		  const char *value);
/* The sorted family names, one per line (malloc'd), to compare two texts' families. */
char *prom_family_list(const json_t *parsed);

/* A port free on 127.0.0.1 right now (bound and released). */
uint16_t free_tcp_port(void);
/* "<method> <path> HTTP/1.1" to 127.0.0.1:<port> with Connection: close. Returns the
 * status code (-1: no answer within 5 s) and the response's head and body, malloc'd,
 * in *head and *body (either may be NULL). */
int http_request(uint16_t port, const char *method, const char *path, char **head,
		 char **body);

#endif
