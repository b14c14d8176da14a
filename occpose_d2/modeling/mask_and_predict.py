"""Mask and Predict: remove a fraction p of a segmentation map in random square blocks.

The pose branch multiplies D_C's features by the instance's visible-mask map; removing part of
that map's foreground (the person) simulates occlusion, and the pose head must still predict all
13 joints (the targets are fully visible persons). p grows over training (curriculum, set by the
trainer's hook on every :class:`MaskAndPredict` of the model) and is fixed, with a fixed seed, at
test time (occlusion AP, paper Table 2).
"""

from typing import Optional

import numpy as np
import torch
from detectron2.config import configurable
from torch import nn

__all__ = ["random_block_keep", "MaskAndPredict", "MASK_SOURCES", "PATTERNS"]

# Map that is masked (``MODEL.OCCPOSE.MASK_AND_PREDICT.MASK_SOURCE``): D_Seg's prediction or
# the ground truth (training only).
MASK_SOURCES = ("pred", "gt")
_FG_THRESH = 0.5  # a map cell is foreground when its value (probability) is >= this


def _remove_blocks_one(fg: np.ndarray, target: int, block: int, rng: np.random.Generator):
    """Remove exactly ``target`` foreground cells of the ``M x M`` bool map ``fg`` with square
    blocks of side ``block`` centred on random remaining foreground cells; a block that would
    remove too many shrinks (down to 1 cell). Returns the ``M x M`` bool map of removed cells."""
    side = fg.shape[0]
    removed = np.zeros_like(fg)
    sides = np.arange(block, 0, -1)
    remaining = target
    while remaining > 0:
        present = fg & ~removed
        flat = np.flatnonzero(present)
        cy, cx = divmod(int(flat[rng.integers(len(flat))]), side)
        ii = np.zeros((side + 1, side + 1), dtype=np.int64)
        ii[1:, 1:] = present.cumsum(0).cumsum(1)
        y0 = np.clip(cy - sides // 2, 0, side - sides)
        x0 = np.clip(cx - sides // 2, 0, side - sides)
        counts = ii[y0 + sides, x0 + sides] - ii[y0, x0 + sides] - ii[y0 + sides, x0] + ii[y0, x0]
        k = int(np.argmax(counts <= remaining))  # largest block not removing too much
        s = sides[k]
        removed[y0[k]:y0[k] + s, x0[k]:x0[k] + s] = True
        remaining -= int(counts[k])
    return removed


# Sides a straight occluder cut comes from, as (dy, dx) pointing away from the person's centre
# (y grows downwards), and their probabilities: occluders in street scenes are mostly in front
# of the legs (cars, bushes) or beside the person (poles, other people).
_CUT_SIDES = ((1.0, 0.0), (0.0, -1.0), (0.0, 1.0), (-1.0, 0.0))  # bottom, left, right, top
_CUT_SIDE_P = (0.4, 0.25, 0.25, 0.1)
_CUT_ANGLE_JITTER = np.deg2rad(25.0)  # tilt of the cut's edge

PATTERNS = ("blocks", "mixed")


def _remove_side_one(fg: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Remove exactly ``target`` foreground cells of the ``M x M`` bool map ``fg`` with one
    straight-edged cut from a random side (bottom 40%, left or right 25% each, top 10%), its edge
    tilted by up to 25 degrees: the cells farthest along the cut's direction go first. Returns the
    ``M x M`` bool map of removed cells."""
    dy, dx = _CUT_SIDES[int(rng.choice(len(_CUT_SIDES), p=_CUT_SIDE_P))]
    angle = np.arctan2(dy, dx) + rng.uniform(-_CUT_ANGLE_JITTER, _CUT_ANGLE_JITTER)
    ys, xs = np.nonzero(fg)
    order = np.argsort(-(ys * np.sin(angle) + xs * np.cos(angle)), kind="stable")[:target]
    removed = np.zeros_like(fg)
    removed[ys[order], xs[order]] = True
    return removed


def random_block_keep(
    maps: torch.Tensor,
    ratio: float,
    block_size: float,
    generator: Optional[torch.Generator] = None,
    pattern: str = "blocks",
) -> torch.Tensor:
    """Which cells of each map survive Mask and Predict.

    Args:
        maps: ``R x M x M`` visible-mask maps (probabilities or {0, 1}); cells >= 0.5 are the
            foreground against which the removed fraction is measured.
        ratio: fraction p in [0, 1] of each map's foreground cells to remove (rounded to whole
            cells); 0 removes nothing.
        block_size: side of a removed block as a fraction of M (in (0, 1]); the last blocks may be
            smaller so that exactly ``round(p * #foreground)`` foreground cells go.
        generator: CPU ``torch.Generator`` for reproducible masks (test time); None uses torch's
            global RNG (training; seeded by ``torch.manual_seed``).
        pattern: "blocks" (the paper's random square blocks) or "mixed" (each map, with
            probability 1/2, loses one straight-edged cut from a side instead, like a natural
            occluder; see :func:`_remove_side_one`).

    Returns:
        ``R x M x M`` bool tensor on ``maps.device``: True = kept, False = removed.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"Mask and Predict ratio must be in [0, 1], got {ratio}")
    if pattern not in PATTERNS:
        raise ValueError(f"Mask and Predict pattern must be one of {PATTERNS}, got {pattern!r}")
    keep = torch.ones(maps.shape, dtype=torch.bool)
    if ratio == 0.0 or maps.numel() == 0:
        return keep.to(maps.device)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    rng = np.random.default_rng(seed)
    block = max(1, int(round(block_size * maps.shape[-1])))
    fg = (maps.detach() >= _FG_THRESH).cpu().numpy()
    for r in range(fg.shape[0]):
        target = int(round(ratio * int(fg[r].sum())))
        if target <= 0:
            continue
        if pattern == "mixed" and rng.uniform() < 0.5:
            removed = _remove_side_one(fg[r], target, rng)
        else:
            removed = _remove_blocks_one(fg[r], target, block, rng)
        keep[r] = torch.from_numpy(~removed)
    return keep.to(maps.device)


class MaskAndPredict(nn.Module):
    """Owns the masking ratio p and applies :func:`random_block_keep` to ``R x 1 x M x M`` maps.

    ``ratio`` (training p) is a plain attribute, set each step by the trainer's curriculum hook
    through :meth:`set_ratio` (it finds this module in any model by type); ``test_ratio`` and
    ``test_seed`` are the inference defaults, and :meth:`generator` makes the seeded generator.
    """

    @configurable
    def __init__(
        self, *, block_size: float, mask_source: str = "pred", ratio: float = 0.0,
        test_ratio: float = 0.0, test_seed: int = 0, pattern: str = "blocks",
    ):
        """
        Args:
            block_size: block side as a fraction of the map side, in (0, 1].
            mask_source: "pred" (sigmoid of D_Seg) or "gt" (cropped ground truth, training only).
            ratio: initial training ratio p in [0, 1].
            test_ratio: ratio used at inference when the caller gives none.
            test_seed: seed used at inference when the caller gives no generator.
            pattern: shape of the removed parts in training, one of :data:`PATTERNS` (see
                :func:`random_block_keep`); inference always removes "blocks" (the paper's
                test-time occlusion protocol).
        """
        super().__init__()
        if mask_source not in MASK_SOURCES:
            raise ValueError(f"mask_source must be one of {MASK_SOURCES}, got {mask_source!r}")
        if pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
        self.block_size = block_size
        self.mask_source = mask_source
        self.ratio = 0.0
        self.set_ratio(ratio)
        self.test_ratio = test_ratio
        self.test_seed = test_seed
        self.pattern = pattern

    @classmethod
    def from_config(cls, cfg):
        m = cfg.MODEL.OCCPOSE.MASK_AND_PREDICT
        return {
            "block_size": m.BLOCK_SIZE,
            "mask_source": m.MASK_SOURCE,
            "ratio": m.RATIO_START,
            "test_ratio": m.TEST_RATIO,
            "test_seed": m.TEST_SEED,
            "pattern": m.PATTERN,
        }

    def set_ratio(self, p: float) -> None:
        """Set the training masking ratio p (a fraction in [0, 1])."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"mask ratio must be in [0, 1], got {p}")
        self.ratio = float(p)

    def generator(self, seed: Optional[int] = None) -> torch.Generator:
        """A CPU generator seeded with ``seed`` (default ``test_seed``): test-time masks."""
        return torch.Generator().manual_seed(int(self.test_seed if seed is None else seed))

    def forward(
        self,
        maps: torch.Tensor,
        ratio: Optional[float] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """``R x 1 x M x M`` maps -> the same maps with the removed parts set to 0.

        ``ratio`` None means ``ratio`` in training and ``test_ratio`` at inference; ``generator``
        None means torch's global RNG in training and :meth:`generator` at inference.
        """
        if ratio is None:
            ratio = self.ratio if self.training else self.test_ratio
        if ratio == 0:
            return maps  # nothing removed; no shape-dependent op, so traced graphs stay dynamic
        if generator is None and not self.training:
            generator = self.generator()
        pattern = self.pattern if self.training else "blocks"
        keep = random_block_keep(maps[:, 0], ratio, self.block_size, generator, pattern)
        return maps * keep[:, None].to(maps.dtype)

    def extra_repr(self) -> str:
        return (f"ratio={self.ratio}, block_size={self.block_size}, source={self.mask_source}, "
                f"pattern={self.pattern}")
