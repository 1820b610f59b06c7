"""The docs stay true: generated reference current, every relative link resolves, the map complete."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "scripts/gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def rendered() -> dict[Path, str]:
    return gen.render_all()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- generated reference


def test_generated_reference_is_current(rendered: dict[Path, str]) -> None:
    stale = gen.stale_files(rendered)
    report = "\n".join(f"{path}: {summary}" for path, summary in stale.items())
    assert not stale, f"generated docs are stale; run `make docs` and commit:\n{report}"


def test_check_names_a_stale_file_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_only = {gen.SETTINGS_MD: gen.render_settings()}
    monkeypatch.setattr(gen, "render_all", lambda: settings_only)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    target = tmp_path / gen.SETTINGS_MD
    target.parent.mkdir(parents=True)
    target.write_text(settings_only[gen.SETTINGS_MD].replace("WINNOW_PORT", "WINNOW_PORTX"))

    assert gen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "docs/reference/settings.md" in err
    assert "WINNOW_PORTX" in err  # the diff summary shows the changed line
    assert "make docs" in err
    assert "WINNOW_PORTX" in target.read_text()  # check mode wrote nothing

    assert gen.main([]) == 0
    assert target.read_text() == settings_only[gen.SETTINGS_MD]
    assert gen.main(["--check"]) == 0


def test_missing_generated_file_is_stale(tmp_path: Path) -> None:
    stale = gen.stale_files({gen.CLI_MD: "# CLI\n"}, root=tmp_path)
    assert stale == {gen.CLI_MD: "missing"}


def test_settings_reference_has_every_variable_and_reference_alias(
    rendered: dict[Path, str],
) -> None:
    from winnow.settings import Settings

    text = rendered[gen.SETTINGS_MD]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(Settings.model_fields)
    for name in Settings.model_fields:
        assert f"`WINNOW_{name.upper()}`" in text
    assert "`WINNOW_ACTIVE_LEARNING_ENABLED`, `ACTIVE_LEARNING_ENABLED`" in text
    assert "`WINNOW_ACTIVE_LEARNING_TAGS`, `ACTIVE_LEARNING_TAGS`" in text
    port_row = next(row for row in rows if row.startswith("| `WINNOW_PORT`"))
    assert "1..65535" in port_row and "`9001`" in port_row
    assert str(Path.home()) not in text  # the data dir default is written as ~/.winnow
    assert "`~/.winnow`" in text


def test_cli_reference_has_nested_commands_with_their_options(rendered: dict[Path, str]) -> None:
    text = rendered[gen.CLI_MD]
    for heading in (
        "## winnow",
        "## winnow serve",
        "## winnow al validate",
        "## winnow keys revoke",
    ):
        assert f"\n{heading}\n" in text
    drain = text.split("## winnow outbox drain\n", 1)[1].split("\n## ", 1)[0]
    assert "`--retry-failed` / `--no-retry-failed`" in drain
    assert "`--no-retry-failed`" in drain.split("| `--retry-failed`", 1)[1]  # the default
    export = text.split("## winnow export\n", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\| `--format`, `-f` \| coco\\\|yolo\\\|voc\\\|folders \| `coco` \|", export)


def test_cli_reference_does_not_depend_on_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = gen.render_cli()
    monkeypatch.setenv("COLUMNS", "250")
    assert gen.render_cli() == narrow


def test_openapi_covers_both_roles_and_nothing_of_the_machine(rendered: dict[Path, str]) -> None:
    text = rendered[gen.OPENAPI_JSON]
    paths = json.loads(text)["paths"]
    for path in ("/infer/object_detection", "/v1/projects", "/{ws}/{project}/active_learning"):
        assert path in paths
    assert "winnow-docs-" not in text
    assert str(Path.home()) not in text


# --------------------------------------------------------------------------- links and the map

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _relative_links(text: str) -> list[str]:
    prose = INLINE_CODE.sub("", FENCE.sub("", text))
    targets = LINK.findall(prose) + REFERENCE_LINK.findall(prose)
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|//)", t, re.IGNORECASE)]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    slugs: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        slug = _slug(heading)
        n = 1
        unique = slug
        while unique in slugs:  # GitHub numbers repeated headings: x, x-1, x-2
            unique = f"{slug}-{n}"
            n += 1
        slugs.add(unique)
    return slugs


def test_relative_links_point_to_files_that_exist() -> None:
    broken: list[str] = []
    for source in _markdown_files():
        for target in _relative_links(source.read_text(encoding="utf-8")):
            file_part, _, anchor = target.partition("#")
            file_part = file_part.split("?", 1)[0]
            resolved = (source.parent / file_part).resolve() if file_part else source
            where = f"{source.relative_to(ROOT)} -> {target}"
            if not resolved.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{where} (no heading with that anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_link_checker_sees_broken_links_and_ignores_code() -> None:
    text = 'See [a](a.md), [b](../b.md#x "title"), <https://x.org>, [c](https://c.org).\n'
    text += "`[not](code.md)`\n```\n[not](fenced.md)\n```\n[ref]: ref.md\n"
    assert _relative_links(text) == ["a.md", "../b.md#x", "ref.md"]
    assert _slug("Dedup (winnow extension)") == "dedup-winnow-extension"
    assert _slug("`winnow al` commands") == "winnow-al-commands"


def test_every_how_to_and_reference_page_is_in_the_index() -> None:
    index = DOCS / "index.md"
    linked = {
        (index.parent / target.partition("#")[0]).resolve()
        for target in _relative_links(index.read_text(encoding="utf-8"))
    }
    pages = [DOCS / "tutorial.md", *sorted((DOCS / "how-to").glob("*.md"))]
    pages += sorted(p for p in (DOCS / "reference").iterdir() if p.suffix in (".md", ".json"))
    missing = [str(p.relative_to(ROOT)) for p in pages if p.resolve() not in linked]
    assert not missing, f"pages not listed in docs/index.md: {missing}"
