"""Config keys of occpose_d2: ``add_occpose_config(cfg)`` and their validation.

Every new key carries a comment with its meaning, unit and allowed values. The framework's own
keys live under ``MODEL.OCCPOSE``; data, input and test keys extend D2's ``DATASETS``,
``DATALOADER``, ``INPUT`` and ``TEST`` nodes. Values are checked by
``validate_occpose_config(cfg)`` when a model or loader is built.
"""

from typing import Sequence

from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg

from .domains import DOMAIN_TARGET, DOMAINS
from .keypoints import NUM_KEYPOINTS

__all__ = ["add_occpose_config", "validate_occpose_config", "get_occpose_cfg"]

def _add_framework_config(cfg: CN) -> None:
    _C = cfg
    _C.MODEL.OCCPOSE = CN()
    # Give both domains one detector (backbone + RPN + box head) instead of one each (ablation).
    _C.MODEL.OCCPOSE.SHARE_DETECTORS = False
    # With SHARE_DETECTORS (beyond the paper; True / False): the shared backbone's BatchNorm2d
    # layers keep one set of running statistics per domain, affine weights shared (domain-specific
    # batch normalization, Chang et al., CVPR 2019), so each domain is normalized at test time by
    # statistics of its own images, as in training (occpose_d2/modeling/domain_norm.py). Needs a
    # backbone with NORM "BN".
    _C.MODEL.OCCPOSE.DOMAIN_NORM = False
    # Soft weight sharing of two detectors (beyond the paper; off in the real-data configs):
    # loss_detector_tie = WEIGHT * sum of squared differences of the "pe" and "pd" detectors'
    # parameters in MODULES, which keeps their feature spaces close while each still fits its
    # domain (Rozantsev et al., "Beyond sharing weights for deep domain adaptation").
    _C.MODEL.OCCPOSE.DETECTOR_TIE = CN()
    # Weight w (>= 0, per squared parameter difference; 0 = off, ignored with SHARE_DETECTORS).
    _C.MODEL.OCCPOSE.DETECTOR_TIE.WEIGHT = 0.0
    # Detector parts tied: any of "backbone", "proposal_generator", "roi_heads".
    _C.MODEL.OCCPOSE.DETECTOR_TIE.MODULES = ["backbone"]
    # Probability per training step that the source images also go through the target detector's
    # backbone (beyond the paper; in [0, 1], 0 = off, no effect with SHARE_DETECTORS): their
    # training instances, pooled from it, join the instance heads' batch as source instances, so
    # the source pose labels train the target backbone too (one more backbone pass of the source
    # images on those steps).
    _C.MODEL.OCCPOSE.SOURCE_VIA_TARGET = 0.0
    # Domain whose detector serves an input without a "domain" key at inference: "pe" or "pd".
    _C.MODEL.OCCPOSE.TEST_DOMAIN = DOMAIN_TARGET
    # Train the two detectors only (the paper's pre-training stage): instance heads are skipped.
    _C.MODEL.OCCPOSE.DETECTORS_ONLY = False
    # Boxes whose RoIAlign features train the instance heads: "gt" (ground-truth person boxes),
    # "proposals" (foreground proposals matched to a person, IoU >= ROI_HEADS.IOU_THRESHOLDS),
    # or "gt+proposals" (both).
    _C.MODEL.OCCPOSE.TRAIN_BOXES = "gt"
    # Random jitter of ground-truth boxes in training, as a fraction of box width/height (>= 0).
    _C.MODEL.OCCPOSE.BOX_JITTER = 0.05
    # At most this many instances per image feed the instance heads in training (> 0).
    _C.MODEL.OCCPOSE.MAX_TRAIN_INSTANCES = 32
    # Detections with a score below this do not get a mask/pose at inference (in [0, 1]).
    _C.MODEL.OCCPOSE.TEST_SCORE_THRESH = 0.0
    # FPN levels pooled into F_raw (names of the detector backbone's outputs).
    _C.MODEL.OCCPOSE.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    # RoIAlign output side of F_raw, in cells.
    _C.MODEL.OCCPOSE.POOLER_RESOLUTION = 14
    # RoIAlign sampling points per cell (0 = adaptive).
    _C.MODEL.OCCPOSE.POOLER_SAMPLING_RATIO = 0
    # RoIAlign type, as for D2's ROIPooler ("ROIAlignV2" or "ROIAlign").
    _C.MODEL.OCCPOSE.POOLER_TYPE = "ROIAlignV2"
    # The instance heads' RoIs are the boxes grown by this factor about their centres (>= 1;
    # beyond the paper, which uses the boxes: 1). Top-down pose estimators pad person boxes
    # (e.g. by 1.25) so that joints just outside a tight or occlusion-cut box stay predictable.
    # Masks are returned over the original boxes.
    _C.MODEL.OCCPOSE.ROI_SCALE = 1.0


def _sub_head_node(name: str, conv_dim: int) -> CN:
    """A sub-head's node with the keys every sub-head has."""
    node = CN()
    # Class that builds the head: a name in the registry of the head's module (named with the
    # node below, e.g. SEG_HEAD_REGISTRY for SEG_HEAD).
    node.NAME = name
    # Channels of the head's conv layers (> 0).
    node.CONV_DIM = conv_dim
    return node


