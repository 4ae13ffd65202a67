"""How the package's module names resolve (no TensorFlow here: it runs first).

1. **The command folders.** In a source checkout `export/` and `tools/` sit beside
   `alexnet_tf/`; a wheel installs them inside it (setup.py's `package_dir`). Their one name
   is `alexnet_tf.export` / `alexnet_tf.tools` in both cases: in a checkout this module finds
   them beside the package. `python -m export.saved_model` from a checkout imports the
   top-level name `export`, whose `__init__` makes it an alias of `alexnet_tf.export`, and
   every `export.<module>` an alias of the very module object `alexnet_tf.export.<module>`:
   no file runs twice under two names, so no absl flag is defined twice.
2. **The module paths of release 0.1** (`alexnet_tf.checkpointing`, `alexnet_tf.input_pipeline`,
   ...) still import, for one release, with a DeprecationWarning naming the new path.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
import warnings

COMMAND_FOLDERS = ("export", "tools")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_CHECKOUT = os.path.dirname(_PACKAGE_DIR)

# Release 0.1's module -> where its names live now (searched in order).
MOVED = {
    "alexnet_tf.layers": ("alexnet_tf.network.layers",),
    "alexnet_tf.lrn_ops": ("alexnet_tf.network.lrn_ops",),
    "alexnet_tf.model": ("alexnet_tf.network.model",),
    "alexnet_tf.applications": ("alexnet_tf.network.applications",),
    "alexnet_tf.pretrained": ("alexnet_tf.network.pretrained",),
    "alexnet_tf.image_decoding": ("alexnet_tf.data.decoding",),
    "alexnet_tf.preprocessing": ("alexnet_tf.data.preprocessing",),
    "alexnet_tf.statistics": ("alexnet_tf.data.statistics",),
    "alexnet_tf.input_pipeline": ("alexnet_tf.data.pipeline",),
    "alexnet_tf.tfrecord_writer": ("alexnet_tf.data.record_writer",),
    "alexnet_tf.class_names": ("alexnet_tf.data.class_names",),
    "alexnet_tf.sources": ("alexnet_tf.data.sources",),
    "alexnet_tf.trainer": ("alexnet_tf.training.state",),
    "alexnet_tf.train_step": ("alexnet_tf.training.step",),
    "alexnet_tf.training_data": ("alexnet_tf.training.inputs",),
    "alexnet_tf.training_logs": ("alexnet_tf.training.logs",),
    "alexnet_tf.checkpointing": ("alexnet_tf.training.checkpoints",),
    "alexnet_tf.distribute": ("alexnet_tf.training.distribute",),
    "alexnet_tf.optimizer": ("alexnet_tf.training.optimizer",),
    "alexnet_tf.schedule": ("alexnet_tf.training.schedule",),
    "alexnet_tf.metrics": ("alexnet_tf.training.metrics",),
    "alexnet_tf.workdir_lock": ("alexnet_tf.training.workdir_lock",),
    "alexnet_tf.stop_signals": ("alexnet_tf.training.stop_signals",),
    "alexnet_tf.model_files": ("alexnet_tf.inference.model_files",),
    "alexnet_tf.evaluation": ("alexnet_tf.inference.evaluation",),
    "alexnet_tf.prediction": ("alexnet_tf.inference.prediction",),
    "alexnet_tf.feature_store": ("alexnet_tf.inference.feature_store",),
    "alexnet_tf.retrieval": ("alexnet_tf.inference.retrieval",),
    "alexnet_tf.gallery": ("alexnet_tf.inference.gallery",),
    "alexnet_tf.kernel_grid": ("alexnet_tf.figures.kernel_grid",),
    "alexnet_tf.visualization": ("alexnet_tf.figures.saliency",),
    "alexnet_tf.image_sets": ("alexnet_tf.figures.image_sets",),
}


def _outside_importlib():
    """(filename, lineno, module) of the code that asked for the import."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_globals.get("__name__") == __name__):
        frame = frame.f_back
    if frame is None:
        return "<unknown>", 0, "<unknown>"
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals.get("__name__", "")


