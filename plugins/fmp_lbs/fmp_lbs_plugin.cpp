/* Plugin entry: registers pair styles fmp/lbs and fmp/lbs/omp with LAMMPS. */

#include "lammpsplugin.h"
#include "version.h"

#include "pair_fmp_lbs.h"
#include "pair_fmp_lbs_omp.h"

using namespace LAMMPS_NS;

static Pair *fmp_lbs_creator(LAMMPS *lmp)
{
  return new PairFMPLBS(lmp);
}

static Pair *fmp_lbs_omp_creator(LAMMPS *lmp)
{
  return new PairFMPLBSOMP(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  plugin.version = LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "fmp/lbs";
  plugin.info = "FMP-LBS Buckingham + core + coul/long with composition-dependent B-O (pylbs)";
  plugin.author = "pylbs developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &fmp_lbs_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);

  plugin.name = "fmp/lbs/omp";
  plugin.info = "fmp/lbs threaded with the OPENMP package (pylbs)";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &fmp_lbs_omp_creator;
  (*register_plugin)(&plugin, lmp);
}
