"""`support-ledger apply` says how it went (issue 18 item 6): one summary line on stderr at the
end, `applied N, duplicate N, rejected N (of N lines)`; progress on stderr while a long file is
applied, only when stderr is a terminal and the outcomes go elsewhere. Standard output stays
exactly the JSON Lines outcomes (CONTRACT.md)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path


import commands.bus
from commands.cli import PROGRESS_AFTER, main
from tests.builders import assign_engineer, issue_license, register

EXECUTABLE = Path(sys.executable).with_name("support-ledger")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

REGISTER = {**register("acme", "2025-01-10T09:00", name="Acme"), "command_id": "r1"}
LICENSE = {**issue_license("L1", "2025-01-10"), "command_id": "r2"}
UNKNOWN_CLIENT = {**assign_engineer("petrov", "2025-01-15T10:00", client_id="nobody"), "command_id": "bad"}
LONG = PROGRESS_AFTER + 1  # the shortest file that shows its progress


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def long_file(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "long.jsonl", [register(f"client-{n}", "2025-01-10T09:00") for n in range(LONG)])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def statuses(out: str) -> list[str]:
    return [json.loads(line)["status"] for line in out.splitlines()]


def environment(db_url: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_LEDGER_")}
    return {**kept, "SUPPORT_LEDGER_DB": db_url, "SUPPORT_LEDGER_ACTOR": "tester", "TERM": "xterm-256color"}


# --- the summary ----------------------------------------------------------------------------------


def test_the_summary_counts_each_outcome_of_the_files_lines(capsys, tmp_path, db_url):
    """Six lines, one blank: r1 and r2 applied, r1 again a duplicate, an unknown client and a
    line that is not JSON rejected: 2 + 1 + 2 of the 5 lines that are commands."""
    path = write_lines(tmp_path / "mixed.jsonl", [REGISTER, LICENSE, "", REGISTER, UNKNOWN_CLIENT, "{oops"])
    code, out, err = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1
    assert statuses(out) == ["applied", "applied", "duplicate", "rejected", "rejected"]
    assert err == "applied 2, duplicate 1, rejected 2 (of 5 lines)\n"

    code, out, err = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1  # the same two lines are refused again
    assert statuses(out) == ["duplicate", "duplicate", "duplicate", "rejected", "rejected"]
    assert err == "applied 0, duplicate 3, rejected 2 (of 5 lines)\n"


def test_an_empty_file_is_summed_up_too(capsys, tmp_path, db_url):
    code, out, err = run(capsys, "apply", str(write_lines(tmp_path / "empty.jsonl", ["", "  "])), "--db", db_url)
    assert (code, out, err) == (0, "", "applied 0, duplicate 0, rejected 0 (of 0 lines)\n")


def test_an_error_is_one_line_without_a_summary(capsys, tmp_path):
    code, out, err = run(capsys, "apply", str(tmp_path / "missing.jsonl"), "--db", f"sqlite:///{tmp_path / 'l.db'}")
    assert (code, out) == (1, "") and err.startswith("error: file: cannot read") and err.count("\n") == 1


def test_an_interrupted_apply_gives_its_counts_in_its_one_line(capsys, monkeypatch, tmp_path, db_url):
    """Ctrl-C as the second line is read: the first is applied and reported, the others are not."""
    real = commands.bus.apply_lines

    def interrupted_at_the_second_line(ledger, lines, actor, **options):
        def reading():
            for number, text in enumerate(lines, start=1):
                if number == 2:
                    os.kill(os.getpid(), signal.SIGINT)
                yield text
        return real(ledger, reading(), actor, **options)

    monkeypatch.setattr(commands.bus, "apply_lines", interrupted_at_the_second_line)
    path = write_lines(tmp_path / "three.jsonl", [REGISTER, LICENSE, {**LICENSE, "command_id": "r3"}])
    code, out, err = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 128 + signal.SIGINT
    assert statuses(out) == ["applied"]
    assert err.count("\n") == 1
    assert err.startswith("interrupted (SIGINT): applied 1, duplicate 0, rejected 0 (of 3 lines); "
                          "each line reported above was applied or refused; the lines after 1 were not — ")


# --- no progress unless a person watches stderr -----------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_short_file_shows_no_progress_on_a_terminal_and_does_not_import_rich(capsys, monkeypatch, tmp_path,
                                                                               db_url):
    """`apply -` of one command stays quick: the progress bar's library is not even imported."""
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # importing it now raises ImportError
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(REGISTER).encode())))
    assert main(["apply", "-", "--db", db_url]) == 0
    assert sys.stderr.getvalue() == "applied 1, duplicate 0, rejected 0 (of 1 lines)\n"
    assert statuses(capsys.readouterr().out) == ["applied"]


