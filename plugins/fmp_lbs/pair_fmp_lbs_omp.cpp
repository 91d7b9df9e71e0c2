/* ----------------------------------------------------------------------
   pair_style fmp/lbs/omp (see pair_fmp_lbs_omp.h)
------------------------------------------------------------------------- */

#include "pair_fmp_lbs_omp.h"
#include "pair_fmp_lbs_kernel.h"

#include "comm.h"
#include "error.h"
#include "suffix.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace LAMMPS_NS;

/* ---------------------------------------------------------------------- */

PairFMPLBSOMP::PairFMPLBSOMP(LAMMPS *lmp) : PairFMPLBS(lmp), ThrOMP(lmp, THR_PAIR)
{
  suffix_flag |= Suffix::OMP;
  respa_enable = 0;
}

/* ---------------------------------------------------------------------- */

void PairFMPLBSOMP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);

  const int nall = atom->nlocal + atom->nghost;
  const int nthreads = comm->nthreads;
  const int inum = list->inum;
  // FixOMP is read through headers written for the wheel (compat/): a
  // mismatch would show here first, as a thread count that is not ours
  if (fix->get_nthr() != nthreads)
    error->all(FLERR, "fmp/lbs/omp: package omp reports {} threads, LAMMPS {}: the plugin was "
                      "built against another LAMMPS; rebuild it for this one",
               fix->get_nthr(), nthreads);

#if defined(_OPENMP)
#pragma omp parallel
#endif
  {
#if defined(_OPENMP)
    const int tid = omp_get_thread_num();
#else
    const int tid = 0;
#endif
    // contiguous chunks of the list, as the OPENMP package does
    const int chunk = 1 + inum / nthreads;
    const int ifrom = tid * chunk < inum ? tid * chunk : inum;
    const int ito = ifrom + chunk < inum ? ifrom + chunk : inum;

    ThrData *thr = fix->get_thr(tid);
    thr->timer(Timer::START);
    ev_setup_thr(eflag, vflag, nall, eatom, vatom, nullptr, thr);

    eval_dispatch(ifrom, ito, thr->get_f(),
                  [this, thr](int i, int j, int nlocal, int newton, double evdwl, double ecoul,
                              double fpair, double delx, double dely, double delz) {
                    ev_tally_thr(this, i, j, nlocal, newton, evdwl, ecoul, fpair, delx, dely,
                                 delz, thr);
                  });

    thr->timer(Timer::PAIR);
    reduce_thr(this, eflag, vflag, thr);
  }
}

/* ---------------------------------------------------------------------- */

double PairFMPLBSOMP::memory_usage()
{
  return memory_usage_thr() + PairFMPLBS::memory_usage();
}
