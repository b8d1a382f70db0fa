using SharpFuzz;
using UserNet.Fuzz;

// UserNet.Fuzz TARGET            under afl-fuzz: SharpFuzz's out-of-process runner feeds the target (scripts/fuzz.sh)
// UserNet.Fuzz TARGET FILE...    runs the target over each file once and says which fail (exit 1 if any did)
// UserNet.Fuzz TARGET --trace FILE...   the same, printing every frame in and out with the stack's decision
// UserNet.Fuzz --list            the targets, one a line
// UserNet.Fuzz --max-length TARGET   the longest input TARGET reads (afl-fuzz's -G)
// UserNet.Fuzz --seeds REPO      writes the seed corpora under REPO/fuzz/corpus
if (args is ["--list"])
{
    foreach (var t in FuzzTargets.All) Console.WriteLine(t.Name);
    return 0;
}
if (args is ["--max-length", var name] && FuzzTargets.Find(name) is { } sized)
{
    Console.WriteLine(sized.MaxInputLength);
    return 0;
}
if (args is ["--seeds", var root])
{
    Seeds.Write(root, Path.Combine(root, "fuzz", "corpus"));
    return 0;
}
if (args.Length == 0 || FuzzTargets.Find(args[0]) is not { } target)
{
    Console.Error.WriteLine($"usage: UserNet.Fuzz TARGET [[--trace] FILE...] | --list | --seeds REPO  (targets: {string.Join(", ", FuzzTargets.All.Select(t => t.Name))})");
    return 2;
}
if (args.Length == 1)
{
    Fuzzer.OutOfProcess.Run(stream =>
    {
        // At most what the target reads: afl-fuzz is told the same (-G), but a seed may be longer.
        var buffer = new byte[target.MaxInputLength];
        int n = 0;
        for (int got; n < buffer.Length && (got = stream.Read(buffer, n, buffer.Length - n)) > 0;) n += got;
        target.Run(buffer.AsSpan(0, n));
    });
    return 0;
}
var files = args[1..];
if (files is ["--trace", ..])
{
    FuzzedStack.Trace = Console.Out;
    files = files[1..];
    // Exceptions that code under test catches itself (the stack's stack_fault, the formatter's "[undecodable frame]")
    // are shown where they were thrown.
    AppDomain.CurrentDomain.FirstChanceException += (_, e) =>
    {
        if (e.Exception is FuzzFailure) return;
        var at = string.Join('\n', Environment.StackTrace.Split('\n').Where(l => l.Contains(" UserNet.", StringComparison.Ordinal) && !l.Contains("UserNet.Fuzz", StringComparison.Ordinal)));
        if (at.Length > 0) Console.WriteLine($"thrown: {e.Exception.GetType().Name}: {e.Exception.Message}\n{at}");
    };
}
int failed = 0;
foreach (var file in files)
{
    try
    {
        target.Run(File.ReadAllBytes(file));
        Console.WriteLine($"ok    {file}");
    }
    catch (Exception e)
    {
        failed++;
        Console.WriteLine($"FAIL  {file}: {e}");
    }
}
return failed == 0 ? 0 : 1;
