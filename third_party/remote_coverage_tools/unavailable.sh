#!/bin/sh
# Stub: coverage tools are not available in this offline build.
echo "remote_coverage_tools stub: coverage is not available offline" >&2
exit 1
