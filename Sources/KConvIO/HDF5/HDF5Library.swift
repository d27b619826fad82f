// The one place that talks to the HDF5 C library's runtime: the global lock, handle ownership,
// and the translation of failed calls into `HDF5Error`.
import CHDF5
import KConvGraph
import Foundation

/// Every call into HDF5 runs under this lock. HDF5's own thread-safety (if built in) does not make
/// its per-thread error stack line up with our reads of it, and the serial build is not thread-safe
/// at all; one lock keeps "call, then read the error stack" atomic.
///
/// Recursive because a handle's `deinit` (which closes it, under the lock) can run while the lock is
/// already held, when ARC releases a temporary inside a locked region.
private let hdf5Lock = NSRecursiveLock()

/// Runs `body` holding the HDF5 lock, with HDF5's stderr error printing turned off on this thread. `location` and
/// `operation` name what the calls in `body` do, for an error if libhdf5 crashes or loops in them
/// (`HDF5Activity`).
package func withHDF5<T>(at location: HDF5Location, _ operation: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
    hdf5Lock.lock()
    defer { hdf5Lock.unlock() }
    HDF5Activity.enter(location, operation())
    defer { HDF5Activity.leave() }
    _ = libraryStarted
    kc_disable_error_printing_on_this_thread()
    return try body()
}

/// Runs once, before any other HDF5 call: HDF5 must not clean up at exit.
///
/// Its exit-time clean-up (`H5close`, registered with atexit when the library initialises) closes every file
/// still open. When closing a file has failed — a full disk makes its final flush fail — HDF5 1.10 leaves a
/// half-destroyed file in its tables, and that clean-up crashes the process on it after kconv has reported
/// the error. kconv closes its handles itself (`HDF5Handle`) and never leaves a file open for writing past
/// its writer, so there is nothing for the clean-up to do.
private let libraryStarted: Void = { _ = H5dont_atexit() }()

/// `H5P_DEFAULT` (property list), typed once.
package let defaultPropertyList: hid_t = kc_h5p_default()

/// The access property lists of every call that follows a path by name (links, groups, datasets): HDF5's
/// defaults, except that traversing an external link fails before the other file is opened. The wrapper
/// refuses external links itself, with a clear error, before it calls HDF5 on a path (`HDF5Links.swift`);
/// these lists make sure nothing slips past that check. Created once, under the HDF5 lock, never closed.
package let linkAccess = accessRefusingExternalLinks(kc_h5p_link_access())
package let groupAccess = accessRefusingExternalLinks(kc_h5p_group_access())
package let datasetAccess = accessRefusingExternalLinks(kc_h5p_dataset_access())

private func accessRefusingExternalLinks(_ listClass: hid_t) -> hid_t {
    let list = H5Pcreate(listClass)
    guard list >= 0 else { return list }  // then every call using it fails instead of following a link
    _ = H5Pset_elink_cb(list, { _, _, _, _, _, _, _ in -1 }, nil)
    return list
}

/// Owns one HDF5 identifier (file, group, dataset, attribute, datatype, dataspace or property list)
/// and closes it with the matching `H5?close` when the last reference goes away.
package final class HDF5Handle: @unchecked Sendable {  // immutable; the C calls are serialised by hdf5Lock
    package let id: hid_t
    private let close: @convention(c) (hid_t) -> herr_t
    /// Bytes HDF5 reads in place for as long as the handle is open (a file image opened without a copy).
    private let borrowed: Data?

    package init(_ id: hid_t, close: @convention(c) (hid_t) -> herr_t, borrowing borrowed: Data? = nil) {
        self.id = id
        self.close = close
        self.borrowed = borrowed
    }

    deinit {
        hdf5Lock.lock()
        defer { hdf5Lock.unlock() }
        kc_disable_error_printing_on_this_thread()  // the last release may happen on any thread
        // Closing is an API call, which clears the error stack. ARC may run this deinit between a
        // failed call and the `check` that reads the stack, so save the stack and put it back.
        let savedStack = H5Eget_current_stack()
        _ = close(id)
        if savedStack >= 0 { _ = H5Eset_current_stack(savedStack) }
    }
}

/// A failed HDF5 operation, or a file whose contents kconv refuses to read.
package struct HDF5Error: FileLocatedError, CustomStringConvertible, Sendable {
    /// The HDF5 file on disk.
    package let filePath: String
    /// The object inside the file (e.g. `/model_weights/dense`); empty when the file itself failed.
    package let objectPath: String
    /// What was being done, e.g. `open group`, `read attribute 'layer_names'`.
    package let operation: String
    /// Why it failed: HDF5's innermost error message, or kconv's own reason.
    package let message: String

    package init(filePath: String, objectPath: String, operation: String, message: String) {
        self.filePath = filePath
        self.objectPath = objectPath
        self.operation = operation
        self.message = message
    }

    package var description: String {
        let location = objectPath.isEmpty ? filePath : "\(filePath): \(objectPath)"
        return "\(location): cannot \(operation): \(message)"
    }
}

