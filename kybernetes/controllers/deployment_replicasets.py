"""A deployment's replica sets in numbers, as upstream's deployment_util.go and
controller_utils.go: which one is new, how they are ordered, how many replicas
they have and may have, and each one's share of a scaling.
"""

from __future__ import annotations

from datetime import datetime, timezone

from kybernetes.controllers import deployment_util as util
from kybernetes.controllers import podcontrol

_ZERO_TIME = datetime.min.replace(tzinfo=timezone.utc)


def _created(rs: dict) -> datetime:
    return podcontrol.parse_time(podcontrol.meta(rs).get("creationTimestamp")) or _ZERO_TIME


def by_creation(rs: dict) -> tuple:
    """ReplicaSetsByCreationTimestamp: older first, then by name."""
    return _created(rs), podcontrol.meta(rs).get("name", "")


def by_revision(rs: dict) -> tuple:
    try:
        rev = util.revision(rs)
    except ValueError:
        rev = 0
    return (rev,) + by_creation(rs)


def sort_by_size_newer(rss: list[dict]) -> list[dict]:
    """Larger first; among equals the newer first (scaling up)."""
    newest_first = sorted(rss, key=by_creation, reverse=True)
    return sorted(newest_first, key=lambda rs: -util.replicas(rs))


def sort_by_size_older(rss: list[dict]) -> list[dict]:
    """Larger first; among equals the older first (scaling down)."""
    return sorted(sorted(rss, key=by_creation), key=lambda rs: -util.replicas(rs))


def filter_active(rss: list[dict | None]) -> list[dict]:
    return [rs for rs in rss if rs is not None and util.replicas(rs) > 0]


def find_new_rs(d: dict, rss: list[dict]) -> dict | None:
    """The oldest replica set whose template equals the deployment's."""
    for rs in sorted(rss, key=by_creation):
        if util.equal_ignore_hash(util.spec(rs).get("template") or {}, util.spec(d).get("template") or {}):
            return rs
    return None


def find_old_rss(d: dict, rss: list[dict]) -> tuple[list[dict], list[dict]]:
    """(old replica sets with replicas, all old replica sets)."""
    new = find_new_rs(d, rss)
    new_uid = podcontrol.meta(new).get("uid") if new is not None else None
    olds = [rs for rs in rss if new is None or podcontrol.meta(rs).get("uid") != new_uid]
    return [rs for rs in olds if util.replicas(rs) != 0], olds


def find_active_or_latest(new: dict | None, olds: list[dict]) -> dict | None:
    """The only active replica set, the newest one if none is active, None if several are."""
    if new is None and not olds:
        return None
    olds = sorted(olds, key=by_creation, reverse=True)
    active = filter_active(olds + [new])
    if not active:
        return new if new is not None else olds[0]
    return active[0] if len(active) == 1 else None


def is_saturated(d: dict, rs: dict | None) -> bool:
    if rs is None:
        return False
    desired = util.desired_replicas_annotation(rs)
    return desired is not None and util.replicas(rs) == util.replicas(d) and desired == util.replicas(d) and \
        (rs.get("status") or {}).get("availableReplicas", 0) == util.replicas(d)


def spec_total(rss: list[dict | None]) -> int:
    return sum(util.replicas(rs) for rs in rss if rs is not None)


def status_sum(rss: list[dict | None], field: str) -> int:
    return sum((rs.get("status") or {}).get(field, 0) for rs in rss if rs is not None)


def available_total(rss: list[dict | None]) -> int:
    return status_sum(rss, "availableReplicas")


def new_rs_new_replicas(d: dict, all_rss: list[dict | None], new: dict) -> int:
    """NewRSNewReplicas: how far the new replica set may grow now."""
    if not util.is_rolling_update(d):
        return util.replicas(d)
    max_total = util.replicas(d) + util.max_surge(d)
    current = spec_total(all_rss)
    if current >= max_total:
        return util.replicas(new)
    return util.replicas(new) + min(max_total - current, util.replicas(d) - util.replicas(new))


def proportion(rs: dict | None, d: dict, to_add: int, added: int) -> int:
    """GetProportion: this replica set's share of a scaling of the deployment."""
    if rs is None or util.replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: dict, d: dict) -> int:
    if util.replicas(d) == 0:
        return -util.replicas(rs)
    deployment_max = util.replicas(d) + util.max_surge(d)
    try:
        before = int(util.annotations(rs)[util.MAX_REPLICAS])
    except (KeyError, ValueError):
        before = 0
    if before == 0:
        # Unannotated (edited by hand, or scaled back up from zero): the deployment's size.
        before = (d.get("status") or {}).get("replicas", 0)
        if before == 0:
            return 0
    size = util.replicas(rs) * deployment_max / before
    return int(size + 0.5) - util.replicas(rs)  # integer.RoundToInt32 (values are positive)
