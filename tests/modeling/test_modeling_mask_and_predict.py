"""Mask and Predict's training patterns: the paper's blocks and occluder-like cuts."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from occpose_d2.modeling.mask_and_predict import MaskAndPredict, random_block_keep


def _square_maps(n: int, side: int = 28) -> torch.Tensor:
    maps = torch.zeros(n, side, side)
    maps[:, 4:24, 6:22] = 1.0
    return maps


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.7])
def test_mixed_pattern_removes_the_ratio_half_of_maps_in_one_straight_cut(ratio):
    maps = _square_maps(40)
    keep = random_block_keep(maps, ratio, 0.25, torch.Generator().manual_seed(0), "mixed")
    fg = maps > 0.5
    target = round(ratio * int(fg[0].sum()))
    removed = (~keep & fg).numpy()
    assert all(int(r.sum()) == target for r in removed)
    # A cut leaves one removed region and one kept region, both touching the person's outline;
    # blocks of a quarter of the side leave scattered pieces on most maps at these ratios.
    one_piece = [ndimage.label(r)[1] == 1 and ndimage.label(f & ~r)[1] == 1
                 for r, f in zip(removed, fg.numpy())]
    blocks = random_block_keep(maps, ratio, 0.25, torch.Generator().manual_seed(0), "blocks")
    blocks_one_piece = [ndimage.label((~k & f).numpy())[1] == 1 for k, f in zip(blocks, fg)]
    assert 0.3 <= np.mean(one_piece) <= 1.0
    assert np.mean(one_piece) > np.mean(blocks_one_piece)


def test_mask_and_predict_uses_the_training_pattern_only_in_training():
    maps = _square_maps(6)[:, None]
    mp = MaskAndPredict(block_size=0.25, pattern="mixed")
    mp.eval()
    got = mp(maps, 0.5, torch.Generator().manual_seed(5))
    ref = maps * random_block_keep(maps[:, 0], 0.5, 0.25, torch.Generator().manual_seed(5),
                                   "blocks")[:, None]
    assert torch.equal(got, ref)
    mp.train()
    cut = mp(maps, 0.5, torch.Generator().manual_seed(5))
    assert not torch.equal(cut, ref)
    with pytest.raises(ValueError, match="pattern"):
        MaskAndPredict(block_size=0.25, pattern="stripes")
