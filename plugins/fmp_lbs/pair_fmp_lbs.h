/* -*- c++ -*- ----------------------------------------------------------
   pair_style fmp/lbs: Buckingham + repulsive core + coul/long for lithium
   borosilicates, with a composition-dependent B-O A(R, K).

     pair_style fmp/lbs <cut> [<cut_coul>] [R <value>] [K <value>]
     pair_coeff * * <parameter file> <element of type 1> ... <element of type N>

   Per pair: A exp(-r/rho) - C/r^6 for r > r0, B/r^n + D r^2 for r <= r0
   (within <cut>), plus erfc-screened Coulomb like coul/long (within
   <cut_coul>, needs kspace ewald or pppm). Pairs without a 'pair' line in
   the file are Coulomb only. The parameter file is the source of truth for
   the charges: atom->q is set from the element of each atom's type.
------------------------------------------------------------------------- */

#ifndef LMP_PAIR_FMP_LBS_H
#define LMP_PAIR_FMP_LBS_H

#include "pair.h"

#include "fmp_lbs_rules.h"

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

  void allocate();
  void resolve_parameters();
  bool apply_charges();
};

}    // namespace LAMMPS_NS

#endif
