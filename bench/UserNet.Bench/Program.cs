using BenchmarkDotNet.Running;

// Pick benchmarks with --filter, e.g. `--filter '*Echo*' --job short`; with no arguments it asks interactively.
// `sim-capture FILE` writes the capture of a short lossy simulated TCP transfer (to try `usernet trace -r` on).
// `sim-speed` runs the simulated network's speed check (virtual time against wall time) and prints its figures.
if (args is ["sim-speed"])
{
    await UserNet.Bench.SimulationBenchmarks.SpeedAsync();
    return;
}
if (args is ["sim-capture", var path])
{
    await UserNet.Bench.SimulationBenchmarks.CaptureAsync(path);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(UserNet.Bench.ChecksumBenchmarks).Assembly).Run(args);
