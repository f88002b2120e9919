"""kybernetes.runtime: containers for real, under runc, for the kubelet.

Where it sits: below the kubelet (``kubelet -> runtime``), importing nothing
of the project's. One concept per module:

* ``images`` (+ ``archives``, ``layers``, ``references``): the local image
  store fed by docker-archive / OCI-layout tarballs, and the host fallback;
* ``rootfs``: the per-container overlayfs root filesystem;
* ``spec`` (+ ``seccomp``, ``users``): OCI ``config.json`` with containerd's
  defaults;
* ``runc``: the async wrapper around the runc command line;
* ``shim`` (+ ``logwriter``, ``cgroups``): the per-container process that
  outlives the kubelet, writes CRI logs and records exits;
* ``containers``: ``Runtime``, the object the kubelet drives;
  ``records``: what is kept on disk; ``processes``: exec handles;
  ``sandboxes``: pod sandboxes; ``cleanup``: killall.

Kept free of imports so ``python -m kybernetes.runtime.shim`` starts fast.
"""
