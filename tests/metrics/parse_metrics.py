"""Parses a Prometheus text exposition with prometheus-client's own parser.

    parse_metrics.py FILE

Prints one line per sample, `NAME{LABELS} TYPE VALUE`, labels sorted by
name, so that a test in any language can look samples up by a fixed key.
Fails (a Python exception) on text the real parser rejects.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(
                '%s="%s"' % (k, v) for k, v in sorted(sample.labels.items()))
            print("%s{%s} %s %r" % (sample.name, labels, family.type,
                                   float(sample.value)))


if __name__ == "__main__":
    main()
