"""errors.py: every error type the function can raise, each with its retryable and its hint."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nfs_sidecar import errors
from nfs_sidecar.errors import ERRORS, AppError, NfsError, NfsStatusError
from nfs_sidecar.nfs import errors as nfs_errors
from nfs_sidecar.nfs.xdr import ACCES, IO, JUKEBOX, NOSPC, NOTSUPP, PERM, ROFS, STALE
from nfs_sidecar.retry import retryable

PACKAGE = Path(errors.__file__).parent
# What the log line's retryable said for each type before errors.py (getattr(error, "retryable",
# True), InvalidMessage special-cased): moving the types changed none of them.
RETRYABLE = {
    "ConfigError": True,
    "InvalidMessage": False,
    "ProbeRequestError": True,
    "FileNotFoundOnExport": True,
    "NotARegularFile": True,
    "SidecarBusy": True,
    "SidecarInTheWay": False,
    "SidecarCollision": False,
    "UnsupportedEvent": True,
    "Deferred": True,
    "RecordsFailed": True,
    "NfsError": True,
    "LibnfsUnavailable": True,
    "NfsConnectionError": True,
    "NfsTimeout": True,
    "MountError": True,
    "NfsStatusError": True,
}
# Exceptions that never leave the module raising them, so no operator ever sees them.
INTERNAL = {"Unrenderable", "_FolderReplaced", "_Stop"}


def error_classes_defined_in(path: Path) -> set[str]:
    """Classes deriving from something named *Error or *Exception, or from such a class."""
    tree = ast.parse(path.read_text())
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, node in classes.items():
            bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
            if name not in found and any(
                b.endswith(("Error", "Exception")) or b in found for b in bases
            ):
                found.add(name)
                changed = True
    return found


def test_every_error_type_of_the_function_is_in_errors_or_internal() -> None:
    defined: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        for name in error_classes_defined_in(path):
            defined[name] = path
    homes = {PACKAGE / "errors.py", PACKAGE / "nfs" / "errors.py"}
    strays = {n: str(p) for n, p in defined.items() if p not in homes and n not in INTERNAL}
    assert not strays, f"error types outside errors.py (move them there): {strays}"
    listed = {cls.__name__ for cls in ERRORS}
    assert listed == set(defined) - INTERNAL - {"AppError"}
    assert listed == set(RETRYABLE)
    assert len(ERRORS) == len(listed)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_each_type_states_its_own_retryable_and_hint(cls: type[Exception]) -> None:
    assert issubclass(cls, AppError | NfsError)
    own = vars(cls)
    assert isinstance(own.get("retryable"), bool), "retryable set on the class itself"
    assert isinstance(own.get("hint"), str) and 40 < len(own["hint"]) < 400
    assert "|" not in own["hint"], "the hint goes into a Markdown table"
    assert cls.retryable is RETRYABLE[cls.__name__]


@pytest.mark.parametrize("cls", [c for c in ERRORS if c is not NfsStatusError], ids=str)
def test_retryable_is_what_the_type_says(cls: type[Exception]) -> None:
    error = cls("x")
    assert retryable(error) is RETRYABLE[cls.__name__]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (NOSPC, True),
        (IO, True),
        (JUKEBOX, True),
        (STALE, True),
        (ROFS, False),
        (ACCES, False),
        (PERM, False),
        (NOTSUPP, False),
        (99999, True),  # a status without a meaning of ours
    ],
)
def test_a_status_error_is_retryable_as_its_status_says(status: int, expected: bool) -> None:
    assert retryable(NfsStatusError("WRITE", status)) is expected


def test_the_status_hint_names_the_statuses_no_retry_fixes() -> None:
    for name in ("NFS3ERR_ROFS", "NFS3ERR_ACCES", "NFS3ERR_PERM", "NFS3ERR_NOTSUPP"):
        assert name in NfsStatusError.hint
    assert "NFS3ERR_NOSPC" not in NfsStatusError.hint


def test_an_error_of_no_type_of_ours_is_retried_as_before() -> None:
    assert retryable(RuntimeError("a bug")) is True
    assert retryable(ValueError("a bug")) is True


def test_errors_re_exports_the_nfs_clients_errors() -> None:
    for name in ("NfsError", "LibnfsUnavailable", "NfsConnectionError", "NfsTimeout"):
        assert getattr(errors, name) is getattr(nfs_errors, name)
    for name in ("MountError", "NfsStatusError"):
        assert getattr(errors, name) is getattr(nfs_errors, name)
