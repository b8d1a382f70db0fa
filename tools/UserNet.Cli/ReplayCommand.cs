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
        var ip = new Option<Ipv4Subnet>("--ip") { Description = "the stack's address and prefix, A.B.C.D/N", Required = true, CustomParser = StackArguments.ParseSubnet };
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
            try
            {
                using var reader = CaptureFile.Open(path);
                while (reader.Read() is { } r) records.Add(r);
            }
            catch (FileNotFoundException) { throw new CliException($"{path}: no such file"); }
            catch (DirectoryNotFoundException) { throw new CliException($"{path}: no such file"); }
            catch (UnauthorizedAccessException) { throw new CliException($"{path}: permission denied"); }
            catch (CaptureFormatException e) { damage = e; } // replay the good frames before the damage, then report it
            var result = PacketReplay.Run(records, new ReplayOptions { Address = p.GetValue(ip), Mac = p.GetValue(mac), Gateway = p.GetValue(gateway) });
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
}
