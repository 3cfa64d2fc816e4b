"""One exception family for everything the grader reports to a person.

Every error carries the exit code the CLI returns for it and a message that says what
to fix. The CLI turns them into one line on stderr; nothing else prints tracebacks.
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class: a problem the user can act on. ``str(err)`` is the message shown."""

    exit_code = 1


class ConfigError(GraderError):
    """competition.yaml is missing or wrong. The message names the file and the key."""

    exit_code = 2

    def __init__(self, message: str, *, path: str = "competition.yaml", key: str | None = None):
        self.path = path
        self.key = key
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(where + message)


class UsageError(GraderError):
    """A command was called wrongly (missing file, bad option value)."""

    exit_code = 2


class InvalidNotebook(GraderError):
    """The notebook cannot be accepted. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InvalidPredictions(GraderError):
    """The predictions file breaks the submission contract. One line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class TruthError(GraderError):
    """The hidden ground truth cannot be read. Never includes the truth's content."""

    exit_code = 2


class StoreError(GraderError):
    """The leaderboard database cannot be read or written."""

    exit_code = 3


class SubmissionRejected(GraderError):
    """A submission breaks a competition rule (deadline, daily limit, duplicate)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
