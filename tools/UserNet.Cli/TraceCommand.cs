using System.CommandLine;
using UserNet.Capture;
using UserNet.Devices;
using UserNet.Pictures;
using UserNet.Tracing;

namespace UserNet.Cli;

/// <summary><c>usernet trace</c>: tcpdump's text for a capture file (<c>-r</c>) or a live interface (<c>-i</c>).</summary>
internal static class TraceCommand
{
    public static Command Create()
    {
        var read = new Option<string?>("-r") { Description = "read packets from FILE (pcap or pcapng)", HelpName = "FILE" };
        var iface = new Option<string?>("-i") { Description = "capture live on IFACE (an AF_PACKET socket; needs root)", HelpName = "IFACE" };
        var write = new Option<string?>("-w") { Description = "write packets to FILE (.pcap: classic pcap; otherwise pcapng) instead of printing them", HelpName = "FILE" };
        var count = new Option<int?>("-c") { Description = "stop after COUNT packets", HelpName = "COUNT" };
        var numeric = new Option<bool>("-n") { Description = "numeric addresses and ports (always the case; accepted for tcpdump's spelling)" };
        var link = new Option<bool>("-e") { Description = "print the link-level header" };
        var verbose = new Option<bool>("-v") { Description = "verbose: TTL, id, offset, flags, length, checksums" };
        var t1 = new Option<bool>("-t") { Description = "no timestamps" };
        var t2 = new Option<bool>("-tt") { Description = "seconds since the epoch" };
        var t3 = new Option<bool>("-ttt") { Description = "time since the previous packet" };
        var t4 = new Option<bool>("-tttt") { Description = "date and time of day" };
        var t5 = new Option<bool>("-ttttt") { Description = "time since the first packet" };
        var x1 = new Option<bool>("-x") { Description = "hex dump of each packet from the network layer" };
        var x2 = new Option<bool>("-xx") { Description = "hex dump including the link header" };
        var a1 = new Option<bool>("-X") { Description = "hex and ASCII dump from the network layer" };
        var a2 = new Option<bool>("-XX") { Description = "hex and ASCII dump including the link header" };
        var html = new Option<string?>("--html") { Description = "with -r: also write a page picturing the flow to FILE (ladder diagram, TCP time-sequence graphs, per-layer table; self-contained HTML)", HelpName = "FILE" };
        var cmd = new Command("trace", "print packets as tcpdump -n does, from a capture file or a live interface");
        foreach (var o in new Option[] { read, iface, write, count, numeric, link, verbose, t1, t2, t3, t4, t5, x1, x2, a1, a2, html }) cmd.Add(o);
        cmd.SetAction(p =>
        {
            string? file = p.GetValue(read), name = p.GetValue(iface);
            if ((file is null) == (name is null)) throw new CliException("trace needs exactly one of -r FILE and -i IFACE");
            int? limit = p.GetValue(count);
            if (limit is <= 0) throw new CliException("-c must be 1 or more");
            string? htmlPath = p.GetValue(html);
            if (htmlPath is not null && file is null) throw new CliException("--html needs -r FILE: a page is drawn from a whole capture, not a live interface");
            var options = new TcpdumpOptions
            {
                Verbose = p.GetValue(verbose) ? 1 : 0,
                LinkHeader = p.GetValue(link),
                Timestamps = p.GetValue(t5) ? TimestampStyle.SinceFirst : p.GetValue(t4) ? TimestampStyle.DateAndTime
                    : p.GetValue(t3) ? TimestampStyle.SincePrevious : p.GetValue(t2) ? TimestampStyle.Epoch
                    : p.GetValue(t1) ? TimestampStyle.None : TimestampStyle.TimeOfDay,
                HexDump = p.GetValue(a1) || p.GetValue(a2) ? HexDumpStyle.HexAndAscii : p.GetValue(x1) || p.GetValue(x2) ? HexDumpStyle.Hex : HexDumpStyle.None,
                HexDumpIncludesLinkHeader = p.GetValue(x2) || p.GetValue(a2),
            };
            ICaptureWriter? writer = null;
            if (p.GetValue(write) is { } outPath)
            {
                try { writer = new LinkTypeFollowingWriter(outPath); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot write {outPath}: {e.Message}"); }
            }
            using var _w = writer;
            var formatter = new TcpdumpFormatter(options);
            var output = Console.Out;
            int seen = 0;
            var records = htmlPath is null ? null : new List<CaptureRecord>();
            void Handle(CaptureRecord r)
            {
                seen++;
                records?.Add(r);
                if (writer is not null) writer.Write(r);
                else output.WriteLine(formatter.Format(r));
            }
            if (file is null) return Capture(name!, limit, writer is not null, Handle);
            int code = ReadFile(file, limit, Handle);
            if (htmlPath is not null) PageFile.Write(htmlPath, w => PacketFlowPage.Write(w, records!, new PacketFlowOptions { Title = Path.GetFileName(file) }));
            return code;
        });
        return cmd;
    }

    private static int ReadFile(string path, int? limit, Action<CaptureRecord> handle)
    {
        ICaptureReader reader;
        try { reader = CaptureFile.Open(path); }
        catch (FileNotFoundException) { throw new CliException($"{path}: no such file"); }
        catch (DirectoryNotFoundException) { throw new CliException($"{path}: no such file"); }
        catch (UnauthorizedAccessException) { throw new CliException($"{path}: permission denied"); }
        catch (CaptureFormatException e) { throw new CliException($"{path}: {e.Message}"); }
        using (reader)
        {
            int n = 0;
            try
            {
                while ((limit is null || n < limit) && reader.Read() is { } r) { handle(r); n++; }
            }
            catch (CaptureFormatException e)
            {
                // Every good packet before the damage has been printed; now say where the damage is.
                Console.Out.Flush();
                throw new CliException($"{path}: {e.Message} (after {n} good packets)");
            }
        }
        return ExitCodes.Ok;
    }

    private static int Capture(string name, int? limit, bool writing, Action<CaptureRecord> handle)
    {
        var (stop, regs) = Signals.OnTermination();
        using var registrations = regs;
        using var socket = PacketSocket.Open(name);
        Console.Error.WriteLine($"usernet trace: listening on {name}, link-type EN10MB (Ethernet)");
        var buffer = new byte[65536 + 64];
        int n = 0;
        while (!stop.IsCancellationRequested && (limit is null || n < limit))
        {
            int length = socket.Receive(buffer, 100, out _);
            if (length == 0) continue;
            long now = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
            handle(new CaptureRecord(now, length, buffer.AsSpan(0, Math.Min(length, buffer.Length)).ToArray()));
            if (!writing) Console.Out.Flush();
            n++;
        }
        Console.Error.WriteLine($"{n} packets captured");
        return ExitCodes.Ok;
    }
}
