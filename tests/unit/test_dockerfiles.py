"""The root Dockerfile, read as instructions, per image target (api, operator, runner): every base pinned by tag
and digest, each digest written once (as the default of the build argument that overrides the base), the image runs
as a non-root user and installs no build tools in any stage it keeps, the API's image serves on 8000. (`make images`
builds the targets where a builder runs; this checks what can be checked without one.)"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
TARGETS = ("api", "operator", "runner")

# image[:tag]@sha256:<64 hex>: the tag says what it is, the digest makes it so.
PINNED = re.compile(r"^[\w.\-/]+(:[\w.\-]+)@sha256:[0-9a-f]{64}$")
BUILD_TOOLS = ("gcc", "g++", "cc", "clang", "make", "build-essential", "libc6-dev", "python3-dev", "npm", "nodejs")
# The stage a RUN --mount or COPY --from reads from.
READS_FROM = re.compile(r"--(?:mount=type=bind,)?from=([\w.\-]+)")
# $NAME or ${NAME} in a FROM: a build argument declared before the first FROM.
ARGUMENT = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Stage:
    """One FROM and the instructions after it."""

    base: str
    """The base with build arguments replaced by their defaults."""
    name: str | None
    written: str = ""
    """The base as the FROM writes it (``${PYTHON_BASE}``, say)."""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        return [arguments for instruction, arguments in self.instructions if instruction == keyword]


def stages(text: str) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comments dropped, the build arguments declared
    before the first FROM replaced by their defaults in the FROMs."""
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
    defaults: dict[str, str] = {}
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not found:
            argument, _, default = arguments.strip().partition("=")
            defaults[argument] = default
        elif keyword == "FROM":
            words = [word for word in arguments.split() if not word.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            base = ARGUMENT.sub(lambda match: defaults.get(match[1] or match[2], match[0]), words[0])
            found.append(Stage(base, name, written=words[0]))
        else:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, arguments.strip()))
    return found


def image(found: list[Stage], target: str | None = None) -> list[Stage]:
    """The stages whose layers an image keeps, its first pinned base first: the target (the last stage when None)
    and the stages it starts FROM in turn."""
    named = {stage.name: stage for stage in found if stage.name}
    if target is None:
        chain = [found[-1]]
    elif target in named:
        chain = [named[target]]
    else:
        return []
    while chain[0].base in named and named[chain[0].base] not in chain:
        chain.insert(0, named[chain[0].base])
    return chain


def reads(kept: list[Stage]) -> set[str]:
    """The stages an image reads files from (wheels mounted, files copied) without keeping their layers."""
    return {name for stage in kept for run in stage.instructions for name in READS_FROM.findall(run[1])}


def problems(text: str, target: str | None = None) -> list[str]:
    """What is wrong with a Dockerfile's image (the target's, or the last stage's) by this repository's rules
    (empty: nothing)."""
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
    pins = Counter(stage.base.split("@")[0] for stage in found if PINNED.match(stage.base))
    for base, count in sorted(pins.items()):
        if count > 1:
            wrong.append(
                f"{base} is pinned in {count} FROMs: pin it once (FROM {base}@sha256:… AS a name), start from that"
            )
    kept = image(found, target)
    if not kept:
        return [*wrong, f"no stage named {target}"]
    users = [user for stage in kept for user in stage.arguments("USER")]
    if not users:
        wrong.append("the image sets no USER (it would run as root)")
    elif users[-1].split(":")[0] in ("root", "0") or not users[-1].split(":")[0].isdigit():
        wrong.append(f"the image runs as {users[-1]}: want a numeric non-root UID")
    for stage in kept:
        for run in stage.arguments("RUN"):
            if re.search(r"\b(apt-get|apt|apk|pip)\b.*\binstall\b", run):
                tools = [t for t in BUILD_TOOLS if re.search(rf"(?<![\w.+-]){re.escape(t)}(?![\w.+-])", run)]
                if tools:
                    wrong.append(f"the image installs build tools {tools} (stage {stage.name or stage.base}): {run}")
        for copied in stage.arguments("COPY"):
            if "--from=" in copied and "node_modules" in copied:
                wrong.append(f"the image copies node_modules: {copied}")
    return wrong


def kept_by(name: str) -> list[Stage]:
    """The stages the repository's image of that target keeps."""
    return image(stages(DOCKERFILE.read_text()), name)


@pytest.mark.parametrize("name", TARGETS)
def test_the_image_follows_the_rules(name: str) -> None:
    assert problems(DOCKERFILE.read_text(), name) == []
    kept = kept_by(name)
    assert kept[-1].name == name
    assert kept[0].base.startswith("python:3.11-slim-bookworm@sha256:")
    env = " ".join(argument for stage in kept for argument in stage.arguments("ENV"))
    assert "HOME=/tmp" in env, "HOME under /tmp: the root can be read-only"
    assert "XDG_CACHE_HOME=/tmp/" in env, "caches under /tmp: the root can be read-only"
    assert kept[-1].arguments("USER")[-1] == "10001:10001"
    assert "wheels" in reads(kept), "multi-stage: wheels are built in a stage the image does not keep"
    assert all(stage.name != "wheels" for stage in kept)
    installs = " ".join(run for stage in kept for run in stage.arguments("RUN") if "pip install" in run)
    package = f"appyard-{name}"
    assert re.search(rf"--mount=type=bind,from=wheels,.*pip install --no-index .*\b{package}$", installs), installs
    others = [f"appyard-{other}" for other in TARGETS if other != name]
    assert not any(re.search(rf"\b{other}\b", installs) for other in others), "each image installs its own package"
    assert kept[-1].arguments("ENTRYPOINT") == [f'["python", "-m", "appyard_{name}"]']


