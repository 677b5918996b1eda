"""A shortened fault soak in CI (the full 10,000-mount run: ``python -m tests.soak.fake_soak``)."""

from __future__ import annotations

from tests.soak.fake_soak import soak


async def test_fault_soak_gives_right_contents_or_clean_errors_without_leaks() -> None:
    report = await soak(mounts=1_500, concurrency=32, first_mark=500)
    assert report.mounts == 1_500
    assert report.wrong_contents == 0
    assert report.unexpected == []
    assert report.outcomes["OK"] > 1_000 and report.outcomes["PermissionDenied"] > 0  # both kinds really happened
    assert report.leaks(thread_slack=0) == [], report.lines()
    assert report.rss_growth < 0.10, report.lines()
