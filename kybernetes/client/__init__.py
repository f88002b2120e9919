"""kybernetes.client: how every component talks to the API server (client-go's role).

Sits between the components (controllers, scheduler, kubelet, kube-proxy,
DNS) and ``kybernetes.api``; it speaks HTTP to the API server and never
touches storage or the API server's code. Modules, one concept each:

- ``kubeconfig``: find the server and credentials (kubeconfig or in-cluster).
- ``rest``: the async REST client (``Client``), ``ClientError``; HTTP errors
  raise ``kybernetes.api.status.StatusError``.
- ``indexer``: the informer's keyed, indexed cache.
- ``informer``: list+watch into an indexer with change handlers;
  ``SharedInformerFactory``.
- ``workqueue``, ``ratelimiters``: the controller work queue and its retry limiters.
- ``controller``: ``run_workers``, the loop feeding keys to ``sync``.
- ``leaderelection``: Lease-based leader election.
- ``events``, ``event_correlation``: the event recorder.
- ``clock``, ``backoff``: injectable time and jittered back-off.
- ``commands``: what ``kyb <component>`` commands share (client from flags, run until a signal).

Import the modules themselves: ``from kybernetes.client import informer``.
"""
