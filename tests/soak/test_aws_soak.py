"""A shortened AWS fault soak in CI (the full run: ``python -m tests.soak.aws_soak``)."""

from __future__ import annotations

from tests.soak.aws_soak import soak


async def test_aws_fault_soak_gives_right_contents_or_clean_errors_without_leaks() -> None:
    report = await soak(mounts=600, concurrency=16, first_mark=200)  # about 15 s
    assert report.mounts == 600
    assert report.wrong_contents == 0
    assert report.unexpected == [], report.lines()
    assert report.outcomes["OK"] > 400 and report.outcomes["PermissionDenied"] > 0, report.lines()
    # the Kubernetes reader's idle keep-alive connections (at most 4 per origin) may still be filling
    assert report.leaks(thread_slack=4, fd_slack=4) == [], report.lines()
