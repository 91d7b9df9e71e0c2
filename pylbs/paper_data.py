"""The paper's reference numbers (Tables 1-3 and quoted values), as data for reports.

Source: "Machine-learning potential for lithium borosilicate glasses" (text in
``shared/paper/lbs_mlp_paper.txt``).

* Table 1: composition (mol%), experimentally observed 4B (%) and density
  (g/cm^3) of the 11 glasses (experiment: Tsuda et al., the paper's ref. 12).
  The same numbers are the catalogue of :mod:`pylbs.glasses`; they are repeated
  here verbatim so the report's experimental column is the paper's table,
  checked against the catalogue by the tests.
* Table 2: share of 3B in three-membered rings among all 3B (3B_ring, %):
  the paper's MLP (mean +- std over replicas), AIMD (ref. 17) and NMR
  (refs. 17, 50). LBS-53.3-26.7-20 is NMR-only (no MLP model).
* Table 3: Li activation energy Ea (eV) of the paper's MLP for the 40 mol%
  Li2O glasses; experimental Ea quoted in the text: 0.59-0.71 eV
  (0.4Li2O.0.6(xB2O3(1-x)Si2O4), ref. 54) and 0.50-0.56 eV
  (xLi2O.(1-x)(0.75B2O3.0.25SiO2), ref. 55).
* Tg: the paper quotes Tg(LBS-20-60-20) = 1122 +- 31 K with the MLP (10 K/ps,
  three runs); the experimental Tg and conductivities are in figures only
  (Figures 8, 9): users give them in the campaign's ``[experiment]`` section.
"""

from __future__ import annotations

#: Table 1: name -> (SiO2, B2O3, Li2O mol%, [SiO2]/[B2O3], [Li2O]/[B2O3], 4B exp %, density exp g/cm^3)
TABLE1 = {
    "LBS-20-60-20": (20, 60, 20, 0.33, 0.33, 36.7, 2.21),
    "LBS-40-40-20": (40, 40, 20, 1.00, 0.50, 46.4, 2.26),
    "LBS-10-50-40": (10, 50, 40, 0.20, 0.80, 41.6, 2.30),
    "LBS-20-40-40": (20, 40, 40, 0.50, 1.00, 50.7, 2.31),
    "LBS-30-30-40": (30, 30, 40, 1.00, 1.33, 54.4, 2.31),
    "LBS-40-20-40": (40, 20, 40, 2.00, 2.00, 56.5, 2.34),
    "LBS-50-10-40": (50, 10, 40, 5.00, 4.00, 56.8, 2.32),
    "LBS-8-32-60": (8, 32, 60, 0.25, 1.88, 26.3, 2.17),
    "LBS-15-25-60": (15, 25, 60, 0.60, 2.40, 22.0, 2.20),
    "LBS-10-20-70": (10, 20, 70, 0.50, 3.50, 1.2, 2.10),
    "LBS-5-35-60": (5, 35, 60, 0.14, 1.71, 23.5, 2.17),
}

#: Table 2: name -> {"MLP": (mean %, std %) | None, "AIMD": % | None, "NMR": % | None}
TABLE2_3B_RING = {
    "LBS-20-60-20": {"MLP": (15.4, 4.5), "AIMD": None, "NMR": None},
    "LBS-40-40-20": {"MLP": (18.6, 5.9), "AIMD": None, "NMR": None},
    "LBS-10-50-40": {"MLP": (23.1, 9.3), "AIMD": 29.0, "NMR": 85.7},
    "LBS-20-40-40": {"MLP": (24.5, 2.1), "AIMD": None, "NMR": None},
    "LBS-30-30-40": {"MLP": (19.0, 3.6), "AIMD": 17.2, "NMR": 76.9},
    "LBS-40-20-40": {"MLP": (22.2, 10.1), "AIMD": None, "NMR": None},
    "LBS-50-10-40": {"MLP": (20.5, 5.8), "AIMD": None, "NMR": None},
    "LBS-8-32-60": {"MLP": (5.0, 1.0), "AIMD": None, "NMR": None},
    "LBS-15-25-60": {"MLP": (6.6, 4.6), "AIMD": 3.6, "NMR": 56.1},
    "LBS-10-20-70": {"MLP": (0.0, None), "AIMD": None, "NMR": None},
    "LBS-5-35-60": {"MLP": (3.7, 2.4), "AIMD": None, "NMR": None},
    "LBS-53.3-26.7-20": {"MLP": None, "AIMD": None, "NMR": 67.6},
}

#: Table 3: name -> (Ea mean eV, std eV) of the paper's MLP (NVT, 500/600/700/900 K)
TABLE3_EA_MLP = {
    "LBS-10-50-40": (0.37, 0.02),
    "LBS-20-40-40": (0.37, 0.03),
    "LBS-30-30-40": (0.40, 0.05),
    "LBS-40-20-40": (0.40, 0.05),
    "LBS-50-10-40": (0.38, 0.02),
}

#: Experimental Ea ranges quoted with Table 3: (low eV, high eV, what, reference)
EA_EXPERIMENT_RANGES = (
    (0.59, 0.71, "0.4Li2O-0.6(xB2O3-(1-x)Si2O4), x = 0-1", "ref. 54"),
    (0.50, 0.56, "xLi2O-(1-x)(0.75B2O3-0.25SiO2), x = 0.5-0.675", "ref. 55"),
)

#: Tg quoted in the text for the MLP (K): name -> (mean, std)
TG_MLP = {"LBS-20-60-20": (1122.0, 31.0)}

#: Temperatures of the paper's diffusion runs (K) and the one of the C_Li*D comparison (Figure 9a).
DIFFUSION_TEMPERATURES_K = (500.0, 600.0, 700.0, 900.0)
CONDUCTIVITY_COMPARISON_T_K = 500.0


def measured_4B_percent(glass: str) -> float | None:
    row = TABLE1.get(glass)
    return None if row is None else row[5]
