"""A ``DetectionCheckpointer`` whose files appear whole or not at all.

fvcore writes ``model_XXXXXXX.pth`` and the ``last_checkpoint`` tag in place, so a run killed
while saving leaves a truncated file (and possibly an empty tag) that ``--resume`` then fails
on. Here both are written to a temporary file in the same folder, flushed to disk and renamed
over the target (``os.replace``, atomic on POSIX): a killed run keeps the previous checkpoint
and tag, and ``--resume`` loses at most the work since them.
"""

import os
import tempfile
from typing import IO, Any, Callable

import torch
from detectron2.checkpoint import DetectionCheckpointer

__all__ = ["AtomicDetectionCheckpointer", "atomic_write"]


def atomic_write(path: str, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write`` on a binary temporary file next to ``path``, then rename it to ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".",
                               prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class AtomicDetectionCheckpointer(DetectionCheckpointer):
    """D2's checkpointer with atomic writes of checkpoints and of the ``last_checkpoint`` tag.

    Only local folders are written atomically; any other ``save_dir`` (a remote PathManager
    URI) falls back to D2's behaviour.
    """

    def _local(self) -> bool:
        return os.path.isdir(self.save_dir)

    def save(self, name: str, **kwargs: Any) -> None:
        """Write ``{save_dir}/{name}.pth`` (model, checkpointables and ``kwargs``) atomically,
        then tag it as the last checkpoint."""
        if not self.save_dir or not self.save_to_disk:
            return
        if not self._local():
            return super().save(name, **kwargs)
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        atomic_write(path, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        if not self._local():
            return super().tag_last_checkpoint(last_filename_basename)
        atomic_write(os.path.join(self.save_dir, "last_checkpoint"),
                     lambda f: f.write(last_filename_basename.encode()))
