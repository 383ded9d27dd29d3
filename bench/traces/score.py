#!/usr/bin/env python3
"""Precision and recall per labelled route of one tool's JSON output.

    score.py LABELS.json querycomb|perf-sentinel OUTPUT.json

A labelled N+1 route counts as found when the tool reports an N+1 on it (querycomb:
`n_plus_one` on `request.route`; perf-sentinel: `n_plus_one_sql` on `source_endpoint`);
any N+1 reported on a clean route is a false positive. perf-sentinel's "redundant_sql"
findings on N+1 routes are counted apart (the misclassification the issue describes).
"""
import json
import sys


def route_of(endpoint):
    # perf-sentinel writes "GET /path"; querycomb the route itself.
    return endpoint.split(" ", 1)[-1] if endpoint else ""


def main():
    labels = json.load(open(sys.argv[1]))
    tool, path = sys.argv[2], sys.argv[3]
    doc = json.load(open(path))
    findings = doc["findings"] if isinstance(doc, dict) else doc
    n1, other = set(), set()
    for f in findings:
        if tool == "querycomb":
            route, kind = f["request"].get("route") or "", f["kind"]
            (n1 if kind == "n_plus_one" else other).add(route)
        else:
            route, kind = route_of(f.get("source_endpoint", "")), f.get("type", "")
            (n1 if kind == "n_plus_one_sql" else other).add(route)
            if kind == "redundant_sql":
                other.add(route)
    positives = {r for r, l in labels.items() if l == "n_plus_one"}
    negatives = {r for r, l in labels.items() if l == "clean"}
    tp = len(positives & n1)
    fp = len(negatives & n1)
    fn = len(positives - n1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    misnamed = len((positives - n1) & other)
    print(f"{tool}: N+1 routes found {tp}/{len(positives)}, false positives {fp}/{len(negatives)}, "
          f"precision {precision:.2f}, recall {recall:.2f}; missed but reported as another kind: {misnamed}")


main()
