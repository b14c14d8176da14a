"""The checkpointer of occpose_d2: D2's ``DetectionCheckpointer`` whose files appear whole or
not at all, and that loads a plain D2 detector checkpoint into both of ``OccPoseRCNN``'s
detectors.

fvcore writes ``model_XXXXXXX.pth`` and the ``last_checkpoint`` tag in place, so a run killed
while saving leaves a truncated file (and possibly an empty tag) that ``--resume`` then fails
on. Here both are written to a temporary file in the same folder, flushed to disk and renamed
over the target (``os.replace``, atomic on POSIX): a killed run keeps the previous checkpoint
and tag, and ``--resume`` loses at most the work since them. A killed save leaves its hidden
temporary file (``.model_XXXXXXX.pth.*.tmp``); the next run removes such files when it starts or
resumes (:meth:`AtomicDetectionCheckpointer.resume_or_load`).

A plain D2 ``GeneralizedRCNN`` checkpoint (``backbone.*``, ``proposal_generator.*``,
``roi_heads.*``; e.g. a Faster R-CNN trained with D2) initialises both detectors
(``detectors.pe.*`` and ``detectors.pd.*``); entries of another shape, or that the model does not
have (mask or keypoint heads), are skipped with a log line.
"""

import fnmatch
import logging
import os
import tempfile
from typing import IO, Any, Callable, Dict, List

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..domains import DOMAINS
from ..modeling import OccPoseRCNN

__all__ = ["AtomicDetectionCheckpointer", "atomic_write", "detector_checkpoint_to_occpose"]

logger = logging.getLogger(__name__)

# Top-level key prefixes of a plain D2 GeneralizedRCNN checkpoint.
_DETECTOR_PREFIXES = ("backbone.", "proposal_generator.", "roi_heads.")


# Names of atomic_write's temporary files for checkpoints and the tag (see its prefix/suffix).
_TEMPORARY_PATTERNS = (".*.pth.*.tmp", ".last_checkpoint.*.tmp")


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


def detector_checkpoint_to_occpose(state_dict: Dict[str, Any], own: Dict[str, Any]) -> None:
    """Rename, in place, the plain-detector entries of a model ``state_dict`` to both detectors
    of an ``OccPoseRCNN`` whose own state dict is ``own``; entries absent from ``own`` or of
    another shape are dropped. A state dict without such entries is left alone."""
    keys = [k for k in state_dict if k.startswith(_DETECTOR_PREFIXES)]
    if not keys:
        return
    skipped: List[str] = []
    for k in keys:
        value = state_dict.pop(k)
        for d in DOMAINS:
            name = f"detectors.{d}.{k}"
            if name not in own or tuple(own[name].shape) != tuple(value.shape):
                skipped.append(name)
                continue
            state_dict[name] = value
    logger.info(f"Loaded a plain detector checkpoint ({len(keys)} entries) into the "
                f"{' and '.join(repr(d) for d in DOMAINS)} detectors.")
    if skipped:
        logger.info(f"Skipped {len(skipped)} detector entries absent from the model or "
                    f"with another shape: {', '.join(sorted(skipped)[:20])}"
                    + (" ..." if len(skipped) > 20 else ""))


class AtomicDetectionCheckpointer(DetectionCheckpointer):
    """D2's checkpointer with atomic writes of checkpoints and of the ``last_checkpoint`` tag,
    that also loads a plain D2 detector checkpoint into an ``OccPoseRCNN`` (module docstring).

    Only local folders are written atomically; any other ``save_dir`` (a remote PathManager
    URI) falls back to D2's behaviour.
    """

    def _load_model(self, checkpoint: Dict[str, Any]):
        """D2's loading, after :func:`detector_checkpoint_to_occpose` for an ``OccPoseRCNN``
        (a model-zoo file D2 matches by name heuristics is left to D2)."""
        if isinstance(self.model, OccPoseRCNN) and not checkpoint.get("matching_heuristics"):
            detector_checkpoint_to_occpose(checkpoint["model"], self.model.state_dict())
        return super()._load_model(checkpoint)

    def _local(self) -> bool:
        return os.path.isdir(self.save_dir)

    def remove_stale_temporaries(self) -> List[str]:
        """Delete the temporary files of saves that were killed half-way; returns their names."""
        if not self.save_dir or not self.save_to_disk or not self._local():
            return []
        stale = sorted(f for f in os.listdir(self.save_dir)
                       if any(fnmatch.fnmatch(f, p) for p in _TEMPORARY_PATTERNS))
        for f in stale:
            os.remove(os.path.join(self.save_dir, f))
        if stale:
            self.logger.info(f"Removed {len(stale)} temporary file(s) of interrupted checkpoint "
                             f"saves from {self.save_dir}: {', '.join(stale)}")
        return stale

    def resume_or_load(self, path: str, *, resume: bool = True) -> Dict[str, Any]:
        """D2's ``resume_or_load`` after :meth:`remove_stale_temporaries` (a run starts here)."""
        self.remove_stale_temporaries()
        return super().resume_or_load(path, resume=resume)

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
