"""The examples of README.md and docs/*.md run, and what they say about the project is true."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dask
import pytest

from daskburst.cli import build_parser
from daskburst.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
#: README.md, then every docs/*.md (sorted): {path in the checkout: text}.
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}
#: All of them as one text: for what may be said on any page.
DOCS = "\n".join(PAGES.values())
#: The README stays a front page; the detail lives in docs/.
README_MAX_LINES = 210
#: Examples that need SLURM, Kubernetes or containers; the lead's integration tests run those.
NEEDS_A_CLUSTER = re.compile(r"backend=[\"'](slurm|kubernetes)|kubectl|KubeCluster|podman|\$IMG")


def blocks(*languages: str) -> list[tuple[str, str]]:
    """(page, body) of every code block in one of `languages`, page by page."""
    return [
        (page, body)
        for page, text in PAGES.items()
        for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, re.S)
        if lang in languages
    ]


def python_examples() -> list[tuple[str, str]]:
    return [(page, b) for page, b in blocks("python") if not NEEDS_A_CLUSTER.search(b)]


def command_lines() -> list[tuple[str, str]]:
    """(page, command) for every `daskburst ...` command of the shell examples, one line each."""
    out = []
    for page, body in blocks("console", "bash", "sh"):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
                words = words[1:]  # VAR=value before the command
            if words[:1] == ["daskburst"] and not any("[" in w or w.isupper() for w in words):
                out.append((page, shlex.join(words[1:])))
    return out


def numbered(examples: list[tuple[str, str]]) -> list[str]:
    """Test ids naming the page: README.md:1, docs/workloads.md:2, ..."""
    seen: dict[str, int] = {}
    ids = []
    for page, _ in examples:
        seen[page] = seen.get(page, 0) + 1
        ids.append(f"{page}:{seen[page]}")
    return ids


def test_there_are_examples():
    assert len(python_examples()) >= 3
    assert len(command_lines()) >= 15
    assert any(page == "README.md" for page, _ in python_examples()), "README shows no example"


@pytest.mark.slow
@pytest.mark.parametrize(("page", "example"), python_examples(), ids=numbered(python_examples()))
def test_python_example_runs_as_a_script(page, example, tmp_path):
    """Saved as a file and run, as the tutorial's scripts are (the __main__ guard matters)."""
    script = tmp_path / "example.py"
    script.write_text(example)
    command = [sys.executable, str(script)]
    if "from calc_mean import" in example:
        # "Your own code": the script, calc_mean.py beside it, run by daskburst.
        shutil.copy(ROOT / "examples" / "calc_mean.py", tmp_path)
        command = [str(Path(sys.executable).with_name("daskburst")), "run", str(script),
                   "--backend", "threads"]  # fmt: skip
    proc = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DASK_DASKBURST__PROGRESS": "false"},
    )
    assert proc.returncode == 0, f"{page}: {proc.stderr[-3000:]}"


@pytest.mark.parametrize(
    ("page", "command"), command_lines(), ids=[f"{p}: {c}" for p, c in command_lines()]
)
def test_command_example_parses(page, command):
    """Every flag the docs show exists (the commands themselves need data or clusters)."""
    from daskburst.cli import run

    argv, script_args = run.route(shlex.split(command))
    args = build_parser().parse_args(argv)
    assert getattr(args, "func", None) is not None, f"{page}: {command}"


def test_error_example_is_what_the_command_prints():
    example = re.search(r"\$ (DASK_DASKBURST__WORKERS=abc daskburst run calc-mean)\n(.*)\n", DOCS)
    assert example, "the configuration example is gone"
    var, _, command = example.group(1).partition(" ")
    name, value = var.split("=")
    proc = subprocess.run(
        [sys.executable, "-m", "daskburst", *shlex.split(command)[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, name: value},
    )
    assert proc.stderr.strip() == example.group(2)


def test_slurm_example_header_is_what_the_defaults_give():
    from daskburst.backends import BackendOptions
    from daskburst.slurm import job_header, job_script

    with dask.config.set({"jobqueue.slurm.queue": "nope"}):
        header = job_header(job_script(BackendOptions(adapt=(0, 2))))
    assert f"SLURM rejects the worker job ({header}):" in DOCS


def test_the_number_of_workloads():
    table = re.findall(r"^\| `([a-z-]+)` \|", README.split("## Two commands")[0], re.M)
    assert table == list(WORKLOADS)
    words = {4: "four", 5: "five", 6: "six"}
    assert f"Its {words[len(WORKLOADS)]} workloads" in README


def test_submission_name_example_has_the_real_suffix():
    from daskburst.k8s._naming import unique_suffix

    seconds, random = unique_suffix().split("-")
    example = re.search(r"daskburst k8s delete array-([a-z0-9]+)-([0-9a-f]+)\b", DOCS)
    assert example, "the k8s delete example is gone"
    assert len(example.group(2)) == len(random)
    assert f"{len(random)} random hex digits" in DOCS


def test_stream_chunk_in_the_docs_is_the_default():
    chunk = dask.config.get("daskburst.stream-chunk")
    assert f"({chunk:,}".replace(",", " ") in DOCS


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_shows_values_not_variables():
    out = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "$(" not in out
    assert "writes bench-out/bench.json" in out


def test_make_lock_pins_every_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    makefile = (ROOT / "Makefile").read_text()
    locked = re.search(r"^LOCK_EXTRAS \?= (.*)$", makefile, re.M)
    assert locked and set(locked.group(1).split(",")) == set(extras)
    assert "'.[$(LOCK_EXTRAS)]'" in makefile


def test_the_layout_section_matches_the_tree():
    layout = re.search(r"### Layout\n\n```text\n(src/daskburst/\n.*?)```", README, re.S)
    assert layout, "README has no Layout section"
    text = layout.group(1)
    package = ROOT / "src" / "daskburst"
    # Entries of src/daskburst/ (indented) and of the checkout (not indented), first column.
    inside = set(re.findall(r"^  ([\w.]+/?)", text, re.M))
    inside |= set(re.findall(r"; ([\w.]+\.py):", text))
    outside = set(re.findall(r"^([\w./]+/),?", text, re.M)) | set(
        re.findall(r"^[\w./]+/, ([\w./]+/)", text, re.M)
    )
    top = {
        p.name + ("/" if p.is_dir() else "")
        for p in package.iterdir()
        if not p.name.startswith(("_", ".")) and (p.is_dir() or p.suffix == ".py")
    }
    assert inside == top, f"README's layout differs from src/daskburst: {sorted(inside ^ top)}"
    for name in outside:
        assert (ROOT / name).is_dir(), f"README's layout names {name}, which does not exist"


def test_the_readme_is_a_front_page():
    lines = len(README.splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"
    )


def relative_links(text: str) -> list[str]:
    """Targets of the markdown links and images outside code: not http(s), not #anchors."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    return [t for t in targets if not re.match(r"(https?:|mailto:|#)", t)]


def test_the_readme_links_every_docs_page():
    linked = {target.partition("#")[0] for target in relative_links(README)}
    assert set(PAGES) - {"README.md"} <= linked


@pytest.mark.parametrize("page", list(PAGES))
def test_relative_links_point_to_files(page):
    here = (ROOT / page).parent
    broken = [
        target
        for target in relative_links(PAGES[page])
        if not (here / target.partition("#")[0]).exists()
    ]
    assert not broken, f"{page} links to files that do not exist: {broken}"
