"""Cityscapes instance-segmentation AP of person and rider (paper Table 3) on citypersons_val.

D2's ``CityscapesInstanceEvaluator`` writes each predicted mask with the Cityscapes label id of
``thing_classes[pred_class]`` (our single class "person" -> Cityscapes "person", id 24) and runs
``cityscapesscripts`` on every ``*_gtFine_instanceIds.png`` under ``metadata.gt_dir``
(pure Python; no D2 C++ op). This subclass reports the per-class numbers of Table 3 instead of
the 8-class mean.

Rider: a model whose only class is "person" predicts no rider masks, so its rider AP is 0
wherever riders exist in the ground truth (NaN without any). Table 3's rider column needs a
model with a "rider" class (``thing_classes`` containing "rider"); we report it as produced.
"""

import contextlib
import glob
import os
from collections import OrderedDict
from typing import Iterator

import numpy as np
from detectron2.evaluation import CityscapesInstanceEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager

__all__ = ["CityscapesPersonRiderEvaluator"]

TABLE3_CLASSES = ("person", "rider")


class _Numpy1Compat:
    """numpy as cityscapesscripts 2.3 expects it: ``np.in1d`` (removed in numpy 2.4) and
    ``np.count_nonzero`` returning a Python int (numpy 2 returns ``np.intp``, which its JSON
    writer cannot serialise)."""

    in1d = staticmethod(np.isin)

    @staticmethod
    def count_nonzero(a, axis=None, **kwargs):
        n = np.count_nonzero(a, axis=axis, **kwargs)
        return int(n) if axis is None else n

    def __getattr__(self, name: str):
        return getattr(np, name)


@contextlib.contextmanager
def _cityscapes_env(cs_eval, path: str) -> Iterator[None]:
    """Run cityscapesscripts in ``path`` (it writes ``matches.json`` to the working directory)
    seeing numpy 1 behaviour (:class:`_Numpy1Compat`); numpy itself is not modified."""
    old_cwd, old_np = os.getcwd(), cs_eval.np
    cs_eval.np = _Numpy1Compat()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        cs_eval.np = old_np


class CityscapesPersonRiderEvaluator(CityscapesInstanceEvaluator):
    """Cityscapes mask AP / AP50 (%) per class; results ``{"cityscapes_instance": {...}}``.

    Keys: ``AP_person``, ``AP50_person``, ``AP_rider``, ``AP50_rider`` (NaN for a class without
    ground truth; no "-" in them, since D2's summary leaves such per-category keys out). Needs
    metadata ``gt_dir`` (e.g. ``cityscapes/gtFine/val``) and a prediction for every
    ground-truth image found there.
    """

    def evaluate(self):
        comm.synchronize()
        if comm.get_rank() > 0:
            return {}
        import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval

        args = cs_eval.args
        args.predictionPath = os.path.abspath(self._temp_dir)
        args.predictionWalk = None
        args.JSONOutput = False
        args.colorized = False
        args.quiet = True
        args.gtInstancesFile = os.path.join(self._temp_dir, "gtInstances.json")
        gt_dir = PathManager.get_local_path(self._metadata.gt_dir)
        gt_list = sorted(glob.glob(os.path.join(gt_dir, "*", "*_gtFine_instanceIds.png")))
        if not gt_list:
            raise FileNotFoundError(
                f"No */*_gtFine_instanceIds.png under gt_dir {gt_dir} (Cityscapes gtFine layout)"
            )
        with _cityscapes_env(cs_eval, self._temp_dir):
            pred_list = [cs_eval.getPrediction(gt, args) for gt in gt_list]
            classes = cs_eval.evaluateImgLists(pred_list, gt_list, args)["averages"]["classes"]
        res = OrderedDict()
        for name in TABLE3_CLASSES:
            res[f"AP_{name}"] = float(classes[name]["ap"]) * 100
            res[f"AP50_{name}"] = float(classes[name]["ap50%"]) * 100
        self._logger.info("Cityscapes instance AP: " + ", ".join(
            f"{k} {v:.2f}" for k, v in res.items()))
        self._working_dir.cleanup()
        return OrderedDict(cityscapes_instance=res)
