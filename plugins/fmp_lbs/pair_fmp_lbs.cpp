/* ----------------------------------------------------------------------
   pair_style fmp/lbs (see pair_fmp_lbs.h and docs/fmp_file_format.md).

   The force loop follows the coul/long family of LAMMPS (pair
   buck/coul/long): erfc-screened real-space Coulomb, optional Coulomb
   tables (pair_modify table N), special-bond factors, newton on/off via
   ev_tally. The only addition is the cheap r < r0 test selecting the core.
------------------------------------------------------------------------- */

#include "pair_fmp_lbs.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "ewald_const.h"
#include "force.h"
#include "kspace.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "utils.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>

using namespace LAMMPS_NS;
using namespace EwaldConst;

namespace {
const double NOT_SET = std::numeric_limits<double>::quiet_NaN();
}

/* ---------------------------------------------------------------------- */

PairFMPLBS::PairFMPLBS(LAMMPS *lmp) : Pair(lmp)
{
  ewaldflag = pppmflag = 1;
  single_enable = 1;
  restartinfo = 0;    // settings live in the parameter file; re-issue pair_coeff after read_restart
  writedata = 0;
  cut_lj_global = cut_coul = cut_coulsq = g_ewald = 0.0;
  R_fixed_flag = K_fixed_flag = 0;
  R_fixed = K_fixed = 0.0;
  R_used = K_used = N4_used = NOT_SET;
  qtype = nullptr;
  a = rho = c = r0 = b_core = n_core = d_core = nullptr;
  cut_lj = cut_ljsq = rhoinv = buck1 = buck2 = r0sq = core1 = core2 = offset = nullptr;

  // R, K, N4 for 'compute pair fmp/lbs' (vector 1..3)
  nextra = 3;
  pvector = new double[nextra];
  for (int i = 0; i < nextra; i++) pvector[i] = 0.0;
}

PairFMPLBS::~PairFMPLBS()
{
  delete[] pvector;
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(qtype);
    for (double ***p : {&a, &rho, &c, &r0, &b_core, &n_core, &d_core, &cut_lj, &cut_ljsq, &rhoinv,
                        &buck1, &buck2, &r0sq, &core1, &core2, &offset})
      memory->destroy(*p);
  }
  if (ftable) free_tables();
}

/* ---------------------------------------------------------------------- */

