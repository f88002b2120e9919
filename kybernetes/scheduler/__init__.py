"""kybernetes.scheduler: kube-scheduler's job, done as an API client.

It watches pods without a node, picks a node for each with the default
profile's filter and score plugins, and binds through ``pods/binding``.
Modules, from the outside in:

- ``scheduler``: ``Scheduler`` (leader election, informers, event routing).
- ``scheduling``: the per-pod cycle: decide, assume, bind; failure events
  and the PodScheduled condition.
- ``queue``: activeQ / backoffQ / unschedulablePods.
- ``framework``: plugin protocols and one decision; ``diagnosis``: the
  FailedScheduling message.
- ``cache``, ``nodeinfo``, ``podinfo``, ``selectors``: the precomputed
  state the plugins read.
- ``plugins``: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
  NodePorts, NodeResourcesFit, NodeResourcesBalancedAllocation,
  PodTopologySpread, InterPodAffinity.
"""
