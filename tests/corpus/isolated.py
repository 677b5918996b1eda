"""Run one corpus case in this (child) process, with its own server: ``python -m tests.corpus.isolated FILE ID``.

For cases marked ``isolate: true`` — inputs that once killed the whole provider process, which must
not take the test session down with it. Prints one JSON line: the outcome and whether a known-good
mount still succeeded afterwards. A crash shows as the child's exit status.
"""

from __future__ import annotations

import json
import os
import sys

from gateway.client import MountFailure
from tests.corpus import harness


def main(source: str, case_id: str) -> int:
    case = next(c for c in harness.load_cases() if c.source == source and c.id == case_id)
    gateway = harness.acquire()
    try:
        outcome = gateway.mount_outcome(case.build(), timeout=case.deadline)
    except harness.Hang as hang:
        print(json.dumps({"code": "Hang", "message": str(hang), "files": None, "good": False}), flush=True)
        os._exit(0)  # the server's loop is blocked: do not wait for it to stop
    try:
        harness.check_good(gateway.mount(harness.good_request()))
        good = True
    except (MountFailure, AssertionError, harness.Hang):
        good = False
    harness.release(gateway)
    if isinstance(outcome, MountFailure):
        report = {"code": outcome.code_name, "message": outcome.message, "files": None, "good": good}
    else:
        report = {"code": "OK", "message": "", "files": [f.path for f in outcome.files], "good": good}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
