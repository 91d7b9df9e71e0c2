/* -*- c++ -*- ----------------------------------------------------------
   pair_style fmp/lbs: Buckingham + repulsive core + coul/long for lithium
   borosilicates, with a composition-dependent B-O A(R, K).

     pair_style fmp/lbs <cut> [<cut_coul>] [R <value>] [K <value>] [table <N>]
     pair_coeff * * <parameter file> <element of type 1> ... <element of type N>

   Per pair: A exp(-r/rho) - C/r^6 for r > r0, B/r^n + D r^2 for r <= r0
   (within <cut>), plus erfc-screened Coulomb like coul/long (within
   <cut_coul>, needs kspace ewald or pppm). Pairs without a 'pair' line in
   the file are Coulomb only. The parameter file is the source of truth for
   the charges: atom->q is set from the element of each atom's type.

   table N (default 8): Coulomb + short range of each type pair merged in
   one cubic table on r^2, 2^N intervals per doubling of r^2; table 0: the
   analytic formulas (see docs/fmp_pair_style.md).
------------------------------------------------------------------------- */

#ifndef LMP_PAIR_FMP_LBS_H
#define LMP_PAIR_FMP_LBS_H

#include "pair.h"

#include "fmp_lbs_rules.h"

#include <cstdint>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairFMPLBS : public Pair {
 public:
  PairFMPLBS(class LAMMPS *);
  ~PairFMPLBS() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  double single(int, int, int, int, double, double, double, double &) override;
  void *extract(const char *, int &) override;
  double memory_usage() override;

  static constexpr int TABLE_BITS_DEFAULT = 8;

 protected:
  double cut_lj_global, cut_coul, cut_coulsq, g_ewald;
  int R_fixed_flag, K_fixed_flag;
  double R_fixed, K_fixed;
  double R_used, K_used, N4_used;    // resolved composition (NaN when unused)

  FMPLBS::ParamFile pfile;
  std::string pfile_path;
  std::vector<std::string> type_element;    // index 1..ntypes
  double *qtype;                            // charge of each type from the file
  std::string last_log;

  // per type pair: input numbers (exposed through extract) ...
  double **a, **rho, **c, **r0, **b_core, **n_core, **d_core;
  // ... and derived constants used in compute()
  double **cut_lj, **cut_ljsq, **rhoinv, **buck1, **buck2, **r0sq, **core1, **core2, **offset;

  // Merged Coulomb + short-range cubic table of one type pair, on r^2 in
  // [lo, hi). Interval k starts at the double whose bits are
  // (k + idx0) << tab_shift, so the index is a shift of the bits of r^2 and
  // every interval spans the same relative width (fine at the repulsive
  // wall, coarse where nothing varies). Per interval: 4 coefficients of
  // fpair (= F/r) in f, 4 of ecoul then 4 of evdwl in e; polynomials in
  // d = r^2 - (start of the interval). hi = 0: no table, analytic only.
  struct TabPair {
    double lo, hi;
    const double *f, *e;
    int64_t idx0;
  };
  int table_bits;                     // 0: analytic
  double table_bits_double;           // the same for extract() (Python reads doubles)
  int tab_shift;                      // 52 - table_bits
  std::vector<TabPair> tab;           // (ntypes+1)^2, row-major
  std::vector<double *> tab_mem;      // owned 64-byte aligned blocks
  double tab_bytes;

  void allocate();
  void resolve_parameters();
  bool apply_charges();
  void free_tab();
  void build_table(int, int);

  // one pair by the formulas: fpair (= F/r) returned, energies set if EFLAG.
  // BUILD: for filling the table (exact erfc, no cutoff tests, so the last
  // interval sees the smooth continuation past the cutoff).
  template <int EFLAG, int BUILD>
  double pair_analytic(int, int, double, double, double, double, double &, double &) const;
  // table interval of r^2 (inside [lo, hi)) and the offset d into it
  inline int64_t tab_interval(const TabPair &tp, double rsq, double &d) const;

  // the force loop, shared with fmp/lbs/omp (defined in pair_fmp_lbs_kernel.h)
  template <int EVFLAG, int EFLAG, int NEWTON_PAIR, class Tally>
  void eval(int, int, double **, const Tally &);
  template <class Tally> void eval_dispatch(int, int, double **, const Tally &);
};

}    // namespace LAMMPS_NS

#endif
