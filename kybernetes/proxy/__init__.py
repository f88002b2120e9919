"""kybernetes.proxy: kube-proxy, turning Services and EndpointSlices into a node's data plane.

Sits beside the kubelet as a component: it reads Services and EndpointSlices
through informers (``kybernetes.client``) and programs the node host's
network namespace (``kybernetes.network``). Modules:

- ``services``: Services and EndpointSlices turned into service ports and
  their endpoints (kube-proxy's ServicePort/Endpoint and CategorizeEndpoints).
- ``hosts``: the one way to run iptables, nft and conntrack: inside a node
  host's namespace owned by the project, never the machine's own.
- ``iptables``: the iptables proxier (KUBE-SERVICES → KUBE-SVC → KUBE-SEP).
- ``nftables``: the nftables proxier (table ``ip kube-proxy``, verdict maps).
- ``userspace``: an asyncio TCP/UDP proxy on the service IPs.
- ``conntrack``: flushing UDP entries of removed endpoints.
- ``proxier``: the ``Proxier`` protocol and the sync loop fed by informers.
- ``command``: ``kyb proxy``.
"""