def _add_heads_config(cfg: CN) -> None:
    _C = cfg
    # Common encoder E_C (COMMON_ENCODER_REGISTRY): F_raw -> domain-invariant features F_DI
    # (same spatial size).
    _C.MODEL.OCCPOSE.COMMON_ENCODER = _sub_head_node("ConvCommonEncoder", 256)
    # Number of 3x3 conv layers (>= 1).
    _C.MODEL.OCCPOSE.COMMON_ENCODER.NUM_CONV = 4
    # Normalization: "" (none), "GN", "BN", "SyncBN" (D2's get_norm names).
    _C.MODEL.OCCPOSE.COMMON_ENCODER.NORM = ""

    # Segmentation decoder D_Seg (SEG_HEAD_REGISTRY): F_DI -> visible-mask logits at 2x the
    # pooler resolution.
    _C.MODEL.OCCPOSE.SEG_HEAD = _sub_head_node("DeconvSegHead", 256)
    # Weight alpha of the BCE segmentation loss in Eq. (3) (>= 0).
    _C.MODEL.OCCPOSE.SEG_HEAD.LOSS_WEIGHT = 0.5
    # Number of 3x3 conv layers before the upsampling deconv (>= 1; Mask R-CNN's head has 4).
    _C.MODEL.OCCPOSE.SEG_HEAD.NUM_CONV = 1

    # Domain classifier C (DOMAIN_HEAD_REGISTRY) behind a gradient-reversal layer.
    _C.MODEL.OCCPOSE.DOMAIN_HEAD = _sub_head_node("ConvDomainClassifier", 256)
    # Width of its hidden fully connected layer.
    _C.MODEL.OCCPOSE.DOMAIN_HEAD.FC_DIM = 256
    # Weight beta of the BCE domain-classification loss in Eq. (3) (>= 0).
    _C.MODEL.OCCPOSE.DOMAIN_HEAD.LOSS_WEIGHT = 1.0
    # Gradient-reversal strength lambda (>= 0): E_C receives -lambda times C's gradient.
    _C.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_LAMBDA = 1.0
    # How lambda evolves: "constant", or "ramp" (DANN: lambda * (2 / (1 + exp(-10 t)) - 1),
    # t = iteration / GRL_RAMP_ITERS clipped to 1).
    _C.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_SCHEDULE = "constant"
    # Iterations of the "ramp" schedule (> 0).
    _C.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_RAMP_ITERS = 10000

    # Image-level domain classifier (IMAGE_DOMAIN_HEAD_REGISTRY; beyond the paper, off by default):
    # a per-location classifier behind its own gradient-reversal layer on both detectors'
    # backbone feature maps (Domain Adaptive Faster R-CNN's image-level alignment), so whole
    # feature maps are aligned, not only the pooled instances. Its reversal strength follows
    # DOMAIN_HEAD.GRL_*.
    _C.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD = _sub_head_node("ConvImageDomainClassifier", 64)
    # Weight of its loss (>= 0; 0 = off: the classifier is not built).
    _C.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT = 0.0
    # Backbone feature maps it classifies (equal channels, e.g. FPN levels).
    _C.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.IN_FEATURES = ["p2", "p3", "p4", "p5"]

    # Pose-level domain classifier (POSE_DOMAIN_HEAD_REGISTRY; beyond the paper, off by default):
    # tells the domains apart by each instance's predicted heatmaps (output-space alignment),
    # behind its own gradient-reversal layer, so the pose path learns to give target persons
    # heatmaps like the source's (sure, anatomically laid out joints). Its reversal strength
    # follows DOMAIN_HEAD.GRL_*. Needs a "softmax_ce" pose head.
    _C.MODEL.OCCPOSE.POSE_DOMAIN_HEAD = _sub_head_node("ConvPoseDomainClassifier", 64)
    # Weight of its loss (>= 0; 0 = off: the classifier is not built, no extra pose pass).
    _C.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.LOSS_WEIGHT = 0.0
    # Side of the grid (cells) each joint's heatmap distribution is pooled to before the
    # classifier (> 0, divides POSE_HEAD.HEATMAP_SIZE).
    _C.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.GRID = 14

    # Silhouette coverage on target instances (beyond the paper; off by default): a pose loss
    # from the visible masks alone. Every visible-mask cell should lie within RADIUS of the
    # skeleton drawn between the joints' expected positions (occpose_d2/modeling/silhouette.py),
    # so a misplaced elbow or wrist that leaves an arm's pixels unexplained is pulled towards
    # them; limbs over no mask pixel cost nothing (they may be occluded). One more pose pass over
    # the target instances per step. Needs a "softmax_ce" pose head.
    _C.MODEL.OCCPOSE.SILHOUETTE = CN()
    # Weight of the loss (>= 0; 0 = off, no extra pose pass).
    _C.MODEL.OCCPOSE.SILHOUETTE.LOSS_WEIGHT = 0.0
    # Radius of the tube around each skeleton segment that explains the pixels in it, as a
    # fraction of the instance box's height (>= 0); limbs here are 0.05-0.08 of a person's
    # height thick, the torso's half-width about 0.1.
    _C.MODEL.OCCPOSE.SILHOUETTE.RADIUS = 0.08

    # Context decoder D_C (CONTEXT_DECODER_REGISTRY): F_DI -> features at the segmentation map's
    # resolution (source only); CONV_DIM is its output channels.
    _C.MODEL.OCCPOSE.CONTEXT_DECODER = _sub_head_node("DeconvContextDecoder", 128)

    # Mask and Predict: a fraction p of the segmentation map is removed (in random square
    # blocks) before the element-wise product with D_C's features.
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT = CN()
    # Map that is masked and multiplied: "pred" (sigmoid of D_Seg's output) or "gt" (training
    # only; inference always uses the prediction).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.MASK_SOURCE = "pred"
    # Side of one removed block, as a fraction of the map side (in (0, 1]).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.BLOCK_SIZE = 0.25
    # Curriculum: ratio p at iteration START_ITER and before (in [0, 1]).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.RATIO_START = 0.0
    # Curriculum: ratio p at END_ITER and after (in [0, 1]).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.RATIO_END = 0.5
    # Curriculum start iteration (>= 0).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.START_ITER = 0
    # Curriculum end iteration (>= START_ITER).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER = 10000
    # Curriculum shape: "linear" or "step" (NUM_STEPS equal steps between start and end).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.SCHEDULE = "linear"
    # Number of steps of the "step" schedule (>= 1).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.NUM_STEPS = 5
    # Shape of the parts removed in training: "blocks" (the paper: random square blocks) or
    # "mixed" (half the maps lose one straight-edged cut from a side instead, like a car, pole or
    # person in front). Inference always removes blocks.
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.PATTERN = "blocks"
    # Masking ratio applied at inference (0 = none; the occlusion evaluator sets its own).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.TEST_RATIO = 0.0
    # Seed of the inference-time masking (fixed, so test-time occlusion is reproducible).
    _C.MODEL.OCCPOSE.MASK_AND_PREDICT.TEST_SEED = 0

    # Self-training on the target domain (beyond the paper; off in the real-data configs): an
    # EMA teacher of the pose path gives pseudo-poses to target instances, and the student learns
    # them through Mask and Predict (occpose_d2/modeling/self_training.py).
    _C.MODEL.OCCPOSE.SELF_TRAINING = CN()
    # Turn it on (True / False).
    _C.MODEL.OCCPOSE.SELF_TRAINING.ENABLED = False
    # Iteration from which the pseudo-pose loss counts (>= 0; the teacher averages from 0 on).
    _C.MODEL.OCCPOSE.SELF_TRAINING.START_ITER = 500
    # Teacher EMA decay per iteration, in [0, 1) (0.99: the teacher averages ~100 iterations).
    _C.MODEL.OCCPOSE.SELF_TRAINING.EMA_DECAY = 0.99
    # Joint confidence from which a teacher joint becomes a pseudo-label, in [0, 1]: probability
    # mass in the 3 x 3 cells around the peak ("softmax_ce") or the peak value ("mse").
    _C.MODEL.OCCPOSE.SELF_TRAINING.THRESHOLD = 0.5
    # Weight of the pseudo-pose loss (>= 0), relative to the source pose loss (gamma).
    _C.MODEL.OCCPOSE.SELF_TRAINING.LOSS_WEIGHT = 1.0
    # Only target persons at least this visible get pseudo-poses, in [0, 1]: visible fraction =
    # area of the visible box (CityPersons' vis_bbox, gt_vis_boxes) / area of the full box. The
    # teacher is most often right on nearly visible persons; Mask and Predict on the student's
    # side still teaches the hidden joints (0 = every target person).
    _C.MODEL.OCCPOSE.SELF_TRAINING.MIN_VISIBLE = 0.0
    # The teacher also reads each target instance in the horizontally flipped image and averages
    # the mirrored-back heatmaps in (the flip test as a teacher; one more no-grad backbone pass
    # over the target images per step once the pseudo-pose loss counts) (True / False).
    _C.MODEL.OCCPOSE.SELF_TRAINING.FLIP_TEACHER = False
    # With FLIP_TEACHER: a joint becomes a pseudo-label only if the plain and the mirrored teacher
    # peaks lie within this many heatmap cells of each other (>= 0; 0 = no check).
    _C.MODEL.OCCPOSE.SELF_TRAINING.FLIP_AGREEMENT = 0.0
    # What the student learns of a kept joint: "hard", the teacher's arg-max cell (the pose loss);
    # "soft", the teacher's whole heatmap distribution (cross-entropy of the two softmaxes;
    # POSE_HEAD.LOSS_TYPE "softmax_ce" only), so the student copies the teacher's doubt too.
    _C.MODEL.OCCPOSE.SELF_TRAINING.TARGETS = "hard"
    # Probability that a channel of a target instance's common-encoder features is dropped on the
    # student's side only (Dropout2d; UniMatch's feature perturbation), in [0, 1) (0 = off).
    _C.MODEL.OCCPOSE.SELF_TRAINING.FEATURE_DROPOUT = 0.0

    # Pose encoder-decoder (POSE_HEAD_REGISTRY): masked features -> 13 keypoint heatmaps.
    _C.MODEL.OCCPOSE.POSE_HEAD = _sub_head_node("EncoderDecoderPoseHead", 128)
    # Side of the predicted heatmaps, in cells (a multiple of the segmentation map side).
    _C.MODEL.OCCPOSE.POSE_HEAD.HEATMAP_SIZE = 56
    # Heatmap loss: "mse" (MultiPoseNet: L2 to Gaussian heatmaps) or "softmax_ce"
    # (D2's Keypoint R-CNN spatial cross-entropy).
    _C.MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE = "mse"
    # Standard deviation of the target Gaussians for "mse", in heatmap cells (> 0).
    _C.MODEL.OCCPOSE.POSE_HEAD.HEATMAP_SIGMA = 2.0
    # Weight gamma of the pose loss in Eq. (3) (>= 0).
    _C.MODEL.OCCPOSE.POSE_HEAD.LOSS_WEIGHT = 1.0
    # Source instances that supervise the pose: "fully_visible" (all 13 joints v = 2, the
    # paper) or "labeled" (every instance with labeled joints; only labeled joints count).
    _C.MODEL.OCCPOSE.POSE_HEAD.SUPERVISE = "fully_visible"
    # Oracle only (ablation upper bound, never the method): target ("pd") persons with keypoints
    # (e.g. DATASETS.TRAIN_TARGET synth_pd_train_kp) also give pose loss, every labeled person
    # with all its labeled joints, occluded ones included (True / False).
    _C.MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET = False
    # Pose rescoring (beyond the paper, as SimpleBaseline / HRNet rank poses): at inference an
    # instance's score becomes its box score times a pose-quality factor (POSE_HEAD.RESCORE_BY),
    # so persons whose pose the head is unsure of rank lower; boxes and joints are unchanged
    # (True / False).
    _C.MODEL.OCCPOSE.POSE_HEAD.RESCORE = False
    # What rescoring multiplies the box score by: "joint_score" (the mean joint score) or
    # "expected_oks" (beyond the paper: the pose's OKS expected under its own heatmaps, each
    # joint's softmax distribution over cells scored with COCO's per-joint similarity and the
    # person's visible-mask area; POSE_HEAD.LOSS_TYPE "softmax_ce" only).
    _C.MODEL.OCCPOSE.POSE_HEAD.RESCORE_BY = "joint_score"
    # Where joints are placed at inference: "peak" (the heatmap's maximum, as D2) or
    # "expected_oks" (beyond the paper: where the joint's OKS expected under its heatmap is
    # highest, i.e. the heatmap's probabilities blurred by that joint's OKS kernel for the
    # person's visible-mask area; POSE_HEAD.LOSS_TYPE "softmax_ce" only).
    _C.MODEL.OCCPOSE.POSE_HEAD.DECODE = "peak"
    # Flip test (beyond the paper, as SimpleBaseline / HRNet test): at inference OccPoseRCNN also
    # runs the horizontally flipped image through the detector's backbone, pools the mirrored
    # boxes and averages the mirrored heatmaps (left / right joints swapped) with the plain ones;
    # boxes and masks come from the plain pass. Costs one more backbone and head pass per image
    # (True / False; OccPoseROIHeads in a stock GeneralizedRCNN sees no image and ignores it).
    _C.MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST = False
    # Pose NMS (beyond the paper, as top-down pose estimators' OKS-NMS): at inference, after the
    # box NMS of MODEL.ROI_HEADS.NMS_THRESH_TEST and pose rescoring, a detection is dropped when a
    # higher-scored one's pose is nearly the same (OKS above POSE_NMS.OKS_THRESH), so two
    # persons whose boxes overlap can both be kept while duplicates go. Detected boxes only:
    # given boxes (detected_instances, the GT-box evaluation) are kept. OccPoseRCNN and
    # OccPoseROIHeads in a stock GeneralizedRCNN apply it (True / False).
    _C.MODEL.OCCPOSE.POSE_NMS = CN()
    _C.MODEL.OCCPOSE.POSE_NMS.ENABLED = False
    # OKS in (0, 1] above which the lower-scored of two poses is dropped (0.9: HRNet's OKS-NMS);
    # OKS with the higher-scored pose's visible-mask area and the 13 OKS sigmas.
    _C.MODEL.OCCPOSE.POSE_NMS.OKS_THRESH = 0.9


