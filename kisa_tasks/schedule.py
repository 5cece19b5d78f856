"""What a logical date selects (the schedule itself: ``kisa_tasks.timetable``).

What a run reads: a backfill run reads the abstracts published in its data
interval (the calendar month of its logical date); a manual run reads the
whole corpus. A record's publication date counts as its first day: "1979"
is 1979-01-01, "1979-02" is 1979-02-01.
"""

from __future__ import annotations

from datetime import date, datetime

WINDOWED_RUN_TYPES = ("backfill",)


def publication_window(
    run_type: str, start: datetime | None, end: datetime | None
) -> tuple[str, str] | None:
    """[start, end) as ISO dates for a backfill run; None (everything) otherwise.

    >>> from datetime import datetime
    >>> publication_window("backfill", datetime(1979, 1, 1), datetime(1979, 2, 1))
    ('1979-01-01', '1979-02-01')
    >>> publication_window("manual", datetime(1979, 1, 1), datetime(1979, 2, 1)) is None
    True
    """
    if run_type not in WINDOWED_RUN_TYPES or start is None or end is None:
        return None
    return start.date().isoformat(), end.date().isoformat()


def published_on(pub_date: str | None) -> date | None:
    """A record's publication date as a day (the first of the month or year).

    >>> published_on("1979"), published_on("1979-02"), published_on("1979-02-14")
    (datetime.date(1979, 1, 1), datetime.date(1979, 2, 1), datetime.date(1979, 2, 14))
    """
    if not pub_date:
        return None
    parts = [int(p) for p in pub_date.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def in_window(pub_date: str | None, window: tuple[str, str] | None) -> bool:
    """Whether a record falls in [start, end); everything is in no window.

    >>> january = ("1979-01-01", "1979-02-01")
    >>> in_window("1979-01", january), in_window("1979-02", january), in_window("1979", None)
    (True, False, True)
    """
    if window is None:
        return True
    day = published_on(pub_date)
    return day is not None and date.fromisoformat(window[0]) <= day < date.fromisoformat(window[1])
