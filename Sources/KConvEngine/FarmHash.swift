/// FarmHash's `Fingerprint64` (farmhashna's `Hash64`) for inputs of up to 32 bytes, the decimal strings of
/// 64-bit integers: TensorFlow's `to_hash_bucket_fast` hashes with it. Ported from Google's farmhash.cc
/// (`HashLen0to16`, `HashLen17to32`); `Rotate` is a right rotation; all arithmetic wraps modulo 2⁶⁴.
enum FarmHash {
    private static let k0: UInt64 = 0xc3a5_c85c_97cb_3127
    private static let k1: UInt64 = 0xb492_b66f_be98_f273
    private static let k2: UInt64 = 0x9ae1_6a3b_2f90_404f

    static func fingerprint64(_ bytes: [UInt8]) -> UInt64 {
        precondition(bytes.count <= 32, "FarmHash.fingerprint64 covers inputs of up to 32 bytes")
        return bytes.count <= 16 ? hashLen0to16(bytes) : hashLen17to32(bytes)
    }

    private static func fetch64(_ s: [UInt8], _ i: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(s[i + $1]) << (8 * UInt64($1)) }
    }

    private static func fetch32(_ s: [UInt8], _ i: Int) -> UInt64 {
        (0..<4).reduce(0) { $0 | UInt64(s[i + $1]) << (8 * UInt64($1)) }
    }

    private static func rotate(_ value: UInt64, _ shift: UInt64) -> UInt64 {
        shift == 0 ? value : (value >> shift) | (value << (64 - shift))
    }

    private static func shiftMix(_ value: UInt64) -> UInt64 { value ^ (value >> 47) }

    private static func hashLen16(_ u: UInt64, _ v: UInt64, _ mul: UInt64) -> UInt64 {
        var a = (u ^ v) &* mul
        a ^= a >> 47
        var b = (v ^ a) &* mul
        b ^= b >> 47
        return b &* mul
    }

    private static func hashLen0to16(_ s: [UInt8]) -> UInt64 {
        let length = UInt64(s.count)
        if s.count >= 8 {
            let mul = k2 &+ length &* 2
            let a = fetch64(s, 0) &+ k2, b = fetch64(s, s.count - 8)
            let c = rotate(b, 37) &* mul &+ a, d = (rotate(a, 25) &+ b) &* mul
            return hashLen16(c, d, mul)
        }
        if s.count >= 4 {
            let mul = k2 &+ length &* 2
            return hashLen16(length &+ (fetch32(s, 0) << 3), fetch32(s, s.count - 4), mul)
        }
        if s.count > 0 {
            let y = UInt32(s[0]) &+ (UInt32(s[s.count >> 1]) << 8)
            let z = UInt32(s.count) &+ (UInt32(s[s.count - 1]) << 2)
            return shiftMix(UInt64(y) &* k2 ^ UInt64(z) &* k0) &* k2
        }
        return k2
    }

    private static func hashLen17to32(_ s: [UInt8]) -> UInt64 {
        let mul = k2 &+ UInt64(s.count) &* 2
        let a = fetch64(s, 0) &* k1, b = fetch64(s, 8)
        let c = fetch64(s, s.count - 8) &* mul, d = fetch64(s, s.count - 16) &* k2
        return hashLen16(rotate(a &+ b, 43) &+ rotate(c, 30) &+ d, a &+ rotate(b &+ k2, 18) &+ c, mul)
    }
}