def _add_data_config(cfg: CN) -> None:
    _C = cfg
    # Optimizer: "SGD" (the paper: momentum SOLVER.MOMENTUM) or "ADAMW" (betas (0.9, 0.999); the
    # short CPU schedules of configs/Synthetic converge much faster with it).
    _C.SOLVER.OPTIMIZER = "SGD"
    # Target-domain ("pd", pedestrian) training datasets; DATASETS.TRAIN holds the source ("pe").
    _C.DATASETS.TRAIN_TARGET = ()
    # Fraction of each training batch taken from the target domain (in [0, 1]).
    _C.DATALOADER.TARGET_FRACTION = 0.5
    # Random brightness factor range (min, max); (1.0, 1.0) disables it.
    _C.INPUT.BRIGHTNESS = (0.8, 1.2)
    # Random contrast factor range (min, max), blending with the image mean (D2's
    # RandomContrast); (1.0, 1.0) disables it.
    _C.INPUT.CONTRAST = (1.0, 1.0)
    # Random saturation factor range (min, max), blending with the grey image (D2's
    # RandomSaturation; below 1 towards grey); (1.0, 1.0) disables it.
    _C.INPUT.SATURATION = (1.0, 1.0)
    # Probability of a Gaussian blur in training (in [0, 1]).
    _C.INPUT.BLUR_PROB = 0.2
    # Range of the blur's standard deviation (min, max), in pixels.
    _C.INPUT.BLUR_SIGMA = (0.5, 1.5)
    # Probability of additive Gaussian sensor noise in training, after the blur, both domains
    # (beyond the paper; in [0, 1]; 0 = off).
    _C.INPUT.NOISE_PROB = 0.0
    # Range of the noise's standard deviation (min, max), in grey levels of 0-255.
    _C.INPUT.NOISE_SIGMA = (2.0, 8.0)
    # Copy-paste occluders (beyond the paper; occpose_d2/data/occluders.py): patches cut from
    # random target-domain training images pasted over fully visible source persons in training,
    # the covered joints becoming occluded-but-labeled (v = 1).
    _C.INPUT.OCCLUDERS = CN()
    # Probability that each fully visible source person gets one patch (in [0, 1]; 0 = off).
    _C.INPUT.OCCLUDERS.PROB = 0.0
    # Least fraction of the person's visible mask a patch may leave (in [0, 1]).
    _C.INPUT.OCCLUDERS.MIN_VISIBLE = 0.35
    # Cross-domain person paste (beyond the paper; occpose_d2/data/person_paste.py): fully
    # visible source persons, cut out by their masks, pasted into target training images behind
    # the target's persons (beside a random one, at its size), keeping their pose labels, which
    # then give pose loss through the target detector. Uses target pixels: part of adaptation.
    _C.INPUT.PERSON_PASTE = CN()
    # Probability that a target training image gets pasted persons (in [0, 1]; 0 = off).
    _C.INPUT.PERSON_PASTE.PROB = 0.0
    # Most persons pasted into one image (>= 1; 1 to this many, uniformly).
    _C.INPUT.PERSON_PASTE.MAX_PERSONS = 2
    # Least fraction of a pasted person's silhouette left visible (in the image, not behind an
    # annotated person) (in [0, 1]).
    _C.INPUT.PERSON_PASTE.MIN_VISIBLE = 0.35
    # Probability that each pasted person also gets a copy-paste occluder (a patch of a random
    # target training image in one of the shapes of occpose_d2/data/occluders.py, leaving at least
    # INPUT.OCCLUDERS.MIN_VISIBLE of its visible mask), so that labeled persons also stand behind
    # the target's cars, poles and bushes, not only behind its persons (in [0, 1]; 0 = off).
    _C.INPUT.PERSON_PASTE.OCCLUDER_PROB = 0.0
    # Probability that each pasted person is re-coloured to the target person it is placed
    # beside: the Lab mean and spread of its silhouette moved to those of that person's visible
    # mask (the transfer of INPUT.TARGET_STYLE), so that labeled persons are also dressed like
    # the target's (in [0, 1]; 0 = off; needs INPUT.FORMAT 'BGR' or 'RGB').
    _C.INPUT.PERSON_PASTE.STYLE_PROB = 0.0
    # Degrade each pasted person to its host image's camera (True / False): blurred by what its
    # edges lack against the person it stands beside, given the noise it lacks against the rest
    # of the image (occpose_d2/data/camera_match.py; blur and noise estimated from pixels alone).
    _C.INPUT.PERSON_PASTE.MATCH_CAMERA = False
    # Target-style colour transfer (beyond the paper; occpose_d2/data/target_style.py): in
    # training, each source person and the source background re-coloured to the Lab colour
    # statistics of a random target training image's persons and background (its masks, or
    # its visible boxes without masks). Uses target pixels, so it is part of the adaptation.
    _C.INPUT.TARGET_STYLE = CN()
    # Probability that a source training image is re-coloured (in [0, 1]; 0 = off).
    _C.INPUT.TARGET_STYLE.PROB = 0.0


