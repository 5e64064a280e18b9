"""The one error type of reference lists: it always says where and what."""

from __future__ import annotations


class RefsError(ValueError):
    """A reference list that cannot be read.

    The message names the file, the line (1-based, when there is one) and the
    offending value, and says what was expected, so that a person can fix the
    file without reading code.
    """

    def __init__(self, path, line: int | None, problem: str, value: object = None,
                 expected: str | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.value = value
        self.expected = expected
        where = self.path if line is None else f"{self.path}:{line}"
        msg = f"{where}: {problem}"
        if value is not None:
            msg += f": {value!r}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)
