"""occpose_d2: unsupervised pose estimation of occluded pedestrians, as a Detectron2 extension."""

from setuptools import find_packages, setup

setup(
    name="occpose_d2",
    version="0.1.0",
    description=__doc__,
    packages=find_packages(include=("occpose_d2", "occpose_d2.*")),
    python_requires=">=3.9",
    # torch, torchvision and detectron2 are left to the user's install (see README).
    install_requires=[
        "numpy",
        "scipy",
        "opencv-python-headless",
        "pycocotools",
        "cityscapesscripts",
        "fvcore",
        "tqdm",
    ],
    # Export to ONNX and the ONNX Runtime predictor: pip install -e .[export]
    extras_require={"export": ["onnx", "onnxruntime"]},
)
