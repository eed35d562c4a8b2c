"""An executor that runs each call at once, for code written against
concurrent.futures that has nothing to gain from a second thread."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


class Inline(Executor):
    """Runs each call at once, in the caller's thread; its outcome (a result
    or an exception) waits in the future, as a pool's would.  A
    KeyboardInterrupt or SystemExit is not held: it goes on at once."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # handed to whoever asks for the result; an interrupt goes on at once
            future.set_exception(error)
        return future
