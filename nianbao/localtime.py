"""Beijing time: what county staff read and Excel holds (naive wall-clock times).

Its own small module, without pandas, so the worker processes that write receipts can use it
(``nianbao.consolidate`` re-exports both names).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# China has one time zone and no daylight saving time, so a fixed offset is exact and needs no
# tz database (Windows has none without the tzdata package).
LOCAL_TZ = timezone(timedelta(hours=8), "北京时间")


def local_naive(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None) if moment.tzinfo else moment
