"""The public client package of the imaging services.

- ``imaging.client``: typed clients, sync (``Client``) and asyncio
  (``AsyncClient``), with retries, idempotency keys and typed errors;
- ``imaging.cli``: the ``imaging`` command line;
- ``imaging.<service>.v1``: the generated stubs (for example
  ``from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc``),
  with ``.pyi`` type stubs;
- ``imaging.errors``: unpacks the ``google.rpc`` details that the servers
  attach to failed calls, for callers of the raw stubs;
- ``imaging.colormap``: the viridis colour map and translucent heatmap overlay.
"""
