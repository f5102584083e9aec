"""What keeps each fork of the zygote cheap: the generator stays out of its memory, and a child's setup.

The zygote generates its pages' models in a throwaway child (``generated.generate_apart``) so the generator's
modules are never imported where every run is forked from; a child drops only the capabilities its bounding
set holds (read once, in the zygote) and must still end with none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appyard import codegen, generated, workspace
from appyard.errors import GenerationFailed
from appyard.properties import PageProperties

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_generate_apart_remembers_what_the_generator_writes(lab: Path) -> None:
    page = workspace.load(lab).page("lab", "main")
    digest = codegen.source_digest(page.properties, page.database)
    generated._sources.pop(digest, None)
    generated.generate_apart([(page.properties, page.database)])
    assert generated._sources[digest] == codegen.generate(page.properties, page.database)


def test_a_page_the_child_cannot_generate_is_left_to_the_caller(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = workspace.load(lab).page("lab", "main")
    digest = codegen.source_digest(page.properties, page.database)
    generated._sources.pop(digest, None)

    def broken(properties: PageProperties, database: object = None) -> codegen.GeneratedModels:
        raise GenerationFailed("broken on purpose")

    monkeypatch.setattr(codegen, "generate", broken)  # the forked child inherits the patch
    generated.generate_apart([(page.properties, page.database)])
    assert digest not in generated._sources
    with pytest.raises(GenerationFailed, match="broken on purpose"):
        generated.source(page.properties, page.database)  # the caller generates it, and sees the same error


def test_without_a_process_to_spare_the_caller_generates(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = workspace.load(lab).page("lab", "main")
    digest = codegen.source_digest(page.properties, page.database)
    generated._sources.pop(digest, None)

    def no_fork() -> int:
        raise BlockingIOError("fork: Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    open_before = len(os.listdir("/proc/self/fd"))
    generated.generate_apart([(page.properties, page.database)])
    assert digest not in generated._sources
    assert len(os.listdir("/proc/self/fd")) == open_before  # the pipe is closed again
    assert generated.source(page.properties, page.database).digest == digest


ZYGOTE_LOAD = """
import json, sys
from pathlib import Path
from appyard_runner.appcode import AppCode
code = AppCode(Path(sys.argv[1]), "lab")
code.load()
print(json.dumps({
    "pages": sorted(code.pages),
    "problems": code.problems,
    "generator": sorted(m for m in sys.modules if m.startswith("datamodel_code_generator.parser")),
    "watching": "watchfiles" in sys.modules,
}))
"""


def test_the_zygote_loads_its_pages_without_importing_the_generator(lab: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", ZYGOTE_LOAD, str(lab)], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(found.stdout)
    assert loaded["pages"] == ["main"]
    assert loaded["problems"] == {}
    assert loaded["generator"] == []
    assert loaded["watching"] is False


def test_a_child_ends_with_no_capability_and_no_new_privileges() -> None:
    from appyard_runner import _child

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read)
            _child._drop_capabilities()
            with open("/proc/self/status", encoding="ascii") as proc:
                fields = dict(line.split(":", 1) for line in proc)
            names = ("CapBnd", "CapEff", "CapPrm", "CapInh", "NoNewPrivs")
            os.write(write, json.dumps({name: fields[name].strip() for name in names}).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with open(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0
    fields = json.loads(data)
    for name in ("CapBnd", "CapEff", "CapPrm", "CapInh"):
        assert int(fields[name], 16) == 0, name
    assert fields["NoNewPrivs"] == "1"
