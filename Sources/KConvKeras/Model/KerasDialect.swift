import KConvIO
import KConvGraph
/// The Keras generation that wrote a file. Configs are normalised to one vocabulary on import, but a few
/// functions kept their name and changed their maths between generations, so layers remember it.
package enum KerasDialect: String, Sendable, Comparable, CustomStringConvertible {
    case keras1 = "Keras 1"
    case keras2 = "Keras 2"
    case keras3 = "Keras 3"

    /// The dialect a `keras_version` string ("1.2.2", "2.2.4-tf", "3.4.1") belongs to; Keras 2 if unknown.
    package init(version: String?) {
        switch version?.first {
        case "1": self = .keras1
        case "3": self = .keras3
        default: self = .keras2
        }
    }

    package var description: String { rawValue }

    private var rank: Int {
        switch self {
        case .keras1: 1
        case .keras2: 2
        case .keras3: 3
        }
    }

    package static func < (lhs: KerasDialect, rhs: KerasDialect) -> Bool { lhs.rank < rhs.rank }
}
