"""Textual's Linux driver with terminal replies removed from the input (tui.image.replyfilter).

Why a driver: the key parser must never see a reply, and the driver's input thread is
the one place where every byte passes before it. Only `run_input_thread` differs from
Textual's: the text read goes through a `ReplyFilter`, and the wait for input is cut
short while a partial sequence is held, so a lone Escape still reaches the app at once.
"""

from __future__ import annotations

import os
import selectors
import time
from codecs import getincrementaldecoder

from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from tui.image.replyfilter import ReplyFilter


class ReplyFilteringDriver(LinuxDriver):
    """LinuxDriver whose input thread drops terminal replies before parsing keys."""

    def run_input_thread(self) -> None:
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        replies = ReplyFilter()
        # "replace": a stray invalid byte must not end the input thread (no more keys)
        decode = getincrementaldecoder("utf-8")("replace").decode

        def handle(text: str) -> None:
            if text:
                for event in parser.feed(text):
                    self.process_message(event)

        def poll(timeout: float) -> bool:
            """Read what is ready within timeout; False at end of input."""
            for _key, mask in selector.select(timeout):
                if mask & selectors.EVENT_READ:
                    data = os.read(self.fileno, 4096)
                    if not data:
                        return False
                    handle(replies.feed(decode(data), time.monotonic()))
            handle(replies.tick(time.monotonic()))
            for event in parser.tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                wait = 0.1
                if replies.holding:
                    wait = min(wait, max(0.0, replies.deadline - time.monotonic()))
                if not poll(wait):
                    break
            selector.unregister(self.fileno)
        finally:
            selector.close()
