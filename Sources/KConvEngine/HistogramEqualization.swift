import KConvGraph

extension HistogramEqualizationOp {
    /// The histogram bin of a value on the 0…255 scale: Keras casts to int32 (toward zero) and clips to
    /// 0…255; a NaN, which that cast makes the lowest integer, lands in bin 0.
    package static func bin(_ value: Float) -> Int {
        value.isNaN ? 0 : Int(min(max(value.rounded(.towardZero), 0), 255))
    }

    /// In Float, in Keras's order of operations (see `HistogramEqualizationOp`).
    package func run(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4 else { throw EngineError("ContrastLimitedAdaptiveHistogramEqualization takes a 4-D image batch, found shape \(input.shape)") }
        let (batch, rows, columns, channels) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (tileHeight, tileWidth) = (Self.tile(rows, grid: gridHeight), Self.tile(columns, grid: gridWidth))
        guard tileHeight * gridHeight - rows <= rows, tileWidth * gridWidth - columns <= columns else {
            throw EngineError("a \(rows)×\(columns) image is too small for a \(gridHeight)×\(gridWidth) tile grid (Keras pads it symmetrically)")
        }
        let (low, high, mapsRange, gridWidth) = (low, high, mapsRange, gridWidth)
        let mapped = mapsRange ? input.values.map { (($0 - low) / (high - low)) * 255 } : input.values
        let pixels = tileHeight * tileWidth
        let limit = clipLimit.map { Float($0 * Double(pixels) / 256) }
        let (ys, xs) = (Self.blend(size: rows, grid: gridHeight, tile: tileHeight), Self.blend(size: columns, grid: gridWidth, tile: tileWidth))
        /// The symmetric padding past the end: positions size, size + 1, … read size − 1, size − 2, ….
        func source(_ position: Int, _ size: Int) -> Int { position < size ? position : 2 * size - 1 - position }
        let extendedWidth = gridWidth + 2
        var output = input
        for sample in 0..<batch {
            for channel in 0..<channels {
                let at = { (row: Int, column: Int) in ((sample * rows + row) * columns + column) * channels + channel }
                // The normalised CDF of each tile of the grid extended by its edge tiles, 256 values each.
                var tables = [Float](repeating: 0, count: (gridHeight + 2) * extendedWidth * 256)
                for tileRow in 0..<gridHeight {
                    for tileColumn in 0..<gridWidth {
                        var histogram = [Float](repeating: 0, count: 256)
                        for row in tileRow * tileHeight ..< (tileRow + 1) * tileHeight {
                            for column in tileColumn * tileWidth ..< (tileColumn + 1) * tileWidth {
                                histogram[Self.bin(mapped[at(source(row, rows), source(column, columns))])] += 1
                            }
                        }
                        if let limit {
                            let clipped = histogram.map { min(max($0, 0), limit) }
                            let excess = zip(histogram, clipped).reduce(Float(0)) { $0 + ($1.0 - $1.1) }
                            histogram = clipped.map { $0 + excess / 256 }
                        }
                        var total: Float = 0
                        let cdf = histogram.map { total += $0; return total }
                        let minimum = cdf.min() ?? 0
                        let difference = Float(pixels) - minimum
                        let denominator = difference == 0 ? 1 : difference
                        let base = ((tileRow + 1) * extendedWidth + tileColumn + 1) * 256
                        for value in 0..<256 { tables[base + value] = min(max((cdf[value] - minimum) * 255 / denominator, 0), 255) }
                    }
                }
                // Edge tiles repeat their nearest tile of the grid.
                for tileRow in 0..<(gridHeight + 2) {
                    for tileColumn in 0..<extendedWidth where !(1...gridHeight).contains(tileRow) || !(1...gridWidth).contains(tileColumn) {
                        let nearest = (min(max(tileRow, 1), gridHeight) * extendedWidth + min(max(tileColumn, 1), gridWidth)) * 256
                        let base = (tileRow * extendedWidth + tileColumn) * 256
                        for value in 0..<256 { tables[base + value] = tables[nearest + value] }
                    }
                }
                for row in 0..<rows {
                    for column in 0..<columns {
                        let bin = Self.bin(mapped[at(row, column)])
                        let value = { (tileRow: Int, tileColumn: Int) in tables[(tileRow * extendedWidth + tileColumn) * 256 + bin] }
                        let (wy, wx) = (ys.weight[row], xs.weight[column])
                        let top = value(ys.first[row], xs.first[column]) * (1 - wx) + value(ys.first[row], xs.second[column]) * wx
                        let bottom = value(ys.second[row], xs.first[column]) * (1 - wx) + value(ys.second[row], xs.second[column]) * wx
                        let equalized = top * (1 - wy) + bottom * wy
                        output.values[at(row, column)] = mapsRange ? (equalized / 255) * (high - low) + low : equalized
                    }
                }
            }
        }
        return output
    }
}
