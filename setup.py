"""The `libs` package of the Session 5 "Generative Models" companion."""
from setuptools import find_packages, setup

setup(
    name="cadl-session5",
    version="0.1.0",
    description=("Companion library for Session 5 of Creative Applications of Deep "
                 "Learning with TensorFlow, on TensorFlow 2 and Keras 3"),
    packages=find_packages(include=["libs", "libs.*"]),
    # Alice in Wonderland and the pretrained models, embedded
    package_data={"libs": ["data/*.gz", "pretrained/*.json", "pretrained/*/*"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3",
        "numpy",
        "matplotlib",
        "scikit-image",
        "imageio",
        "jupyter",
        "tqdm",
        "tensorboard",
        "mido",
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist", "nbclient", "nbformat", "nbconvert", "ipykernel",
                 "playwright", "ruff", "nbgrader"],
    },
)
