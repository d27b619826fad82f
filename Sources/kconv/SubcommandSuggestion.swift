import ArgumentParser
import Foundation

/// A first word that names no subcommand: refused as a misused command line, with the nearest subcommand
/// by edit distance when it is close (`kconv inspcet` → did you mean 'inspect'?).
enum SubcommandSuggestion {
    /// Exits with status 64 when `arguments` start with a word that is neither an option nor a subcommand.
    static func refuseUnknown(_ arguments: [String], among commands: [ParsableCommand.Type]) {
        let names = commands.map { $0._commandName }
        guard let word = arguments.first, !word.hasPrefix("-"), word != "help", !names.contains(word) else { return }
        FileHandle.standardError.write(Data("kconv: error: \(message(for: terminalSafe(word), among: names))\n".utf8))
        exit(ExitCode.validationFailure.rawValue)
    }

    static func message(for word: String, among names: [String]) -> String {
        let nearest = names.map { ($0, distance(word.lowercased(), $0)) }.min { $0.1 < $1.1 }
        var message = "'\(word)' is not a kconv subcommand"
        if let (name, distance) = nearest, distance <= max(2, name.count / 3) { message += "; did you mean '\(name)'?" }
        return message + " (subcommands: \(names.joined(separator: ", ")))"
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
