"""Reading ahead: a generator run in a background thread, a few items before its consumer.

OpenCV decodes and resizes images without holding the GIL, so reading and preparing frames
in a thread overlaps inference and decoding in the consumer. Used by validation and prediction.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any


def read_ahead(items: Iterator[Any], depth: int = 4) -> Iterator[Any]:
    """Run the `items` generator in a thread, `depth` items ahead; its errors surface here.

    OpenCV decodes and resizes without the GIL, so reading overlaps decoding and drawing.
    """
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                out.put(item)
            out.put(done)
        except BaseException as exc:  # handed to the consumer
            out.put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's clean-up (releasing a video) runs in this thread

    thread = threading.Thread(target=work, name="read-ahead", daemon=True)
    thread.start()
    try:
        while (item := out.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # unblock the reader if it waits on a full queue
                out.get_nowait()
        thread.join(timeout=5)
