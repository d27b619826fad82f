// The instruction-set level limit the register-tiled kernels read (register_tiles.h).
#include "kernels.h"
#include "register_tiles.h"

int kconv_cpu_level_limit = LEVEL_AVX512;

void kconv_limit_cpu_level(int level) { __atomic_store_n(&kconv_cpu_level_limit, level, __ATOMIC_RELAXED); }

int kconv_cpu_level(void) { return (int)running_cpu_level(); }
