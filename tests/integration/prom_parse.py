#!/usr/bin/python3
"""prom_parse.py - reads Prometheus text (exposition format 0.0.4) on stdin with the
official client's parser (Debian's python3-prometheus-client) and prints what it found
as one JSON object, for the C suites to check:

  {"families": {"petrel_publish_in": "counter", ...},
   "samples": [{"name": "petrel_publish_in_total", "labels": {"worker": "0"},
                "value": 20.0}, ...]}

With --grafana DASHBOARD.json it also checks that every petrel_* metric the
dashboard's queries name is among the samples, and exits 1 naming those that are not.
A text the parser refuses makes it exit 2 with the parser's error."""
import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    families, samples = {}, []
    try:
        for fam in text_string_to_metric_families(text):
            families[fam.name] = fam.type
            for s in fam.samples:
                samples.append({"name": s.name, "labels": s.labels, "value": s.value})
    except Exception as e:  # the parser's own error, whatever its class
        print("parse error: %s" % e, file=sys.stderr)
        return 2
    if len(sys.argv) == 3 and sys.argv[1] == "--grafana":
        names = {s["name"] for s in samples}
        with open(sys.argv[2]) as f:
            dash = json.load(f)
        wanted = set()
        for panel in dash["panels"]:
            for t in panel.get("targets", []):
                wanted.update(re.findall(r"petrel_[a-z0-9_]+", t["expr"]))
        for v in dash["templating"]["list"]:
            q = v.get("query")
            if isinstance(q, dict):
                wanted.update(re.findall(r"petrel_[a-z0-9_]+", q.get("query", "")))
        missing = sorted(wanted - names)
        if not wanted or missing:
            print("dashboard metrics missing from /metrics: %s" % missing, file=sys.stderr)
            return 1
    json.dump({"families": families, "samples": samples}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
