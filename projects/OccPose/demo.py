#!/usr/bin/env python
"""Run OccPoseRCNN on images, folders, globs or a video and write visualized results.

Detections are drawn in green and poses in blue (hollow rings: joints the model flags as occluded),
as in the paper's Fig. 3. Examples:

    python projects/OccPose/demo.py --config-file configs/Synthetic/OccPose-Tiny.yaml \
        --input datasets/synthetic/pd/val/images/*.png --output out/ \
        --opts MODEL.WEIGHTS output/demo/model_final.pth
    python projects/OccPose/demo.py --config-file CONFIG --video-input street.mp4 --output out.mp4
    # the exported model (projects/OccPose/export_model.py) on ONNX Runtime
    python projects/OccPose/demo.py --config-file CONFIG --onnx export/model.onnx \
        --input imgs/ --output out/
    # poses for boxes from your own detector: {"image.png": [[x1, y1, x2, y2], ...], ...}
    python projects/OccPose/demo.py --config-file CONFIG --input imgs/ --boxes boxes.json \
        --output out/
"""

import argparse
import glob
import logging
import math
import os
from numbers import Real
from typing import Dict, List, Optional, Union

import cv2
import numpy as np
import tqdm
from detectron2.data.detection_utils import read_image
from detectron2.utils.logger import setup_logger

from occpose_d2 import OccPoseONNXPredictor, OccPosePredictor, get_occpose_cfg
from occpose_d2.data.datasets.common import read_json
from occpose_d2.domains import DOMAINS
from occpose_d2.visualization import draw_fig3

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
logger = logging.getLogger("occpose_d2.demo")
Predictor = Union[OccPosePredictor, OccPoseONNXPredictor]


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--input", nargs="+", help="images, folders or globs")
    parser.add_argument("--video-input", help="a video file")
    parser.add_argument("--output", required=True,
                        help="a folder for images, or a file (folder) for a video")
    parser.add_argument("--confidence-threshold", type=float, default=0.5)
    parser.add_argument("--scale", type=_positive, default=1.0,
                        help="size of the drawn output relative to the input (e.g. 2 for small "
                        "images)")
    parser.add_argument("--domain", choices=DOMAINS, default=None,
                        help="detector to use (default MODEL.OCCPOSE.TEST_DOMAIN)")
    parser.add_argument("--boxes", help="JSON {image file name: [[x1, y1, x2, y2], ...]}: "
                        "estimate poses for these boxes instead of detecting")
    parser.add_argument("--onnx", metavar="FILE", help="run this exported ONNX model with ONNX "
                        "Runtime (OccPoseONNXPredictor) instead of PyTorch")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER,
                        help="config overrides as KEY VALUE pairs")
    return parser


def _positive(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def expand_inputs(patterns: List[str]) -> List[str]:
    """Image paths from files, folders and globs, sorted; an error if nothing matches."""
    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            paths += [os.path.join(pattern, f) for f in sorted(os.listdir(pattern))
                      if f.lower().endswith(IMAGE_EXTENSIONS)]
        else:
            matched = sorted(glob.glob(os.path.expanduser(pattern)))
            if not matched:
                raise FileNotFoundError(f"--input {pattern!r} matches no file")
            paths += matched
    return paths


def _is_xyxy(box) -> bool:
    """``box`` is four finite numbers ``[x1, y1, x2, y2]`` with x2 > x1 and y2 > y1."""
    return (isinstance(box, list) and len(box) == 4
            and all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
                    for v in box)
            and box[2] > box[0] and box[3] > box[1])


