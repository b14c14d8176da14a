"""Self-training on the target domain: pseudo-poses from an EMA teacher (beyond the paper).

The paper's pose branch never sees a target instance in training: target features reach it only
through the adversarial alignment. Self-training closes that loop. A teacher, an exponential
moving average (EMA) of the student's pose path (E_C, D_Seg, D_C, pose head), predicts heatmaps
for the target instances of a step from their *unmasked* visible-mask maps; each joint whose
teacher confidence is at least a threshold becomes a pseudo-label at the teacher's arg-max cell.
The student predicts the same instances through Mask and Predict (masked maps) and is trained on
those pseudo-labels, so it learns target appearance and to infer target joints behind removed
parts. Confidence is the teacher's probability mass in the 3 x 3 cells around its peak
("softmax_ce"), or the peak value ("mse").

With ``FLIP_TEACHER`` the teacher also sees each target instance in the horizontally flipped
image and its heatmaps are the average of the plain and the mirrored-back ones (the flip test of
inference, which is worth about 2 AP there), so its labels are better than the student's own
guess; ``FLIP_AGREEMENT`` keeps only the joints whose plain and mirrored peaks land within that
many heatmap cells of each other, which drops most left / right swaps and guesses.

With ``FEATURE_DROPOUT`` the student sees the target instances' E_C features with whole channels
dropped (``Dropout2d``) while the teacher sees them intact: a perturbation of the student's view
beside Mask and Predict's, as in UniMatch (Yang et al., CVPR 2023), so that matching the teacher
is not the identity.

Mean Teacher (Tarvainen & Valpola, 2017) and self-training for adaptive detection (e.g. Adaptive
Teacher, CVPR 2022) are the models; here the teacher shares the student's RoI features (it EMA's
the instance heads only), which keeps the extra cost to one head pass on the target instances.
"""

import copy
from typing import Dict, Optional, Tuple

import torch
from detectron2.config import configurable
from detectron2.structures import Instances
from detectron2.utils.events import get_event_storage
from torch import nn
from torch.nn import functional as F

from ..keypoints import flip_indices
from .pose_head import unmirror_heatmaps

__all__ = ["POSE_PATH", "PSEUDO_TARGETS", "heatmap_pseudo_labels", "peak_agreement",
           "soft_pseudo_loss", "visible_fraction", "PoseSelfTraining"]

# Attribute names of the pose-path modules of OccPoseInstanceHeads that the teacher averages.
POSE_PATH = ("common_encoder", "seg_head", "context_decoder", "pose_head")
# What the student learns of a pseudo-labeled joint (``SELF_TRAINING.TARGETS``).
PSEUDO_TARGETS = ("hard", "soft")


