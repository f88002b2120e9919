"""The ``kyb`` command: the composition root that starts components (DESIGN.md)."""
