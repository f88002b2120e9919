"""kybernetes.network: pod networking on one machine (DESIGN.md's component table).

Sits below the kubelet (`kubelet → runtime, network`) and imports nothing of
kybernetes above it. A node runs in a network namespace of its own (a "node
host") behind one bridge of the machine; pods are namespaces behind the node
host's cbr0; node hosts route each other's podCIDRs, so pods reach each other
without NAT, and the machine reaches pod and Service IPs through the bridge.

    plan = addressing.AddressPlan()                 # kyb0, 172.31.255.0/24, 10.244/16, 10.96/12
    net = cluster.ClusterNetwork(plan)
    host = await net.add_node_host("node1", "10.244.1.0/24")
    pod_network = net.pod_network(host)             # pods.PodNetwork, state under net's root
    pod = await pod_network.setup(uid)              # PodIP: 10.244.1.2/24 in kyb-pod-<uid>
    await pod_network.teardown(uid)
    await cleanup.cleanup("kyb")                     # everything of prefix kyb, nothing else

Safety (DESIGN.md, shared machines): names carry the project prefix; ranges
must be private and not overlap anything the machine routes (checked before
anything is created); the root namespace gets one bridge, one address, veth
ends and `proto 147` routes, no iptables rule and no sysctl change;
`unreachable` fallback routes keep every cluster address on the machine.
Modules: naming, addressing, safety, iproute, ipam, nodehost, cluster, pods,
cleanup, errors.
"""