def heatmap_pseudo_labels(
    heatmaps: torch.Tensor, boxes: torch.Tensor, loss_type: str, threshold: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-keypoints from teacher heatmaps.

    Args:
        heatmaps: ``R x K x S x S`` teacher heatmaps (logits for "softmax_ce", values for "mse").
        boxes: ``R x 4`` XYXY boxes the heatmaps were predicted for (pixels).
        loss_type: the pose head's loss type, "softmax_ce" or "mse".
        threshold: joints with confidence >= threshold are kept (v = 2), the others get v = 0.

    Returns:
        keypoints ``R x K x 3`` (x, y, v) in pixels at the centre of the peak cell; confidence
        ``R x K`` in [0, 1] ("softmax_ce") or the peak value ("mse").
    """
    r, k, s, _ = heatmaps.shape
    flat = heatmaps.detach().flatten(2)
    peak, cell = flat.max(dim=-1)
    if loss_type == "softmax_ce":
        probs = flat.softmax(dim=-1).view(r * k, 1, s, s)
        mass = F.avg_pool2d(probs, 3, stride=1, padding=1, count_include_pad=True) * 9.0
        confidence = mass.view(r, k, s * s).gather(-1, cell[..., None])[..., 0].clamp(max=1.0)
    elif loss_type == "mse":
        confidence = peak
    else:
        raise ValueError(f"Unknown pose loss type {loss_type!r}")
    col = (cell % s).to(boxes.dtype)
    row = torch.div(cell, s, rounding_mode="floor").to(boxes.dtype)
    x0, y0, x1, y1 = (boxes[:, i:i + 1] for i in range(4))
    x = x0 + (col + 0.5) * (x1 - x0) / s
    y = y0 + (row + 0.5) * (y1 - y0) / s
    v = (confidence >= threshold).to(boxes.dtype) * 2.0
    return torch.stack([x, y, v], dim=-1), confidence


def peak_agreement(a: torch.Tensor, b: torch.Tensor, cells: float) -> torch.Tensor:
    """``R x K`` bool: whether the arg-max cells of two ``R x K x S x S`` heatmaps lie within
    ``cells`` heatmap cells of each other (Euclidean distance in cells)."""
    s = a.shape[-1]
    ia, ib = a.flatten(2).argmax(-1), b.flatten(2).argmax(-1)
    dx = (ia % s - ib % s).float()
    dy = (torch.div(ia, s, rounding_mode="floor") - torch.div(ib, s, rounding_mode="floor")).float()
    return dx.pow(2) + dy.pow(2) <= cells ** 2


def soft_pseudo_loss(student: torch.Tensor, teacher: torch.Tensor, kept: torch.Tensor
                     ) -> torch.Tensor:
    """Cross-entropy of the student's S*S-way softmax against the teacher's (soft targets),
    averaged over the ``kept`` joints: ``R x K x S x S`` student and teacher logits, ``R x K``
    bool. Its minimum over the student is the teacher's entropy, reached when the two
    distributions match, so a soft teacher keeps the student as unsure as itself."""
    target = teacher.detach().flatten(2)[kept].softmax(dim=-1)
    return F.cross_entropy(student.flatten(2)[kept], target, reduction="mean")


def visible_fraction(instances: Instances) -> torch.Tensor:
    """``(R,)`` area of each person's visible box (``gt_vis_boxes``) over the area of its full
    box (``gt_boxes``), in [0, 1]; 1 for every person when ``gt_vis_boxes`` is absent."""
    full = instances.gt_boxes.area()
    if not instances.has("gt_vis_boxes"):
        return torch.ones_like(full)
    return (instances.gt_vis_boxes.area() / full.clamp(min=1e-6)).clamp(0.0, 1.0)


class PoseSelfTraining(nn.Module):
    """EMA teacher of the pose path and the pseudo-label loss of target instances.

    The teacher's modules are frozen copies (``requires_grad=False``, so optimizers and DDP skip
    them) that live in the model's state dict: a resumed run continues with the same teacher.
    """

    @configurable
    def __init__(
        self,
        *,
        student: Dict[str, nn.Module],
        start_iter: int,
        ema_decay: float,
        threshold: float,
        loss_weight: float,
        min_visible: float = 0.0,
        flip_teacher: bool = False,
        flip_agreement: float = 0.0,
        targets: str = "hard",
        feature_dropout: float = 0.0,
    ):
        """
        Args:
            student: the student's pose-path modules by name (:data:`POSE_PATH`); the teacher
                starts as a copy of them.
            start_iter: iteration from which the pseudo-label loss counts (before it the loss
                is 0; the teacher is averaged from the first iteration on).
            ema_decay: teacher <- decay * teacher + (1 - decay) * student, every training step.
            threshold: joint confidence from which a pseudo-label is used (see
                :func:`heatmap_pseudo_labels`).
            loss_weight: weight of the pseudo-label pose loss.
            min_visible: only target persons with :func:`visible_fraction` >= this get
                pseudo-labels (:meth:`eligible`).
            flip_teacher: the teacher's heatmaps average the plain pass and the mirrored pass
                (F_raw of the mirrored boxes in the flipped image, given to :meth:`loss`).
            flip_agreement: with ``flip_teacher``, a joint is a pseudo-label only when its plain
                and mirrored teacher peaks are within this many heatmap cells (0 = no check).
            targets: what the student learns of a kept joint: "hard", the teacher's arg-max
                cell (the pose loss); "soft", the teacher's whole S x S distribution
                (:func:`soft_pseudo_loss`, "softmax_ce" heads only).
            feature_dropout: probability that a channel of a target instance's E_C features is
                zeroed on the student's side (:meth:`perturb`; 0 = off).
        """
        if targets not in PSEUDO_TARGETS:
            raise ValueError(f"targets must be one of {PSEUDO_TARGETS}, got {targets!r}")
        if not 0.0 <= feature_dropout < 1.0:
            raise ValueError(f"feature_dropout must be in [0, 1), got {feature_dropout}")
        super().__init__()
        self.teacher = nn.ModuleDict({k: copy.deepcopy(m) for k, m in student.items()})
        self.teacher.requires_grad_(False)
        self.start_iter = start_iter
        self.ema_decay = ema_decay
        self.threshold = threshold
        self.loss_weight = loss_weight
        self.min_visible = min_visible
        self.flip_teacher = flip_teacher
        self.flip_agreement = flip_agreement
        self.targets = targets
        self.feature_dropout = feature_dropout
        self.register_buffer("flip_perm", torch.tensor(flip_indices()), persistent=False)

    @classmethod
    def from_config(cls, cfg, student: Dict[str, nn.Module]):
        s = cfg.MODEL.OCCPOSE.SELF_TRAINING
        return {
            "student": student,
            "start_iter": s.START_ITER,
            "ema_decay": s.EMA_DECAY,
            "threshold": s.THRESHOLD,
            "loss_weight": s.LOSS_WEIGHT,
            "min_visible": s.MIN_VISIBLE,
            "flip_teacher": s.FLIP_TEACHER,
            "flip_agreement": s.FLIP_AGREEMENT,
            "targets": s.TARGETS,
            "feature_dropout": s.FEATURE_DROPOUT,
        }

    @torch.no_grad()
    def update_teacher(self, student: Dict[str, nn.Module]) -> None:
        """One EMA step of every teacher parameter (buffers are copied)."""
        for name, module in student.items():
            teacher = self.teacher[name]
            for t, s in zip(teacher.parameters(), module.parameters()):
                t.mul_(self.ema_decay).add_(s.detach(), alpha=1.0 - self.ema_decay)
            for t, s in zip(teacher.buffers(), module.buffers()):
                t.copy_(s)

    @torch.no_grad()
    def teacher_heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """``R x C x P x P`` F_raw -> ``R x K x S x S`` teacher heatmaps (no masking)."""
        t = self.teacher
        feats = t["common_encoder"](x)
        maps = t["seg_head"](feats).sigmoid()
        return t["pose_head"](t["context_decoder"](feats) * maps)

    @torch.no_grad()
    def flip_teacher_heatmaps(self, x: torch.Tensor, x_mirrored: torch.Tensor
                              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The flip teacher: ``R x K x S x S`` mean of the plain heatmaps of ``x`` and the
        mirrored-back heatmaps of ``x_mirrored`` (its left / right channels swapped), and
        ``R x K`` bool, whether the two passes' peaks agree within ``flip_agreement`` cells
        (all True for 0)."""
        plain = self.teacher_heatmaps(x)
        mirrored = unmirror_heatmaps(self.teacher_heatmaps(x_mirrored), self.flip_perm)
        if self.flip_agreement > 0:
            agree = peak_agreement(plain, mirrored, self.flip_agreement)
        else:
            agree = torch.ones(plain.shape[:2], dtype=torch.bool, device=plain.device)
        return (plain + mirrored) / 2, agree

    def perturb(self, feats: torch.Tensor) -> torch.Tensor:
        """The student's view of ``R x C x H x W`` E_C features of target instances: each
        channel of each instance zeroed with probability ``feature_dropout``, the others scaled
        by ``1 / (1 - feature_dropout)`` (``feats`` itself when it is 0)."""
        if self.feature_dropout == 0:
            return feats
        return F.dropout2d(feats, self.feature_dropout, training=True)

    def eligible(self, instances: Instances) -> torch.Tensor:
        """``(R,)`` bool: which of one image's target persons may get pseudo-labels (every one
        for ``min_visible`` 0: fractions are >= 0; never source persons pasted there, which
        have labels: ``gt_pasted``)."""
        ok = visible_fraction(instances) >= self.min_visible
        if instances.has("gt_pasted"):
            ok = ok & ~instances.gt_pasted.to(ok.device)
        return ok

    def active(self) -> bool:
        """Whether the pseudo-label loss counts at the current training iteration."""
        return get_event_storage().iter >= self.start_iter

    def wants_mirrored(self) -> bool:
        """Whether this step's :meth:`loss` needs the mirrored F_raw of the target instances."""
        return self.flip_teacher and self.active()

    def loss(
        self, student_heatmaps: torch.Tensor, x: torch.Tensor, boxes: torch.Tensor,
        pose_head: nn.Module, x_mirrored: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """``{"loss_pose_pseudo": weight * pose loss of the student against pseudo-labels}``.

        Args:
            student_heatmaps: ``R x K x S x S`` student heatmaps of the target instances.
            x: their ``R x C x P x P`` F_raw.
            boxes: their ``R x 4`` boxes (network input pixels).
            pose_head: the student's pose head (its loss type, sigma and loss function).
            x_mirrored: with ``flip_teacher``, the ``R x C x P x P`` F_raw of the mirrored
                boxes in the flipped image (rows as ``x``).
        """
        zero = student_heatmaps.sum() * 0.0
        if len(x) == 0:
            return {"loss_pose_pseudo": zero}
        storage = get_event_storage()
        if self.flip_teacher:
            if x_mirrored is None:
                raise ValueError("SELF_TRAINING.FLIP_TEACHER needs the mirrored F_raw of the "
                                 "target instances")
            heatmaps, agree = self.flip_teacher_heatmaps(x, x_mirrored)
            storage.put_scalar("occpose/pseudo_flip_agree_frac", agree.float().mean().item())
        else:
            heatmaps, agree = self.teacher_heatmaps(x), None
        pseudo, confidence = heatmap_pseudo_labels(
            heatmaps, boxes, pose_head.loss_type, self.threshold
        )
        if agree is not None:
            pseudo[..., 2] *= agree.to(pseudo.dtype)
        kept = pseudo[..., 2] > 0
        storage.put_scalar("occpose/pseudo_joint_frac", kept.float().mean().item())
        storage.put_scalar("occpose/pseudo_confidence", confidence.mean().item())
        if not kept.any():
            return {"loss_pose_pseudo": zero}
        if self.targets == "soft":
            loss = soft_pseudo_loss(student_heatmaps, heatmaps, kept)
        else:
            loss = pose_head.losses(student_heatmaps, pseudo, boxes)["loss_pose"]
        return {"loss_pose_pseudo": self.loss_weight * loss}

    def extra_repr(self) -> str:
        return (f"start_iter={self.start_iter}, ema_decay={self.ema_decay}, "
                f"threshold={self.threshold}, loss_weight={self.loss_weight}, "
                f"min_visible={self.min_visible}, flip_teacher={self.flip_teacher}, "
                f"flip_agreement={self.flip_agreement}, targets={self.targets!r}, "
                f"feature_dropout={self.feature_dropout}")
