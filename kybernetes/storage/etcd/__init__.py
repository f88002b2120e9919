"""The etcd backend of the datastore: a real etcd v3 cluster through its JSON gateway.

``EtcdStore`` implements ``kybernetes.storage.types.Store``; the modules
below it are ``gateway`` (HTTP and failover), ``codec`` (the JSON shapes),
``writing`` (CAS writes and their retries), ``watching`` (watch streams) and
``endpoints`` (the endpoint list).
"""

from kybernetes.storage.etcd.backend import EtcdStore

__all__ = ["EtcdStore"]
