"""numba's `njit`, bound on first call, so that a module defining kernels imports without importing numba.

The CLI imports every command module to build its parser; `accelsim --help` must not pay for numba there.
"""

from __future__ import annotations

from typing import Any, Callable


class DeferredKernel:
    """A Python function that becomes `numba.njit(**options)(func)` the first time any kernel of its module runs."""

    def __init__(self, func: Callable, options: dict[str, Any]):
        self.py_func = func
        self.options = options
        self.dispatcher: Callable | None = None
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    def __call__(self, *args: Any) -> Any:
        return self.bind()(*args)

    def bind(self) -> Callable:
        """The numba dispatcher; binds every deferred kernel of the same module at once."""
        if self.dispatcher is None:
            from numba import njit

            # numba resolves calls between kernels through the module's globals at compile time, so each
            # deferred global there is replaced by its dispatcher before any of them compiles.
            scope = self.py_func.__globals__
            for name, value in list(scope.items()):
                if isinstance(value, DeferredKernel) and value.dispatcher is None:
                    value.dispatcher = njit(**value.options)(value.py_func)
                    scope[name] = value.dispatcher
        return self.dispatcher


def njit(**options: Any) -> Callable[[Callable], DeferredKernel]:
    """Decorator with numba.njit's options (e.g. cache=True), compiled lazily: see DeferredKernel."""
    return lambda func: DeferredKernel(func, options)
