"""The project's sources are self-contained: every citation of a Markdown file under ``docs/``
(with optional ``§`` sections) points to a file and a numbered section that exist, and nothing
cites a document outside the repository."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Folders that are not part of the repository's own text (tool state, build outputs, results).
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "out", "node_modules", "__pycache__",
             ".pytest_cache", ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints"}
MAX_BYTES = 2_000_000

#: A citation of a project document: the path, then any number of ``§N`` (``§1, §3``, ``§1/§3``,
#: ``§1 and §3``, ``§1-§6``).
CITATION = re.compile(r"(?<![\w/.-])(docs/[\w./-]*?\.md)`*"
                      r"((?:\s*(?:,|/|-|–|and|to)?\s*§\s*\d+(?:\.\d+)*)*)")
SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.M)
#: A relative Markdown link to another Markdown file.
MD_LINK = re.compile(r"\]\(([^)#\s:]+\.md)(?:#[^)]*)?\)")
#: Documents outside the repository: the former team note and absolute paths to Markdown files.
FOREIGN = re.compile(r"domain\.md|\bdomain facts\b|\bdomain\s+§"
                     r"|(?<![\w.:/~-])/(?:[\w.-]+/)+[\w.-]+\.md\b", re.I)


def _text_files() -> list[tuple[Path, str]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            try:
                if path.is_symlink() or path.stat().st_size > MAX_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if b"\0" in data:
                continue
            out.append((path, data.decode("utf-8", errors="replace")))
    return out


FILES = _text_files()


def _where(path: Path, text: str, pos: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, pos) + 1}"


def _sections(doc: Path, cache: dict[Path, set[str]]) -> set[str]:
    if doc not in cache:
        cache[doc] = set(HEADING.findall(doc.read_text(encoding="utf-8")))
    return cache[doc]


def test_nothing_cites_documents_outside_the_repository():
    me = Path(__file__).resolve()
    hits = [f"{_where(p, t, m.start())}: {m.group(0)!r}"
            for p, t in FILES if p.resolve() != me for m in FOREIGN.finditer(t)]
    assert not hits, "cite the project's own docs/ instead:\n" + "\n".join(hits)


def test_docs_citations_resolve():
    cache: dict[Path, set[str]] = {}
    bad, n = [], 0
    for path, text in FILES:
        for m in CITATION.finditer(text):
            n += 1
            doc = ROOT / m.group(1)
            where = _where(path, text, m.start())
            if not doc.is_file():
                bad.append(f"{where}: {m.group(1)} does not exist")
                continue
            for sec in SECTION.findall(m.group(2)):
                if sec not in _sections(doc, cache):
                    bad.append(f"{where}: {m.group(1)} has no section §{sec} "
                               f"(has {', '.join(sorted(_sections(doc, cache))) or 'none'})")
    assert not bad, "\n".join(bad)
    assert n >= 20, f"only {n} citations of docs/ found: is the pattern still right?"


def test_markdown_links_resolve():
    bad = [f"{_where(p, t, m.start())}: {m.group(1)}"
           for p, t in FILES if p.suffix == ".md"
           for m in MD_LINK.finditer(t) if not (p.parent / m.group(1)).is_file()]
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_docs_index_lists_every_source_file():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    missing = [f.name for f in sorted((DOCS / "sources").glob("*.md"))
               if f"sources/{f.name}" not in index]
    assert not missing, f"docs/README.md does not list {missing}"
