"""``derive_key``: an Idempotency-Key from what an item is, the same on every machine."""

from __future__ import annotations

import hashlib
import uuid

from zuora_wf_async._errors import InvalidRequestError

__all__ = ["derive_key"]

# A fixed namespace so that derive_key gives the same key on every machine, forever.
_KEY_NAMESPACE = uuid.UUID("6f1c2a7e-0d55-4f1e-9a51-3c1c7f0b2a90")

# Parts are joined with this character in the encoding every key so far was made with.
_SEPARATOR = "\x1f"
# The first byte of the unambiguous encoding: never the first byte of valid UTF-8, so it
# can equal no text the first encoding hashed (which is always valid UTF-8).
_TAGGED = b"\xff"
_DERIVE_FIX = (
    "pass the batch's name and the item's identity, e.g. derive_key('backfill', account_id)"
)


def _part_text(part: object, index: int) -> str | None:
    """The text a part is known by, or None for the parts without one (None, bools)."""
    if part is None or isinstance(part, bool):
        return None
    if isinstance(part, str):
        text = str.__str__(part)  # the characters themselves, whatever a subclass says
    else:
        try:
            text = str(part)
        except Exception as exc:  # noqa: BLE001 -- the caller's own __str__
            problem = f"str() of this {type(part).__name__} raised {type(exc).__name__}"
            raise InvalidRequestError(f"parts[{index}]", problem, _DERIVE_FIX) from None
        text = str.__str__(text)  # str() returns a str, maybe a subclass of it
    try:
        text.encode()
    except UnicodeEncodeError:
        raise InvalidRequestError(
            f"parts[{index}]",
            "contains a lone surrogate (not valid UTF-8), so no key can be derived from it",
            "replace it with valid text (it comes from decoding bytes with "
            "errors='surrogateescape' or from a broken JSON escape)",
        ) from None
    return text


def _tagged(parts: tuple[object, ...], texts: list[str | None]) -> bytes:
    """Each part as a type tag, its length and its bytes: no two part lists alike."""
    pieces = [_TAGGED]
    for part, text in zip(parts, texts, strict=True):
        if text is None:
            pieces.append(b"n;" if part is None else b"t;" if part else b"f;")
        else:
            data = text.encode()
            pieces.append(b"s%d:%s" % (len(data), data))
    return b"".join(pieces)


def derive_key(*parts: object) -> str:
    """A deterministic Idempotency-Key from the parts that identify one logical run.

    ``derive_key("backfill-2026-11", account_id)`` is the same string whenever and
    wherever it is computed, so a batch re-run after a crash sends the keys it sent
    before, and Zuora answers with the earlier runs instead of starting new ones.

    A part is known by its text: a str as it is, anything else as ``str(part)``, so
    ``42`` and ``"42"`` name the same item (an account number read from a CSV as text
    and from a database as an int). ``None``, ``True`` and ``False`` have no text of
    their own and are told apart from ``"None"``, ``"True"`` and ``"False"``. Different
    lists of parts give different keys, also when a part holds the ``\x1f`` character.
    Raises ``InvalidRequestError`` for no parts or a part with a lone surrogate.
    """
    if not parts:
        raise InvalidRequestError("parts", "derive_key needs at least one part", _DERIVE_FIX)
    texts = [_part_text(part, index) for index, part in enumerate(parts)]
    if all(text is not None and _SEPARATOR not in text for text in texts):
        # The encoding every key so far was derived with: unambiguous for these parts,
        # and kept so that keys already sent (and recorded in journals) stay the same.
        data = _SEPARATOR.join(texts).encode()  # type: ignore[arg-type]  # no None left
    else:
        data = _tagged(parts, texts)
    return str(uuid.uuid5(_KEY_NAMESPACE, hashlib.sha256(data).hexdigest()))
