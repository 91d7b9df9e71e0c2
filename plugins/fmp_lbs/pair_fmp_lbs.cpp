/* ----------------------------------------------------------------------
   pair_style fmp/lbs (see pair_fmp_lbs.h, docs/fmp_pair_style.md and
   docs/fmp_file_format.md).

   The formulas follow the coul/long family of LAMMPS (pair
   buck/coul/long): erfc-screened real-space Coulomb, optional Coulomb
   tables (pair_modify table N), special-bond factors, newton on/off via
   ev_tally, plus the r < r0 test selecting the core. By default most pairs
   are instead read from one merged cubic table per type pair
   (pair_fmp_lbs_kernel.h has the loop).
------------------------------------------------------------------------- */

#include "pair_fmp_lbs.h"
#include "pair_fmp_lbs_kernel.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "kspace.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "utils.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>

using namespace LAMMPS_NS;

namespace {
const double NOT_SET = std::numeric_limits<double>::quiet_NaN();

// tables start at r = 1 A at the innermost (or at the core radius): closer
// pairs only occur in a collapse and take the analytic branch
constexpr double TAB_INNER_RSQ = 1.0;

double from_bits(uint64_t b)
{
  double v;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}

uint64_t to_bits(double v)
{
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}
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
  table_bits = TABLE_BITS_DEFAULT;
  tab_shift = 52 - table_bits;
  tab_bytes = 0.0;
  table_bits_double = table_bits;

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
  free_tab();
}

/* ---------------------------------------------------------------------- */

