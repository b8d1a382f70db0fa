using System.Diagnostics;
using UserNet.Capture;
using UserNet.Fuzz;
using UserNet.TestSupport;

namespace UserNet.Tests.Fuzz;

/// <summary>
/// The fuzz targets run many stacks; alone, so that they never take the shared pipe blocks from under the tests that
/// count allocations (a block another test took is one they must allocate).
/// </summary>
[CollectionDefinition(nameof(FuzzCollection), DisableParallelization = true)]
public sealed class FuzzCollection;

/// <summary>
/// The fuzz targets (fuzz/UserNet.Fuzz, see fuzz/README.md) as ordinary tests: each target's check function, without
/// instrumentation or afl-fuzz, over every seed of its corpus and every input a fuzzer run found a bug with. A bug
/// that comes back fails here, not only in a fuzzing run.
/// </summary>
[Collection(nameof(FuzzCollection))]
public sealed class FuzzCorpusTests
{
    private static readonly string FuzzRoot = Path.Combine(Repository.Root, "fuzz");

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (var target in FuzzTargets.All)
            foreach (var kind in new[] { "corpus", "regressions" })
            {
                var dir = Path.Combine(FuzzRoot, kind, target.Name);
                if (!Directory.Exists(dir)) continue;
                foreach (var file in Directory.GetFiles(dir).Order())
                    data.Add(target.Name, Path.GetRelativePath(Repository.Root, file));
            }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public async Task A_fuzz_target_passes_on_its_seeds_and_on_every_input_that_found_a_bug(string target, string file)
    {
        var t = FuzzTargets.Find(target);
        Assert.NotNull(t);
        var input = File.ReadAllBytes(Path.Combine(Repository.Root, file));
        // On a pool thread, as under afl-fuzz: no test framework's SynchronizationContext to send continuations to.
        // An input that hangs the target (afl-fuzz's -t is 5 s) fails here too.
        var run = Task.Run(() => t.Run(input));
        Assert.True(await Task.WhenAny(run, Task.Delay(HangTimeout)) == run, $"{file} hangs the {target} target (still running after {HangTimeout.TotalSeconds} s)");
        await run;
    }

    private static readonly TimeSpan HangTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Every_target_has_seeds_and_every_regression_folder_names_a_target()
    {
        foreach (var t in FuzzTargets.All)
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(FuzzRoot, "corpus", t.Name)));
        foreach (var kind in new[] { "corpus", "regressions" })
            foreach (var dir in Directory.GetDirectories(Path.Combine(FuzzRoot, kind)))
                Assert.NotNull(FuzzTargets.Find(Path.GetFileName(dir)));
    }

    [Fact]
    public void The_seeds_are_what_the_seed_writer_makes_from_the_captures()
    {
        var dir = Directory.CreateTempSubdirectory("usernet-seeds-");
        try
        {
            Seeds.Write(Repository.Root, dir.FullName);
            foreach (var t in FuzzTargets.All)
            {
                var committed = Path.Combine(FuzzRoot, "corpus", t.Name);
                var made = Path.Combine(dir.FullName, t.Name);
                Assert.Equal(Directory.GetFiles(made).Select(Path.GetFileName).Order(), Directory.GetFiles(committed).Select(Path.GetFileName).Order());
                foreach (var f in Directory.GetFiles(made))
                    Assert.True(File.ReadAllBytes(f).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(committed, Path.GetFileName(f)))),
                        $"fuzz/corpus/{t.Name}/{Path.GetFileName(f)} is not what `dotnet run --project fuzz/UserNet.Fuzz -- --seeds .` makes");
            }
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void The_handshake_tcp_established_replays_is_the_recorded_one()
    {
        using var r = CaptureFile.Open(Path.Combine(Repository.Root, "captures", "tcp-handshake-data-close.pcapng"));
        var frames = new List<byte[]>();
        while (r.Read() is { } rec) frames.Add(rec.Data);
        Assert.Equal(frames[1], TcpEstablishedTarget.RecordedHandshake[0]); // the kernel's ARP request
        Assert.Equal(frames[3], TcpEstablishedTarget.RecordedHandshake[1]); // its SYN
        Assert.Equal(frames[5], TcpEstablishedTarget.RecordedHandshake[2]); // its ACK of our SYN-ACK
    }

    [Fact]
    public void The_fuzz_script_lists_the_targets_there_are()
    {
        var psi = new ProcessStartInfo("bash", [Path.Combine(Repository.Root, "scripts", "fuzz.sh"), "--list"]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.Equal(FuzzTargets.All.Select(t => t.Name), lines);
    }
}
