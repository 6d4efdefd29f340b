"""Every ```python block in README.md and docs/**/*.md runs, so no example can drift from the code.

The convention (written down for authors in docs/contributing.md):

* Each ```python block is a complete script. It is run as ``__main__`` in a process of its
  own (forked from this repository's interpreter, ``sys.executable``), in an empty temporary
  directory, with warnings turned into errors and a timeout. It must exit 0. Examples
  start their own ``FakeZuora``.
* A ```text block titled ``"Output"`` right after a python block (only blank lines between)
  is what that script prints: stdout must equal it exactly, so a claimed output cannot lie.
* A block that must not run carries ``<!-- not-run: the reason -->`` on the line before its
  fence. The reason is required; prefer making the block runnable.

The scripts run in parallel (a few at a time) from one module-scoped fixture, and each test
then checks its own block's result. A fork server (_forkserver.py, started with
``sys.executable``) imports aiohttp, the library, FastAPI and pytest once and forks a fresh
process per example, so the module takes seconds, not blocks x interpreter start-ups.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORK_SERVER = Path(__file__).resolve().parent / "_forkserver.py"
TIMEOUT_SECONDS = 90  # per script, generous for a busy 2-core machine; examples take ~1 s
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:(?P<reason>.*?)-->\s*$")
_OUTPUT_TITLE = re.compile(r"""\btitle=["']Output["']""")


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file."""

    path: str  # relative to the repository root, for test ids and messages
    line: int  # 1-based line of the opening fence
    language: str
    info: str  # everything after the language on the fence line
    code: str
    not_run_reason: str | None
    closing_line: int  # 1-based line of the closing fence

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Example:
    """A python block to run, and what it must print (None: anything)."""

    block: Block
    expected_output: str | None


def fenced_blocks(text: str, path: str) -> Iterator[Block]:
    """The fenced blocks of a Markdown text, dedented by their fence's indentation."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language, _, info = opening["info"].strip().partition(" ")
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            line = lines[end]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            end += 1
        previous = _previous_nonblank(lines, index)
        marker = _NOT_RUN.match(previous) if previous is not None else None
        reason = marker["reason"].strip() if marker is not None else None
        code = "".join(f"{line}\n" for line in body)
        yield Block(path, index + 1, language, info.strip(), code, reason, end + 1)
        index = end + 1


def _previous_nonblank(lines: list[str], index: int) -> str | None:
    for line in reversed(lines[:index]):
        if line.strip():
            return line
    return None


def examples_in(text: str, path: str) -> Iterator[Example]:
    """The python blocks of a text, each with the output block that follows it, if any."""
    blocks = list(fenced_blocks(text, path))
    lines = text.splitlines()
    for position, block in enumerate(blocks):
        if block.language != "python":
            continue
        if block.not_run_reason is not None and not block.not_run_reason:
            raise ValueError(f"{block.id}: <!-- not-run: --> needs a reason")
        expected = None
        following = blocks[position + 1] if position + 1 < len(blocks) else None
        if (
            following is not None
            and following.language == "text"
            and _OUTPUT_TITLE.search(following.info)
            and _only_blank_between(lines, block, following)
        ):
            expected = following.code
        yield Example(block, expected)


def _only_blank_between(lines: list[str], first: Block, second: Block) -> bool:
    return all(not line.strip() for line in lines[first.closing_line : second.line - 1])


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def all_examples() -> list[Example]:
    found: list[Example] = []
    for path in markdown_files():
        found.extend(examples_in(path.read_text("utf-8"), path.relative_to(ROOT).as_posix()))
    return found


EXAMPLES = all_examples()
RUNNABLE = [example for example in EXAMPLES if example.block.not_run_reason is None]


@dataclass(frozen=True)
class Result:
    returncode: int | None  # None: timed out
    stdout: str
    stderr: str


@dataclass
class _Job:
    example: Example
    directory: Path
    pid: Future[int] = field(default_factory=Future)
    status: Future[int] = field(default_factory=Future)

    @property
    def stdout(self) -> Path:
        return self.directory / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.directory / "stderr.txt"

    def result(self) -> Result:
        """Wait for the example to end (killing it at the timeout) and read what it wrote."""
        try:
            returncode: int | None = self.status.result(timeout=TIMEOUT_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid.result(timeout=1), signal.SIGKILL)
            returncode = None
        return Result(returncode, _read(self.stdout), _read(self.stderr))


def _read(path: Path) -> str:
    return path.read_text("utf-8", "replace") if path.exists() else ""


def _example_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ZUORA_")}
    environment.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUTF8="1", NO_COLOR="1")
    return environment


