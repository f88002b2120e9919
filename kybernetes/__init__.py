"""kybernetes: a Kubernetes cluster written in Python.

The package layout follows ../shared/DESIGN.md: ``storage`` (the datastore),
``api`` (knowledge of the Kubernetes API, no I/O), ``apiserver`` (the only
component that touches storage), ``client`` (what every other component uses),
the components themselves, and ``cli`` (the ``kyb`` command) on top.
"""

__version__ = "0.1.0"
