"""The NFSv3 client: libnfs loaded through ctypes, calls in flight on one connection, and
conversations (generators that send calls and wait for their replies).

This layer knows nothing of notifications or sidecars: it never imports from ``nfs_sidecar``'s
application modules (``make lint`` fails if it does).
"""
