// CHDF5: the HDF5 C library (serial build, 1.10) as a Swift module.
//
// Many HDF5 "constants" are macros that Swift cannot import: the predefined types expand to
// `(H5open(), H5T_NATIVE_FLOAT_g)` (a function call plus a global), the access flags carry
// `H5CHECK H5OPEN` prefixes, and H5T_VARIABLE is `((size_t)(-1))`. Each one used by
// Sources/KConv/HDF5 is re-exported here through a `static inline` function instead.
#ifndef KCONV_CHDF5_SHIM_H
#define KCONV_CHDF5_SHIM_H

#include <hdf5.h>

// Property lists, selections and error stacks.
static inline hid_t kc_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t kc_h5s_all(void) { return H5S_ALL; }
static inline hid_t kc_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t kc_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t kc_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t kc_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t kc_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t kc_h5p_link_access(void) { return H5P_LINK_ACCESS; }
static inline hid_t kc_h5p_group_access(void) { return H5P_GROUP_ACCESS; }
static inline hid_t kc_h5p_dataset_access(void) { return H5P_DATASET_ACCESS; }

// A file image lent to HDF5 rather than copied (read-only): every buffer HDF5 allocates for it is the image
// itself (`udata`), every copy a no-op, and nothing is freed: the caller keeps the image alive and unchanged
// until the file and the access list are closed. H5Pset_file_image alone copies it twice.
static void *kc_lent_image_malloc(size_t size, H5FD_file_image_op_t op, void *image) { return image; }
static void *kc_lent_image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *image) {
    return dest == src ? dest : NULL;
}
static void *kc_lent_image_realloc(void *buffer, size_t size, H5FD_file_image_op_t op, void *image) { return NULL; }
static herr_t kc_lent_image_free(void *buffer, H5FD_file_image_op_t op, void *image) { return 0; }
static void *kc_lent_image_udata_copy(void *image) { return image; }
static herr_t kc_lent_image_udata_free(void *image) { return 0; }
static inline herr_t kc_lend_file_image(hid_t access, void *image, size_t size) {
    H5FD_file_image_callbacks_t callbacks = {kc_lent_image_malloc, kc_lent_image_memcpy, kc_lent_image_realloc, kc_lent_image_free,
                                             kc_lent_image_udata_copy, kc_lent_image_udata_free, image};
    if (H5Pset_file_image_callbacks(access, &callbacks) < 0) return -1;
    return H5Pset_file_image(access, image, size);
}

// The in-memory (core) and POSIX (sec2, files on disk) file drivers.
static inline hid_t kc_h5fd_core(void) { return H5FD_CORE; }
static inline hid_t kc_h5fd_sec2(void) { return H5FD_SEC2; }

// The address of storage not allocated (H5Dget_offset).
static inline haddr_t kc_haddr_undef(void) { return HADDR_UNDEF; }

// File access flags.
static inline unsigned kc_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned kc_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned kc_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }

// Variable-length string size marker for H5Tset_size.
static inline size_t kc_h5t_variable(void) { return H5T_VARIABLE; }

// Memory (native) types.
static inline hid_t kc_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t kc_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t kc_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t kc_h5t_native_int16(void) { return H5T_NATIVE_INT16; }
static inline hid_t kc_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t kc_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t kc_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t kc_h5t_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t kc_h5t_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t kc_h5t_native_uint64(void) { return H5T_NATIVE_UINT64; }

// File (standard) types: what h5py writes for numpy '<f4', '<f8', '<i8'; C_S1 is the string base type.
static inline hid_t kc_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t kc_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t kc_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t kc_h5t_c_s1(void) { return H5T_C_S1; }

// HDF5's automatic error printing (the "HDF5-DIAG" dump on stderr) is a per-thread setting in
// this thread-safe build, so turning it off once on one thread leaves it on for every other thread.
// Swift calls this before each entry into the library (a cheap call, and immune to the library
// re-initialising its defaults).
static inline void kc_disable_error_printing_on_this_thread(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

#endif
