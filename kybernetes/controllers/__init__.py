"""kybernetes.controllers: the controller manager's controllers (kube-controller-manager).

Each controller lives in a module of its own and is a class taking a
``context.Context``: it registers informer handlers that only turn objects
into keys, and implements ``async def sync(key)`` (level-triggered: read the
informer caches, compute, write through the client, update status). The
``manager`` module runs them all under leader election. Controllers talk
to the API server only through ``kybernetes.client``.
"""
