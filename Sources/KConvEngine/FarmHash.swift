/// FarmHash's `Fingerprint64` (farmhashna's `Hash64`): TensorFlow's `to_hash_bucket_fast` and the string
/// features of `cross_hashed` hash with it. Ported from Google's farmhash.cc (`HashLen0to16`,
/// `HashLen17to32`, `HashLen33to64`, the 64-byte loop with `WeakHashLen32WithSeeds`); `Rotate` is a right
/// rotation; all arithmetic wraps modulo 2⁶⁴. `cat` is TensorFlow's `FingerprintCat64`.
enum FarmHash {
    private static let k0: UInt64 = 0xc3a5_c85c_97cb_3127
    private static let k1: UInt64 = 0xb492_b66f_be98_f273
    private static let k2: UInt64 = 0x9ae1_6a3b_2f90_404f

    static func fingerprint64(_ bytes: [UInt8]) -> UInt64 {
        switch bytes.count {
        case ...16: hashLen0to16(bytes)
        case ...32: hashLen17to32(bytes)
        case ...64: hashLen33to64(bytes)
        default: hashLong(bytes)
        }
    }

    /// `FingerprintCat64(first, second)` (tensorflow/core/platform/fingerprint.h): two fingerprints combined.
    static func cat(_ first: UInt64, _ second: UInt64) -> UInt64 {
        let mul: UInt64 = 0xc6a4_a793_5bd1_e995
        var result = first ^ mul
        result ^= shiftMix(second &* mul) &* mul
        result = result &* mul
        return shiftMix(shiftMix(result) &* mul)
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

    private static func hashLen33to64(_ s: [UInt8]) -> UInt64 {
        let mul = k2 &+ UInt64(s.count) &* 2
        let a = fetch64(s, 0) &* k2, b = fetch64(s, 8)
        let c = fetch64(s, s.count - 8) &* mul, d = fetch64(s, s.count - 16) &* k2
        let y = rotate(a &+ b, 43) &+ rotate(c, 30) &+ d
        let z = hashLen16(y, a &+ rotate(b &+ k2, 18) &+ c, mul)
        let e = fetch64(s, 16) &* mul, f = fetch64(s, 24)
        let g = (y &+ fetch64(s, s.count - 32)) &* mul, h = (z &+ fetch64(s, s.count - 24)) &* mul
        return hashLen16(rotate(e &+ f, 43) &+ rotate(g, 30) &+ h, e &+ rotate(f &+ a, 18) &+ g, mul)
    }

    /// A 16-byte hash of the 32 bytes at `i` and two seeds.
    private static func weakHashLen32(_ s: [UInt8], _ i: Int, _ seedA: UInt64, _ seedB: UInt64) -> (UInt64, UInt64) {
        let w = fetch64(s, i), x = fetch64(s, i + 8), y = fetch64(s, i + 16), z = fetch64(s, i + 24)
        var a = seedA &+ w
        var b = rotate(seedB &+ a &+ z, 21)
        let c = a
        a = a &+ x &+ y
        b = b &+ rotate(a, 44)
        return (a &+ z, b &+ c)
    }

    /// Inputs over 64 bytes: 64-byte blocks, then the last 64 bytes (which may overlap the blocks).
    private static func hashLong(_ s: [UInt8]) -> UInt64 {
        let seed: UInt64 = 81
        var x = seed, y = seed &* k1 &+ 113
        var z = shiftMix(y &* k2 &+ 113) &* k2
        var v: (UInt64, UInt64) = (0, 0), w: (UInt64, UInt64) = (0, 0)
        x = x &* k2 &+ fetch64(s, 0)
        let end = (s.count - 1) / 64 * 64, last64 = s.count - 64
        var i = 0
        repeat {
            x = rotate(x &+ y &+ v.0 &+ fetch64(s, i + 8), 37) &* k1
            y = rotate(y &+ v.1 &+ fetch64(s, i + 48), 42) &* k1
            x ^= w.1
            y = y &+ v.0 &+ fetch64(s, i + 40)
            z = rotate(z &+ w.0, 33) &* k1
            v = weakHashLen32(s, i, v.1 &* k1, x &+ w.0)
            w = weakHashLen32(s, i + 32, z &+ w.1, y &+ fetch64(s, i + 16))
            swap(&z, &x)
            i += 64
        } while i != end
        let mul = k1 &+ ((z & 0xff) << 1)
        w.0 = w.0 &+ UInt64((s.count - 1) & 63)
        v.0 = v.0 &+ w.0
        w.0 = w.0 &+ v.0
        x = rotate(x &+ y &+ v.0 &+ fetch64(s, last64 + 8), 37) &* mul
        y = rotate(y &+ v.1 &+ fetch64(s, last64 + 48), 42) &* mul
        x ^= w.1 &* 9
        y = y &+ v.0 &* 9 &+ fetch64(s, last64 + 40)
        z = rotate(z &+ w.0, 33) &* mul
        v = weakHashLen32(s, last64, v.1 &* mul, x &+ w.0)
        w = weakHashLen32(s, last64 + 32, z &+ w.1, y &+ fetch64(s, last64 + 16))
        swap(&z, &x)
        return hashLen16(hashLen16(v.0, w.0, mul) &+ shiftMix(y) &* k0 &+ z, hashLen16(v.1, w.1, mul) &+ x, mul)
    }
}

/// SipHash-2-4 keyed with two 64-bit words (highwayhash's `SipHash`, TensorFlow's `StrongKeyedHash`, which
/// `to_hash_bucket_strong` hashes with).
enum SipHash {
    static func hash(_ bytes: [UInt8], key: (UInt64, UInt64)) -> UInt64 {
        var v0 = key.0 ^ 0x736f_6d65_7073_6575, v1 = key.1 ^ 0x646f_7261_6e64_6f6d
        var v2 = key.0 ^ 0x6c79_6765_6e65_7261, v3 = key.1 ^ 0x7465_6462_7974_6573
        func rotl(_ value: UInt64, _ shift: UInt64) -> UInt64 { (value << shift) | (value >> (64 - shift)) }
        func round() {
            v0 = v0 &+ v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
            v2 = v2 &+ v3; v3 = rotl(v3, 16); v3 ^= v2
            v0 = v0 &+ v3; v3 = rotl(v3, 21); v3 ^= v0
            v2 = v2 &+ v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
        }
        func compress(_ word: UInt64) {
            v3 ^= word
            round(); round()
            v0 ^= word
        }
        let whole = bytes.count / 8 * 8
        for start in stride(from: 0, to: whole, by: 8) {
            compress((0..<8).reduce(0) { $0 | UInt64(bytes[start + $1]) << (8 * UInt64($1)) })
        }
        // The last block: the remaining bytes, and the length's low byte on top.
        let tail = (whole..<bytes.count).reduce(UInt64(bytes.count & 0xff) << 56) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1 - whole)) }
        compress(tail)
        v2 ^= 0xff
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}
