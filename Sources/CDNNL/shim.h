#ifndef KCONV_CBLAS_SHIM_H
#define KCONV_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (Debian libopenblas-dev; pkg-config name openblas).
#include <cblas.h>
// glibc's mallopt, for the engine's heap policy (Memory in KConv/Engine/BLAS.swift).
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#endif
