"""Lay each shipped model's card.md into docs/models.md, under its "#### Card of `NAME`" heading.

    python scripts/sync_model_docs.py        # rewrites docs/models.md; prints what changed

Run it after anything re-renders a card (pylbs mlp ship, model_validation, stability --card);
tests/test_shipped_model.py fails while the two differ. The card's text ends at the next heading
of docs/models.md or at its end.
"""

from __future__ import annotations

import re
from pathlib import Path

from pylbs.mlp.card import docs_copy
from pylbs.potential.models import SHIPPED_DIR

DOCS = Path(__file__).resolve().parents[1] / "docs" / "models.md"


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


def main() -> int:
    doc, changed = synced(DOCS.read_text())
    DOCS.write_text(doc)
    print(f"docs/models.md: {', '.join(changed) or 'nothing'} changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
