"""The zygote starts with glibc's malloc huge-page tunable (a cheaper fork), and runs never see the variable."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from appyard_runner.sandbox import MALLOC_TUNABLES, Limits, Sandbox

FIXTURES = Path(__file__).parent.parent / "fixtures"
LIMITS = Limits(timeout_seconds=10, memory_mb=256, cpu_seconds=10, max_output_bytes=65536)


def test_the_zygote_gets_the_malloc_tunable_and_runs_do_not(tmp_path: Path) -> None:
    workspace = tmp_path / "lab"
    shutil.copytree(FIXTURES / "lab", workspace, ignore=shutil.ignore_patterns("__pycache__"))
    runs = tmp_path / "runs"
    runs.mkdir()

    async def scenario() -> tuple[bytes, str]:
        sandbox = Sandbox(workspace, "lab", LIMITS, tmp_root=runs, environment=lambda: {"PATH": "/usr/bin:/bin"})
        await sandbox.start()
        zygote = sandbox._zygote
        assert zygote is not None
        try:
            started_with = Path(f"/proc/{zygote.process.pid}/environ").read_bytes()
            request = {"page": "main", "function": "reveal", "state": {"form": {"text": "GLIBC_TUNABLES"}}}
            result = await sandbox.run(request)
            assert result.value is not None, result.error
            return started_with, result.value["form"]["message"]
        finally:
            sandbox.close()
            await asyncio.get_running_loop().run_in_executor(None, zygote.process.wait, 30)

    started_with, message = asyncio.run(scenario())
    assert f"GLIBC_TUNABLES={MALLOC_TUNABLES}".encode() in started_with.split(b"\0")
    assert json.loads(message) == {"GLIBC_TUNABLES": None}
