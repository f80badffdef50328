"""A LocalStack Lambda runtime executor that needs no Docker (test tooling for nfs-sidecar).

LocalStack's only bundled executor starts each execution environment as a Docker container running
AWS's Lambda image plus LocalStack's runtime-init. This one starts it as a local Python process
instead: the function's deployed zip is unpacked into a task folder the sandbox user can reach,
and ``bootstrap.py`` (standard library only) runs under the interpreter matching the function's
runtime, imports the handler once and serves invocations over LocalStack's executor protocol (see
``executor.py``).

Settings, read from LocalStack's environment:

- ``LOCAL_EXECUTOR_USER``: run the handler as this user (e.g. ``nobody``), like Lambda's
  sandbox user; empty: as LocalStack's own user.
- ``LOCAL_EXECUTOR_ROOT``: the folder the code, the bootstrap and each environment's files are
  copied to (it and the folders above it must let the user in); unset: a folder under /tmp,
  removed at exit. Not LocalStack's own folders: they may be in a checkout closed to other users.
- ``LOCAL_EXECUTOR_PYTHON_<major>_<minor>`` (e.g. ``LOCAL_EXECUTOR_PYTHON_3_12``): the interpreter
  for that runtime; otherwise pyenv's (``$PYENV_ROOT/versions/3.12.*``), then ``python3.12`` on
  PATH, then the closest version found; of two of one version, the one whose standard library
  the user can read. The choice is logged.
"""
