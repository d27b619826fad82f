/// kconv's own version, printed by `kconv --version` and recorded in the files it writes.
public enum KConvVersion {
    public static let current = "0.4.0"
}
