"""Ahead-of-time builds of the kernels a short command runs (the DRAM channel kernel, the trace parser).

Why: `import numba` and the first call of a cached numba function cost ~0.7 s CPU and ~155 MB RSS in every
process (numba loads llvmlite's LLVM and builds its typing and target contexts on that first call), more than
replaying a million requests. numba's pycc compiles the same Python source, once, into a CPython extension
that needs only numpy when it runs, so `accelsim memsim` loads its kernels in under a millisecond.

The build is cached beside the kernels (`__pycache__`, as numba's own cache), keyed by the kernels' source and
the numba, llvmlite, numpy and Python it was built with; it targets the generic CPU of the architecture (as
fast here as the host's, measured, and safe on any machine sharing the cache). `ensure()` builds it when
missing (a C compiler is needed; ~30 s once); `load()` only uses it. A process without a build runs the JIT
kernels, which give the same results bit for bit (tests/kernels/test_aot.py).

The extension checks no argument type (it would read a float array as integers, or a 1-D array as 2-D), so
each exported function is wrapped in a check of every array's dtype, dimensions and contiguity.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

MODULE = "_accelsim_aot"
_HERE = Path(__file__).resolve().parent
# Exported name -> (module defining it, argument types). Types: i8 / b1 scalars; i8[k], b1[k], u1[k] C-contiguous
# arrays of k dimensions (int64, bool, uint8), in the kernels' argument order.
_CHANNEL_STATE = ("i8[2] i8[3] i8[2] i8[2] " + "i8[1] " * 6 + "b1[1] b1[1] " + "i8[1] " * 13 + "i8[2] " + "i8[1] " * 4
                  + "i8[2] " + "i8[1] " * 3)
EXPORTS = {
    "run_channel": ("accelsim.kernels.dram_timing", "i8",
                    "i8[1] i8[1] i8[1] b1[1] i8 b1 i8[1] i8[1] i8[1] b1[1] " + _CHANNEL_STATE
                    + "i8[2] i8[2] i8[2] i8[1] i8 i8 i8 i8 b1 i8 i8 i8 i8 i8 i8 i8 b1 i8 i8 i8"),
    "parse_lines": ("accelsim.kernels.memtrace", "(i8, i8, i8)", "u1[1] i8[1] b1[1] i8[1] i8[1]"),
}
_DTYPES = {"i8": np.dtype(np.int64), "b1": np.dtype(np.bool_), "u1": np.dtype(np.uint8)}


def _arg_specs(types: str) -> list[tuple[np.dtype, int] | None]:
    """(dtype, ndim) of each array argument, None for a scalar."""
    return [(_DTYPES[t[:2]], int(t[3])) if "[" in t else None for t in types.split()]


def build_key() -> str:
    """Hash of everything the build depends on: the kernels' source, the compiler's and numpy's versions."""
    h = hashlib.sha256()
    for name in ("aot.py", "dram_state.py", "dram_timing.py", "memtrace.py"):
        h.update((_HERE / name).read_bytes())
    for package in ("numba", "llvmlite"):  # their version files, read without importing them (~0.5 s)
        spec = importlib.util.find_spec(package)
        h.update(package.encode())
        if spec is not None and spec.origin:
            version = Path(spec.origin).parent / "_version.py"
            h.update(version.read_bytes() if version.exists() else b"?")
    h.update(f"{sys.version} {np.__version__} {sys.platform} {os.uname().machine}".encode())
    return h.hexdigest()[:16]


def build_path() -> Path:
    """Where this source's build lives."""
    return _HERE / "__pycache__" / f"{MODULE}.{build_key()}{importlib.machinery.EXTENSION_SUFFIXES[0]}"


def _checked(fn, name: str, types: str):
    """`fn` behind a check of its arguments against the exported types."""
    specs = _arg_specs(types)

    def call(*args):
        if len(args) != len(specs):
            raise TypeError(f"{name}: expected {len(specs)} arguments, got {len(args)}")
        for i, (a, spec) in enumerate(zip(args, specs)):
            if spec is not None and not (isinstance(a, np.ndarray) and a.dtype == spec[0] and a.ndim == spec[1]
                                         and a.flags.c_contiguous):
                raise TypeError(f"{name}: argument {i} must be a C-contiguous {spec[1]}-D {spec[0]} array, got "
                                f"{type(a).__name__} {getattr(a, 'dtype', '')} {getattr(a, 'shape', '')}")
        return fn(*args)

    call.__name__ = call.__qualname__ = name
    return call


@functools.cache
def load():
    """The built kernels (a namespace of checked functions), or None if this source has no build."""
    path = build_path()
    if not path.exists():
        return None
    loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(MODULE, path, loader=loader))
    loader.exec_module(module)
    return type("AotKernels", (), {name: staticmethod(_checked(getattr(module, name), name, types))
                                   for name, (_, _, types) in EXPORTS.items()})


def kernel(name: str):
    """Exported kernel `name`: the build's if there is one (numba is then never imported), else numba's JIT."""
    built = load()
    return getattr(built, name) if built is not None else getattr(importlib.import_module(EXPORTS[name][0]), name)


def _numba_signature(ret: str, types: str):
    from numba import types as nt

    def one(t: str):
        base = {"i8": nt.int64, "b1": nt.boolean, "u1": nt.uint8}[t[:2]]
        return nt.Array(base, int(t[3]), "C") if "[" in t else base

    rt = nt.UniTuple(nt.int64, 3) if ret.startswith("(") else one(ret)
    return rt(*(one(t) for t in types.split()))


def build() -> Path:
    """Compile the exported kernels into this source's build (atomically; concurrent builders wait)."""
    import fcntl

    path = build_path()
    path.parent.mkdir(exist_ok=True)
    with open(path.parent / f"{MODULE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():  # another process built it while this one waited
            return path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycc's pending-deprecation notice
            from numba.pycc import CC
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            cc = CC(MODULE)
            cc.output_dir = tmp
            cc.use_nrt = False  # the kernels allocate nothing
            cc.target_cpu = ""  # generic: see the module docstring
            for name, (source, ret, types) in EXPORTS.items():
                cc.export(name, _numba_signature(ret, types))(getattr(importlib.import_module(source), name).py_func)
            cc.compile()
            os.replace(Path(tmp) / cc.output_file, path)
        for old in path.parent.glob(f"{MODULE}.*{importlib.machinery.EXTENSION_SUFFIXES[0]}"):
            if old != path:  # a build of an earlier source: nothing loads it any more
                old.unlink(missing_ok=True)
    return path


def ensure():
    """The built kernels, building them first if this source has none; None (and a warning) if that fails."""
    if load() is None:
        print("accelsim: compiling the DRAM and trace kernels once (~30 s) ...", file=sys.stderr)
        try:
            build()
        except Exception as err:  # no C compiler, an unwritable package directory: the JIT kernels still work
            warnings.warn(f"ahead-of-time kernel build failed ({type(err).__name__}: {err}); using numba's JIT",
                          RuntimeWarning, stacklevel=2)
            return None
        load.cache_clear()
    return load()
