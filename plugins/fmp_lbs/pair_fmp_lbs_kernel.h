/* -*- c++ -*- ----------------------------------------------------------
   The force loop of fmp/lbs, written once and instantiated by the serial
   style (tally = Pair::ev_tally into atom->f) and by fmp/lbs/omp (tally =
   ThrOMP::ev_tally_thr into the thread's force segment).
------------------------------------------------------------------------- */

#ifndef LMP_PAIR_FMP_LBS_KERNEL_H
#define LMP_PAIR_FMP_LBS_KERNEL_H

#include "pair_fmp_lbs.h"

#include "atom.h"
#include "ewald_const.h"
#include "force.h"
#include "neigh_list.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace LAMMPS_NS {

static constexpr double TWO_OVER_SQRTPI = 1.12837916709551257390;

/* ---------------------------------------------------------------------- */

inline int64_t PairFMPLBS::tab_interval(const TabPair &tp, double rsq, double &d) const
{
  uint64_t bits;
  std::memcpy(&bits, &rsq, sizeof(bits));
  const uint64_t startbits = (bits >> tab_shift) << tab_shift;
  double start;
  std::memcpy(&start, &startbits, sizeof(start));
  d = rsq - start;    // exact: same binade
  return (int64_t) (bits >> tab_shift) - tp.idx0;
}

/* ----------------------------------------------------------------------
   qiqj = q_i q_j (without qqrd2e). Same arithmetic as pair buck/coul/long
   plus the core branch, so 'table 0' reproduces buck/coul/long.
------------------------------------------------------------------------- */

template <int EFLAG, int BUILD>
double PairFMPLBS::pair_analytic(int itype, int jtype, double rsq, double qiqj, double factor_coul,
                                 double factor_lj, double &ecoul, double &evdwl) const
{
  using namespace EwaldConst;
  const double r2inv = 1.0 / rsq;
  const double r = sqrt(rsq);
  double forcecoul = 0.0, forcebuck = 0.0;
  ecoul = evdwl = 0.0;

  if (BUILD || rsq < cut_coulsq) {
    double prefactor = 0.0;
    if (BUILD) {
      // the exact erfc, as LAMMPS's own Coulomb tables: the table's force is
      // then the derivative of its energy, and both match the k-space split
      const double grij = g_ewald * r;
      const double erfc = std::erfc(grij);
      prefactor = force->qqrd2e * qiqj / r;
      forcecoul = prefactor * (erfc + TWO_OVER_SQRTPI * grij * exp(-grij * grij));
      ecoul = prefactor * erfc;
    } else if (!ncoultablebits || rsq <= tabinnersq) {
      const double grij = g_ewald * r;
      const double expm2 = exp(-grij * grij);
      const double t = 1.0 / (1.0 + EWALD_P * grij);
      const double erfc = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * expm2;
      prefactor = force->qqrd2e * qiqj / r;
      forcecoul = prefactor * (erfc + EWALD_F * grij * expm2);
      if (EFLAG) ecoul = prefactor * erfc;
    } else {
      union_int_float_t rsq_lookup;
      rsq_lookup.f = rsq;
      const int itable = (rsq_lookup.i & ncoulmask) >> ncoulshiftbits;
      const double fraction = ((double) rsq_lookup.f - rtable[itable]) * drtable[itable];
      forcecoul = qiqj * (ftable[itable] + fraction * dftable[itable]);
      if (EFLAG) ecoul = qiqj * (etable[itable] + fraction * detable[itable]);
      if (factor_coul < 1.0) prefactor = qiqj * (ctable[itable] + fraction * dctable[itable]);
    }
    if (factor_coul < 1.0) {
      forcecoul -= (1.0 - factor_coul) * prefactor;
      if (EFLAG) ecoul -= (1.0 - factor_coul) * prefactor;
    }
  }

  if (BUILD ? cut_lj[itype][jtype] > 0.0 : rsq < cut_ljsq[itype][jtype]) {
    if (rsq < r0sq[itype][jtype]) {
      const double rn = pow(r, -n_core[itype][jtype]);
      forcebuck = core1[itype][jtype] * rn - core2[itype][jtype] * rsq;
      if (EFLAG)
        evdwl = factor_lj *
            (b_core[itype][jtype] * rn + d_core[itype][jtype] * rsq - offset[itype][jtype]);
    } else {
      const double r6inv = r2inv * r2inv * r2inv;
      const double rexp = exp(-r * rhoinv[itype][jtype]);
      forcebuck = buck1[itype][jtype] * r * rexp - buck2[itype][jtype] * r6inv;
      if (EFLAG)
        evdwl = factor_lj *
            (a[itype][jtype] * rexp - c[itype][jtype] * r6inv - offset[itype][jtype]);
    }
  }
  return (forcecoul + factor_lj * forcebuck) * r2inv;
}

/* ----------------------------------------------------------------------
   pairs inside a type pair's table range and without special-bond
   scaling: one table interval (one cache line for the force); all others
   (inside the core, below 1 A, special bonds, between unequal cutoffs):
   the formulas above.
------------------------------------------------------------------------- */