def test_a_long_file_shows_no_progress_when_stderr_is_not_a_terminal(tmp_path, db_url):
    done = subprocess.run([str(EXECUTABLE), "apply", str(long_file(tmp_path))], capture_output=True, text=True,
                          env=environment(db_url), cwd=tmp_path, timeout=300)
    assert done.returncode == 0
    assert done.stderr == f"applied {LONG}, duplicate 0, rejected 0 (of {LONG} lines)\n"
    assert statuses(done.stdout) == ["applied"] * LONG


# --- progress on a terminal ---------------------------------------------------------------------------


def on_a_terminal(argv: list[str], env: dict[str, str], cwd: Path, *, stdout_too: bool) -> tuple[int, str, str]:
    """Run with stderr (and, if `stdout_too`, stdout) on a pseudo-terminal; its exit status,
    what the terminal showed (escape sequences removed) and what went to the stdout pipe."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows of 100 columns
    outcomes = cwd / "outcomes.jsonl"  # a file, not a pipe: nothing waits for this side to read it
    with outcomes.open("wb") as file:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=terminal if stdout_too else file,
                                   stderr=terminal, env=env, cwd=cwd)
    os.close(terminal)
    shown = bytearray()
    try:
        while chunk := _read(controller):
            shown += chunk
        code = process.wait(timeout=300)
    finally:
        process.kill()  # only if it is still running: a failed test leaves no process behind
        os.close(controller)
    return code, ANSI.sub("", shown.decode("utf-8", "replace")), outcomes.read_text(encoding="utf-8")


def _read(controller: int) -> bytes:
    """What the terminal shows next; b"" once its last writer has closed it (EIO on Linux)."""
    ready, _, _ = select.select([controller], [], [], 300)
    if not ready:
        raise TimeoutError("the command showed nothing for 300 s")
    try:
        return os.read(controller, 65536)
    except OSError:
        return b""


def test_a_long_file_shows_its_progress_on_a_terminal_and_ends_with_the_summary(tmp_path, db_url):
    code, shown, out = on_a_terminal([str(EXECUTABLE), "apply", str(long_file(tmp_path))], environment(db_url),
                                     tmp_path, stdout_too=False)
    assert code == 0
    assert statuses(out) == ["applied"] * LONG  # standard output is the outcomes only
    assert "applying long.jsonl" in shown and f"/{LONG}" in shown and "lines/s" in shown
    assert shown.replace("\r", "\n").strip().splitlines()[-1] == f"applied {LONG}, duplicate 0, rejected 0 (of {LONG} lines)"


def test_no_progress_when_the_outcomes_scroll_on_the_same_terminal(tmp_path, db_url):
    """The outcomes scrolling past are the progress; a bar drawn between them would be torn."""
    code, shown, _ = on_a_terminal([str(EXECUTABLE), "apply", str(long_file(tmp_path))], environment(db_url),
                                   tmp_path, stdout_too=True)
    assert code == 0
    lines = shown.replace("\r\n", "\n").strip().split("\n")
    assert "applying" not in shown and len(lines) == LONG + 1
    assert statuses("\n".join(lines[:-1])) == ["applied"] * LONG
    assert lines[-1] == f"applied {LONG}, duplicate 0, rejected 0 (of {LONG} lines)"
