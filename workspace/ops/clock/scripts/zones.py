"""Showing one moment in several time zones."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, available_timezones

from ..context import Context
from ..state import State

COMMON = ("UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo")


def zone_options(state: State, context: Context) -> Context:
    """Offer common zones first, then every other zone this system knows."""
    others = sorted(available_timezones() - set(COMMON))
    context.when.components.zones.set_options([*COMMON, *others])
    return context


def convert_time(state: State, context: Context) -> Context:
    """One row per chosen zone with the local time, offset and daylight saving flag."""
    moment = state.when.moment or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    utc = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    rows: list[dict[str, object]] = []
    for zone in state.when.zones or ["UTC"]:
        try:
            local = utc.astimezone(ZoneInfo(zone))
        except (KeyError, ValueError):
            context.when.components.zones.set_message(f"Unknown time zone {zone!r}.", "error")
            continue
        offset = local.utcoffset() or dt.timedelta()
        hours, minutes = divmod(int(offset.total_seconds()) // 60, 60)
        rows.append(
            {
                "zone": zone,
                "local_time": local.replace(tzinfo=None),
                "offset": f"UTC{'+' if offset >= dt.timedelta() else '-'}{abs(hours):02d}:{minutes:02d}",
                "dst": bool(local.dst()),
            }
        )
    context.times.set_data(rows)
    return context