template <int EVFLAG, int EFLAG, int NEWTON_PAIR, class Tally>
void PairFMPLBS::eval(int iifrom, int iito, double **fout, const Tally &tally)
{
  const double *const x = atom->x[0];
  double *const f = fout[0];
  const double *const q = atom->q;
  const int *const type = atom->type;
  const int nlocal = atom->nlocal;
  const double *const special_coul = force->special_coul;
  const double *const special_lj = force->special_lj;
  const int np1 = atom->ntypes + 1;
  const int *const ilist = list->ilist;
  const int *const numneigh = list->numneigh;
  int **const firstneigh = list->firstneigh;
  const TabPair *const tabp = tab.data();

  // neighbours inside the cutoff, gathered first without branches: about
  // 40 % of a list (skin included) lies outside, at random, and a branch
  // per neighbour mispredicts often
  std::vector<int> jbuf;
  std::vector<double> dbuf;

  for (int ii = iifrom; ii < iito; ii++) {
    const int i = ilist[ii];
    const double qtmp = q[i];
    const double xtmp = x[3 * i + 0];
    const double ytmp = x[3 * i + 1];
    const double ztmp = x[3 * i + 2];
    const int itype = type[i];
    const TabPair *const trow = tabp + itype * np1;
    const double *const cutsqi = cutsq[itype];
    const int *const jlist = firstneigh[i];
    const int jnum = numneigh[i];
    if ((int) jbuf.size() < jnum) {
      jbuf.resize(jnum);
      dbuf.resize(4 * (size_t) jnum);
    }
    int *const jb = jbuf.data();
    double *const db = dbuf.data();

    int m = 0;
    for (int jj = 0; jj < jnum; jj++) {
      const int jraw = jlist[jj];
      const int j = jraw & NEIGHMASK;
      const double delx = xtmp - x[3 * j + 0];
      const double dely = ytmp - x[3 * j + 1];
      const double delz = ztmp - x[3 * j + 2];
      const double rsq = delx * delx + dely * dely + delz * delz;
      jb[m] = jraw;
      db[4 * m + 0] = delx;
      db[4 * m + 1] = dely;
      db[4 * m + 2] = delz;
      db[4 * m + 3] = rsq;
      m += rsq < cutsqi[type[j]];
    }

    double fxtmp = 0.0, fytmp = 0.0, fztmp = 0.0;
    for (int mm = 0; mm < m; mm++) {
      int j = jb[mm];
      const int sb = sbmask(j);
      j &= NEIGHMASK;
      const double delx = db[4 * mm + 0];
      const double dely = db[4 * mm + 1];
      const double delz = db[4 * mm + 2];
      const double rsq = db[4 * mm + 3];
      const int jtype = type[j];
      const TabPair &tp = trow[jtype];
      double fpair, evdwl = 0.0, ecoul = 0.0;

      if (rsq < tp.hi && rsq >= tp.lo && sb == 0) {
        double d;
        const int64_t k = tab_interval(tp, rsq, d);
        const double *const cf = tp.f + 4 * k;
        fpair = cf[0] + d * (cf[1] + d * (cf[2] + d * cf[3]));
        if (EFLAG) {
          const double *const ce = tp.e + 8 * k;
          ecoul = ce[0] + d * (ce[1] + d * (ce[2] + d * ce[3]));
          evdwl = ce[4] + d * (ce[5] + d * (ce[6] + d * ce[7]));
        }
      } else {
        fpair = pair_analytic<EFLAG, 0>(itype, jtype, rsq, qtmp * q[j], special_coul[sb],
                                        special_lj[sb], ecoul, evdwl);
      }

      fxtmp += delx * fpair;
      fytmp += dely * fpair;
      fztmp += delz * fpair;
      if (NEWTON_PAIR || j < nlocal) {
        f[3 * j + 0] -= delx * fpair;
        f[3 * j + 1] -= dely * fpair;
        f[3 * j + 2] -= delz * fpair;
      }
      if (EVFLAG) tally(i, j, nlocal, NEWTON_PAIR, evdwl, ecoul, fpair, delx, dely, delz);
    }
    f[3 * i + 0] += fxtmp;
    f[3 * i + 1] += fytmp;
    f[3 * i + 2] += fztmp;
  }
}

/* ---------------------------------------------------------------------- */

template <class Tally>
void PairFMPLBS::eval_dispatch(int iifrom, int iito, double **fout, const Tally &tally)
{
  if (evflag) {
    if (eflag_either) {
      if (force->newton_pair)
        eval<1, 1, 1>(iifrom, iito, fout, tally);
      else
        eval<1, 1, 0>(iifrom, iito, fout, tally);
    } else {
      if (force->newton_pair)
        eval<1, 0, 1>(iifrom, iito, fout, tally);
      else
        eval<1, 0, 0>(iifrom, iito, fout, tally);
    }
  } else {
    if (force->newton_pair)
      eval<0, 0, 1>(iifrom, iito, fout, tally);
    else
      eval<0, 0, 0>(iifrom, iito, fout, tally);
  }
}

}    // namespace LAMMPS_NS

#endif