void PairFMPLBS::compute(int eflag, int vflag)
{
  int i, j, ii, jj, inum, jnum, itype, jtype;
  int itable = 0;    // initialised only to quiet -Wmaybe-uninitialized
  double qtmp, xtmp, ytmp, ztmp, delx, dely, delz, evdwl, ecoul, fpair;
  double fraction = 0.0, table;
  double r, rsq, r2inv, r6inv, forcecoul, forcebuck, factor_coul, factor_lj;
  double grij, expm2, t, rexp, rn;
  double prefactor = 0.0, erfc = 0.0;
  int *ilist, *jlist, *numneigh, **firstneigh;

  evdwl = ecoul = 0.0;
  ev_init(eflag, vflag);

  double **x = atom->x;
  double **f = atom->f;
  double *q = atom->q;
  int *type = atom->type;
  int nlocal = atom->nlocal;
  double *special_coul = force->special_coul;
  double *special_lj = force->special_lj;
  int newton_pair = force->newton_pair;
  double qqrd2e = force->qqrd2e;
  union_int_float_t rsq_lookup;

  inum = list->inum;
  ilist = list->ilist;
  numneigh = list->numneigh;
  firstneigh = list->firstneigh;

  for (ii = 0; ii < inum; ii++) {
    i = ilist[ii];
    qtmp = q[i];
    xtmp = x[i][0];
    ytmp = x[i][1];
    ztmp = x[i][2];
    itype = type[i];
    jlist = firstneigh[i];
    jnum = numneigh[i];

    for (jj = 0; jj < jnum; jj++) {
      j = jlist[jj];
      factor_lj = special_lj[sbmask(j)];
      factor_coul = special_coul[sbmask(j)];
      j &= NEIGHMASK;

      delx = xtmp - x[j][0];
      dely = ytmp - x[j][1];
      delz = ztmp - x[j][2];
      rsq = delx * delx + dely * dely + delz * delz;
      jtype = type[j];

      if (rsq < cutsq[itype][jtype]) {
        r2inv = 1.0 / rsq;
        r = sqrt(rsq);

        if (rsq < cut_coulsq) {
          if (!ncoultablebits || rsq <= tabinnersq) {
            grij = g_ewald * r;
            expm2 = exp(-grij * grij);
            t = 1.0 / (1.0 + EWALD_P * grij);
            erfc = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * expm2;
            prefactor = qqrd2e * qtmp * q[j] / r;
            forcecoul = prefactor * (erfc + EWALD_F * grij * expm2);
            if (factor_coul < 1.0) forcecoul -= (1.0 - factor_coul) * prefactor;
          } else {
            rsq_lookup.f = rsq;
            itable = rsq_lookup.i & ncoulmask;
            itable >>= ncoulshiftbits;
            fraction = ((double) rsq_lookup.f - rtable[itable]) * drtable[itable];
            table = ftable[itable] + fraction * dftable[itable];
            forcecoul = qtmp * q[j] * table;
            if (factor_coul < 1.0) {
              table = ctable[itable] + fraction * dctable[itable];
              prefactor = qtmp * q[j] * table;
              forcecoul -= (1.0 - factor_coul) * prefactor;
            }
          }
        } else
          forcecoul = 0.0;

        // short range: core below r0, Buckingham above; energies right here
        // so the branch is taken once
        if (rsq < cut_ljsq[itype][jtype]) {
          if (rsq < r0sq[itype][jtype]) {
            rn = pow(r, -n_core[itype][jtype]);
            forcebuck = core1[itype][jtype] * rn - core2[itype][jtype] * rsq;
            if (eflag)
              evdwl = factor_lj *
                  (b_core[itype][jtype] * rn + d_core[itype][jtype] * rsq - offset[itype][jtype]);
          } else {
            r6inv = r2inv * r2inv * r2inv;
            rexp = exp(-r * rhoinv[itype][jtype]);
            forcebuck = buck1[itype][jtype] * r * rexp - buck2[itype][jtype] * r6inv;
            if (eflag)
              evdwl = factor_lj * (a[itype][jtype] * rexp - c[itype][jtype] * r6inv -
                                   offset[itype][jtype]);
          }
        } else {
          forcebuck = 0.0;
          evdwl = 0.0;
        }

        fpair = (forcecoul + factor_lj * forcebuck) * r2inv;

        f[i][0] += delx * fpair;
        f[i][1] += dely * fpair;
        f[i][2] += delz * fpair;
        if (newton_pair || j < nlocal) {
          f[j][0] -= delx * fpair;
          f[j][1] -= dely * fpair;
          f[j][2] -= delz * fpair;
        }

        if (eflag) {
          if (rsq < cut_coulsq) {
            if (!ncoultablebits || rsq <= tabinnersq)
              ecoul = prefactor * erfc;
            else {
              table = etable[itable] + fraction * detable[itable];
              ecoul = qtmp * q[j] * table;
            }
            if (factor_coul < 1.0) ecoul -= (1.0 - factor_coul) * prefactor;
          } else
            ecoul = 0.0;
        }

        if (evflag) ev_tally(i, j, nlocal, newton_pair, evdwl, ecoul, fpair, delx, dely, delz);
      }
    }
  }

  if (vflag_fdotr) virial_fdotr_compute();
}

/* ---------------------------------------------------------------------- */

