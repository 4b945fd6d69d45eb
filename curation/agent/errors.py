"""A trajectory that cannot be used: a reason (the `reason` column of removed/trajectories/) and detail."""

from __future__ import annotations


class TrajectoryError(ValueError):
    def __init__(self, reason: str, detail: str = "", id: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.id = id  # of the record, when known (parse errors): the removed/ row's id
