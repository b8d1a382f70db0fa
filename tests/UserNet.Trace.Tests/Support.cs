using UserNet.TestSupport;
using UserNet.Capture;

namespace UserNet.Trace.Tests;

/// <summary>Where the fixtures and captures are, and how to run tcpdump, tshark and the CLI.</summary>
internal static class Repo
{
    public static readonly string Root = Repository.Root;
    public static string Fixture(string name) => Path.Combine(Root, "tests", "UserNet.Trace.Tests", "Fixtures", name);
    public static string Captures => Path.Combine(Root, "captures");

    public static List<CaptureRecord> ReadAll(string path)
    {
        using var r = CaptureFile.Open(path);
        var list = new List<CaptureRecord>();
        while (r.Read() is { } rec) list.Add(rec);
        return list;
    }

    public static string[] Lines(string text) => text.Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
}
