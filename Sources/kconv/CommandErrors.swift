import ArgumentParser
import Foundation
import KConvGraph
import KConvIO

/// Runs a subcommand's work and turns what it throws into one line, `kconv: error: FILE: ...`, and exit
/// status 1 (a bad file or a refused operation). Every message names a file: `file` (the model) when the error
/// itself names none. Exit status 64 and the usage text are for a misused command line alone, which
/// `validate()` reports before any file is read.
func withCleanErrors<T>(file: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as NumPyError where !error.file.isEmpty {
        throw report(error)
    } catch {
        throw report(located(error, file: file))
    }
}

/// `error` as a ModelError naming `file` where it names none.
private func located(_ error: Error, file: String) -> Error {
    do {
        try locating(file: file) { () throws -> Void in throw error }
    } catch {
        return error
    }
    return error
}

/// Writes the one-line message and gives the exit status to throw.
private func report(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("kconv: error: \(terminalSafe(String(describing: error)))\n".utf8))
    return ExitCode.failure
}

/// Refuses an output that is not an .npz (kconv writes NumPy archives only).
func requireNPZ(_ path: String, option: String) throws {
    guard path.lowercased().hasSuffix(".npz") else {
        throw ValidationError("\(option) must name an .npz file (kconv writes NumPy archives), found \(path)")
    }
}

/// Refuses counts below 1: a batch of 0 samples or 0 runs measures nothing.
func requirePositive(_ values: KeyValuePairs<String, Int>) throws {
    for (option, value) in values where value < 1 {
        throw ValidationError("\(option) must be at least 1, found \(value)")
    }
}

/// Refuses a tolerance that is negative or not finite: a NaN tolerance would pass every element (every
/// comparison with NaN is false, so nothing fails).
func requireTolerances(_ values: KeyValuePairs<String, Float>) throws {
    for (option, value) in values where !value.isFinite || value < 0 {
        throw ValidationError("\(option) must be a finite number ≥ 0, found \(value)")
    }
}