def load_boxes(path: str) -> Dict[str, np.ndarray]:
    """Read ``--boxes``: image file name -> N x 4 XYXY array; a one-line ``ValueError`` naming
    the file and the entry for invalid JSON or a bad entry."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object {{image file name: [[x1, y1, x2, y2], ...]}}")
    out = {}
    for name, boxes in data.items():
        if not isinstance(boxes, list) or not all(_is_xyxy(b) for b in boxes):
            raise ValueError(f"{path}: boxes of {name!r} must be a list of [x1, y1, x2, y2] with "
                             f"x2 > x1, y2 > y1; got {boxes!r}")
        out[os.path.basename(name)] = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return out


def visualize(predictor: Predictor, image_bgr: np.ndarray, threshold: float,
              boxes: Optional[np.ndarray] = None, domain: Optional[str] = None,
              scale: float = 1.0) -> np.ndarray:
    """Predict on one BGR image and return the drawn BGR image, ``scale`` times its size."""
    if isinstance(predictor, OccPoseONNXPredictor):
        out = predictor(image_bgr)["instances"]
    else:
        out = predictor(image_bgr, boxes=boxes, domain=domain)["instances"].to("cpu")
    drawn = draw_fig3(image_bgr[:, :, ::-1], predictions=out, score_thresh=threshold,
                      scale=scale)
    return drawn[:, :, ::-1]


def run_images(args, predictor: Predictor) -> None:
    """Draw every input image into ``--output``; unreadable (e.g. truncated) images are skipped
    with a warning each and counted at the end."""
    paths = expand_inputs(args.input)
    try:
        given = load_boxes(args.boxes) if args.boxes else None
    except ValueError as e:
        raise SystemExit(str(e)) from None
    os.makedirs(args.output, exist_ok=True)
    unreadable = 0
    for path in tqdm.tqdm(paths, desc="demo"):
        try:
            image = read_image(path, format="BGR")
        except (OSError, SyntaxError) as e:  # PIL: truncated or not an image
            logger.warning("%s: cannot read the image (%s), skipped", path, e)
            unreadable += 1
            continue
        boxes = None
        if given is not None:
            boxes = given.get(os.path.basename(path))
            if boxes is None:
                logger.warning("%s: no entry in %s, skipped", path, args.boxes)
                continue
        try:
            drawn = visualize(predictor, image, args.confidence_threshold, boxes, args.domain,
                              args.scale)
        except ValueError as e:  # given boxes that do not fit the image
            raise SystemExit(f"{path}: {e} (from {args.boxes})") from None
        cv2.imwrite(os.path.join(args.output, os.path.basename(path)), drawn)
    if unreadable:
        logger.warning("%d of %d input images could not be read and were skipped", unreadable,
                       len(paths))


def run_video(args, predictor: Predictor) -> None:
    video = cv2.VideoCapture(args.video_input)
    if not video.isOpened():
        raise FileNotFoundError(f"cannot open video {args.video_input!r}")
    fps = video.get(cv2.CAP_PROP_FPS) or 25.0
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    out_path = args.output
    if os.path.isdir(out_path):
        out_path = os.path.join(out_path, os.path.splitext(os.path.basename(args.video_input))[0]
                                + ".mp4")
    writer = None
    with tqdm.tqdm(total=frames or None, desc="demo") as bar:
        while True:
            ok, frame = video.read()
            if not ok:
                break
            drawn = visualize(predictor, frame, args.confidence_threshold, domain=args.domain,
                              scale=args.scale)
            if writer is None:
                h, w = drawn.shape[:2]
                writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            writer.write(drawn)
            bar.update(1)
    video.release()
    if writer is not None:
        writer.release()


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logger(name="occpose_d2")
    if bool(args.input) == bool(args.video_input):
        raise SystemExit("give exactly one of --input and --video-input")
    if args.onnx and (args.boxes or args.domain):
        raise SystemExit("--onnx runs the exported detector of one domain: --boxes and --domain "
                         "do not apply (choose the domain with export_model.py --domain)")
    cfg = get_occpose_cfg(args.config_file, args.opts)
    predictor = OccPoseONNXPredictor(cfg, args.onnx) if args.onnx else OccPosePredictor(cfg)
    if args.input:
        run_images(args, predictor)
    else:
        run_video(args, predictor)


if __name__ == "__main__":
    main()