def _add_test_config(cfg: CN) -> None:
    _C = cfg
    # Masking ratios p of the occlusion AP evaluation (paper Table 2), each in [0, 1].
    _C.TEST.OCCLUSION_RATIOS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    # Seed of the occlusion evaluation's masking.
    _C.TEST.OCCLUSION_SEED = 0
    # Run the occlusion AP evaluation on datasets with keypoints during --eval-only / test.
    _C.TEST.OCCLUSION_EVAL = True


def _add_backbone_config(cfg: CN) -> None:
    _C = cfg
    # TinyConvNet ("build_occpose_tiny_fpn_backbone"): a CPU-sized backbone for the synthetic set.
    _C.MODEL.OCCPOSE_TINY = CN()
    # Channels of the stride-2 stem conv (> 0).
    _C.MODEL.OCCPOSE_TINY.STEM_CHANNELS = 16
    # Channels of stages res2, res3, res4, res5 (strides 4, 8, 16, 32 pixels); 4 values > 0.
    _C.MODEL.OCCPOSE_TINY.STAGE_CHANNELS = [32, 64, 96, 128]
    # 3x3 conv-norm-ReLU layers per stage, the first with stride 2 (>= 1).
    _C.MODEL.OCCPOSE_TINY.CONVS_PER_STAGE = 2
    # Normalization after each conv: "", "BN", "GN", "SyncBN", "FrozenBN" (D2's get_norm names).
    _C.MODEL.OCCPOSE_TINY.NORM = "BN"
    # Stage outputs of the bottom-up network, a subset of res2..res5 (FPN.IN_FEATURES picks).
    _C.MODEL.OCCPOSE_TINY.OUT_FEATURES = ["res2", "res3", "res4", "res5"]

    # VGG ("build_vgg_fpn_backbone"): conv block k + its max-pool is stage res{k} (stride 2^k).
    _C.MODEL.VGG = CN()
    # Depth: 11, 13, 16 or 19 conv+fc layers (the paper's Table 5 uses 19).
    _C.MODEL.VGG.DEPTH = 19
    # Channels of the five conv blocks (VGG: 64, 128, 256, 512, 512); 5 values > 0.
    _C.MODEL.VGG.CHANNELS = [64, 128, 256, 512, 512]
    # Normalization after each conv: "" (plain VGG), "BN" / "FrozenBN" (VGG-BN), "GN", "SyncBN".
    _C.MODEL.VGG.NORM = ""
    # Stage outputs, a subset of res2..res5 (block 2..5 after pooling: strides 4, 8, 16, 32).
    _C.MODEL.VGG.OUT_FEATURES = ["res2", "res3", "res4", "res5"]


