using System.CommandLine;
using System.CommandLine.Parsing;
using UserNet.Core;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Devices;
using UserNet.Wire;

namespace UserNet.Cli;

internal static class ExitCodes
{
    public const int Ok = 0;
    public const int NoReply = 1;
    public const int Error = 2;
}

/// <summary>A problem the user can fix, reported as one line with exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);

/// <summary>The options every command that runs a stack on a TAP shares.</summary>
internal sealed class StackArguments
{
    public readonly Option<string> Tap = new("--tap") { Description = "TAP interface to attach to", Required = true };
    public readonly Option<Ipv4Subnet> Ip = new("--ip") { Description = "the stack's address and prefix, A.B.C.D/N", Required = true, CustomParser = ParseSubnet };
    public readonly Option<Ipv4Address?> Gateway = new("--gateway") { Description = "next hop for destinations off the prefix", CustomParser = ParseAddress };
    public readonly Option<MacAddress?> Mac = new("--mac") { Description = "the stack's MAC (default: random locally administered)", CustomParser = ParseMac };
    public readonly Option<bool> Create = new("--create") { Description = "create the TAP interface if it does not exist (it lasts while usernet runs)" };
    public readonly Option<bool> NoOffload = new("--no-offload") { Description = "plain frames: no virtio-net header, so no TSO and no partial checksums (to measure both)" };
    public readonly Option<IReadOnlyList<(string Name, long Value)>> Limits = new("--limit")
    {
        Description = "a stack limit NAME=VALUE (repeatable; K, M, G for KiB, MiB, GiB): " + string.Join(", ", StackLimitNames.Names),
        HelpName = "NAME=VALUE",
        CustomParser = StackLimitNames.Parse,
        Arity = ArgumentArity.ZeroOrMore,
    };

    public void AddTo(Command c)
    {
        c.Add(Tap); c.Add(Ip); c.Add(Gateway); c.Add(Mac); c.Add(Create); c.Add(NoOffload); c.Add(Limits);
    }

    public StackOptions BuildOptions(ParseResult p, int mtu, string name, IFrameObserver? observer = null)
    {
        var l = StackLimitNames.Apply(p.GetValue(Limits) ?? []);
        return new StackOptions
        {
            Address = p.GetValue(Ip),
            Gateway = p.GetValue(Gateway),
            Mac = p.GetValue(Mac),
            Mtu = mtu,
            Name = name,
            Observer = observer,
            Limits = l.Limits,
            Tcp = l.Tcp,
            UdpReceiveBufferSize = l.UdpReceiveBufferSize,
            UdpReceiveQueueLength = l.UdpReceiveQueueLength,
        };
    }

    public TapDevice OpenTap(ParseResult p)
    {
        if (Environment.OSVersion.Platform != PlatformID.Unix) throw new CliException("TAP devices need Linux");
        var subnet = p.GetValue(Ip);
        if (p.GetValue(Gateway) is { } gw && !subnet.Contains(gw))
            throw new CliException($"gateway {gw} is not inside {subnet}");
        return TapDevice.Open(p.GetValue(Tap)!, p.GetValue(Create), offloads: !p.GetValue(NoOffload));
    }

    internal static Ipv4Subnet ParseSubnet(ArgumentResult r)
    {
        var s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        try
        {
            var n = Ipv4Subnet.Parse(s);
            var a = n.Address;
            if (a.IsUnspecified || a.IsLoopback || a.IsMulticast || a.IsLimitedBroadcast || a.IsReserved
                || (n.PrefixLength < 31 && (a == n.DirectedBroadcast || a == n.Network)))
                r.AddError($"{s} is not a usable host address");
            return n;
        }
        catch (FormatException e)
        {
            r.AddError(e.Message);
            return default;
        }
    }

    internal static Ipv4Address? ParseAddress(ArgumentResult r)
    {
        var s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (Ipv4Address.TryParse(s, out var a)) return a;
        r.AddError($"'{s}' is not an IPv4 address (expected A.B.C.D)");
        return null;
    }

    internal static MacAddress? ParseMac(ArgumentResult r)
    {
        var s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (!MacAddress.TryParse(s, out var m)) { r.AddError($"'{s}' is not a MAC address (expected XX:XX:XX:XX:XX:XX)"); return null; }
        if (m.IsMulticast || m == MacAddress.Zero) { r.AddError($"{s} is not a unicast MAC address"); return null; }
        return m;
    }
}

