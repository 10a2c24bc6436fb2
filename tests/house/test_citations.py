"""Every "why" link resolves inside the repository.

Code under gateway/ and bench/ explains itself by citing docs/ (``docs/wire-format.md §6.4 rule 7``). This
fails when such a file cites a document that is not in the repository (the design notes, the specification
digest or the stack notes they were written from), names a docs/ file that does not exist, or a section
that file does not have; and when docs/ itself cites a section of its own files that does not exist.
Pure file reading.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCANNED = ("gateway", "bench")
TEXT_SUFFIXES = {".py", ".md", ".rst", ".txt", ".cfg", ".toml", ".ini", ".sh", ".xsd", ".wsdl", ".xml", ".json"}

#: Citations of documents that live outside the repository.
OUTSIDE = re.compile(
    r"\b[Dd]igest(?:'s)? §"            # "digest §1.9.3", the specification digest
    r"|\bDESIGN(?:\.md)?\b(?!_)"        # "DESIGN decision 5", "DESIGN quality bar"
    r"|python-stack"                    # the measured-stack notes
    r"|annex-b\.md|onvif-digest"
    r"|\.\./shared|\bshared/(?:spec|notes|DESIGN)"
    r"|\bthe digest (?:says|states)\b"
)

SEC = r"\d+(?:\.\d+)*"
QUAL = r"(?: (?:rules?|items?|phase) \d+(?:-\d+)?(?:, \d+(?![.\d]))*)"
REF = rf"§ ?{SEC}(?:-{SEC})?{QUAL}?"
ONE_REF = re.compile(rf"§ ?(?P<sec>{SEC})(?:-(?P<end>{SEC}))?")
#: ``docs/<file>`` optionally followed by one or more sections: ``docs/decisions.md §8.21, §8.26``.
DOCS_CITE = re.compile(rf"\bdocs/(?P<file>[\w./-]+?\.(?:md|rst))(?P<refs>(?:\s+{REF}(?:,?\s*{REF})*)?)")
#: Inside docs/: ``[decisions.md §8.12](decisions.md)`` and bare ``decisions.md §5``.
DOCS_INNER_CITE = re.compile(rf"\b(?P<file>[\w-]+\.md) (?P<refs>{REF}(?:,?\s*{REF})*)")


def _sections(doc: Path) -> set[str]:
    """Numbered headings (``## 6.4 PullMessages``) and numbered records (``- **8.12 Annex A.**``)."""
    found: set[str] = set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"#+ (\d+(?:\.\d+)*)\.? ", line):
            found.add(m[1])
        found.update(re.findall(r"\*\*(\d+\.\d+) ", line))
    return found


def _text_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
                files.append(path)
    return files


def _dangling(path: Path, text: str, cite: re.Pattern[str], base: Path) -> list[str]:
    problems = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in cite.finditer(line):
            doc = base / m["file"]
            where = f"{path.relative_to(ROOT)}:{lineno}"
            if not doc.is_file():
                problems.append(f"{where}: {doc.relative_to(ROOT)} does not exist")
                continue
            have = _sections(doc) if doc.suffix == ".md" else set()
            for ref in ONE_REF.finditer(m["refs"]):
                for sec in filter(None, (ref["sec"], ref["end"])):
                    if sec not in have:
                        problems.append(f"{where}: {doc.relative_to(ROOT)} has no §{sec}")
    return problems


def test_docs_exist() -> None:
    for name in ("README.md", "architecture.md", "wire-format.md", "decisions.md"):
        assert (DOCS / name).is_file(), f"docs/{name} is missing"


@pytest.mark.parametrize("top", SCANNED)
def test_no_citation_of_documents_outside_the_repository(top: str) -> None:
    found = []
    for path in _text_files():
        if not path.is_relative_to(ROOT / top):
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:100]}")
    assert not found, "cite docs/ instead of documents outside the repository:\n" + "\n".join(found)


def test_every_docs_citation_in_the_code_resolves() -> None:
    problems = []
    for path in _text_files():
        problems += _dangling(path, path.read_text(encoding="utf-8", errors="replace"), DOCS_CITE, DOCS)
    assert not problems, "\n".join(problems)


def test_every_section_cited_inside_docs_exists() -> None:
    problems = []
    for path in sorted(DOCS.glob("*.md")):
        problems += _dangling(path, path.read_text(encoding="utf-8"), DOCS_INNER_CITE, DOCS)
    assert not problems, "\n".join(problems)


def test_the_patterns_catch_what_they_are_for() -> None:
    for outside in ("(digest §1.9.3)", "DESIGN decision 5", "the DESIGN quality bar", "python-stack.md §8",
                    "see ../shared/spec", "onvif-digest.md"):
        assert OUTSIDE.search(outside), outside
    for fine in ("WS-UsernameToken digest", "hexdigest()", "use_digest=True", "DESIGN_NOTE",
                 "docs/decisions.md §5"):
        assert not OUTSIDE.search(fine), fine
    m = DOCS_CITE.search("(docs/wire-format.md §6.4 rule 7, §9.2-9.4)")
    assert m and [r["sec"] for r in ONE_REF.finditer(m["refs"])] == ["6.4", "9.2"]
