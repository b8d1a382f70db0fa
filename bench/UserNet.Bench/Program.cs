using BenchmarkDotNet.Running;

// Pick benchmarks with --filter, e.g. `--filter '*Echo*' --job short`; with no arguments it asks interactively.
BenchmarkSwitcher.FromAssembly(typeof(UserNet.Bench.ChecksumBenchmarks).Assembly).Run(args);
