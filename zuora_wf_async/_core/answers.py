"""The one door every answer is read through: a reader's failure is ``ResponseDecodeError``.

Each operation hands the pipeline a reader (``workflow_readers``, ``read_run`` and the
run decoders, the token reader) that turns a 2xx ``RawResponse`` into a value. Readers
raise ``ResponseDecodeError`` for the shapes they know to refuse, but an answer is the
server's to choose, and a body can make Python itself fail anywhere inside a reader: a
timestamp a year before 1 AD once the offset is applied (``OverflowError``), an id of
5,000 digits (``ValueError``), a shape no reader expected (``TypeError``, ``KeyError``).
``read_answer`` is the single place that turns any such failure into the documented
error, so no reader, fast path or later refactoring can let ``OverflowError`` out of a
call whose run Zuora has already created.

What the error implies about the request is not decided here: the pipeline reads
``may_have_run`` off the request (a run POST's unreadable 2xx was carried out; a GET's
was not), as for every other error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.redact import excerpt
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._errors import ResponseDecodeError, ZuoraError

__all__ = ["read_answer"]

T = TypeVar("T")


def read_answer(
    read: Callable[[RawResponse], T],
    raw: RawResponse,
    request: PreparedRequest,
    *,
    quote: bool = True,
) -> T:
    """``read(raw)``, or ``ResponseDecodeError`` for anything but a ``ZuoraError`` it raises.

    ``quote`` False keeps the failure's own text out of the message (the token answer:
    its token is not known, so not scrubbable, until it has been read). The error is
    raised after the ``except`` block so the original exception, which may quote a
    value from the body, is not kept as its ``__context__``.
    """
    try:
        return read(raw)
    except ZuoraError:
        raise  # a reader's own verdict: ResponseDecodeError, or a 409's error leaf
    except Exception as exc:  # noqa: BLE001 -- the door: whatever the body made fail
        problem = type(exc).__name__
        if quote:
            problem += f": {_text_of(exc)}"
    raise ResponseDecodeError(
        f"Zuora's answer to {request.method} {request.path} (HTTP {raw.status}) could not "
        f"be read ({problem})",
        status=raw.status,
    )


def _text_of(exc: Exception) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 -- an exception whose __str__ fails says nothing
        return "no description"
    return excerpt(text, 120) or "no description"
