#ifndef KCONV_CDNNL_SHIM_H
#define KCONV_CDNNL_SHIM_H
// oneDNN's C API (Debian libdnnl-dev; no pkg-config file): dnnl_sgemm and the CPU dispatcher's queries.
#include <dnnl.h>
// Debian's oneDNN runs its threads through OpenMP (GNU libgomp); the engine keeps each call on its calling
// thread with this (omp.h is not on the include path with Swift's clang).
void omp_set_num_threads(int threads);
// glibc's mallopt, for the engine's heap policy (Memory in KConvEngine/BLAS.swift).
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#endif
