"""Every "tested" in the documentation names the test that checks it, and that test exists: a claim
of a test nobody can find is a claim nobody checks."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIM = re.compile(r"\b(tested|a test (shows|checks)|pinned by|the test suite)\b", re.IGNORECASE)
TEST_NAME = re.compile(r"`(test_\w+)`")
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def defined_tests() -> set[str]:
    return {
        match
        for path in (ROOT / "tests").rglob("*.py")
        for match in re.findall(r"^def (test_\w+)", path.read_text(), flags=re.M)
    }


def paragraphs(text: str) -> list[str]:
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n|\n(?=[-|#])", text)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_claim_of_a_test_names_one_that_exists(document):
    known = defined_tests()
    for paragraph in paragraphs(document.read_text()):
        if not CLAIM.search(paragraph):
            continue
        named = TEST_NAME.findall(paragraph)
        assert named, f"{document.name}: a claim of a test that names none: {paragraph[:160]}"
        assert set(named) <= known, f"{document.name}: no such test {set(named) - known}"
