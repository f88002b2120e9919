"""Filter and score plugins on hand-built nodes and pods, and the FailedScheduling text."""

from __future__ import annotations

from kybernetes.scheduler import diagnosis, framework, podinfo, scheduling
from kybernetes.scheduler.plugins import basic, interpodaffinity, noderesources, podtopologyspread
from tests.scheduler.helpers import cluster, node, pod, schedule
from tests.scheduler import helpers

UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}


def message(c, p) -> str:
    fwk = helpers.framework()
    pi = podinfo.PodInfo(p)
    result = fwk.schedule(pi, c)
    assert result.node is None
    post = diagnosis.preemption_message(fwk, pi, c, result.statuses)
    return diagnosis.fit_error_message(result.num_all_nodes, result.statuses, post)


# --- NodeResourcesFit ---

def test_pod_requests_sum_containers_max_init_and_add_overhead():
    spec = {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "500m"}}}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}],
            "overhead": {"cpu": "100m"}}
    r = podinfo.pod_requests(spec)
    assert (r.cpu, r.memory) == (2100, 1024 ** 3)
    nz = podinfo.pod_requests(spec, nonzero=True)
    assert nz.memory == 1024 ** 3 + 200 * 1024 ** 2  # container b counts 200Mi for scoring


def test_sidecar_init_containers_add_to_the_sum():
    spec = {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
            "initContainers": [{"name": "s", "restartPolicy": "Always",
                                "resources": {"requests": {"cpu": "1"}}},
                               {"name": "i", "resources": {"requests": {"cpu": "1500m"}}}]}
    assert podinfo.pod_requests(spec).cpu == 2500  # max(1+1, 1.5+1)


def test_fit_counts_bound_and_assumed_pods():
    c = cluster(node("n1", cpu="4"), pods=(pod("a", cpu="3", node_name="n1"),))
    assert schedule(c, pod("b", cpu="1")).node == "n1"
    c.assume(podinfo.PodInfo(pod("b", cpu="1")), "n1")
    result = schedule(c, pod("c", cpu="100m"))
    assert result.node is None
    assert result.statuses["n1"].reasons == ("Insufficient cpu",)
    c.forget("default/b")
    assert schedule(c, pod("c", cpu="100m")).node == "n1"


def test_fit_reports_every_shortfall_including_pods_and_extended_resources():
    n = node("n1", cpu="1", memory="1Gi", pods=1, extra={"example.com/gpu": "1"})
    c = cluster(n, pods=(pod("a", node_name="n1"),))
    p = pod("b", cpu="2", memory="2Gi")
    p["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "2"
    st = schedule(c, p).statuses["n1"]
    assert st.code == framework.UNSCHEDULABLE
    assert st.reasons == ("Too many pods", "Insufficient cpu", "Insufficient memory",
                          "Insufficient example.com/gpu")


def test_terminal_pods_removed_from_cache_free_their_room():
    c = cluster(node("n1", cpu="1"), pods=(pod("a", cpu="1", node_name="n1"),))
    assert schedule(c, pod("b", cpu="1")).node is None
    c.remove_pod("default/a")
    assert schedule(c, pod("b", cpu="1")).node == "n1"


# --- node-local filters ---

def test_node_selector_and_required_affinity_operators():
    nodes = [node("a", labels={"disk": "ssd", "gen": "3"}), node("b", labels={"disk": "hdd", "gen": "5"}),
             node("c", labels={"gen": "x"})]
    c = cluster(*nodes)

    def fits(spec) -> set[str]:
        fwk = helpers.framework()
        pi = podinfo.PodInfo(pod("p", **spec))
        feasible, _, _, _ = fwk.run_filters(pi, c, c.node_list, 100)
        return {n.name for n in feasible}

    def req(*exprs, fields=()):
        term = {"matchExpressions": list(exprs)}
        if fields:
            term["matchFields"] = list(fields)
        return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [term]}}}}

    assert fits({"nodeSelector": {"disk": "ssd"}}) == {"a"}
    assert fits(req({"key": "disk", "operator": "In", "values": ["ssd", "hdd"]})) == {"a", "b"}
    assert fits(req({"key": "disk", "operator": "NotIn", "values": ["ssd"]})) == {"b", "c"}
    assert fits(req({"key": "disk", "operator": "Exists"})) == {"a", "b"}
    assert fits(req({"key": "disk", "operator": "DoesNotExist"})) == {"c"}
    assert fits(req({"key": "gen", "operator": "Gt", "values": ["4"]})) == {"b"}
    assert fits(req({"key": "gen", "operator": "Lt", "values": ["4"]})) == {"a"}
    assert fits(req(fields=[{"key": "metadata.name", "operator": "In", "values": ["c"]}])) == {"c"}
    # terms are ORed; an empty term matches nothing
    either = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{}, {"matchExpressions": [{"key": "disk", "operator": "In",
                                                         "values": ["hdd"]}]}]}}}}
    assert fits(either) == {"b"}