void PairFMPLBS::allocate()
{
  allocated = 1;
  const int np1 = atom->ntypes + 1;
  memory->create(setflag, np1, np1, "pair:setflag");
  for (int i = 1; i < np1; i++)
    for (int j = i; j < np1; j++) setflag[i][j] = 0;
  memory->create(cutsq, np1, np1, "pair:cutsq");
  memory->create(qtype, np1, "pair:qtype");
  for (double ***p : {&a, &rho, &c, &r0, &b_core, &n_core, &d_core, &cut_lj, &cut_ljsq, &rhoinv,
                      &buck1, &buck2, &r0sq, &core1, &core2, &offset}) {
    memory->create(*p, np1, np1, "pair:fmp");
    for (int i = 0; i < np1; i++)
      for (int j = 0; j < np1; j++) (*p)[i][j] = 0.0;
  }
  type_element.assign(np1, "");
}

/* ----------------------------------------------------------------------
   pair_style fmp/lbs <cut> [<cut_coul>] [R <value>] [K <value>]
------------------------------------------------------------------------- */

void PairFMPLBS::settings(int narg, char **arg)
{
  if (narg < 1)
    error->all(FLERR, "Illegal pair_style fmp/lbs command: use "
                      "'pair_style fmp/lbs <cut> [<cut_coul>] [R <value>] [K <value>]'");
  cut_lj_global = utils::numeric(FLERR, arg[0], false, lmp);
  cut_coul = cut_lj_global;
  int iarg = 1;
  if (iarg < narg && utils::is_double(arg[iarg])) cut_coul = utils::numeric(FLERR, arg[iarg++], false, lmp);
  R_fixed_flag = K_fixed_flag = 0;
  while (iarg < narg) {
    if (iarg + 1 >= narg)
      error->all(FLERR, "pair_style fmp/lbs: keyword {} needs a value (R <value> K <value>)",
                 arg[iarg]);
    if (strcmp(arg[iarg], "R") == 0) {
      R_fixed = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      R_fixed_flag = 1;
    } else if (strcmp(arg[iarg], "K") == 0) {
      K_fixed = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      K_fixed_flag = 1;
    } else
      error->all(FLERR, "pair_style fmp/lbs: unknown keyword {} (use R <value> K <value>)",
                 arg[iarg]);
    iarg += 2;
  }
  if (cut_lj_global <= 0.0 || cut_coul <= 0.0)
    error->all(FLERR, "pair_style fmp/lbs: cutoffs must be > 0");
  if ((R_fixed_flag && R_fixed < 0.0) || (K_fixed_flag && K_fixed < 0.0))
    error->all(FLERR, "pair_style fmp/lbs: R and K must be >= 0");
}

/* ----------------------------------------------------------------------
   pair_coeff * * <file> <element of type 1> ... <element of type N>
   rank 0 reads the file, every rank parses the broadcast text, so a
   malformed file fails identically everywhere.
------------------------------------------------------------------------- */

void PairFMPLBS::coeff(int narg, char **arg)
{
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR,
               "pair_coeff for fmp/lbs must be 'pair_coeff * * <parameter file> <element of type "
               "1> ... <element of type {}>' (one element per atom type)",
               ntypes);
  // checked here too: a kspace style is initialised before the pair style
  // and would otherwise report the missing charges in its own words
  if (!atom->q_flag)
    error->all(FLERR, "pair style fmp/lbs needs per-atom charges: use atom_style charge (or full)");
  if (!allocated) allocate();

  pfile_path = arg[2];
  std::string text;
  long len = -1;
  if (comm->me == 0) {
    FILE *fp = fopen(pfile_path.c_str(), "rb");
    if (fp) {
      char buf[4096];
      size_t nr;
      while ((nr = fread(buf, 1, sizeof(buf), fp)) > 0) text.append(buf, nr);
      fclose(fp);
      len = (long) text.size();
    }
  }
  MPI_Bcast(&len, 1, MPI_LONG, 0, world);
  if (len < 0)
    error->all(FLERR,
               "fmp/lbs parameter file {} not found: give an existing path in pair_coeff (the "
               "default set is pylbs/data/lbs_default.fmp, see pylbs.potential.DEFAULT_PARAMETER_FILE)",
               pfile_path);
  text.resize(len);
  if (len > 0) MPI_Bcast(&text[0], (int) len, MPI_CHAR, 0, world);

  try {
    pfile = FMPLBS::parse_parameter_text(text, pfile_path);
  } catch (FMPLBS::RuleError &e) {
    error->all(FLERR, "fmp/lbs: {}", e.what());
  }

  for (int i = 1; i <= ntypes; i++) {
    const std::string el = arg[3 + i - 1];
    if (!pfile.charge.count(el))
      error->all(FLERR, "fmp/lbs: element {} (type {}) is not in {}: add charge/pair lines for it",
                 el, i, pfile_path);
    type_element[i] = el;
    qtype[i] = pfile.charge.at(el);
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;

  // charges now, so a kspace style initialised before this pair style sees them
  apply_charges();
  last_log.clear();
}

