"""Python reference rules of pylbs.potential: DBX N4, Deng-Du A(R, K), core solve,
parameter-file reader (no LAMMPS needed; the plugin is checked against these in
test_fmp_plugin.py)."""

from __future__ import annotations


import pytest

from pylbs.errors import ParameterFileError
from pylbs.glasses import CATALOG, Composition
from pylbs.potential import (DEFAULT_PARAMETER_FILE, buckingham_derivatives, dbx_n4,
                             deng_du_A, fmp_commands, load_parameter_file, parse_parameter_text,
                             resolve, solve_core, table_A)


def test_reference_check_value():
    # 70SiO2-30B2O3: R = 0, K = 7/3 (potential_parameters.md)
    assert deng_du_A(0.0, 7 / 3) == pytest.approx(12362.78, abs=0.005)
    c = Composition(70, 30, 0)
    assert deng_du_A(c.R, c.K) == pytest.approx(12362.78, abs=0.005)


@pytest.mark.parametrize("K", [0.2, 1.0, 2.0, 5.0])
def test_dbx_n4_branches_are_continuous(K):
    Rmax, Rd1, Rd3 = K / 16 + 0.5, K / 4 + 0.5, 2 + K
    assert dbx_n4(0.3, K) == pytest.approx(0.3)
    assert dbx_n4(Rmax, K) == pytest.approx(Rmax)
    eps = 1e-9
    for R in (Rd1, Rd3):
        assert dbx_n4(R - eps, K) == pytest.approx(dbx_n4(R + eps, K), abs=1e-7)
    assert dbx_n4(Rd3 + 1, K) == 0.0


def test_deng_du_A_is_continuous_at_Rmax():
    for K in (0.5, 1.0, 3.0):
        Rmax = K / 16 + 0.5
        assert deng_du_A(Rmax - 1e-9, K) == pytest.approx(deng_du_A(Rmax + 1e-9, K), rel=1e-8)


def test_catalog_values_are_finite_and_in_range():
    for g in CATALOG.values():
        A = deng_du_A(g.composition.R, g.composition.K)
        assert 11900 < A < 16000, g.name


@pytest.mark.parametrize("A,rho,C,published", [
    (2029.2204, 0.343640, 192.580, (46.462, 3.430, -0.32605, 1.906)),   # O-O
    (13702.9050, 0.193817, 54.681, (28.950, 3.9320, -3.059, 1.168)),    # Si-O
])
def test_core_solve_reproduces_published_teter_cores(A, rho, C, published):
    B, n, D, r0 = solve_core(A, rho, C)
    pB, pn, pD, pr0 = published
    # r0 (inner root of V''') to its printed 4 digits; B, n, D within 0.5 %
    # (O-O: 46.335 / 3.4245 / -0.32747 / 1.90554; the published triple matches r0 = 1.9062)
    assert r0 == pytest.approx(pr0, abs=5e-4)
    assert B == pytest.approx(pB, rel=5e-3)
    assert n == pytest.approx(pn, rel=5e-3)
    assert D == pytest.approx(pD, rel=5e-3)


@pytest.mark.parametrize("A", [12000.0, 12362.78, 14401.67])
def test_core_is_C2_continuous(A):
    rho, C = 0.171271, 28.5
    B, n, D, r0 = solve_core(A, rho, C)
    V = buckingham_derivatives(A, rho, C, r0)
    U = (B * r0**-n + D * r0**2, -n * B * r0 ** (-n - 1) + 2 * D * r0,
         n * (n + 1) * B * r0 ** (-n - 2) + 2 * D)
    for v, u in zip(V[:3], U):
        assert u == pytest.approx(v, rel=1e-10, abs=1e-10)
    assert V[3] == pytest.approx(0.0, abs=1e-8 * abs(B))      # r0 is a root of V'''
    assert r0 < 9 * rho                                        # the inner one


def test_core_solve_needs_dispersion():
    with pytest.raises(ParameterFileError, match="C > 0"):
        solve_core(41051.938, 0.15116, 0.0)


def test_default_file_reads_and_resolves():
    p = load_parameter_file()
    assert p.charges == {"Li": 0.6, "B": 1.8, "Si": 2.4, "O": -1.2}
    res = resolve(p, Composition(30, 30, 40))
    assert set(res["pairs"]) == {"O-O", "Si-O", "Li-O", "B-O"}
    assert res["pairs"]["O-O"].core == (46.462, 3.430, -0.32605, 1.906)
    assert res["pairs"]["B-O"].A == pytest.approx(deng_du_A(4 / 3, 1.0))
    assert res["pairs"]["Li-O"].core is None
    counts = resolve(p, {"Li": 8, "B": 6, "Si": 3, "O": 19})
    assert (counts["R"], counts["K"]) == pytest.approx((4 / 3, 1.0))
    fixed = resolve(p, R=0, K=7 / 3)
    assert fixed["pairs"]["B-O"].A == pytest.approx(12362.78, abs=0.005)


def test_table_bilinear_and_range_error():
    text = ("charge B 1.8\ncharge O -1.2\npair B O A table:bo rho 0.17 C 28.5\n"
            "table bo R 0 1\ntable bo K 0 2\ntable bo A 10 20 30 40\n")
    p = parse_parameter_text(text)
    assert table_A(p.tables["bo"], 0.5, 1.0, "bo") == pytest.approx(25.0)
    assert resolve(p, R=1.0, K=2.0)["pairs"]["B-O"].A == pytest.approx(40.0)
    with pytest.raises(ParameterFileError, match=r"outside table bo \(R 0..1, K 0..2\)"):
        resolve(p, R=1.5, K=1.0)


@pytest.mark.parametrize("text,match", [
    ("charge O -1.2\npair O O A 1 rho x C 1\n", r"line 2: 'x' is not a number"),
    ("charge O -1.2\npair O O A 1 rho 0.3\n", r"line 2: pair O O needs all of A, rho and C"),
    ("charge O -1.2\nbogus O\n", r"line 2: unknown keyword 'bogus'"),
    ("charge O -1.2\npair B O A 1 rho 1 C 1\n", r"line 2: element B has no charge line"),
    ("charge O -1.2\npair O O A rule:dbx rho 1 C 1\n", r"no 'rule dbx \.\.\.' line"),
    ("charge O -1.2\nrule dbx A1 1 A2 2 T1 3\n", r"line 2: expected 'rule dbx"),
    ("charge O -1.2\npair O O A 1 rho 1 C 1\npair O O A 1 rho 1 C 1\n", r"already given on line 2"),
])
def test_malformed_files_name_the_line(text, match):
    with pytest.raises(ParameterFileError, match=match):
        parse_parameter_text(text, "t.fmp")


def test_missing_file_message(tmp_path):
    with pytest.raises(ParameterFileError, match="file not found: .*give a path"):
        load_parameter_file(tmp_path / "nope.fmp")


def test_fmp_commands():
    cmds = fmp_commands(cutoff=10.0, kspace="pppm", accuracy=1e-5, R=0.5, K=1)
    assert cmds[0] == "pair_style fmp/lbs 10 R 0.5 K 1"
    assert cmds[1] == f"pair_coeff * * {DEFAULT_PARAMETER_FILE} Li B Si O"
    assert cmds[2] == "kspace_style pppm 1e-05"
    with pytest.raises(ParameterFileError, match=r"element Na \(type 2\) is not in"):
        fmp_commands(elements=("Li", "Na", "Si", "O"))
