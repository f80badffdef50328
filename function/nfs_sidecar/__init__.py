"""nfs-sidecar: JSON metadata sidecars for files on NFS, written from AWS Lambda over libnfs."""

__version__ = "0.1.0"
