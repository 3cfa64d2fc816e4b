"""Private scores sealed at rest: readable only by whoever holds the key, until the reveal.

The leaderboard database is committed to a public repository, so a private score stored as
a number would be readable by every participant. The scoring side (which holds the key as
a secret, ``GRADER_PRIVATE_KEY``) stores each private score as a Fernet token instead
(AES-128-CBC with an HMAC-SHA256, from the ``cryptography`` package): the public sees the
token, not the score. ``grader reveal`` opens the tokens with the same key and writes the
scores in clear, once, at the end.

Make a key with ``grader admin new-key`` and keep it where the scoring workflow can read it
(a repository or environment secret). Losing it loses the private scores; leaking it
reveals them early.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping

from grader.errors import GraderError

KEY_ENV = "GRADER_PRIVATE_KEY"


class SealError(GraderError):
    """A private key is missing, malformed, or not the one the scores were sealed with."""

    exit_code = 2


class Sealer:
    """Seals and opens private scores with one Fernet key."""

    def __init__(self, key: str):
        from cryptography.fernet import Fernet

        try:
            self._fernet = Fernet(key.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SealError(
                f"${KEY_ENV} is not a Fernet key (44 characters of URL-safe base64). "
                "Make one with `grader admin new-key` and store it as a secret."
            ) from None

    def seal(self, score: float) -> str:
        """A token for ``score``: the exact double, so the reveal restores full precision."""
        return self._fernet.encrypt(struct.pack(">d", score)).decode("ascii")

    def open(self, token: str) -> float:
        """The score sealed in ``token``, or :class:`SealError` when this key did not seal it."""
        from cryptography.fernet import InvalidToken

        try:
            data = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SealError(
                f"${KEY_ENV} cannot open the sealed private scores: it is not the key they were sealed with. "
                "Nothing was changed; set the key that the scoring workflow used."
            ) from None
        if len(data) != 8:
            raise SealError("a sealed private score has the wrong length; the database was changed by hand.")
        return float(struct.unpack(">d", data)[0])

    def seal_text(self, text: str) -> str:
        """A token for ``text`` (the private secondary scores, as JSON)."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open_text(self, token: str) -> str:
        """The text sealed in ``token``, or :class:`SealError` when this key did not seal it."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SealError(
                f"${KEY_ENV} cannot open the sealed private scores: it is not the key they were sealed with. "
                "Nothing was changed; set the key that the scoring workflow used."
            ) from None


def new_key() -> str:
    """A fresh random key, to store as the ``GRADER_PRIVATE_KEY`` secret."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def key_in(environ: Mapping[str, str] = os.environ) -> str | None:
    """The private key that ``environ`` holds (``$GRADER_PRIVATE_KEY``), or None: what the edges hand the store."""
    return environ.get(KEY_ENV) or None


def sealer(key: str | None = None, *, required: bool = False, environ: Mapping[str, str] = os.environ) -> Sealer | None:
    """A :class:`Sealer` for ``key`` (or ``$GRADER_PRIVATE_KEY``); None when there is none and it is not required."""
    key = key if key is not None else environ.get(KEY_ENV) or None
    if key is None:
        if required:
            raise SealError(
                f"this needs the private key: set ${KEY_ENV} to the key the scores were sealed with "
                "(in a workflow, from the secret of the same name)."
            )
        return None
    return Sealer(key)
