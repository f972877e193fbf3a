"""Every checkpoint file written all or nothing: :class:`AtomicCheckpointIO`.

Lightning 2.6's ``TorchCheckpointIO`` serializes a checkpoint into memory and writes it inside
an fsspec transaction, which for a local path means a ``tempfile.mkstemp()`` file in the
system's temporary folder (``$TMPDIR``, often another file system than the run folder) moved
over the target with ``shutil.move``, without any fsync. Across file systems that move is a
copy into the target itself, so a kill or a full disk during it truncates ``best.ckpt`` and
loses the previous one; a kill before it leaves the temporary file in ``/tmp``; and without an
fsync a power cut can leave an empty file after the rename.

:class:`AtomicCheckpointIO` (``trainer.plugins`` in src/rnnkit/configs/trainer/default.yaml)
writes a local checkpoint with :func:`replace_atomically`: to a temporary file in the target's
own folder, fsynced, then renamed over it (``os.replace``), so ``best.ckpt``, ``last.ckpt`` and any
``trainer.save_checkpoint`` file is either the previous one or the new one. Temporary files that
killed processes left in that folder are removed at the next write. Remote paths (``s3://``,
``gs://``, any fsspec URL) go through Lightning's own writer.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

TEMPORARY_NAME = re.compile(r"^\..+\.tmp-(\d+)$")


def temporary_path(path: Path) -> Path:
    """Where :func:`replace_atomically` writes ``path`` before renaming it (same folder)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Make ``path`` with ``write(temporary_path)``, all or nothing.

    The temporary file lies in ``path``'s folder (a rename within one file system is atomic),
    is fsynced before the rename and the folder after it, so the new file survives a power
    cut once this returns. A failed ``write`` removes the temporary file and leaves ``path``.
    """
    temporary = temporary_path(path)
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    with contextlib.suppress(OSError):  # some file systems cannot open a folder
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def stale_temporary_files(path: Path) -> list[Path]:
    """Temporary files of :func:`replace_atomically` for ``path`` left by killed processes."""
    return sorted(path.parent.glob(f".{path.name}.tmp-*"))


def remove_dead_writers_files(folder: Path) -> None:
    """Remove the temporary files in ``folder`` whose writing process no longer runs."""
    for candidate in folder.glob(".*.tmp-*"):
        match = TEMPORARY_NAME.match(candidate.name)
        if match and not _process_exists(int(match.group(1))):
            candidate.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def local_path(path: Any) -> Path | None:
    """``path`` as a local file path (``file://`` URLs included), or None for a remote one."""
    filesystem, location = fsspec.core.url_to_fs(str(path))
    return Path(location) if isinstance(filesystem, LocalFileSystem) else None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` with atomic local writes (see the module docstring).

    Loading and removing are Lightning's. Name it in ``trainer.plugins``:
    ``{_target_: rnnkit.callbacks.AtomicCheckpointIO}``.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        target = local_path(path)
        if target is None or storage_options is not None:
            super().save_checkpoint(checkpoint, path, storage_options=storage_options)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_writers_files(target.parent)
        replace_atomically(target, lambda temporary: self.write_file(checkpoint, temporary))

    def write_file(self, checkpoint: dict[str, Any], path: Path) -> None:
        """Serialize ``checkpoint`` into ``path`` (the temporary file), as Lightning does."""
        torch.save(checkpoint, path)
