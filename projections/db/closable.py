"""Resources used in a ``with`` block: its end closes them."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closable:
    """Entering opens (:meth:`open`, nothing by default), leaving closes (:meth:`close`)."""

    def open(self) -> None:
        """Acquire what :meth:`close` releases, when that waits for the ``with`` block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
