using System.CommandLine;
using UserNet.Capture;
using UserNet.Pictures;
using UserNet.Replay;
using UserNet.Wire;

namespace UserNet.Cli;

/// <summary><c>usernet replay</c>: a capture's frames through a fresh stack, layer by layer, in plain words.</summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "the capture to replay (pcap or pcapng)" };
        var ip = new Option<Ipv4Subnet>("--ip") { Description = "the stack's address and prefix, A.B.C.D/N (default: the capture's: the recorded stack's, or the host that answers)", CustomParser = StackArguments.ParseSubnet };
        var mac = new Option<MacAddress?>("--mac") { Description = "the stack's MAC (default: the one the capture gives the address)", CustomParser = StackArguments.ParseMac };
        var gateway = new Option<Ipv4Address?>("--gateway") { Description = "next hop for destinations off the prefix", CustomParser = StackArguments.ParseAddress };
        var output = new Option<string?>("--out") { Description = "write every frame the stack sent to FILE (pcapng, with decision comments)", HelpName = "FILE" };
        var html = new Option<string?>("--html") { Description = "write a page picturing the flow to FILE (ladder diagram, TCP time-sequence graphs, per-layer table; self-contained HTML)", HelpName = "FILE" };
        var cmd = new Command("replay", "feed a capture's frames into a fresh stack and say what each layer saw, decided and sent");
        cmd.Add(file); cmd.Add(ip); cmd.Add(mac); cmd.Add(gateway); cmd.Add(output); cmd.Add(html);
        cmd.SetAction(p =>
        {
            var path = p.GetValue(file)!;
            var records = new List<CaptureRecord>();
            CaptureFormatException? damage = null;
            string? section = null;
            try
            {
                using var reader = CaptureFile.Open(path);
                while (reader.Read() is { } r) records.Add(r);
                section = (reader as PcapNgReader)?.SectionComment;
            }
            catch (FileNotFoundException) { throw new CliException($"{path}: no such file"); }
            catch (DirectoryNotFoundException) { throw new CliException($"{path}: no such file"); }
            catch (UnauthorizedAccessException) { throw new CliException($"{path}: permission denied"); }
            catch (CaptureFormatException e) { damage = e; } // replay the good frames before the damage, then report it
            if (StackAddress(records, section, p.GetResult(ip) is null ? null : p.GetValue(ip), path) is not var (address, why)) return ExitCodes.Error;
            var result = PacketReplay.Run(records, new ReplayOptions { Address = address, AddressSource = why, Mac = p.GetValue(mac), Gateway = p.GetValue(gateway) });
            Console.Out.Write(result.Transcript);
            if (p.GetValue(output) is { } outPath)
            {
                try
                {
                    using var w = new PcapNgWriter(File.Create(outPath));
                    foreach (var r in result.Sent) w.Write(r);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot write {outPath}: {e.Message}"); }
            }
            if (p.GetValue(html) is { } htmlPath) PageFile.Write(htmlPath, w => PacketFlowPage.Write(w, result, new PacketFlowOptions { Title = Path.GetFileName(path) }));
            if (damage is not null) throw new CliException($"{path}: {damage.Message} (after {records.Count} good packets)");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>
    /// The stack's address: the one given (with a warning when no frame has it, since every frame will then be "not for
    /// us"), or the one the capture shows, with why. Null, after one line naming the candidates, when it does not tell.
    /// </summary>
    private static (Ipv4Subnet Address, string? Why)? StackAddress(List<CaptureRecord> records, string? section, Ipv4Subnet? given, string path)
    {
        if (given is { } g)
        {
            if (!PacketReplay.Mentions(records, g.Address))
                Console.Error.WriteLine($"usernet replay: warning: {g.Address} appears in no frame of {path}; every frame will be \"not for us\"");
            return (g, null);
        }
        var inferred = PacketReplay.InferStack(records, section);
        if (inferred.Address is { } a) return (a, inferred.Reason);
        Console.Error.WriteLine(inferred.Candidates.Count == 0
            ? $"usernet replay: cannot tell which host is the stack: {path} shows no IPv4 host; give --ip"
            : $"usernet replay: cannot tell which host is the stack: {string.Join(", ", inferred.Candidates)}; give --ip");
        return null;
    }
}