/* ----------------------------------------------------------------------
   set q of every local atom from its type; true if any changed (all ranks)
------------------------------------------------------------------------- */

bool PairFMPLBS::apply_charges()
{
  double *q = atom->q;
  int *type = atom->type;
  int changed = 0, any = 0;
  for (int i = 0; i < atom->nlocal; i++) {
    const double qi = qtype[type[i]];
    if (q[i] != qi) {
      q[i] = qi;
      changed = 1;
    }
  }
  MPI_Allreduce(&changed, &any, 1, MPI_INT, MPI_MAX, world);
  return any != 0;
}

/* ---------------------------------------------------------------------- */

void PairFMPLBS::init_style()
{
  if (!atom->q_flag)
    error->all(FLERR, "pair style fmp/lbs needs per-atom charges: use atom_style charge (or full)");
  if (force->kspace == nullptr)
    error->all(FLERR, "pair style fmp/lbs needs long-range Coulomb: add 'kspace_style pppm 1.0e-5' "
                      "(or ewald) after pair_coeff");

  // the parameter file is the source of truth for charges; kspace was
  // initialised before this pair style, so re-initialise it if they changed
  if (apply_charges()) force->kspace->init();

  neighbor->add_request(this);
  resolve_parameters();

  cut_coulsq = cut_coul * cut_coul;
  g_ewald = force->kspace->g_ewald;
  if (ncoultablebits) init_tables(cut_coul, nullptr);
}

/* ----------------------------------------------------------------------
   composition from the whole box -> per element pair numbers -> type pairs
------------------------------------------------------------------------- */