internal static class Signals
{
    /// <summary>A token cancelled by SIGINT or SIGTERM (the registrations live as long as the returned object).</summary>
    public static (CancellationTokenSource Cts, IDisposable Registrations) OnTermination()
    {
        var cts = new CancellationTokenSource();
        void Handler(System.Runtime.InteropServices.PosixSignalContext c) { c.Cancel = true; cts.Cancel(); }
        var a = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Handler);
        var b = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Handler);
        return (cts, new Both(a, b));
    }

    private sealed class Both(IDisposable a, IDisposable b) : IDisposable
    {
        public void Dispose() { a.Dispose(); b.Dispose(); }
    }
}

/// <summary>
/// <c>--limit NAME=VALUE</c>: the stack's caps against floods (<see cref="StackLimits"/>) and the per-socket sizes,
/// by the names a command line uses.
/// </summary>
internal static class StackLimitNames
{
    /// <summary>What the names set: the limits, the TCP defaults and the UDP socket sizes, starting from the library's defaults.</summary>
    public sealed record Values(StackLimits Limits, TcpSettings Tcp, int UdpReceiveBufferSize, int UdpReceiveQueueLength);

    private static readonly (string Name, Func<Values, long, Values> Set)[] Table =
    [
        ("tcp-connections", (o, v) => o with { Limits = o.Limits with { TcpConnections = Int(v) } }),
        ("tcp-connections-per-peer", (o, v) => o with { Limits = o.Limits with { TcpConnectionsPerPeer = Int(v) } }),
        ("tcp-time-wait", (o, v) => o with { Limits = o.Limits with { TcpTimeWaitConnections = Int(v) } }),
        ("tcp-half-open", (o, v) => o with { Limits = o.Limits with { TcpHalfOpenConnections = Int(v) } }),
        ("tcp-out-of-order-bytes", (o, v) => o with { Limits = o.Limits with { TcpOutOfOrderBytes = v } }),
        ("tcp-resets-per-second", (o, v) => o with { Limits = o.Limits with { TcpResetsPerSecond = Math.Max(1, Int(v)) } }),
        ("tcp-reset-burst", (o, v) => o with { Limits = o.Limits with { TcpResetBurst = Math.Max(1, Int(v)) } }),
        ("tcp-send-buffer", (o, v) => o with { Tcp = o.Tcp with { SendBufferSize = Math.Max(1, Int(v)) } }),
        ("tcp-receive-buffer", (o, v) => o with { Tcp = o.Tcp with { ReceiveBufferSize = Math.Max(1, Int(v)) } }),
        ("udp-queued-bytes", (o, v) => o with { Limits = o.Limits with { UdpQueuedBytes = v } }),
        ("udp-receive-buffer", (o, v) => o with { UdpReceiveBufferSize = Math.Max(1, Int(v)) }),
        ("udp-receive-queue", (o, v) => o with { UdpReceiveQueueLength = Math.Max(1, Int(v)) }),
    ];

    public static IEnumerable<string> Names => Table.Select(t => t.Name);

    private static int Int(long v) => (int)Math.Min(v, int.MaxValue);

    public static IReadOnlyList<(string Name, long Value)> Parse(ArgumentResult r)
    {
        var list = new List<(string, long)>();
        foreach (var token in r.Tokens)
        {
            var parts = token.Value.Split('=', 2);
            if (parts.Length != 2 || !Table.Any(t => t.Name == parts[0]))
            {
                r.AddError($"--limit: '{token.Value}' is not NAME=VALUE with NAME one of {string.Join(", ", Names)}");
                return list;
            }
            if (!TryParseSize(parts[1], out long v))
            {
                r.AddError($"--limit {parts[0]}: '{parts[1]}' is not a count or size (a number, optionally with K, M or G)");
                return list;
            }
            list.Add((parts[0], v));
        }
        return list;
    }

    private static bool TryParseSize(string s, out long value)
    {
        value = 0;
        long unit = 1;
        char u = s.Length > 0 ? char.ToUpperInvariant(s[^1]) : ' ';
        if (u is 'K' or 'M' or 'G')
        {
            unit = u switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            s = s[..^1];
        }
        if (!long.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n)
            || n > long.MaxValue / unit) return false;
        value = n * unit;
        return true;
    }

    public static Values Apply(IReadOnlyList<(string Name, long Value)> limits)
    {
        var d = new StackOptions { Address = default };
        var values = new Values(d.Limits, d.Tcp, d.UdpReceiveBufferSize, d.UdpReceiveQueueLength);
        foreach (var (name, value) in limits) values = Table.First(t => t.Name == name).Set(values, value);
        return values;
    }
}

/// <summary>Writes a page (<c>--html FILE</c>); a file that cannot be written is one line, exit 2.</summary>
internal static class PageFile
{
    public static void Write(string path, Action<TextWriter> write)
    {
        try
        {
            using var w = new StreamWriter(File.Create(path), new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            write(w);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot write {path}: {e.Message}"); }
    }
}