def test_taints_tolerations_and_unschedulable():
    c = cluster(node("t", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
                node("x", taints=[{"key": "gone", "effect": "NoExecute"}]),
                node("u", unschedulable=True))
    result = schedule(c, pod("p"))
    assert result.node is None
    assert result.statuses["t"].reasons == ("node(s) had untolerated taint {k: v}",)
    assert result.statuses["x"].reasons == ("node(s) had untolerated taint {gone: }",)
    assert result.statuses["u"].reasons == ("node(s) were unschedulable",)
    tolerant = pod("p", tolerations=[{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}])
    assert schedule(c, tolerant).node == "t"
    everything = pod("p", tolerations=[{"operator": "Exists"}])
    assert {schedule(c, everything, seed).node for seed in range(30)} == {"t", "x", "u"}


def test_host_port_conflicts():
    used = pod("a", node_name="n1", ports=[{"containerPort": 80, "hostPort": 8080}])
    c = cluster(node("n1"), node("n2"), pods=(used,))
    p = pod("b", ports=[{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}])
    result = schedule(c, p)
    assert result.node == "n2"
    c.add_pod(podinfo.PodInfo(pod("c", node_name="n2", ports=[{"containerPort": 1, "hostPort": 8080,
                                                               "protocol": "UDP"}])))
    assert schedule(c, p).node == "n2"  # UDP does not clash with TCP
    info = c.nodes["n1"]
    assert basic.NodePorts().filter({}, podinfo.PodInfo(p), info).reasons == (
        "node(s) didn't have free ports for the requested pod ports",)


# --- inter-pod affinity and topology spread ---

def zoned(name: str, zone: str) -> dict:
    return node(name, labels={"topology.kubernetes.io/zone": zone})


def anti(key: str = "kubernetes.io/hostname", **match) -> dict:
    return {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": match}, "topologyKey": key}]}}}


def test_required_anti_affinity_and_existing_pods_anti_affinity():
    web = pod("w1", labels={"app": "web"}, node_name="a", **anti(app="web"))
    c = cluster(zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z2"), pods=(web,))
    result = schedule(c, pod("w2", labels={"app": "web"}, **anti(app="web")))
    assert result.statuses["a"].reasons == ("node(s) didn't match pod anti-affinity rules",)
    assert result.node in ("b", "c")
    # An unlabelled pod is kept away only by the existing pod's own rule.
    other = pod("o", labels={"app": "web"})
    assert schedule(c, other).statuses["a"].reasons == (
        "node(s) didn't satisfy existing pods anti-affinity rules",)
    zone_wide = pod("w3", labels={"app": "web"}, **anti("topology.kubernetes.io/zone", app="web"))
    assert schedule(c, zone_wide).node == "c"


def test_required_affinity_follows_matching_pods_and_lets_the_first_one_in():
    term = {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "topology.kubernetes.io/zone"}]}}}
    c = cluster(zoned("a", "z1"), zoned("b", "z2"))
    first = schedule(c, pod("db1", labels={"app": "db"}, **term))
    assert first.node in ("a", "b")  # no db pod yet, and it matches its own term
    result = schedule(c, pod("cache", **term))
    assert result.node is None
    assert result.statuses["a"].reasons == ("node(s) didn't match pod affinity rules",)
    c.add_pod(podinfo.PodInfo(pod("db1", labels={"app": "db"}, node_name="b")))
    assert schedule(c, pod("cache", **term)).node == "b"


def spread(max_skew: int = 1, key: str = "topology.kubernetes.io/zone", hard: bool = True) -> dict:
    return {"topologySpreadConstraints": [{
        "maxSkew": max_skew, "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "s"}}}]}


def test_topology_spread_do_not_schedule():
    placed = [pod("s1", labels={"app": "s"}, node_name="a"), pod("s2", labels={"app": "s"}, node_name="b")]
    c = cluster(zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z2"), node("bare"), pods=tuple(placed))
    result = schedule(c, pod("s3", labels={"app": "s"}, **spread()))
    assert result.node == "c"
    assert result.statuses["a"].reasons == ("node(s) didn't match pod topology spread constraints",)
    assert result.statuses["bare"].reasons == (
        "node(s) didn't match pod topology spread constraints (missing required label)",)
    assert result.statuses["bare"].code == framework.UNRESOLVABLE
    assert schedule(c, pod("s3", labels={"app": "s"}, **spread(max_skew=2))).node in ("a", "b", "c")


def test_topology_spread_schedule_anyway_prefers_emptier_domains():
    placed = [pod(f"s{i}", labels={"app": "s"}, node_name="a") for i in range(3)]
    c = cluster(node("a"), node("b"), pods=tuple(placed))
    p = pod("new", labels={"app": "s"}, **spread(key="kubernetes.io/hostname", hard=False))
    assert {schedule(c, p, seed).node for seed in range(10)} == {"b"}


# --- scores ---

def test_least_allocated_and_balanced_allocation_scores():
    c = cluster(node("n1", cpu="4", memory="4Gi"), pods=(pod("a", cpu="1", memory="1Gi", node_name="n1"),))
    info = c.nodes["n1"]
    p = podinfo.PodInfo(pod("b", cpu="1", memory="2Gi"))
    assert noderesources.NodeResourcesFit().score({}, p, info) == (50 + 25) // 2
    assert noderesources.NodeResourcesBalancedAllocation().score({}, p, info) == 87  # 1-|.5-.75|/2


def test_spreads_equal_pods_and_prefers_preferred_affinity_and_untainted_nodes():
    c = cluster(node("a"), node("b"), node("c"))
    fwk = helpers.framework()
    for i in range(9):
        pi = podinfo.PodInfo(pod(f"p{i}", cpu="100m"))
        c.assume(pi, fwk.schedule(pi, c).node)
    assert sorted(len(c.nodes[n].pods) for n in "abc") == [3, 3, 3]
    c = cluster(node("a", labels={"disk": "ssd"}), node("b"),
                node("c", taints=[{"key": "meh", "effect": "PreferNoSchedule"}]))
    preferring = pod("p", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In",
                                                            "values": ["ssd"]}]}}]}})
    assert schedule(c, preferring).node == "a"
    assert {schedule(c, pod("q"), seed).node for seed in range(20)} == {"a", "b"}


