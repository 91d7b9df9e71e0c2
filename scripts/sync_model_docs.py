"""Lay each shipped model's card.md into docs/models.md, under its "#### Card of `NAME`" heading, and
the default model's 100 ps criterion record into the README (the "# N ps at T K, the card's record" line).

    python scripts/sync_model_docs.py        # rewrites docs/models.md and README.md; prints what changed

Run it after anything re-renders a card (pylbs mlp ship, model_validation, stability --card);
tests/test_shipped_model.py fails while the two differ. The card's text ends at the next heading
of docs/models.md or at its end.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from pylbs.mlp.card import CARD_FILE, CRITERION_SECTION, criterion_summary, docs_copy
from pylbs.potential.models import DEFAULT_MODEL, SHIPPED_DIR

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "models.md"
README = ROOT / "README.md"
# the README's criterion sentence: a comment line in its shell block, continued on lines that start "#   "
README_LINE = re.compile(r"^# [\d.]+ ps at [\d.]+ K, the card's record.*\n(?:#   .*\n)*", flags=re.M)


def synced(doc: str) -> tuple[str, list[str]]:
    """docs/models.md with every shipped card's copy replaced by its card.md, and the names changed."""
    changed = []
    for card_md in sorted(SHIPPED_DIR.glob("*/card.md")):
        name = card_md.parent.name
        heading = f"#### Card of `{name}`\n\n"
        if heading not in doc:
            raise SystemExit(f"docs/models.md has no '{heading.strip()}' heading: add one where its card goes")
        start = doc.index(heading) + len(heading)
        nxt = re.search(r"^#{1,4} ", doc[start:], flags=re.M)
        end = start + nxt.start() if nxt else len(doc)
        text = docs_copy(card_md.read_text(), name)
        if nxt and not text.endswith("\n\n"):
            text = text.rstrip("\n") + "\n\n"
        if doc[start:end] != text:
            doc = doc[:start] + text + doc[end:]
            changed.append(name)
    return doc, changed


def readme_synced(readme: str) -> str:
    """README.md with its criterion sentence rewritten from the default model's card.json."""
    card = json.loads((SHIPPED_DIR / DEFAULT_MODEL / CARD_FILE).read_text())
    lines = textwrap.wrap(criterion_summary(card.get(CRITERION_SECTION, {})), width=105,
                          initial_indent="# ", subsequent_indent="#   ", break_on_hyphens=False)
    if not README_LINE.search(readme):
        raise SystemExit("README.md has no \"# N ps at T K, the card's record\" line: add one where it goes")
    return README_LINE.sub(lambda _: "\n".join(lines) + "\n", readme, count=1)


def main() -> int:
    doc, changed = synced(DOCS.read_text())
    DOCS.write_text(doc)
    print(f"docs/models.md: {', '.join(changed) or 'nothing'} changed")
    readme = README.read_text()
    new = readme_synced(readme)
    README.write_text(new)
    print(f"README.md: {'criterion line changed' if new != readme else 'nothing changed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
