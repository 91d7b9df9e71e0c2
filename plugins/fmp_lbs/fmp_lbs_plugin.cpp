/* Plugin entry: registers pair style fmp/lbs with LAMMPS. */

#include "lammpsplugin.h"
#include "version.h"

#include "pair_fmp_lbs.h"

using namespace LAMMPS_NS;

static Pair *fmp_lbs_creator(LAMMPS *lmp)
{
  return new PairFMPLBS(lmp);
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
}