def add_occpose_config(cfg: CN) -> None:
    """Add occpose_d2's keys (with their defaults) to a D2 config, in place.

    Call it once on a fresh ``get_cfg()`` before ``merge_from_file``. Calling it again is a no-op.
    """
    if "OCCPOSE" in cfg.MODEL:
        return
    _add_framework_config(cfg)
    _add_heads_config(cfg)
    _add_data_config(cfg)
    _add_test_config(cfg)
    _add_backbone_config(cfg)


def _check(cond: bool, key: str, value, expected: str) -> None:
    if not cond:
        raise ValueError(f"Invalid config {key} = {value!r}: expected {expected}.")


def _check_ratio(key: str, value) -> None:
    _check(0.0 <= float(value) <= 1.0, key, value, "a value in [0, 1]")


def _check_choice(key: str, value, choices: Sequence) -> None:
    """``value`` must be one of ``choices`` (the tuple owned by the module that uses the key)."""
    names = [repr(c) for c in choices]
    _check(value in choices, key, value, ", ".join(names[:-1]) + f" or {names[-1]}")


def _validate_backbone_config(cfg: CN) -> None:
    from .modeling.backbone.fpn import STAGE_NAMES
    from .modeling.backbone.vgg import VGG_DEPTHS

    t = cfg.MODEL.OCCPOSE_TINY
    _check(t.STEM_CHANNELS > 0, "MODEL.OCCPOSE_TINY.STEM_CHANNELS", t.STEM_CHANNELS, "> 0")
    _check(len(t.STAGE_CHANNELS) == 4 and min(t.STAGE_CHANNELS) > 0,
           "MODEL.OCCPOSE_TINY.STAGE_CHANNELS", list(t.STAGE_CHANNELS), "4 values > 0")
    _check(t.CONVS_PER_STAGE >= 1, "MODEL.OCCPOSE_TINY.CONVS_PER_STAGE",
           t.CONVS_PER_STAGE, ">= 1")
    v = cfg.MODEL.VGG
    _check_choice("MODEL.VGG.DEPTH", v.DEPTH, VGG_DEPTHS)
    _check(len(v.CHANNELS) == 5 and min(v.CHANNELS) > 0, "MODEL.VGG.CHANNELS",
           list(v.CHANNELS), "5 values > 0")
    for key, node in (("MODEL.OCCPOSE_TINY", t), ("MODEL.VGG", v)):
        feats = list(node.OUT_FEATURES)
        _check(bool(feats) and set(feats) <= set(STAGE_NAMES), f"{key}.OUT_FEATURES", feats,
               f"a non-empty subset of {list(STAGE_NAMES)}")