void PairFMPLBS::resolve_parameters()
{
  const int ntypes = atom->ntypes;
  std::vector<double> nlocal_type(ntypes + 1, 0.0), ntype(ntypes + 1, 0.0);
  for (int i = 0; i < atom->nlocal; i++) nlocal_type[atom->type[i]] += 1.0;
  MPI_Allreduce(nlocal_type.data(), ntype.data(), ntypes + 1, MPI_DOUBLE, MPI_SUM, world);
  std::map<std::string, double> nel;
  for (int i = 1; i <= ntypes; i++) nel[type_element[i]] += ntype[i];

  // R = [Li2O]/[B2O3] = N_Li/N_B, K = [SiO2]/[B2O3] = 2 N_Si/N_B
  const double nB = nel["B"];
  R_used = R_fixed_flag ? R_fixed : (nB > 0 ? nel["Li"] / nB : NOT_SET);
  K_used = K_fixed_flag ? K_fixed : (nB > 0 ? 2.0 * nel["Si"] / nB : NOT_SET);
  N4_used = (std::isfinite(R_used) && std::isfinite(K_used)) ? FMPLBS::dbx_n4(R_used, K_used)
                                                             : NOT_SET;

  // resolve each element pair present in the type map once
  std::map<const FMPLBS::PairSpec *, FMPLBS::Resolved> cache;
  for (int i = 1; i <= ntypes; i++) {
    for (int j = i; j <= ntypes; j++) {
      const FMPLBS::PairSpec *ps = pfile.find_pair(type_element[i], type_element[j]);
      FMPLBS::Resolved res;
      if (ps) {
        if (!cache.count(ps)) {
          if (ps->asource != FMPLBS::PairSpec::FIXED &&
              !(std::isfinite(R_used) && std::isfinite(K_used)))
            error->all(FLERR,
                       "fmp/lbs: pair {}-{} takes A from the composition ({}:{}), which needs B "
                       "atoms in the box, but there are none: add B or give 'R <value> K <value>' "
                       "in pair_style",
                       ps->el1, ps->el2,
                       ps->asource == FMPLBS::PairSpec::RULE ? "rule" : "table", ps->aname);
          try {
            cache[ps] = FMPLBS::resolve_pair(pfile, *ps, R_used, K_used);
          } catch (FMPLBS::RuleError &e) {
            error->all(FLERR, "fmp/lbs: pair {}-{}: {}", ps->el1, ps->el2, e.what());
          }
        }
        res = cache[ps];
      }
      a[i][j] = res.active ? res.A : 0.0;
      rho[i][j] = res.active ? res.rho : 0.0;
      c[i][j] = res.active ? res.C : 0.0;
      cut_lj[i][j] = res.active ? cut_lj_global : 0.0;
      r0[i][j] = res.has_core ? res.r0 : 0.0;
      b_core[i][j] = res.has_core ? res.B : 0.0;
      n_core[i][j] = res.has_core ? res.n : 0.0;
      d_core[i][j] = res.has_core ? res.D : 0.0;
    }
  }

  // pvector is summed over ranks by compute pair: only rank 0 contributes
  const bool root = comm->me == 0;
  pvector[0] = root ? R_used : 0.0;
  pvector[1] = root ? K_used : 0.0;
  pvector[2] = root ? N4_used : 0.0;

  // log the resolved set only when it changed
  std::ostringstream log;
  log.precision(10);
  log << "fmp/lbs: parameters from " << pfile_path << ": R = " << R_used << ", K = " << K_used
      << ", N4 = " << N4_used << "\n";
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) {
      log << "  " << type_element[i] << "-" << type_element[j] << ":";
      if (cut_lj[i][j] > 0.0) {
        log << " A " << a[i][j] << " rho " << rho[i][j] << " C " << c[i][j];
        if (r0[i][j] > 0.0)
          log << " core B " << b_core[i][j] << " n " << n_core[i][j] << " D " << d_core[i][j]
              << " r0 " << r0[i][j];
      } else
        log << " Coulomb only";
      log << "\n";
    }
  if (log.str() != last_log) {
    last_log = log.str();
    utils::logmesg(lmp, last_log);
  }
}

/* ----------------------------------------------------------------------
   derived per type pair constants, once per init
------------------------------------------------------------------------- */

double PairFMPLBS::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "fmp/lbs: all pair coeffs are not set");

  const double rc = cut_lj[i][j];
  cut_ljsq[i][j] = rc * rc;
  rhoinv[i][j] = rc > 0.0 ? 1.0 / rho[i][j] : 0.0;
  buck1[i][j] = rc > 0.0 ? a[i][j] / rho[i][j] : 0.0;
  buck2[i][j] = 6.0 * c[i][j];
  r0sq[i][j] = r0[i][j] * r0[i][j];
  core1[i][j] = n_core[i][j] * b_core[i][j];
  core2[i][j] = 2.0 * d_core[i][j];

  if (offset_flag && rc > 0.0) {
    const double rexp = exp(-rc / rho[i][j]);
    offset[i][j] = a[i][j] * rexp - c[i][j] / pow(rc, 6.0);
  } else
    offset[i][j] = 0.0;

  for (double **p : {a, rho, c, r0, b_core, n_core, d_core, cut_lj, cut_ljsq, rhoinv, buck1, buck2,
                     r0sq, core1, core2, offset})
    p[j][i] = p[i][j];

  return cut_lj[i][j] > cut_coul ? cut_lj[i][j] : cut_coul;
}

