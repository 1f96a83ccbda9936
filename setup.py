"""Scaled Q-Learning as an Acme agent.

Kumar, Agarwal, Geng, Tucker, Levine. "Offline Q-Learning on Diverse
Multi-Task Data Both Scales and Generalizes", ICLR 2023.

The version ranges below say what the code needs; the exact, tested set for
Python 3.10 is requirements/lock-py310.txt (install that, with --no-deps).
"""

from setuptools import find_packages, setup

JAX_VERSION = "0.4.30"

setup(
    name="scaled-ql",
    version="0.1.0",
    description="Scaled Q-Learning (multi-game offline CQL with ResNets) on Acme, Reverb and Launchpad",
    python_requires=">=3.10,<3.11",  # dm-launchpad has no wheels past cp310.
    packages=find_packages(include=[
        "agents", "agents.*", "networks", "networks.*", "builders", "builders.*",
        "launchers", "launchers.*", "environments", "environments.*",
        "atari_data", "atari_data.*", "benchmarks", "benchmarks.*",
    ]),
    install_requires=[
        # The DeepMind RL stack, at the versions dm-acme 0.4.0 pins.
        "dm-acme==0.4.0",
        "dm-launchpad==0.5.0",
        "dm-reverb==0.7.0",
        "tensorflow-cpu==2.8.0",
        "protobuf>=3.19,<3.20",
        "tensorflow-datasets==4.8.3",
        "rlds==0.1.7",
        "dm-env>=1.6",
        # JAX side: the newest JAX that keeps numpy 1.x (TF 2.8 needs it).
        f"jax=={JAX_VERSION}",
        f"jaxlib=={JAX_VERSION}",
        "numpy>=1.24,<2",
        "dm-haiku==0.0.12",
        "optax==0.2.2",
        "chex==0.1.86",
        "rlax==0.1.6",
        # Imported by acme at import time.
        "dm-sonnet==2.0.2",
        "gym==0.23.1",
        "tensorflow-probability==0.16.0",
        # Real Atari games; ROMs ship inside the wheel.
        "ale-py==0.12.1",
        "absl-py>=1.4",
        "pillow>=9",
        "matplotlib>=3.7",
        "psutil>=5.9",
        # One BLAS thread for the environments' frame resize.
        "threadpoolctl>=3.1",
        # The study's confidence intervals (benchmarks/study/statistics.py).
        "rliable==1.2.0",
    ],
    extras_require={
        "gpu": [f"jax[cuda12]=={JAX_VERSION}"],
        "dev": ["pytest>=8", "pytest-timeout>=2.3"],
    },
)
