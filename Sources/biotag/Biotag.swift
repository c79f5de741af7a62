import ArgumentParser
import Benchmarks
import CommandLineSupport

@main
struct Biotag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "biotag",
        abstract: "Biomedical entity annotation with BERT-family models, fast on the CPU.",
        subcommands: [Annotate.self, Search.self, Serve.self, Enqueue.self, Worker.self, Status.self, FetchModel.self, Info.self, Tokenize.self, Encode.self, InitModel.self, Bench.self, Train.self, Distill.self, Prune.self, MakeCorpus.self, Eval.self, EvalDocuments.self, EvalRelations.self, TrainRelations.self, Link.self, EvalLink.self, BuildLinker.self, Relink.self, TrainLinker.self, Convert.self, Quantize.self]
    )
}
