"""Install detectron2 0.6 as a pure-Python package into the running interpreter.

detectron2 is not on PyPI. ``pb1-detectron2==0.6`` is an sdist whose Python sources equal
detectron2 v0.6 but that lacks ``detectron2/layers/csrc``, so its own setup.py cannot build. This
script downloads that sdist, repackages its ``detectron2`` package (model-zoo configs included)
under the distribution name ``detectron2`` with a stand-in ``detectron2._C`` module, and
pip-installs it. The stand-in answers the version queries of ``collect_env`` and raises a clear
error for any C++ op (deformable conv, rotated boxes, the fast COCO eval), none of which
occpose_d2 uses.

A detectron2 that is already importable with a real C++ extension is left alone, and so is a
previous install made by this script: a second run does nothing.

Usage: ``python scripts/install_detectron2.py --constraints requirements/constraints.txt``
"""

import argparse
import glob
import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

SDIST_NAME = "pb1-detectron2"
SDIST_VERSION = "0.6"
STUB_MARKER = "__occpose_d2_stand_in__"

STUB_SOURCE = f'''"""Stand-in for detectron2's C++ extension, written by occpose_d2's installer.

detectron2 was installed without compiling ``detectron2/layers/csrc`` (the sources are not on
PyPI). Pure-Python parts work; the C++ ops raise ``RuntimeError`` naming the op.
"""

{STUB_MARKER} = True


def get_compiler_version():
    return "none (detectron2 C++ extension not built; occpose_d2 stand-in)"


def get_cuda_version():
    return "none (detectron2 C++ extension not built)"


def has_cuda():
    return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise RuntimeError(
        f"op {{name}} needs detectron2's C++ extension, which this install does not have "
        "(see occpose_d2's README: install an official detectron2 build to use it)"
    )
'''

SETUP_SOURCE = '''from setuptools import find_packages, setup

setup(
    name="detectron2",
    version="{version}",
    description="detectron2 {version} Python sources (from pb1-detectron2), without C++ ops",
    packages=find_packages(include=("detectron2", "detectron2.*")),
    package_data={{"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]}},
    python_requires=">=3.7",
    install_requires={requires!r},
)
'''

# detectron2 0.6's install_requires, less its black pin (a formatter, unused at run time).
REQUIRES = [
    "Pillow>=7.1",
    "matplotlib",
    "pycocotools>=2.0.2",
    "termcolor>=1.1",
    "yacs>=0.1.8",
    "tabulate",
    "cloudpickle",
    "tqdm>4.29.0",
    "tensorboard",
    "fvcore>=0.1.5,<0.1.6",
    "iopath>=0.1.7,<0.1.10",
    "future",
    "pydot",
    "omegaconf>=2.1",
    "hydra-core>=1.1",
]


def current_state() -> str:
    """'real', 'stand-in' or 'missing': what ``import detectron2._C`` finds now."""
    try:
        mod = importlib.import_module("detectron2._C")
    except ImportError:
        return "missing"
    return "stand-in" if getattr(mod, STUB_MARKER, False) else "real"


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def build_and_install(constraints: str, cache_dir: str) -> None:
    os.makedirs(cache_dir, exist_ok=True)
    sdists = glob.glob(os.path.join(cache_dir, f"pb1[-_]detectron2-{SDIST_VERSION}.tar.gz"))
    if not sdists:
        # Its metadata step imports torch, hence no build isolation.
        pip("download", "--no-deps", "--no-build-isolation", "-d", cache_dir,
            f"{SDIST_NAME}=={SDIST_VERSION}")
        sdists = glob.glob(os.path.join(cache_dir, f"pb1[-_]detectron2-{SDIST_VERSION}.tar.gz"))
    if not sdists:
        sys.exit(f"error: {SDIST_NAME}=={SDIST_VERSION} was not downloaded into {cache_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(sdists[0]) as tar:
            tar.extractall(tmp, filter="data")
        (root,) = glob.glob(os.path.join(tmp, "pb1*detectron2-*"))
        build = os.path.join(tmp, "build")
        shutil.copytree(os.path.join(root, "detectron2"), os.path.join(build, "detectron2"))
        shutil.copy(os.path.join(root, "LICENSE"), build)
        with open(os.path.join(build, "detectron2", "_C.py"), "w") as f:
            f.write(STUB_SOURCE)
        with open(os.path.join(build, "setup.py"), "w") as f:
            f.write(SETUP_SOURCE.format(version=SDIST_VERSION, requires=REQUIRES))
        pip("install", "--no-build-isolation", "-c", constraints, build)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--constraints", required=True, help="pip constraints file")
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/occpose_d2"),
                        help="where the downloaded sdist is kept")
    args = parser.parse_args()
    state = current_state()
    if state == "real":
        print("detectron2 with its C++ extension is already installed: left alone.")
        return
    if state == "stand-in":
        print("detectron2 (pure Python, stand-in _C) is already installed.")
        return
    build_and_install(args.constraints, args.cache_dir)
    if current_state() != "stand-in":
        sys.exit("error: detectron2 did not import after installation")
    print("detectron2 0.6 installed (Python sources, stand-in detectron2._C).")


if __name__ == "__main__":
    main()
