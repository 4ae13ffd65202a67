"""alexnet_tf: the 2012 AlexNet as an installable TensorFlow/Keras package."""
import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "alexnet_tf" / "__init__.py").read_text()).group(1)

SERVING = ["tensorflow-serving-api==2.21.*"]
LITE = ["ai-edge-litert>=2.0"]
TOOLS = ["matplotlib>=3.8", "pillow>=10.0"]
TEST = ["pytest>=8.0", "pytest-xdist>=3.5"] + SERVING + LITE + TOOLS

# Every user-facing command as a console script; each module's run() returns the exit code.
COMMANDS = {
    "alexnet-train": "alexnet_tf.train",
    "alexnet-evaluate": "alexnet_tf.evaluate",
    "alexnet-predict": "alexnet_tf.predict",
    "alexnet-export": "alexnet_tf.export.saved_model",
    "alexnet-export-tflite": "alexnet_tf.export.tflite",
    "alexnet-serving-check": "alexnet_tf.export.serving_check",
    "alexnet-local-server": "alexnet_tf.export.local_server",
    "alexnet-serving-benchmark": "alexnet_tf.export.serving_benchmark",
    "alexnet-figure-kernels": "alexnet_tf.tools.figure_kernels",
    "alexnet-figure-top5": "alexnet_tf.tools.figure_top5",
    "alexnet-similarity-search": "alexnet_tf.tools.similarity_search",
    "alexnet-visualize": "alexnet_tf.tools.visualize",
    "alexnet-compute-statistics": "alexnet_tf.tools.compute_statistics",
    "alexnet-write-tfrecords": "alexnet_tf.tools.write_tfrecords",
    "alexnet-benchmark-input": "alexnet_tf.tools.benchmark_input",
    "alexnet-benchmark-similarity-search": "alexnet_tf.tools.benchmark_similarity_search",
    "alexnet-benchmark": "alexnet_tf.tools.benchmark",
    "alexnet-profile-step": "alexnet_tf.tools.profile_step",
    "alexnet-experiments": "alexnet_tf.tools.experiments",
}

setup(
    name="alexnet_tf",
    version=VERSION,
    description="The 2012 AlexNet (Krizhevsky, Sutskever, Hinton) in TensorFlow/Keras, "
                "exactly as published",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # One top-level name: the repository's export/ and tools/ folders install inside the
    # package (alexnet_tf/_imports.py finds them there in a checkout).
    packages=find_packages(include=["alexnet_tf", "alexnet_tf.*"])
    + ["alexnet_tf.export", "alexnet_tf.tools"],
    package_dir={"alexnet_tf.export": "export", "alexnet_tf.tools": "tools"},
    include_package_data=True,
    package_data={"alexnet_tf": ["resources/*"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.13.2",              # CVEs in model loading before 3.13.2 (docs/design.md)
        "tensorflow-datasets>=4.9.10",
        "importlib_resources>=6.0",   # TFDS 4.9.10 needs it to prepare but does not declare it
        "tf-keras-vis>=0.8.7",
        "numpy>=1.26",
        "absl-py>=2.1",
        "tensorboard>=2.21,<2.22",    # training logs; TF 2.21 no longer pulls it in
        "scikit-learn>=1.4",          # the embedded default data (load_digits)
    ],
    extras_require={"serving": SERVING, "lite": LITE, "tools": TOOLS, "test": TEST},
    entry_points={"console_scripts": [f"{script}={module}:run"
                                      for script, module in COMMANDS.items()]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
