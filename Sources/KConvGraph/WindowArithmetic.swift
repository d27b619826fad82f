/// Keras's window arithmetic, shared by shape inference and the engine.

/// Keras's `conv_output_length`: the length of a convolution or pooling output along one axis.
package func convOutputLength(_ length: Int?, kernel: Int, padding: String, stride: Int, dilation: Int = 1) -> Int? {
    guard let length else { return nil }
    let dilatedKernel = kernel + (kernel - 1) * (dilation - 1)
    let covered: Int
    switch padding {
    case "same", "causal": covered = length
    case "full": covered = length + dilatedKernel - 1
    default: covered = length - dilatedKernel + 1
    }
    return max(0, (covered + stride - 1) / stride)
}

/// Keras's `deconv_output_length` for transposed convolutions.
package func deconvOutputLength(_ length: Int?, kernel: Int, padding: String, outputPadding: Int?, stride: Int, dilation: Int) -> Int? {
    guard let length else { return nil }
    let dilatedKernel = kernel + (kernel - 1) * (dilation - 1)
    guard let outputPadding else {
        switch padding {
        case "valid": return length * stride + max(dilatedKernel - stride, 0)
        case "full": return length * stride - (stride + dilatedKernel - 2)
        default: return length * stride
        }
    }
    let pad = padding == "same" ? dilatedKernel / 2 : padding == "full" ? dilatedKernel - 1 : 0
    return (length - 1) * stride + dilatedKernel - 2 * pad + outputPadding
}
