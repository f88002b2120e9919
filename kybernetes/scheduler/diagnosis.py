"""Why a pod fits nowhere, in kube-scheduler 1.32's words.

``fit_error_message`` is framework.FitError.Error(): ``0/N nodes are
available: `` then each distinct reason with the number of nodes giving it
(``"%v %v"``, count first), sorted as strings (so "1 Insufficient cpu" comes
before "2 node(s)..."), joined with ", ", then ".", then the PostFilter
message.

The PostFilter message is DefaultPreemption's, prefixed ``preemption: ``:
a pod with ``preemptionPolicy: Never`` is "not eligible due to
preemptionPolicy=Never."; otherwise every node rejected with
UnschedulableAndUnresolvable is "Preemption is not helpful for scheduling",
a node with no lower-priority pod is "No preemption victims found for
incoming pod", and a node that still rejects the pod once its lower-priority
pods are set aside gives that rejection; all in the same FitError form.
If some node *would* fit after evicting lower-priority pods, kube-scheduler
would preempt them; this scheduler does not preempt (yet), and then reports
only the filter message, as upstream does when preemption succeeds.
"""

from __future__ import annotations

from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import framework, podinfo

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."


def fit_error_message(num_all_nodes: int, statuses: dict[str, framework.Status],
                      post_filter_msg: str = "") -> str:
    counts: dict[str, int] = {}
    for st in statuses.values():
        for reason in st.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    msg = f"0/{num_all_nodes} nodes are available:"
    histogram = sorted(f"{n} {reason}" for reason, n in counts.items())
    if histogram:
        msg += f" {', '.join(histogram)}."
    if post_filter_msg:
        msg += f" {post_filter_msg}"
    return msg


def preemption_message(fwk: framework.Framework, pod: podinfo.PodInfo, cluster: caches.Cache,
                       statuses: dict[str, framework.Status]) -> str:
    """DefaultPreemption's PostFilter message for a pod that fits nowhere ("" if it could preempt)."""
    if (pod.pod.get("spec") or {}).get("preemptionPolicy") == "Never":
        return "preemption: " + NOT_ELIGIBLE_NEVER
    outcome: dict[str, framework.Status] = {}
    candidate = False
    for name, st in statuses.items():
        if not st.resolvable:
            outcome[name] = framework.Status(framework.UNRESOLVABLE, (NOT_HELPFUL,))
            continue
        info = cluster.nodes.get(name)
        victims = [p for p in info.pods.values() if p.priority < pod.priority] if info else []
        if not victims:
            outcome[name] = framework.Status(framework.UNRESOLVABLE, (NO_VICTIMS,))
            continue
        retry = _filter_without(fwk, pod, cluster, info, victims)
        if retry is None:
            candidate = True
            break
        outcome[name] = retry
    if candidate:
        return ""
    return "preemption: " + fit_error_message(len(cluster.node_list), outcome)


def _filter_without(fwk: framework.Framework, pod: podinfo.PodInfo, cluster: caches.Cache,
                    info, victims: list[podinfo.PodInfo]) -> framework.Status | None:
    """Run the filters on ``info`` with ``victims`` set aside (restored afterwards)."""
    for v in victims:
        info.remove_pod(v)
    try:
        _, statuses, _, _ = fwk.run_filters(pod, cluster, [info], 1)
    finally:
        for v in victims:
            info.add_pod(v)
    return statuses.get(info.name)