def validate_occpose_config(cfg: CN) -> None:
    """Raise ``ValueError`` naming the key for any out-of-range occpose_d2 value.

    The allowed values of a key come from the module that uses it.
    """
    # Imported here: those modules import this one (to validate when they are built).
    from .engine.hooks import GRL_SCHEDULES, MASK_RATIO_SCHEDULES
    from .engine.optimizer import OPTIMIZERS
    from .modeling.instance_heads import SUPERVISE_MODES
    from .modeling.mask_and_predict import MASK_SOURCES, PATTERNS
    from .modeling.meta_arch import DETECTOR_PARTS
    from .modeling.pose_head import DECODERS, POSE_LOSS_TYPES, RESCORE_BY
    from .modeling.sampling import TRAIN_BOX_MODES
    from .modeling.self_training import PSEUDO_TARGETS

    o = cfg.MODEL.OCCPOSE
    _check_choice("MODEL.OCCPOSE.TEST_DOMAIN", o.TEST_DOMAIN, DOMAINS)
    _check(not o.DOMAIN_NORM or o.SHARE_DETECTORS, "MODEL.OCCPOSE.DOMAIN_NORM", o.DOMAIN_NORM,
           "False unless MODEL.OCCPOSE.SHARE_DETECTORS is True (two detectors keep their own "
           "statistics)")
    _check_choice("MODEL.OCCPOSE.TRAIN_BOXES", o.TRAIN_BOXES, TRAIN_BOX_MODES)
    _check(o.BOX_JITTER >= 0, "MODEL.OCCPOSE.BOX_JITTER", o.BOX_JITTER, ">= 0")
    _check(o.MAX_TRAIN_INSTANCES > 0, "MODEL.OCCPOSE.MAX_TRAIN_INSTANCES",
           o.MAX_TRAIN_INSTANCES, "> 0")
    _check_ratio("MODEL.OCCPOSE.TEST_SCORE_THRESH", o.TEST_SCORE_THRESH)
    _check(o.COMMON_ENCODER.NUM_CONV >= 1, "MODEL.OCCPOSE.COMMON_ENCODER.NUM_CONV",
           o.COMMON_ENCODER.NUM_CONV, ">= 1")
    _check(o.SEG_HEAD.NUM_CONV >= 1, "MODEL.OCCPOSE.SEG_HEAD.NUM_CONV", o.SEG_HEAD.NUM_CONV,
           ">= 1")
    for key in ("SEG_HEAD", "DOMAIN_HEAD", "IMAGE_DOMAIN_HEAD", "POSE_DOMAIN_HEAD", "POSE_HEAD",
                "SILHOUETTE"):
        w = o[key].LOSS_WEIGHT
        _check(w >= 0, f"MODEL.OCCPOSE.{key}.LOSS_WEIGHT", w, ">= 0")
    d = o.DOMAIN_HEAD
    _check(d.GRL_LAMBDA >= 0, "MODEL.OCCPOSE.DOMAIN_HEAD.GRL_LAMBDA", d.GRL_LAMBDA, ">= 0")
    _check_choice("MODEL.OCCPOSE.DOMAIN_HEAD.GRL_SCHEDULE", d.GRL_SCHEDULE, GRL_SCHEDULES)
    _check(d.GRL_RAMP_ITERS > 0, "MODEL.OCCPOSE.DOMAIN_HEAD.GRL_RAMP_ITERS",
           d.GRL_RAMP_ITERS, "> 0")
    i = o.IMAGE_DOMAIN_HEAD
    _check(i.LOSS_WEIGHT == 0 or bool(i.IN_FEATURES),
           "MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.IN_FEATURES", list(i.IN_FEATURES),
           "at least one feature map when LOSS_WEIGHT > 0")
    pd = o.POSE_DOMAIN_HEAD
    if pd.LOSS_WEIGHT > 0:
        _check(pd.GRID > 0 and o.POSE_HEAD.HEATMAP_SIZE % pd.GRID == 0,
               "MODEL.OCCPOSE.POSE_DOMAIN_HEAD.GRID", pd.GRID,
               f"a divisor of POSE_HEAD.HEATMAP_SIZE ({o.POSE_HEAD.HEATMAP_SIZE})")
        _check(o.POSE_HEAD.LOSS_TYPE == "softmax_ce", "MODEL.OCCPOSE.POSE_DOMAIN_HEAD.LOSS_WEIGHT",
               pd.LOSS_WEIGHT, '0 unless POSE_HEAD.LOSS_TYPE is "softmax_ce"')
    sil = o.SILHOUETTE
    _check(sil.RADIUS >= 0, "MODEL.OCCPOSE.SILHOUETTE.RADIUS", sil.RADIUS, ">= 0")
    _check(sil.LOSS_WEIGHT == 0 or o.POSE_HEAD.LOSS_TYPE == "softmax_ce",
           "MODEL.OCCPOSE.SILHOUETTE.LOSS_WEIGHT", sil.LOSS_WEIGHT,
           '0 unless POSE_HEAD.LOSS_TYPE is "softmax_ce"')
    m = o.MASK_AND_PREDICT
    _check_choice("MODEL.OCCPOSE.MASK_AND_PREDICT.MASK_SOURCE", m.MASK_SOURCE, MASK_SOURCES)
    _check(0.0 < m.BLOCK_SIZE <= 1.0, "MODEL.OCCPOSE.MASK_AND_PREDICT.BLOCK_SIZE",
           m.BLOCK_SIZE, "a value in (0, 1]")
    for key in ("RATIO_START", "RATIO_END", "TEST_RATIO"):
        _check_ratio(f"MODEL.OCCPOSE.MASK_AND_PREDICT.{key}", m[key])
    _check(0 <= m.START_ITER <= m.END_ITER, "MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER",
           m.END_ITER, f">= START_ITER ({m.START_ITER}) >= 0")
    _check_choice("MODEL.OCCPOSE.MASK_AND_PREDICT.SCHEDULE", m.SCHEDULE, MASK_RATIO_SCHEDULES)
    _check_choice("MODEL.OCCPOSE.MASK_AND_PREDICT.PATTERN", m.PATTERN, PATTERNS)
    _check(m.NUM_STEPS >= 1, "MODEL.OCCPOSE.MASK_AND_PREDICT.NUM_STEPS", m.NUM_STEPS, ">= 1")
    t = o.DETECTOR_TIE
    _check(t.WEIGHT >= 0, "MODEL.OCCPOSE.DETECTOR_TIE.WEIGHT", t.WEIGHT, ">= 0")
    _check(bool(t.MODULES) and set(t.MODULES) <= set(DETECTOR_PARTS),
           "MODEL.OCCPOSE.DETECTOR_TIE.MODULES", list(t.MODULES),
           f"a non-empty subset of {list(DETECTOR_PARTS)}")
    st = o.SELF_TRAINING
    _check(st.START_ITER >= 0, "MODEL.OCCPOSE.SELF_TRAINING.START_ITER", st.START_ITER, ">= 0")
    _check(0.0 <= st.EMA_DECAY < 1.0, "MODEL.OCCPOSE.SELF_TRAINING.EMA_DECAY", st.EMA_DECAY,
           "a value in [0, 1)")
    _check_ratio("MODEL.OCCPOSE.SELF_TRAINING.THRESHOLD", st.THRESHOLD)
    _check_ratio("MODEL.OCCPOSE.SELF_TRAINING.MIN_VISIBLE", st.MIN_VISIBLE)
    _check(st.LOSS_WEIGHT >= 0, "MODEL.OCCPOSE.SELF_TRAINING.LOSS_WEIGHT", st.LOSS_WEIGHT, ">= 0")
    _check(st.FLIP_AGREEMENT >= 0, "MODEL.OCCPOSE.SELF_TRAINING.FLIP_AGREEMENT",
           st.FLIP_AGREEMENT, ">= 0")
    _check_choice("MODEL.OCCPOSE.SELF_TRAINING.TARGETS", st.TARGETS, PSEUDO_TARGETS)
    _check(0.0 <= st.FEATURE_DROPOUT < 1.0, "MODEL.OCCPOSE.SELF_TRAINING.FEATURE_DROPOUT",
           st.FEATURE_DROPOUT, "a value in [0, 1)")
    _check(st.TARGETS == "hard" or o.POSE_HEAD.LOSS_TYPE == "softmax_ce",
           "MODEL.OCCPOSE.SELF_TRAINING.TARGETS", st.TARGETS,
           "'hard' unless MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE is 'softmax_ce'")
    p = o.POSE_HEAD
    _check_choice("MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE", p.LOSS_TYPE, POSE_LOSS_TYPES)
    _check_choice("MODEL.OCCPOSE.POSE_HEAD.RESCORE_BY", p.RESCORE_BY, RESCORE_BY)
    _check(p.RESCORE_BY != "expected_oks" or p.LOSS_TYPE == "softmax_ce",
           "MODEL.OCCPOSE.POSE_HEAD.RESCORE_BY", p.RESCORE_BY,
           "'joint_score' unless MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE is 'softmax_ce'")
    _check_choice("MODEL.OCCPOSE.POSE_HEAD.DECODE", p.DECODE, DECODERS)
    _check(p.DECODE != "expected_oks" or p.LOSS_TYPE == "softmax_ce",
           "MODEL.OCCPOSE.POSE_HEAD.DECODE", p.DECODE,
           "'peak' unless MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE is 'softmax_ce'")
    _check(0.0 < o.POSE_NMS.OKS_THRESH <= 1.0, "MODEL.OCCPOSE.POSE_NMS.OKS_THRESH",
           o.POSE_NMS.OKS_THRESH, "a value in (0, 1]")
    _check(p.HEATMAP_SIGMA > 0, "MODEL.OCCPOSE.POSE_HEAD.HEATMAP_SIGMA", p.HEATMAP_SIGMA, "> 0")
    seg_side = 2 * o.POOLER_RESOLUTION
    _check(p.HEATMAP_SIZE % seg_side == 0, "MODEL.OCCPOSE.POSE_HEAD.HEATMAP_SIZE",
           p.HEATMAP_SIZE, f"a multiple of 2 * POOLER_RESOLUTION ({seg_side})")
    _check_choice("MODEL.OCCPOSE.POSE_HEAD.SUPERVISE", p.SUPERVISE, SUPERVISE_MODES)
    _check_ratio("DATALOADER.TARGET_FRACTION", cfg.DATALOADER.TARGET_FRACTION)
    _check_choice("SOLVER.OPTIMIZER", cfg.SOLVER.OPTIMIZER, OPTIMIZERS)
    _check_ratio("INPUT.BLUR_PROB", cfg.INPUT.BLUR_PROB)
    _check_ratio("INPUT.NOISE_PROB", cfg.INPUT.NOISE_PROB)
    _check_ratio("MODEL.OCCPOSE.SOURCE_VIA_TARGET", cfg.MODEL.OCCPOSE.SOURCE_VIA_TARGET)
    lo, hi = cfg.INPUT.NOISE_SIGMA
    _check(0 < lo <= hi, "INPUT.NOISE_SIGMA", (lo, hi), "(min, max) with 0 < min <= max")
    for key in ("BRIGHTNESS", "CONTRAST", "SATURATION"):
        lo, hi = cfg.INPUT[key]
        _check(0 <= lo <= hi, f"INPUT.{key}", (lo, hi), "(min, max) with 0 <= min <= max")
    _check(cfg.MODEL.OCCPOSE.ROI_SCALE >= 1.0, "MODEL.OCCPOSE.ROI_SCALE",
           cfg.MODEL.OCCPOSE.ROI_SCALE, ">= 1")
    _check_ratio("INPUT.OCCLUDERS.PROB", cfg.INPUT.OCCLUDERS.PROB)
    _check_ratio("INPUT.OCCLUDERS.MIN_VISIBLE", cfg.INPUT.OCCLUDERS.MIN_VISIBLE)
    _check(cfg.INPUT.OCCLUDERS.PROB == 0 or cfg.INPUT.MASK_FORMAT == "bitmask",
           "INPUT.MASK_FORMAT", cfg.INPUT.MASK_FORMAT, "'bitmask' when INPUT.OCCLUDERS.PROB > 0")
    paste = cfg.INPUT.PERSON_PASTE
    _check_ratio("INPUT.PERSON_PASTE.PROB", paste.PROB)
    _check_ratio("INPUT.PERSON_PASTE.MIN_VISIBLE", paste.MIN_VISIBLE)
    _check_ratio("INPUT.PERSON_PASTE.OCCLUDER_PROB", paste.OCCLUDER_PROB)
    _check_ratio("INPUT.PERSON_PASTE.STYLE_PROB", paste.STYLE_PROB)
    _check(paste.STYLE_PROB == 0 or cfg.INPUT.FORMAT in ("BGR", "RGB"),
           "INPUT.FORMAT", cfg.INPUT.FORMAT,
           "'BGR' or 'RGB' when INPUT.PERSON_PASTE.STYLE_PROB > 0")
    _check(paste.MAX_PERSONS >= 1, "INPUT.PERSON_PASTE.MAX_PERSONS", paste.MAX_PERSONS, ">= 1")
    _check(paste.PROB == 0 or cfg.INPUT.MASK_FORMAT == "bitmask",
           "INPUT.MASK_FORMAT", cfg.INPUT.MASK_FORMAT, "'bitmask' when INPUT.PERSON_PASTE.PROB > 0")
    _check_ratio("INPUT.TARGET_STYLE.PROB", cfg.INPUT.TARGET_STYLE.PROB)
    _check(cfg.INPUT.TARGET_STYLE.PROB == 0 or cfg.INPUT.MASK_FORMAT == "bitmask",
           "INPUT.MASK_FORMAT", cfg.INPUT.MASK_FORMAT, "'bitmask' when INPUT.TARGET_STYLE.PROB > 0")
    _check(cfg.INPUT.TARGET_STYLE.PROB == 0 or cfg.INPUT.FORMAT in ("BGR", "RGB"),
           "INPUT.FORMAT", cfg.INPUT.FORMAT, "'BGR' or 'RGB' when INPUT.TARGET_STYLE.PROB > 0")
    for r in cfg.TEST.OCCLUSION_RATIOS:
        _check_ratio("TEST.OCCLUSION_RATIOS", r)
    sigmas = cfg.TEST.KEYPOINT_OKS_SIGMAS
    _check(len(sigmas) in (0, NUM_KEYPOINTS), "TEST.KEYPOINT_OKS_SIGMAS", list(sigmas),
           f"empty (use the 13 default sigmas) or {NUM_KEYPOINTS} values")
    _validate_backbone_config(cfg)


def get_occpose_cfg(config_file: str, opts: Sequence[str] = ()) -> CN:
    """D2's defaults + occpose_d2's keys, merged with a YAML file and ``KEY VALUE`` overrides,
    validated and frozen: the config every command-line tool of the project starts from."""
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    validate_occpose_config(cfg)
    cfg.freeze()
    return cfg
