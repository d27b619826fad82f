import ArgumentParser
import KConvEngine

/// `--threads`, shared by the subcommands that run a model (bench, run).
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads the engine splits a forward pass across (default: the cores, at most 8).")
    var threads: Int?

    /// Sets the engine's thread count for the whole command, as ModelOptions sets the memory budget.
    func validate() throws {
        guard let threads else { return }
        guard (1 ... 64).contains(threads) else { throw ValidationError("--threads must be 1 to 64, found \(threads)") }
        Parallel.setWorkers(threads)
    }
}
