"""Partial RDFs and bond-angle distributions against known geometry (alpha-quartz, planar B3O3 rings)."""

from __future__ import annotations

import numpy as np
import pytest

from _lbs_structures import quartz, ring_classes
from pylbs.analysis.structure_stats import (ANGLE_TRIPLETS, bond_angle_modifier, bond_angles,
                                            make_rdf_modifier, partial_rdfs)


def test_quartz_partial_rdfs():
    res = partial_rdfs(quartz(3), cutoff=6.0, bins=300)
    assert set(res.g) >= {"Si-Si", "Si-O", "O-O"}
    assert res.r.shape == (300,) and res.r[0] == pytest.approx(0.01)
    # Si-O bonds 1.604/1.613 A; Si-Si 3.06 A; O-O tetrahedron edge 2.61-2.65 A
    assert res.first_peak("O-Si") == pytest.approx(1.61, abs=0.02)
    r, g = res.r, res.g["Si-O"]
    assert np.all(g[r < 1.5] == 0) and np.all(g[(r > 1.7) & (r < 3.0)] == 0)
    assert np.all(res.g["Si-Si"][res.r < 3.0] == 0) and res.first_peak("Si-Si") == pytest.approx(3.06, abs=0.03)


def test_quartz_bond_angles():
    res = bond_angles(quartz(2))
    # 24 Si x 6 O-Si-O each; 48 O x 1 Si-O-Si
    assert res.count["O-Si-O"] == 144 and res.count["Si-O-Si"] == 48
    assert res.mean["O-Si-O"] == pytest.approx(109.47, abs=0.1)  # ideal tetrahedron on average
    assert res.std["O-Si-O"] < 1.5                               # 108.3..110.5 deg in quartz
    assert res.mean["Si-O-Si"] == pytest.approx(143.7, abs=0.3)  # Levien et al. 1980: 143.73 deg
    assert res.std["Si-O-Si"] < 1e-6                              # one O site
    assert res.count["O-B-O"] == 0 and np.isnan(res.mean["O-B-O"])
    assert res.histograms["Si-O-Si"].sum() == 48 and res.histograms["Si-O-Si"][143] == 48


def test_planar_ring_angles():
    res = bond_angles(ring_classes())
    # B-O-B inside the planar rings: regular hexagon, exactly 120 deg (12 bridges in 4 B rings + 1 in the Si ring)
    assert res.count["B-O-B"] == 13 and res.mean["B-O-B"] == pytest.approx(120.0, abs=1e-6)
    assert res.count["B-O-Si"] == 2 and res.mean["B-O-Si"] == pytest.approx(120.0, abs=1e-6)
    # O-B-O: 3 per 3B (all 120 deg, 10 3B) + 6 per 4B (6 4B)
    assert res.count["O-B-O"] == 10 * 3 + 6 * 6
    three_fold = res.angles["O-B-O"][np.isclose(res.angles["O-B-O"], 120.0)]
    assert len(three_fold) >= 30
    assert set(res.mean) == set(ANGLE_TRIPLETS)


def test_all_triplets_and_modifiers():
    res = bond_angles(quartz(2), triplets=None)
    assert set(res.count) == {"O-Si-O", "Si-O-Si"}
    from ovito.io.ase import ase_to_ovito
    from ovito.pipeline import Pipeline, StaticSource

    p = Pipeline(source=StaticSource(data=ase_to_ovito(quartz(2))))
    p.modifiers.append(bond_angle_modifier)
    p.modifiers.append(make_rdf_modifier(cutoff=5.0, bins=100))
    d = p.compute()
    assert d.attributes["pylbs.angle.Si-O-Si.mean"] == pytest.approx(143.7, abs=0.3)
    assert d.tables["pylbs-partial-rdf"].count == 100
    assert d.tables["pylbs-bond-angles"].y.component_names[:2] == ("O-B-O", "O-Si-O")