/* ---------------------------------------------------------------------- */

double PairFMPLBS::single(int i, int j, int itype, int jtype, double rsq, double factor_coul,
                          double factor_lj, double &fforce)
{
  double r2inv, r6inv, r, rexp, rn, grij, expm2, t, erfc, prefactor;
  double fraction, table, forcecoul, forcebuck, phicoul, phibuck;
  union_int_float_t rsq_lookup;
  int itable;

  r2inv = 1.0 / rsq;
  r = sqrt(rsq);
  forcecoul = phicoul = 0.0;
  if (rsq < cut_coulsq) {
    if (!ncoultablebits || rsq <= tabinnersq) {
      grij = g_ewald * r;
      expm2 = exp(-grij * grij);
      t = 1.0 / (1.0 + EWALD_P * grij);
      erfc = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * expm2;
      prefactor = force->qqrd2e * atom->q[i] * atom->q[j] / r;
      forcecoul = prefactor * (erfc + EWALD_F * grij * expm2);
      phicoul = prefactor * erfc;
    } else {
      rsq_lookup.f = rsq;
      itable = rsq_lookup.i & ncoulmask;
      itable >>= ncoulshiftbits;
      fraction = ((double) rsq_lookup.f - rtable[itable]) * drtable[itable];
      table = ftable[itable] + fraction * dftable[itable];
      forcecoul = atom->q[i] * atom->q[j] * table;
      table = etable[itable] + fraction * detable[itable];
      phicoul = atom->q[i] * atom->q[j] * table;
      table = ctable[itable] + fraction * dctable[itable];
      prefactor = atom->q[i] * atom->q[j] * table;
    }
    if (factor_coul < 1.0) {
      forcecoul -= (1.0 - factor_coul) * prefactor;
      phicoul -= (1.0 - factor_coul) * prefactor;
    }
  }

  forcebuck = phibuck = 0.0;
  if (rsq < cut_ljsq[itype][jtype]) {
    if (rsq < r0sq[itype][jtype]) {
      rn = pow(r, -n_core[itype][jtype]);
      forcebuck = core1[itype][jtype] * rn - core2[itype][jtype] * rsq;
      phibuck = b_core[itype][jtype] * rn + d_core[itype][jtype] * rsq - offset[itype][jtype];
    } else {
      r6inv = r2inv * r2inv * r2inv;
      rexp = exp(-r * rhoinv[itype][jtype]);
      forcebuck = buck1[itype][jtype] * r * rexp - buck2[itype][jtype] * r6inv;
      phibuck = a[itype][jtype] * rexp - c[itype][jtype] * r6inv - offset[itype][jtype];
    }
  }

  fforce = (forcecoul + factor_lj * forcebuck) * r2inv;
  return phicoul + factor_lj * phibuck;
}

/* ---------------------------------------------------------------------- */

void *PairFMPLBS::extract(const char *str, int &dim)
{
  dim = 0;
  if (strcmp(str, "cut_coul") == 0) return (void *) &cut_coul;
  if (strcmp(str, "R") == 0) return (void *) &R_used;
  if (strcmp(str, "K") == 0) return (void *) &K_used;
  if (strcmp(str, "N4") == 0) return (void *) &N4_used;
  dim = 2;
  if (strcmp(str, "a") == 0) return (void *) a;
  if (strcmp(str, "rho") == 0) return (void *) rho;
  if (strcmp(str, "c") == 0) return (void *) c;
  if (strcmp(str, "r0") == 0) return (void *) r0;
  if (strcmp(str, "b_core") == 0) return (void *) b_core;
  if (strcmp(str, "n_core") == 0) return (void *) n_core;
  if (strcmp(str, "d_core") == 0) return (void *) d_core;
  return nullptr;
}