def _follow(server: subprocess.Popen[str], jobs: dict[str, _Job]) -> None:
    """Resolve each job's futures from the fork server's reports; fail the rest if it dies."""
    assert server.stdout is not None
    by_number = list(jobs.values())
    for line in server.stdout:
        report = json.loads(line)
        job = by_number[report["id"]]
        if "pid" in report:
            job.pid.set_result(report["pid"])
        else:
            job.status.set_result(report["status"])
    for job in by_number:
        if not job.status.done():
            job.status.set_exception(RuntimeError("the example fork server ended early"))


@pytest.fixture(scope="module")
def results(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, _Job]]:
    """Start every selected example at once (a few in parallel); tests wait for their own."""
    parameters = [
        item.callspec.params.get("example")
        for item in request.session.items
        if isinstance(item, pytest.Function) and hasattr(item, "callspec")
    ]
    selected = {example.block.id for example in parameters if isinstance(example, Example)}
    root = tmp_path_factory.mktemp("examples")
    jobs: dict[str, _Job] = {}
    for number, example in enumerate(
        example for example in RUNNABLE if example.block.id in selected
    ):
        directory = root / f"example{number}"
        directory.mkdir()
        (directory / "example.py").write_text(example.block.code, "utf-8")
        jobs[example.block.id] = _Job(example, directory)
    workers = max(2, min(8, os.cpu_count() or 2))
    server = subprocess.Popen(  # noqa: S603 - our own interpreter running our own helper
        [sys.executable, str(FORK_SERVER)],
        cwd=root,
        env=_example_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    order = [
        {
            "id": number,
            "script": str(job.directory / "example.py"),
            "cwd": str(job.directory),
            "stdout": str(job.stdout),
            "stderr": str(job.stderr),
        }
        for number, job in enumerate(jobs.values())
    ]
    server.stdin.write(json.dumps({"workers": workers, "jobs": order}) + "\n")
    server.stdin.close()
    reader = threading.Thread(target=_follow, args=(server, jobs), daemon=True)
    reader.start()
    try:
        yield jobs
    finally:
        try:
            server.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        reader.join(timeout=TIMEOUT_SECONDS)
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda example: example.block.id)
def test_example_runs_and_prints_what_the_page_says(
    example: Example, results: dict[str, _Job]
) -> None:
    result = results[example.block.id].result()
    where = f"{example.block.id}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode is not None, f"timed out after {TIMEOUT_SECONDS} s: {where}"
    assert result.returncode == 0, f"exit status {result.returncode}: {where}"
    if example.expected_output is not None:
        assert result.stdout == example.expected_output, where


def test_every_page_has_examples_and_few_are_exempt() -> None:
    # The runner must find what authors write; an empty harvest would pass vacuously.
    pages_with_examples = {example.block.path for example in EXAMPLES}
    assert "README.md" in pages_with_examples
    assert len(RUNNABLE) >= 10
    exempt = [example.block.id for example in EXAMPLES if example.block.not_run_reason]
    assert len(exempt) <= len(EXAMPLES) // 5, f"too many not-run blocks: {exempt}"


def test_the_readme_claims_an_output_and_it_is_checked() -> None:
    readme = [example for example in RUNNABLE if example.block.path == "README.md"]
    assert any(example.expected_output for example in readme)


SAMPLE = """\
Intro.

```python
print("a")
```

```text title="Output"
a
```

<!-- not-run: shown as part of a larger file -->
```python
import nowhere
```

- a list item with an indented block:

    ```python
    x = 1
    ```

````markdown
```python
inside a longer fence: not a block of its own
```
````

```python
print("b")
```
Some prose.
```text title="Output"
not b's output: prose in between
```
"""


def test_extraction_follows_the_convention() -> None:
    found = list(examples_in(SAMPLE, "sample.md"))

    assert [example.block.code for example in found] == [
        'print("a")\n',
        "import nowhere\n",
        "x = 1\n",
        'print("b")\n',
    ]
    assert [example.expected_output for example in found] == ["a\n", None, None, None]
    assert [example.block.not_run_reason for example in found] == [
        None,
        "shown as part of a larger file",
        None,
        None,
    ]
    assert [example.block.line for example in found] == [3, 12, 18, 28]


def test_a_not_run_marker_without_a_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        list(examples_in("<!-- not-run: -->\n```python\npass\n```\n", "bad.md"))
