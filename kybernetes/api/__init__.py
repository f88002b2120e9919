"""Knowledge of the Kubernetes API, with no I/O.

The registry of kinds, object metadata helpers, selectors, quantities,
validation and defaulting, patch algorithms, ``Status`` errors and the
OpenAPI schemas. The API server and every client-side component build on
this package; it imports nothing above it.
"""
