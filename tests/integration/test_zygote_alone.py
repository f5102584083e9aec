"""A zygote whose runner went away mid-burst (it had asked for replacements) exits quietly and leaves no folders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appyard_runner.sandbox import Limits, Sandbox

FIXTURES = Path(__file__).parent.parent / "fixtures"
LIMITS = Limits(timeout_seconds=10, memory_mb=256, cpu_seconds=10, max_output_bytes=65536)


def test_a_zygote_left_by_its_runner_exits_cleanly(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "lab"
    shutil.copytree(FIXTURES / "lab", workspace, ignore=shutil.ignore_patterns("__pycache__"))
    runs = tmp_path / "runs"
    runs.mkdir()

    async def scenario() -> subprocess.Popen[bytes]:
        sandbox = Sandbox(workspace, "lab", LIMITS, tmp_root=runs, warm=2)
        await sandbox.start()
        zygote = sandbox._zygote
        assert zygote is not None
        assert (await sandbox.run({"page": "main", "function": "echo", "state": {}})).error is None
        for _ in range(4):  # replacements asked for; the runner dies before they arrive
            zygote.more()
        zygote.loop.remove_reader(zygote.channel.fileno())
        zygote.channel.close()
        for _, fds, _ in zygote.idle:  # what a dead runner's kernel closes: its ends of the idle children's pipes
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        return zygote.process

    process = asyncio.run(scenario())
    assert process.wait(30) == 0
    assert "Traceback" not in capfd.readouterr().err
    assert list(runs.iterdir()) == []
