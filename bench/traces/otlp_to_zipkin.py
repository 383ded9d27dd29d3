#!/usr/bin/env python3
"""Renders an OTLP/JSON lines file as one Zipkin v2 JSON span array (what perf-sentinel's
batch `analyze` reads; it reads no OTLP files), for the trace benchmark.

    otlp_to_zipkin.py IN.jsonl OUT.json
"""
import json
import sys

KINDS = {2: "SERVER", 3: "CLIENT", 1: None}


def value(v):
    for key in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if key in v:
            return str(v[key])
    return None


def main():
    src, dst = sys.argv[1], sys.argv[2]
    first = True
    with open(src) as f, open(dst, "w") as out:
        out.write("[")
        for line in f:
            request = json.loads(line)
            for rs in request["resourceSpans"]:
                service = next(
                    (value(a["value"]) for a in rs["resource"]["attributes"] if a["key"] == "service.name"),
                    "unknown_service",
                )
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        start = int(s["startTimeUnixNano"])
                        end = int(s["endTimeUnixNano"])
                        span = {
                            "traceId": s["traceId"], "id": s["spanId"], "name": s["name"],
                            "timestamp": start // 1000, "duration": (end - start) // 1000,
                            "localEndpoint": {"serviceName": service},
                            "tags": {a["key"]: value(a["value"]) for a in s.get("attributes", [])},
                        }
                        if s.get("parentSpanId"):
                            span["parentId"] = s["parentSpanId"]
                        kind = KINDS.get(s.get("kind"))
                        if kind:
                            span["kind"] = kind
                        out.write(("" if first else ",") + json.dumps(span, separators=(",", ":")))
                        first = False
        out.write("]\n")


main()
