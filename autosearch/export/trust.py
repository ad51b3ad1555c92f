"""What loading a bundle may run: the modules it may import, and Keras' safe mode for every format.

A bundle's checksums catch corruption, not tampering: whoever can edit ``manifest.json`` can edit the
checksums too. So the manifest's ``"imports"`` (the user's own search-space modules a model needs) are
imported only when the user allows them: by default, modules of the user's own code, found on
``sys.path`` outside the standard library and the installed packages (``PYTHONPATH``, the current folder)
and not autosearch itself; else exactly those listed in ``allow_modules=`` (``autosearch.load``) or
``AUTOSEARCH_ALLOW_MODULES`` (comma-separated; a package allows its submodules). Anything else is
refused in one line before a module is imported or TensorFlow loads. Found by name only: deciding runs
no code (a dotted name's top-level package is located, not imported).

Keras formats load in safe mode (``safe_mode=True``, and the preprocessing pipeline inside
``SafeModeScope(True)``): a ``Lambda`` layer's Python code in a ``.keras`` or H5 file is refused, even when
the process enabled unsafe deserialization. A SavedModel holds no Python code but a TensorFlow graph,
which runs when called, with every TensorFlow op (file reads and writes included): load only
bundles you trust in that format.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import site
import sys
import sysconfig
from pathlib import Path
from typing import Any, Iterable, Iterator

from autosearch.errors import BundleError

ALLOW_ENV = "AUTOSEARCH_ALLOW_MODULES"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_OWN = ("autosearch",)  # autosearch's own modules are never a bundle's user code


def _installed_dirs() -> list[Path]:
    """The standard library's and the installed packages' folders (this environment's and its base's)."""
    dirs: set[str] = set()
    for scheme_vars in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        paths = sysconfig.get_paths(vars=scheme_vars or None)
        dirs.update(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths)
    with contextlib.suppress(AttributeError):  # site.getsitepackages is missing in some virtualenvs
        dirs.update(site.getsitepackages())
    with contextlib.suppress(AttributeError):
        dirs.add(site.getusersitepackages())
    return [Path(d).resolve() for d in dirs if d]


def where(module: str) -> Path | None:
    """Where the top-level package of ``module`` lives (found on ``sys.path``, never imported), or None."""
    top = module.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin in (None, "built-in", "frozen", "namespace"):
        locations = list(spec.submodule_search_locations or ())
        return Path(locations[0]).resolve() if locations else None
    return Path(spec.origin).resolve()


def _findable(module: str) -> bool:
    """Whether ``module``'s top-level package can be found (frozen and built-in ones included), unimported."""
    try:
        return importlib.util.find_spec(module.partition(".")[0]) is not None
    except (ImportError, ValueError):
        return True  # found, but odd: let the check refuse it


def is_users_own(module: str) -> bool:
    """True when ``module`` is the user's own code: on ``sys.path`` outside the standard library and the
    installed packages (no ``site-packages``/``dist-packages`` folder), and not autosearch."""
    if module.partition(".")[0] in _OWN:
        return False
    found = where(module)
    if found is None:
        return False
    if {"site-packages", "dist-packages"} & set(found.parts):
        return False
    return not any(found.is_relative_to(d) for d in _installed_dirs())


def allowed_list(allow: Iterable[str] | None) -> list[str] | None:
    """The user's explicit allowance: ``allow`` or ``AUTOSEARCH_ALLOW_MODULES``; None for the default."""
    if allow is not None:
        return [str(a).strip() for a in allow if str(a).strip()]
    env = os.environ.get(ALLOW_ENV)
    return None if env is None else [a.strip() for a in env.split(",") if a.strip()]


def check_imports(path: Path, modules: Iterable[str], allow: Iterable[str] | None = None) -> list[str]:
    """The manifest's ``modules`` when every one is allowed (see the module doc); ``BundleError`` naming the
    first that is not, and how to allow it, before anything is imported."""
    explicit = allowed_list(allow)
    modules = list(modules)
    for module in modules:
        if not isinstance(module, str) or not _NAME.fullmatch(module) or "__main__" in module.split("."):
            raise BundleError(f"{path}: the manifest names {module!r} as a module to import, which is not a module "
                              "name; the bundle was altered: export it again from its run.")
        if explicit is not None:
            if not any(module == a or module.startswith(a + ".") for a in explicit):
                raise BundleError(f"{path}: the bundle asks to import module '{module}', which is not among the "
                                  f"modules you allowed ({', '.join(explicit) or 'none'}); add it to allow_modules "
                                  f"or {ALLOW_ENV} if you trust this bundle.")
        elif _findable(module) and not is_users_own(module):  # one found nowhere cannot be imported: the
            found = where(module)  # import's own error then says to add its folder to PYTHONPATH
            place = f"found at {found}" if found else "built in"
            raise BundleError(f"{path}: the bundle asks to import module '{module}' ({place}), which is not your own "
                              "code (the standard library, an installed package or autosearch); if you trust this "
                              f"bundle, allow it: autosearch.load(..., allow_modules=['{module}']) or "
                              f"{ALLOW_ENV}={module}.")
    return modules


@contextlib.contextmanager
def safe_mode() -> Iterator[None]:
    """Keras' safe mode for everything deserialized inside (a ``Lambda``'s code is refused)."""
    from keras.src.saving import serialization_lib

    with serialization_lib.SafeModeScope(True):
        yield


def load_keras_model(target: Path, custom_objects: dict[str, Any]) -> Any:
    """A ``.keras`` or H5 model, loaded in Keras' safe mode."""
    import keras

    with safe_mode():
        return keras.models.load_model(target, custom_objects=custom_objects, compile=False, safe_mode=True)


def load_preprocessing(file: Path, custom_objects: dict[str, Any]) -> Any:
    """AutoKeras' preprocessing pipeline, deserialized in Keras' safe mode."""
    from autokeras import pipeline as ak_pipeline

    with safe_mode():
        return ak_pipeline.load_pipeline(str(file), custom_objects=custom_objects)
