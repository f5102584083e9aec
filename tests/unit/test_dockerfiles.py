"""The images' Dockerfiles, read as instructions: every base pinned by digest, the final stage runs as a non-root
user and installs no build tools, the API's image serves on 8000. (`make images` builds them where a builder runs;
this checks what can be checked without one.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {"api": REPO / "api" / "Dockerfile", "operator": REPO / "operator" / "Dockerfile"}
DOCKERFILES["runner"] = REPO / "runner-image" / "Dockerfile"

# image[:tag]@sha256:<64 hex>: the tag says what it is, the digest makes it so.
PINNED = re.compile(r"^[\w.\-/]+(:[\w.\-]+)@sha256:[0-9a-f]{64}$")
BUILD_TOOLS = ("gcc", "g++", "cc", "clang", "make", "build-essential", "libc6-dev", "python3-dev", "npm", "nodejs")


@dataclass
class Stage:
    """One FROM and the instructions after it."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        return [arguments for instruction, arguments in self.instructions if instruction == keyword]


def stages(text: str) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        lines.append(pending.strip())
        pending = ""
    found: list[Stage] = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = [word for word in arguments.split() if not word.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(words[0], name))
        else:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, arguments.strip()))
    return found


def problems(text: str) -> list[str]:
    """What is wrong with a Dockerfile by this repository's rules (empty: nothing)."""
    found = stages(text)
    if not found:
        return ["no FROM"]
    wrong: list[str] = []
    names: set[str] = set()
    for stage in found:
        if stage.base not in names and not PINNED.match(stage.base):
            wrong.append(f"FROM {stage.base}: not pinned by tag and digest")
        if stage.name:
            names.add(stage.name)
    final = found[-1]
    users = final.arguments("USER")
    if not users:
        wrong.append("the final stage sets no USER (it would run as root)")
    elif users[-1].split(":")[0] in ("root", "0") or not users[-1].split(":")[0].isdigit():
        wrong.append(f"the final stage runs as {users[-1]}: want a numeric non-root UID")
    for run in final.arguments("RUN"):
        if re.search(r"\b(apt-get|apt|apk|pip)\b.*\binstall\b", run):
            tools = [tool for tool in BUILD_TOOLS if re.search(rf"(?<![\w.+-]){re.escape(tool)}(?![\w.+-])", run)]
            if tools:
                wrong.append(f"the final stage installs build tools {tools}: {run}")
    for copied in final.arguments("COPY"):
        if "--from=" in copied and "node_modules" in copied:
            wrong.append(f"the final stage copies node_modules: {copied}")
    return wrong


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_dockerfile_follows_the_rules(image: str) -> None:
    text = DOCKERFILES[image].read_text()
    assert problems(text) == []
    final = stages(text)[-1]
    assert final.base.startswith("python:3.11-slim-bookworm@sha256:")
    assert any("HOME=/tmp" in env for env in final.arguments("ENV")), "HOME under /tmp: the root can be read-only"
    assert final.arguments("USER")[-1] == "10001:10001"
    assert len(stages(text)) >= 2, "multi-stage: wheels are built in a stage the image does not keep"


def test_the_api_image_serves_the_web_client_on_8000() -> None:
    text = DOCKERFILES["api"].read_text()
    built = stages(text)
    assert built[0].base.startswith("node:20-bookworm-slim@sha256:")
    final = built[-1]
    assert final.arguments("EXPOSE") == ["8000"]
    assert final.arguments("ENTRYPOINT") == ['["python", "-m", "appyard_api"]']
    env = " ".join(final.arguments("ENV"))
    assert "APPYARD_API_HOST=0.0.0.0" in env and "APPYARD_API_PORT=8000" in env
    assert "--from=web /src/web/dist web/dist" in built[1].arguments("COPY"), "the wheels stage gets the web build"


def test_the_operator_image_has_git() -> None:
    final = stages(DOCKERFILES["operator"].read_text())[-1]
    assert any(re.search(r"apt-get install .*\bgit\b", run) for run in final.arguments("RUN"))


def test_every_base_names_the_same_digest_per_tag() -> None:
    """One digest per base across the images: refreshing a pin is done everywhere or nowhere."""
    digests: dict[str, set[str]] = {}
    for path in DOCKERFILES.values():
        for stage in stages(path.read_text()):
            if "@" in stage.base:
                tag, digest = stage.base.split("@")
                digests.setdefault(tag, set()).add(digest)
    assert all(len(found) == 1 for found in digests.values()), digests


BAD = [
    ("unpinned", "FROM python:3.11-slim-bookworm\nUSER 10001\n", "not pinned"),
    ("digest without a tag", f"FROM python@sha256:{'a' * 64}\nUSER 10001\n", "not pinned"),
    ("no user", f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64}\nRUN true\n", "sets no USER"),
    ("root user", f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64}\nUSER root\n", "runs as root"),
    ("named user", f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64}\nUSER app\n", "numeric non-root UID"),
    (
        "compiler in the final stage",
        f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64}\nRUN apt-get update && apt-get install -y \\\n"
        "    git build-essential\nUSER 10001\n",
        "build tools ['build-essential']",
    ),
    (
        "npm in the final stage",
        f"FROM node:20-bookworm-slim@sha256:{'b' * 64} AS web\nRUN npm ci\n"
        f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64}\nRUN apt-get install -y npm\nUSER 10001\n",
        "build tools ['npm']",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(text, expected) for _, text, expected in BAD], ids=[b[0] for b in BAD])
def test_the_rules_catch_a_bad_dockerfile(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in problem for problem in found), found


def test_a_build_stage_may_use_tools_and_later_stages_may_start_from_it() -> None:
    text = (
        f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64} AS build\nRUN apt-get install -y gcc\n"
        "FROM build AS tested\nRUN true\n"
        f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64}\nUSER 10001:10001\n"
    )
    assert problems(text) == []
