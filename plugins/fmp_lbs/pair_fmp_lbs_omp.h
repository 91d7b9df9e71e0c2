/* -*- c++ -*- ----------------------------------------------------------
   pair_style fmp/lbs/omp: fmp/lbs threaded with the OPENMP package
   ('package omp N' or -sf omp -pk omp N). Same arguments and numbers as
   fmp/lbs; each thread runs the shared force loop on its share of the
   neighbour list into its own force segment, which FixOMP reduces.
------------------------------------------------------------------------- */

#ifndef LMP_PAIR_FMP_LBS_OMP_H
#define LMP_PAIR_FMP_LBS_OMP_H

#include "pair_fmp_lbs.h"
#include "thr_omp.h"

namespace LAMMPS_NS {

class PairFMPLBSOMP : public PairFMPLBS, public ThrOMP {
 public:
  PairFMPLBSOMP(class LAMMPS *);

  void compute(int, int) override;
  double memory_usage() override;
};

}    // namespace LAMMPS_NS

#endif
