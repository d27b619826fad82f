import Foundation
import Synchronization

/// The most memory kconv allocates for one buffer whose size a file declares (a zip member, a NumPy array, an
/// HDF5 dataset). A declared size is only a claim until the bytes are there: every reader checks it against
/// this budget — and against the bytes actually present where it can — before allocating anything.
///
/// One budget serves every reader. Callers change it for the whole process through `MemoryBudget.current`,
/// or pass their own to a reader (tests do, to exercise the limit without touching the shared value).
package struct MemoryBudget: Sendable, Equatable, CustomStringConvertible {
    /// The most bytes one buffer may take.
    package let bytes: Int

    package init(bytes: Int) {
        self.bytes = max(0, bytes)
    }

    /// 16 GiB, or three quarters of physical memory or of the address-space limit (`ulimit -v`) when that is
    /// less: generous for any real model, far below what a hostile header can claim, and never more than the
    /// process could allocate (a failed allocation aborts the process).
    package static let standard: MemoryBudget = {
        var limit = rlimit()
        let addressSpace = getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max  // RLIM_INFINITY
            ? UInt64(limit.rlim_cur) : UInt64.max
        return MemoryBudget(bytes: min(16 << 30, Int(clamping: min(ProcessInfo.processInfo.physicalMemory, addressSpace) / 4 * 3)))
    }()

    private static let shared = Mutex(standard)

    /// The budget readers use when not given one; `standard` until changed.
    package static var current: MemoryBudget {
        get { shared.withLock { $0 } }
        set { shared.withLock { $0 = newValue } }
    }

    /// Throws unless `requested` bytes fit in the budget. `what` names the buffer ("shape (3, 4) of float32").
    package func check(_ requested: Int, for what: @autoclosure () -> String) throws(MemoryBudgetError) {
        guard requested <= bytes else { throw MemoryBudgetError(what: what(), requested: requested, budget: bytes) }
    }

    package var description: String { "\(bytes) bytes" }
}

/// A declared size larger than the memory budget.
package struct MemoryBudgetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What would have been allocated.
    package let what: String
    package let requested: Int
    package let budget: Int

    package init(what: String, requested: Int, budget: Int) {
        self.what = what
        self.requested = requested
        self.budget = budget
    }

    package var description: String {
        "\(what): expected at most \(budget) bytes (kconv's memory budget, MemoryBudget.current), found \(requested)"
    }
}

/// Sizes read from a file whose product or sum does not fit in an `Int`, or a negative size.
package struct SizeOverflowError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The sizes, as read.
    package let operands: [Int]
    /// `×` for a product, `+` for a sum.
    package let operation: String

    package init(operands: [Int], operation: String) {
        self.operands = operands
        self.operation = operation
    }

    package var description: String {
        if let negative = operands.first(where: { $0 < 0 }) {
            return "expected sizes of 0 or more, found \(negative)"
        }
        return "expected sizes whose \(operation == "×" ? "product" : "sum") fits in 64 bits, found "
            + operands.map(String.init).joined(separator: " \(operation) ")
    }
}

/// The product of sizes that come from a file (a shape's dimensions, an element count and an item size),
/// or an error if one is negative or the product overflows.
///
/// As numpy does, a zero does not excuse an overflow among the other factors: a shape such as
/// (0, 2**62, 2**62) holds no element, but its strides — partial products — overflow all the same.
package func checkedProduct(_ factors: [Int]) throws(SizeOverflowError) -> Int {
    var product = 1
    var hasZero = false
    for factor in factors {
        guard factor >= 0 else { throw SizeOverflowError(operands: factors, operation: "×") }
        if factor == 0 {
            hasZero = true
            continue
        }
        let (next, overflow) = product.multipliedReportingOverflow(by: factor)
        guard !overflow else { throw SizeOverflowError(operands: factors, operation: "×") }
        product = next
    }
    return hasZero ? 0 : product
}

/// The sum of sizes that come from a file (offsets and lengths), or an error if one is negative or the sum
/// overflows.
package func checkedSum(_ terms: [Int]) throws(SizeOverflowError) -> Int {
    var sum = 0
    for term in terms {
        guard term >= 0 else { throw SizeOverflowError(operands: terms, operation: "+") }
        let (next, overflow) = sum.addingReportingOverflow(term)
        guard !overflow else { throw SizeOverflowError(operands: terms, operation: "+") }
        sum = next
    }
    return sum
}
