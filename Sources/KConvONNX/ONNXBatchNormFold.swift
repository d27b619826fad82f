import KConvGraph

extension ONNXTranslator {
    /// The BatchNormalizations that can be folded (`Graph.batchNormFoldSites`), by the output of the layer
    /// they fold into.
    func batchNormFolds() -> [ValueID: BatchNormFold] {
        var folds: [ValueID: BatchNormFold] = [:]
        for site in graph.batchNormFoldSites() {
            let node = graph.nodes[site.batchNorm]
            guard case .batchNorm(let op) = node.op, let x = node.inputs[0] else { continue }
            // A statistic that cannot be read leaves the BatchNormalization to its own translation, which
            // then reports the error naming its layer.
            func values(_ index: Int) -> [Float]? { node.inputs[index].flatMap { try? constantValues($0) } }
            guard let mean = values(3), let variance = values(4),
                  let fold = try? BatchNormFold(op, gamma: values(1), beta: values(2), mean: mean, variance: variance),
                  node.inputs[1] == nil || values(1) != nil, node.inputs[2] == nil || values(2) != nil else { continue }
            folds[x] = fold
        }
        return folds
    }
}
