"""The bounds a contact's time and a call's length must keep, checked where a value arrives.

One impossible value (a call dated year 1, a 20-digit duration) fails whatever it travels
with: a database column cannot hold it, and a volume window reaching back from year 1 cannot
be worked out at all. So each edge refuses it, by row or by request, and the rows and events
around it go on.
"""

from __future__ import annotations

import datetime as dt

# No council holds a contact record from before this; earlier is a misread or default date.
EARLIEST_CONTACT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# A line held open longer than a day is a telephony fault, not a call.
MAX_CALL_SECONDS = 24 * 3600


def contact_time_problem(moment: dt.datetime, latest: dt.datetime) -> str | None:
    """Why an aware `moment` cannot be a contact's time (None if it can); `latest` is the
    furthest ahead the caller accepts (now, give or take a clock's error)."""
    if moment < EARLIEST_CONTACT:
        return f"is before {EARLIEST_CONTACT.year}"
    if moment > latest:
        return "is in the future"
    return None