def test_percentage_of_nodes_to_score():
    assert framework.num_feasible_nodes_to_find(50) == 50
    assert framework.num_feasible_nodes_to_find(100) == 100
    assert framework.num_feasible_nodes_to_find(1000) == 420
    assert framework.num_feasible_nodes_to_find(5000) == 500
    assert framework.num_feasible_nodes_to_find(5000, 100) == 5000


# --- the FailedScheduling message ---

def test_failed_scheduling_message_is_kube_schedulers():
    c = cluster(node("n1", cpu="2"), node("n2", taints=[UNREACHABLE]), node("n3", taints=[UNREACHABLE]))
    assert message(c, pod("p", cpu="3")) == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: "
        "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.")


def test_failed_scheduling_message_not_helpful_and_never_policy():
    c = cluster(node("a", labels={"x": "1"}), node("b"), node("c"))
    p = pod("p", nodeSelector={"x": "2"})
    assert message(c, p) == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    never = pod("p", cpu="8", preemptionPolicy="Never")
    assert message(c, never) == ("0/3 nodes are available: 3 Insufficient cpu. "
                                 "preemption: not eligible due to preemptionPolicy=Never.")


def test_failed_scheduling_message_with_lower_priority_pods_that_would_not_make_room():
    c = cluster(node("a", cpu="1"), pods=(pod("low", cpu="500m", node_name="a", priority=0),))
    assert message(c, pod("hi", cpu="2", priority=10)) == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available: 1 Insufficient cpu.")


def test_no_nodes_and_truncation():
    try:
        schedule(cluster(), pod("p"))
    except framework.NoNodesAvailable as e:
        assert str(e) == "no nodes available to schedule pods"
    else:
        raise AssertionError("expected NoNodesAvailable")
    long = "x" * 2000
    assert scheduling.truncate_message(long) == "x" * 1020 + " ..."
    assert len(scheduling.truncate_message(long)) == 1024


def test_status_codes_decide_what_preemption_may_help():
    assert interpodaffinity.InterPodAffinity.AFFINITY.code == framework.UNRESOLVABLE
    assert interpodaffinity.InterPodAffinity.ANTI.code == framework.UNSCHEDULABLE
    assert podtopologyspread.PodTopologySpread.SKEW.code == framework.UNSCHEDULABLE
    assert basic.NodePorts.REJECT.code == framework.UNSCHEDULABLE


def test_system_default_spreading_keeps_a_workloads_pods_apart():
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-1",
              "controller": True}]
    siblings = []
    for i in range(3):
        p = pod(f"s{i}", node_name="big")
        p["metadata"]["ownerReferences"] = owner
        siblings.append(p)
    c = cluster(node("big", cpu="64", memory="256Gi"), node("small"), pods=tuple(siblings))
    assert schedule(c, pod("stranger")).node == "big"  # emptier by LeastAllocated
    sibling = pod("s3")
    sibling["metadata"]["ownerReferences"] = owner
    assert schedule(c, sibling).node == "small"


def test_preferred_pod_affinity_and_anti_affinity_scores():
    c = cluster(node("a"), node("b"), node("c"), pods=(pod("db", labels={"app": "db"}, node_name="b"),))

    def preferring(kind: str) -> dict:
        return pod("p", affinity={kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}},
                                               "topologyKey": "kubernetes.io/hostname"}}]}})
    assert {schedule(c, preferring("podAffinity"), s).node for s in range(10)} == {"b"}
    assert {schedule(c, preferring("podAntiAffinity"), s).node for s in range(20)} == {"a", "c"}