/// Where an HDF5 call happens, for error messages.
package struct HDF5Location: Sendable {
    package let filePath: String
    package let objectPath: String

    package func error(_ operation: String, _ message: String) -> HDF5Error {
        HDF5Error(filePath: filePath, objectPath: objectPath, operation: operation, message: message)
    }

    /// The single translation point for C results: a negative `herr_t`/`hid_t`/`htri_t` becomes a
    /// thrown `HDF5Error` carrying HDF5's innermost error message. Call right after the C call,
    /// inside the same `withHDF5` region.
    @discardableResult
    package func check<T: BinaryInteger>(_ result: T, _ operation: @autoclosure () -> String) throws -> T {
        guard result < 0 else { return result }
        throw error(operation(), innermostHDF5ErrorMessage() ?? "HDF5 call failed")
    }

    /// Opens `id` as an owned handle, or throws as `check` does.
    package func handle(_ id: hid_t, close: @convention(c) (hid_t) -> herr_t, borrowing borrowed: Data? = nil,
                        _ operation: @autoclosure () -> String) throws -> HDF5Handle {
        HDF5Handle(try check(id, operation()), close: close, borrowing: borrowed)
    }
}

/// The most specific entry of this thread's HDF5 error stack (e.g. "file signature not found"),
/// read with H5Ewalk2; the stack is cleared afterwards.
private func innermostHDF5ErrorMessage() -> String? {
    var message: String?
    withUnsafeMutablePointer(to: &message) { messagePointer in
        // H5E_WALK_UPWARD starts at the innermost function, where the error was detected (n == 0).
        _ = H5Ewalk2(kc_h5e_default(), H5E_WALK_UPWARD, { n, entry, clientData in
            guard n == 0, let entry, let clientData else { return 0 }
            let out = clientData.assumingMemoryBound(to: String?.self)
            if let description = entry.pointee.desc, description.pointee != 0 {
                out.pointee = String(cString: description)
            } else {
                // No description: fall back to the minor error's text ("Unable to open file", ...).
                var buffer = [CChar](repeating: 0, count: 256)
                if H5Eget_msg(entry.pointee.min_num, nil, &buffer, buffer.count) > 0 {
                    out.pointee = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
            return 0
        }, messagePointer)
    }
    _ = H5Eclear2(kc_h5e_default())
    return message.map(oneLine)
}

/// An HDF5 message as one line. A failed system call ("file write failed: time = Sun Dec  6 04:12:00 2026\n,
/// filename = '...', file descriptor = 3, errno = 28, error message = 'No space left on device', ...") keeps
/// what failed and the system's reason: "file write failed: No space left on device".
private func oneLine(_ message: String) -> String {
    if let reason = message.range(of: "error message = '"), let end = message[reason.upperBound...].firstIndex(of: "'"),
       let what = message.split(separator: ":", maxSplits: 1).first {
        return "\(what): \(message[reason.upperBound..<end])"
    }
    return message.split(whereSeparator: \.isNewline).joined(separator: " ")
}

/// The extent of a dataspace: `shape` is `[]` for scalar and null spaces; `count` is the number of
/// elements (1 for scalar, 0 for null). Dimensions come from the file, so the product is
/// overflow-checked rather than trusted.
package func dataspaceExtent(_ space: HDF5Handle, at location: HDF5Location, _ operation: String) throws -> (shape: [Int], count: Int) {
    switch H5Sget_simple_extent_type(space.id) {
    case H5S_NULL: return ([], 0)
    case H5S_SCALAR: return ([], 1)
    case H5S_SIMPLE: break
    default: throw location.error(operation, "unreadable dataspace")
    }
    let rank = Int(try location.check(H5Sget_simple_extent_ndims(space.id), operation))
    var dims = [hsize_t](repeating: 0, count: rank)
    try location.check(H5Sget_simple_extent_dims(space.id, &dims, nil), operation)
    let shape = try dims.map { dim in
        guard let size = Int(exactly: dim) else { throw location.error(operation, "expected dimensions that fit in 63 bits, found \(dim)") }
        return size
    }
    do {
        return (shape, try checkedProduct(shape))
    } catch {
        throw location.error(operation, "shape \(shape): \(error)")
    }
}

/// Closes a file. A file open for writing is flushed first, and when that fails (a full disk) the file is left
/// open on purpose: H5Fclose would fail the same way and, in HDF5 1.10, leave a half-destroyed file behind in
/// the library's tables for a later call to trip over. An intact open file only costs a descriptor and some
/// memory; the writer learns of the failure from `HDF5File.flush()` (or the read-back check).
package func closeFile(_ id: hid_t) -> herr_t {
    var intent: UInt32 = 0
    if H5Fget_intent(id, &intent) >= 0, intent & kc_h5f_acc_rdwr() != 0, H5Fflush(id, H5F_SCOPE_LOCAL) < 0 {
        return -1
    }
    return H5Fclose(id)
}

/// The size of the open file `file`, in bytes: the most any contiguous or compact dataset or attribute in it
/// can hold.
package func fileSize(_ file: HDF5Handle, at location: HDF5Location, _ operation: String) throws -> Int {
    var size: hsize_t = 0
    try location.check(H5Fget_filesize(file.id, &size), operation)
    return Int(clamping: size)
}

extension HDF5Error {
    /// The object path (when not the root), what was being done and why it failed.
    package var messageWithinFile: String {
        let object = objectPath.isEmpty || objectPath == "/" ? "" : objectPath + ": "
        return "\(object)\(operation): \(message)"
    }
}