void PairFMPLBS::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  eval_dispatch(0, list->inum, atom->f,
                [this](int i, int j, int nlocal, int newton, double evdwl, double ecoul,
                       double fpair, double delx, double dely, double delz) {
                  ev_tally(i, j, nlocal, newton, evdwl, ecoul, fpair, delx, dely, delz);
                });
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
    error->all(FLERR, "Illegal pair_style fmp/lbs command: use 'pair_style fmp/lbs <cut> "
                      "[<cut_coul>] [R <value>] [K <value>] [table <N>]'");
  cut_lj_global = utils::numeric(FLERR, arg[0], false, lmp);
  cut_coul = cut_lj_global;
  int iarg = 1;
  if (iarg < narg && utils::is_double(arg[iarg])) cut_coul = utils::numeric(FLERR, arg[iarg++], false, lmp);
  R_fixed_flag = K_fixed_flag = 0;
  table_bits = TABLE_BITS_DEFAULT;
  while (iarg < narg) {
    if (iarg + 1 >= narg)
      error->all(FLERR,
                 "pair_style fmp/lbs: keyword {} needs a value (R <value> K <value> table <N>)",
                 arg[iarg]);
    if (strcmp(arg[iarg], "R") == 0) {
      R_fixed = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      R_fixed_flag = 1;
    } else if (strcmp(arg[iarg], "K") == 0) {
      K_fixed = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      K_fixed_flag = 1;
    } else if (strcmp(arg[iarg], "table") == 0) {
      table_bits = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (table_bits != 0 && (table_bits < 4 || table_bits > 16))
        error->all(FLERR,
                   "pair_style fmp/lbs: table {} is out of range: use table 0 (analytic) or "
                   "4..16 (2^N intervals per doubling of r^2, default {})",
                   table_bits, TABLE_BITS_DEFAULT);
    } else
      error->all(FLERR,
                 "pair_style fmp/lbs: unknown keyword {} (use R <value> K <value> table <N>)",
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

  // merged tables are filled per type pair in init_one
  free_tab();
  tab_shift = 52 - (table_bits > 0 ? table_bits : TABLE_BITS_DEFAULT);
  table_bits_double = table_bits;
  const int np1 = atom->ntypes + 1;
  tab.assign((size_t) np1 * np1, TabPair{0.0, 0.0, nullptr, nullptr, 0});
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
      // a pair whose element has no atoms in the box never acts: leave it inactive (pure SiO2
      // or a lithium silicate has no B, so its B-O pair needs no R and K)
      const bool absent = nel[type_element[i]] == 0.0 || nel[type_element[j]] == 0.0;
      if (ps && !absent) {
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

  if (table_bits > 0) build_table(i, j);

  return cut_lj[i][j] > cut_coul ? cut_lj[i][j] : cut_coul;
}

/* ---------------------------------------------------------------------- */

void PairFMPLBS::free_tab()
{
  for (double *p : tab_mem) std::free(p);
  tab_mem.clear();
  tab_bytes = 0.0;
  for (TabPair &tp : tab) tp = TabPair{0.0, 0.0, nullptr, nullptr, 0};
}

/* ----------------------------------------------------------------------
   merged table of type pair (i, j) on r^2 in [lo, hi):
   lo = 1 A^2, or the first interval start at or above r0^2 (the core meets
   the Buckingham part with a jump in the third derivative, for printed
   cores in the second, which a cubic would smear); hi = the cutoff, or the
   smaller of the Coulomb and short-range cutoffs when they differ (the
   function jumps there). Each interval: the cubic through 4 equidistant
   points, ends included, so the table is continuous.
------------------------------------------------------------------------- */

void PairFMPLBS::build_table(int i, int j)
{
  const uint64_t one = 1;
  const uint64_t lowmask = (one << tab_shift) - 1;

  double lo = TAB_INNER_RSQ;
  if (r0sq[i][j] > lo) {
    uint64_t b = to_bits(r0sq[i][j]);
    if (b & lowmask) b = (b & ~lowmask) + (one << tab_shift);
    lo = from_bits(b);
  }
  double hi = cut_coulsq;
  if (cut_lj[i][j] > 0.0 && cut_ljsq[i][j] < hi) hi = cut_ljsq[i][j];
  if (hi <= lo) return;    // stays analytic

  const int64_t idx0 = (int64_t) (to_bits(lo) >> tab_shift);
  const int64_t nint = (int64_t) (to_bits(hi) >> tab_shift) - idx0 + 1;
  auto alloc = [&](size_t n) {
    const size_t bytes = ((n * sizeof(double) + 63) / 64) * 64;
    auto *p = (double *) std::aligned_alloc(64, bytes);
    if (!p) error->one(FLERR, "fmp/lbs: out of memory for the table of types {} {}", i, j);
    tab_mem.push_back(p);
    tab_bytes += (double) bytes;
    return p;
  };
  double *tf = alloc(4 * (size_t) nint);
  double *te = alloc(8 * (size_t) nint);

  const double qiqj = qtype[i] * qtype[j];
  double fp[4], ec[4], ev[4];
  // monomial coefficients in d = r^2 - s0 of the cubic through u = 0, 1/3, 2/3, 1
  auto fit = [](const double *y, double h, double *cc) {
    cc[0] = y[0];
    cc[1] = 0.5 * (-11.0 * y[0] + 18.0 * y[1] - 9.0 * y[2] + 2.0 * y[3]) / h;
    cc[2] = 4.5 * (2.0 * y[0] - 5.0 * y[1] + 4.0 * y[2] - y[3]) / (h * h);
    cc[3] = 4.5 * (-y[0] + 3.0 * y[1] - 3.0 * y[2] + y[3]) / (h * h * h);
  };
  for (int64_t k = 0; k < nint; k++) {
    const double s0 = from_bits((uint64_t) (idx0 + k) << tab_shift);
    const double s1 = from_bits((uint64_t) (idx0 + k + 1) << tab_shift);
    const double h = s1 - s0;
    for (int n = 0; n < 4; n++) {
      if (k > 0 && n == 0) {    // end point of the previous interval
        fp[0] = fp[3];
        ec[0] = ec[3];
        ev[0] = ev[3];
        continue;
      }
      const double rsq = n == 3 ? s1 : s0 + h * (n / 3.0);
      fp[n] = pair_analytic<1, 1>(i, j, rsq, qiqj, 1.0, 1.0, ec[n], ev[n]);
    }
    fit(fp, h, tf + 4 * k);
    fit(ec, h, te + 8 * k);
    fit(ev, h, te + 8 * k + 4);
  }

  const int np1 = atom->ntypes + 1;
  tab[(size_t) i * np1 + j] = tab[(size_t) j * np1 + i] = TabPair{lo, hi, tf, te, idx0};
}

/* ---------------------------------------------------------------------- */

double PairFMPLBS::single(int i, int j, int itype, int jtype, double rsq, double factor_coul,
                          double factor_lj, double &fforce)
{
  // the numbers compute() uses; the table holds the charges of the file,
  // so other charges (pair_write ... qi qj) take the formulas
  double ecoul, evdwl;
  const double qiqj = atom->q[i] * atom->q[j];
  if (!tab.empty()) {
    const TabPair &tp = tab[(size_t) itype * (atom->ntypes + 1) + jtype];
    if (rsq < tp.hi && rsq >= tp.lo && factor_coul == 1.0 && factor_lj == 1.0 &&
        qiqj == qtype[itype] * qtype[jtype]) {
      double d;
      const int64_t k = tab_interval(tp, rsq, d);
      const double *cf = tp.f + 4 * k, *ce = tp.e + 8 * k;
      fforce = cf[0] + d * (cf[1] + d * (cf[2] + d * cf[3]));
      ecoul = ce[0] + d * (ce[1] + d * (ce[2] + d * ce[3]));
      evdwl = ce[4] + d * (ce[5] + d * (ce[6] + d * ce[7]));
      return ecoul + evdwl;
    }
  }
  fforce = pair_analytic<1, 0>(itype, jtype, rsq, qiqj, factor_coul, factor_lj, ecoul, evdwl);
  return ecoul + evdwl;
}

/* ---------------------------------------------------------------------- */

void *PairFMPLBS::extract(const char *str, int &dim)
{
  dim = 0;
  if (strcmp(str, "cut_coul") == 0) return (void *) &cut_coul;
  if (strcmp(str, "R") == 0) return (void *) &R_used;
  if (strcmp(str, "K") == 0) return (void *) &K_used;
  if (strcmp(str, "N4") == 0) return (void *) &N4_used;
  if (strcmp(str, "table") == 0) return (void *) &table_bits_double;    // 0: analytic
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

/* ---------------------------------------------------------------------- */

double PairFMPLBS::memory_usage()
{
  return Pair::memory_usage() + tab_bytes;
}