def test_the_api_image_serves_the_web_client_on_8000() -> None:
    found = stages(DOCKERFILE.read_text())
    kept = image(found, "api")
    assert kept[-1].arguments("EXPOSE") == ["8000"]
    env = " ".join(argument for stage in kept for argument in stage.arguments("ENV"))
    assert "APPYARD_API_HOST=0.0.0.0" in env and "APPYARD_API_PORT=8000" in env
    wheels = image(found, "wheels")[-1]
    assert "--from=web /src/web/dist web/dist" in wheels.arguments("COPY"), "the wheels stage gets the web build"
    assert image(found, "web")[0].base.startswith("node:20-bookworm-slim@sha256:")


@pytest.mark.parametrize(("argument", "base"), [("PYTHON_BASE", "python"), ("NODE_BASE", "node")])
def test_a_build_argument_overrides_each_base(argument: str, base: str) -> None:
    """Where no registry can be pulled from, the cluster tests build on local bases (tests/cluster/images.py)."""
    named = {stage.name: stage for stage in stages(DOCKERFILE.read_text())}
    assert named[base].written == f"${{{argument}}}"
    assert PINNED.match(named[base].base), "the default is the pinned base"


def test_the_operator_image_has_git() -> None:
    runs = [run for stage in kept_by("operator") for run in stage.arguments("RUN")]
    assert any(re.search(r"apt-get install .*\bgit\b", run) for run in runs)
    assert kept_by("operator")[-1].arguments("EXPOSE") == ["8080 8081"]


def test_the_runner_image_keeps_pip_for_the_apps_layer() -> None:
    """The operator's build Job builds an app's image FROM the runner's and pip-installs its requirements."""
    runs = " ".join(run for stage in kept_by("runner") for run in stage.arguments("RUN"))
    assert not re.search(r"pip uninstall|rm [^&]*\bpip\b", runs)


BASE = f"FROM python:3.11-slim-bookworm@sha256:{'a' * 64}"
BAD = [
    ("unpinned", "FROM python:3.11-slim-bookworm\nUSER 10001\n", None, "not pinned"),
    ("digest without a tag", f"FROM python@sha256:{'a' * 64}\nUSER 10001\n", None, "not pinned"),
    ("no user", f"{BASE}\nRUN true\n", None, "sets no USER"),
    ("root user", f"{BASE}\nUSER root\n", None, "runs as root"),
    ("named user", f"{BASE}\nUSER app\n", None, "numeric non-root UID"),
    (
        "compiler in the final stage",
        f"{BASE}\nRUN apt-get update && apt-get install -y \\\n    git build-essential\nUSER 10001\n",
        None,
        "build tools ['build-essential']",
    ),
    (
        "npm in the final stage",
        f"FROM node:20-bookworm-slim@sha256:{'b' * 64} AS web\nRUN npm ci\n"
        f"{BASE}\nRUN apt-get install -y npm\nUSER 10001\n",
        None,
        "build tools ['npm']",
    ),
    (
        "a base pinned twice",
        f"{BASE} AS wheels\nRUN true\n{BASE} AS api\nUSER 10001\n",
        "api",
        "pinned in 2 FROMs",
    ),
    (
        "a compiler in a stage the target starts from",
        f"{BASE} AS python\nFROM python AS runtime\nRUN apt-get install -y gcc\nFROM runtime AS api\nUSER 10001\n",
        "api",
        "build tools ['gcc'] (stage runtime)",
    ),
    (
        "a target that returns to root",
        f"{BASE} AS python\nFROM python AS api\nUSER 10001\nFROM api AS runner\nUSER 0\nFROM python AS last\nUSER 1\n",
        "runner",
        "runs as 0",
    ),
    ("a target that is not there", f"{BASE} AS api\nUSER 10001\n", "runner", "no stage named runner"),
    (
        "an unpinned argument default",
        "ARG PYTHON_BASE=python:3.11-slim-bookworm\nFROM ${PYTHON_BASE} AS python\nUSER 10001\n",
        None,
        "not pinned",
    ),
    (
        "a base pinned in an argument and a FROM",
        f"ARG PYTHON_BASE={BASE[5:]}\nFROM ${{PYTHON_BASE}} AS python\n{BASE} AS api\nUSER 10001\n",
        "api",
        "pinned in 2 FROMs",
    ),
]


@pytest.mark.parametrize(
    ("text", "name", "expected"), [(text, name, expected) for _, text, name, expected in BAD], ids=[b[0] for b in BAD]
)
def test_the_rules_catch_a_bad_dockerfile(text: str, name: str | None, expected: str) -> None:
    found = problems(text, name)
    assert any(expected in problem for problem in found), found


def test_a_build_stage_may_use_tools_and_targets_may_start_from_shared_stages() -> None:
    text = (
        f"{BASE} AS python\n"
        "FROM python AS build\nRUN apt-get install -y gcc\n"
        "FROM build AS tested\nRUN true\n"
        "FROM python AS runtime\nRUN useradd --uid 10001 appyard\n"
        "FROM runtime AS api\nRUN --mount=type=bind,from=build,source=/wheels,target=/wheels pip install x\n"
        "USER 10001:10001\n"
        "FROM runtime AS runner\nUSER 10001:10001\n"
    )
    assert problems(text, "api") == []
    assert problems(text, "runner") == []
    assert reads(image(stages(text), "api")) == {"build"}
