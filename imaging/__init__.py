"""The public client package of the imaging services.

Generated stubs live under ``imaging.<service>.v1`` (for example
``from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc``), with
``.pyi`` type stubs; ``imaging.errors`` unpacks the ``google.rpc`` details that
the servers attach to failed calls.
"""
