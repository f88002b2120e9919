"""The API server: the Kubernetes REST API over HTTPS, the only component that
touches the datastore (DESIGN.md). Authentication, authorization and
admission run before every write; a watch cache per resource serves lists
and watches.
"""
