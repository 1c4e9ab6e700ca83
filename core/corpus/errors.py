"""The corpus package's typed errors: a corpus that cannot be read (`CorpusError` and its kinds),
a file that is not a corpus run (`CorpusRunError`) and Ray missing for the distributed run. `str()` says why and what to do."""

from __future__ import annotations

from core.errors import AttentionDashboardError


class CorpusError(AttentionDashboardError, ValueError):
    """A corpus that cannot be read; `str()` says why and what to do."""


class NotUtf8Error(CorpusError):
    def __init__(self, name: str, position: int) -> None:
        self.name, self.position = name, position
        super().__init__(f"'{name}' is not UTF-8 text (the first byte that is not UTF-8 is at position "
                         f"{position:,}). Save it as UTF-8 and load it again.")


class FileTooLargeError(CorpusError):
    def __init__(self, name: str, size: int, limit: int) -> None:
        self.name, self.size, self.limit = name, size, limit
        super().__init__(f"'{name}' is {size / 2**20:.1f} MB; the limit here is {limit / 2**20:.0f} MB. "
                         "Use a part of it, or run the command line tool (python -m core.corpus), "
                         "which has no such limit.")


class UnsupportedFormatError(CorpusError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"'{name}' is not a .txt, .csv or .jsonl file.")


class MalformedFileError(CorpusError):
    def __init__(self, name: str, detail: str) -> None:
        self.name, self.detail = name, detail
        super().__init__(f"'{name}' could not be read: {detail}.")


class MissingColumnError(CorpusError):
    def __init__(self, name: str, column: str, available: list[str], what: str = "column") -> None:
        self.name, self.column, self.available = name, column, available
        shown = ", ".join(f"'{c}'" for c in available[:20]) or "none"
        super().__init__(f"'{name}' has no {what} '{column}'. Its {what}s: {shown}.")


class NumericColumnError(CorpusError):
    def __init__(self, name: str, column: str, examples: list[str], what: str = "column") -> None:
        self.name, self.column, self.examples = name, column, examples
        shown = ", ".join(examples[:3])
        super().__init__(f"The {what} '{column}' of '{name}' holds numbers ({shown}, ...), not sentences. "
                         f"Pick the {what} that holds the text.")


class EmptyCorpusError(CorpusError):
    def __init__(self, name: str, skipped: int) -> None:
        self.name, self.skipped = name, skipped
        tail = f" ({skipped:,} empty lines or values were skipped)" if skipped else ""
        super().__init__(f"'{name}' has no sentences{tail}. Give at least one non-empty line.")


class DatasetUnavailableError(CorpusError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Hugging Face datasets are not available here: {reason}.")


class RayUnavailableError(AttentionDashboardError, RuntimeError):
    def __init__(self, requirement: str) -> None:
        super().__init__(f"Ray is not installed here; it is optional: pip install \"{requirement}\".")


class CorpusRunError(AttentionDashboardError, ValueError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"This file is not a corpus run this app can open: {detail}.")