def _warn_moved(old: str, new: str):
    filename, lineno, module = _outside_importlib()
    warnings.warn_explicit(
        f"{old} moved to {new}; the old path keeps working until the next release",
        DeprecationWarning, filename, lineno, module=module)


class _ExistingModuleLoader(importlib.abc.Loader):
    """Loads a name as an already imported module object (`canonical`), executing nothing."""

    def __init__(self, canonical: str, moved_from: str | None = None):
        self.canonical = canonical
        self.moved_from = moved_from

    def create_module(self, spec):
        if self.moved_from:
            _warn_moved(self.moved_from, self.canonical)
        return importlib.import_module(self.canonical)

    def exec_module(self, module):
        pass  # it ran once, under its canonical name

    def get_code(self, fullname):  # `python -m export.<module>`: runpy runs the file's code
        return importlib.util.find_spec(self.canonical).loader.get_code(self.canonical)

    def is_package(self, fullname):
        return importlib.util.find_spec(self.canonical).submodule_search_locations is not None


class _SearchingModule(types.ModuleType):
    """An old module whose names now live in several modules."""

    def __init__(self, name, homes):
        super().__init__(name)
        self.__homes = homes

    def __getattr__(self, attribute):
        for home in self.__homes:
            module = importlib.import_module(home)
            if hasattr(module, attribute):
                return getattr(module, attribute)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attribute!r}")


class _SearchingLoader(importlib.abc.Loader):
    def __init__(self, old, homes):
        self.old, self.homes = old, homes

    def create_module(self, spec):
        _warn_moved(self.old, " and ".join(self.homes))
        return _SearchingModule(spec.name, self.homes)

    def exec_module(self, module):
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top, _, rest = fullname.partition(".")
        if top in COMMAND_FOLDERS and rest and _is_alias(top):
            return _alias_spec(fullname, "alexnet_tf." + fullname)
        if top != "alexnet_tf" or not rest:
            return None
        folder = rest.partition(".")[0]
        if rest == folder and folder in COMMAND_FOLDERS:
            return _checkout_folder_spec(fullname, folder)
        for old, homes in MOVED.items():
            if fullname == old and len(homes) > 1:
                return importlib.machinery.ModuleSpec(fullname, _SearchingLoader(old, homes))
            if fullname == old or fullname.startswith(old + "."):
                return _alias_spec(fullname, homes[0] + fullname[len(old):], moved_from=fullname)
        return None


def _alias_spec(fullname, canonical, moved_from=None):
    canonical_spec = importlib.util.find_spec(canonical)
    if canonical_spec is None:
        return None
    spec = importlib.machinery.ModuleSpec(
        fullname, _ExistingModuleLoader(canonical, moved_from),
        origin=canonical_spec.origin,  # runpy's sys.argv[0] and __file__
        is_package=canonical_spec.submodule_search_locations is not None)
    spec.has_location = canonical_spec.has_location
    return spec


def _checkout_folder_spec(fullname, folder):
    """`alexnet_tf.export` -> the checkout's `export/` (installed, it is inside the package
    and the ordinary path finder has it)."""
    if os.path.isdir(os.path.join(_PACKAGE_DIR, folder)):
        return None
    init = os.path.join(_CHECKOUT, folder, "__init__.py")
    if not os.path.isfile(init):
        return None
    return importlib.util.spec_from_file_location(
        fullname, init, submodule_search_locations=[os.path.dirname(init)])


def _is_alias(top: str) -> bool:
    module = sys.modules.get(top)
    return module is not None and module.__name__ == f"alexnet_tf.{top}"


_FINDER = _Finder()


def install():
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def alias_top_level(name: str):
    """Called by `export/__init__.py` / `tools/__init__.py` when imported as `export` /
    `tools` (a checkout's `python -m export.<module>`): from now on that name and its
    modules are the `alexnet_tf.` ones."""
    install()
    sys.modules[name] = importlib.import_module(f"alexnet_tf.{name}")
