"""The kubelet's streaming endpoints: logs, exec/attach and port-forward.

``server.py`` routes requests here. The pieces: ``spdy`` (SPDY/3.1 framing
and sessions), ``upgrade`` (taking an aiohttp connection over after
``101 Switching Protocols``), ``channels`` (the websocket channel protocols
``v1``..``v5.channel.k8s.io`` and their base64 forms), ``remotecommand``
(exec and attach over either transport), ``portforward`` and ``logs``
(reading CRI log files as ``kubectl logs`` expects).
"""
