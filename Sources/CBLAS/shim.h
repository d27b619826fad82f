#ifndef KCONV_CBLAS_SHIM_H
#define KCONV_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (Debian libopenblas-dev; pkg-config name openblas).
#include <cblas.h>
#endif
