"""One process per journal: an exclusive ``flock`` on the journal file itself."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from zuora_wf_async._errors import ZuoraError

if sys.platform != "win32":
    import fcntl

__all__ = ["JournalBusyError", "lock", "unlock"]


class JournalBusyError(ZuoraError):
    """Another live process holds the journal's lock; ``pid`` and ``host`` name it, or
    are None when it opened the file under another name (a hard link to it)."""

    def __init__(
        self, path: Path, pid: str | None, host: str | None, since: str | None = None
    ) -> None:
        self.path, self.pid, self.host = path, pid, host
        who = (
            f"pid {pid} on host {host} (since {since})"
            if pid is not None
            else f"another process, which opened the file under another name (`fuser {path}` "
            "names it)"
        )
        super().__init__(
            f"{path} is in use by {who}; wait for that batch to end or stop it: one "
            "process per journal, whatever its name (a killed process's lock frees itself)"
        )


# -- the lock ----------------------------------------------------------------------------
#
# The lock is on the journal file itself: an exclusive ``flock`` on an open descriptor of
# it, so every name of the file (a symlink, a hard link, a path through another folder)
# meets the same lock; a lock file beside the name given let three batches write one
# journal through three names. ``flock`` (not ``fcntl``/``lockf`` record locks) because it
# belongs to the open file: the journal's other descriptors (appending, ``read_journal``)
# neither take nor drop it, and a second open in the same process is refused too.
#
# Who holds it is written to ``<real path>.lock`` (the symlinks resolved), with the file's
# device and inode, and that file is locked as well: by an older version, which knows only
# that lock, and so that a refused process can tell a live holder's note from one left by
# a killed process. A holder that opened the file under another name (a hard link) wrote
# its note beside that name: the refusal then says so, and ``fuser`` finds the process.


def lock(path: Path, at: str) -> tuple[int, ...]:
    """Lock the journal file (created if need be) and its note; the descriptors to keep
    open while the journal is. :class:`JournalBusyError` if another holds either."""
    if sys.platform == "win32":  # pragma: no cover -- flock is POSIX; Windows runs unlocked
        return ()
    journal_fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    held = [journal_fd]
    try:
        facts = os.fstat(journal_fd)
        identity = [facts.st_dev, facts.st_ino]
        note = Path(os.path.realpath(path))
        note = note.with_name(note.name + ".lock")
        try:
            fcntl.flock(journal_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusyError(path, *_holder(note, identity)) from None
        note_fd = os.open(note, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        held.append(note_fd)
        try:
            fcntl.flock(note_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # an older version, or a journal replaced under a batch
            holder = _read_note(note_fd)
            raise JournalBusyError(
                path,
                str(holder.get("pid", "?")),
                str(holder.get("host", "?")),
                str(holder.get("at", "?")),
            ) from None
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "at": at}
        owner.update(dev=facts.st_dev, ino=facts.st_ino)
        os.ftruncate(note_fd, 0)
        os.pwrite(note_fd, json.dumps(owner).encode() + b"\n", 0)
    except BaseException:
        unlock(tuple(held))
        raise
    return tuple(held)


def _read_note(fd: int) -> dict[str, Any]:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _holder(note: Path, identity: list[int]) -> tuple[str | None, str | None, str | None]:
    """(pid, host, since) of the journal's holder, from the note beside its real path;
    Nones when that note is not the holder's: no note, a note nobody holds (its writer
    has ended), or a note about another file (the holder came through a hard link)."""
    try:
        fd = os.open(note, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None, None, None
    try:
        try:
            # A shared lock we get means no holder: let go at once (a batch starting at
            # this very moment may be refused, which is safe, and rerunning it works).
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_note(fd)
        else:
            holder = {}
    finally:
        os.close(fd)
    if [holder.get("dev"), holder.get("ino")] != identity:
        return None, None, None
    return str(holder.get("pid", "?")), str(holder.get("host", "?")), str(holder.get("at", "?"))


def unlock(fds: tuple[int, ...]) -> None:
    # The note stays: unlinking it would let a third process lock a new inode while a
    # second still waits on the old one. Closing the descriptors releases the flocks.
    for fd in fds:
        os.close(fd)
