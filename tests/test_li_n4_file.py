"""pylbs/data/lbs_li_n4.fmp, the FITTED Li-borosilicate B-O A(R, K) table (scripts/fit_li_n4.py,
docs/li_n4.md): it parses, it covers every catalogue glass, Python and the plugin resolve the
table's bilinear A, and everything but the B-O A is the default file's. No MD (fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fmp_helpers import ROOT, resolved_in_plugin
from pylbs.glasses import CATALOG
from pylbs.potential import DEFAULT_PARAMETER_FILE, load_parameter_file, resolve

LI_FILE = ROOT / "pylbs" / "data" / "lbs_li_n4.fmp"
HELD_OUT = ("LBS-40-40-20", "LBS-30-30-40", "LBS-8-32-60")  # scripts/fit_li_n4.py HELD_OUT


@pytest.fixture(scope="module")
def li():
    return load_parameter_file(LI_FILE)


def _table(params):
    bo = params.find_pair("B", "O")
    assert bo is not None and bo.a_source == "table", "the B-O A of lbs_li_n4.fmp must come from a table"
    return params.tables[bo.a_name]


def _bilinear(table, R, K):
    """Independent bilinear interpolation (numpy searchsorted; the pylbs/plugin code is not used)."""
    r, k = np.asarray(table.R), np.asarray(table.K)
    a = np.asarray(table.A).reshape(len(r), len(k))
    i = int(np.clip(np.searchsorted(r, R, side="right") - 1, 0, len(r) - 2))
    j = int(np.clip(np.searchsorted(k, K, side="right") - 1, 0, len(k) - 2))
    u = (R - r[i]) / (r[i + 1] - r[i])
    v = (K - k[j]) / (k[j + 1] - k[j])
    return ((1 - u) * (1 - v) * a[i, j] + (1 - u) * v * a[i, j + 1]
            + u * (1 - v) * a[i + 1, j] + u * v * a[i + 1, j + 1])


def test_file_parses_and_says_what_it_is(li):
    head = LI_FILE.read_text().split("\n", 40)
    text = "\n".join(head[:40])
    assert "FITTED" in text and "NOT a published potential" in text and "NOT the paper's FMP-LBS" in text
    for name in HELD_OUT:
        assert name in text, f"the header must name the held-out glass {name}"
    table = _table(li)
    assert all(math.isfinite(a) and a > 0 for a in table.A)


def test_only_the_BO_A_differs_from_the_default(li):
    default = load_parameter_file(DEFAULT_PARAMETER_FILE)
    assert li.charges == default.charges
    assert {(p.el1, p.el2) for p in li.pairs} == {(p.el1, p.el2) for p in default.pairs}
    for p in default.pairs:
        q = li.find_pair(p.el1, p.el2)
        assert (q.rho, q.C, q.core) == (p.rho, p.C, p.core), (p.el1, p.el2)
        if (p.el1, p.el2) != ("B", "O"):
            assert (q.a_source, q.A) == (p.a_source, p.A), (p.el1, p.el2)


def test_table_covers_every_catalogue_glass(li):
    table = _table(li)
    for glass in CATALOG.values():
        c = glass.composition
        assert table.R[0] <= c.R <= table.R[-1], f"{glass.name}: R={c.R:g} outside the table"
        assert table.K[0] <= c.K <= table.K[-1], f"{glass.name}: K={c.K:g} outside the table"


def test_resolved_A_is_the_bilinear_table_value(li):
    table = _table(li)
    for glass in CATALOG.values():
        c = glass.composition
        A = resolve(li, c)["pairs"]["B-O"].A
        assert math.isfinite(A)
        assert A == pytest.approx(_bilinear(table, c.R, c.K), rel=1e-12), glass.name
        assert min(table.A) <= A <= max(table.A)


def test_plugin_resolves_the_same_A_as_python(fmp_plugin, li):
    for glass in CATALOG.values():
        c = glass.composition
        got = resolved_in_plugin(c, LI_FILE)
        ref = resolve(li, c)
        assert got["R"] == pytest.approx(c.R, rel=1e-12) and got["K"] == pytest.approx(c.K, rel=1e-12)
        for key, pair in ref["pairs"].items():
            d = pair.as_dict()
            assert got["pairs"][key]["A"] == pytest.approx(d["A"], rel=1e-12), (glass.name, key)
            if d["core"]:
                for k in ("B", "n", "D", "r0"):
                    assert got["pairs"][key]["core"][k] == pytest.approx(d["core"][k], rel=1e-10), (glass.name, key, k)
        assert got["pairs"]["B-O"]["A"] == pytest.approx(_bilinear(_table(li), c.R, c.K), rel=1e-12), glass.name
