using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using UserNet.Hosting;
using UserNet.Services;
using UserNet.Wire;

namespace UserNet.Cli;

/// <summary>
/// <c>usernet iperf3 -c HOST</c>: an iperf3 client (TCP) on the stack, against any iperf 3 server (the kernel's
/// <c>iperf3 -s</c>), printing what iperf 3.12 prints: the interval lines, the sender and receiver summary, or with
/// <c>-J</c> its JSON (start, intervals, end with sum_sent and sum_received).
/// </summary>
internal static class Iperf3Command
{
    public static Command Create()
    {
        var args = new StackArguments();
        var client = new Option<string?>("-c") { Description = "the iperf3 server to test against (IPv4 address)", HelpName = "HOST" };
        var port = new Option<int>("-p") { Description = "the server's port", DefaultValueFactory = _ => StackServices.Iperf3Port };
        var time = new Option<int>("-t") { Description = "seconds to transmit", DefaultValueFactory = _ => 10 };
        var reverse = new Option<bool>("-R") { Description = "reverse: the server sends, we receive" };
        var parallel = new Option<int>("-P") { Description = "parallel streams", DefaultValueFactory = _ => 1 };
        var length = new Option<int>("-l") { Description = "bytes per write", DefaultValueFactory = _ => 128 * 1024 };
        var json = new Option<bool>("-J") { Description = "print iperf3's JSON instead of text" };
        var cmd = new Command("iperf3", "an iperf3 client (TCP, the iperf 3.12 protocol) on the stack: measure against iperf3 -s");
        args.AddTo(cmd);
        cmd.Add(client); cmd.Add(port); cmd.Add(time); cmd.Add(reverse); cmd.Add(parallel); cmd.Add(length); cmd.Add(json);
        cmd.SetAction(async (p, ct) =>
        {
            var h = p.GetValue(client) ?? throw new CliException("iperf3: give the server with -c HOST");
            if (!Ipv4Address.TryParse(h, out var addr)) throw new CliException($"iperf3: '{h}' is not an IPv4 address");
            int serverPort = p.GetValue(port), seconds = p.GetValue(time), streams = p.GetValue(parallel), len = p.GetValue(length);
            if (serverPort is < 1 or > 65535) throw new CliException("iperf3: -p PORT must be 1 to 65535");
            if (seconds is < 1 or > 86400) throw new CliException("iperf3: -t SECONDS must be 1 to 86400");
            if (streams is < 1 or > 128) throw new CliException("iperf3: -P N must be 1 to 128");
            if (len is < 1 or > 1024 * 1024) throw new CliException("iperf3: -l LENGTH must be 1 to 1048576");
            var server = new IPEndPoint(addr.ToIPAddress(), serverPort);
            bool asJson = p.GetValue(json), rev = p.GetValue(reverse);

            using var device = args.OpenTap(p);
            var options = args.BuildOptions(p, device.Mtu, device.Name);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            await using var host = new StackHost(device, options);
            await host.StartAsync();

            var text = asJson ? null : new TextReport(streams, rev);
            if (text is not null)
            {
                Console.WriteLine($"Connecting to host {h}, port {serverPort}");
                if (rev) Console.WriteLine($"Reverse mode, remote host {h} is sending");
            }
            var started = DateTimeOffset.UtcNow;
            var testOptions = new Iperf3ClientOptions
            {
                Seconds = seconds, Parallel = streams, Reverse = rev, BlockSize = len,
                Connected = text is null ? null : text.Connected,
                Interval = text is null ? null : text.Interval,
            };
            try
            {
                var report = await Iperf3Client.RunAsync(host, server, testOptions, stop.Token);
                if (text is not null) text.Summary(report);
                else Console.WriteLine(JsonReport.Write(report, h, serverPort, seconds, len, started, options.Tcp));
                return ExitCodes.Ok;
            }
            catch (Iperf3Exception e) { return Fail(asJson, e.Message); }
            catch (System.Net.Sockets.SocketException e) { return Fail(asJson, $"unable to connect to server: {e.Message}"); }
            catch (OperationCanceledException) { return Fail(asJson, "interrupt - the client has terminated"); }
        });
        return cmd;
    }

    /// <summary>iperf3's way: "iperf3: error - TEXT" on stderr (and with -J, a JSON object with "error" on stdout); exit 1.</summary>
    private static int Fail(bool json, string message)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["start"] = new { }, ["intervals"] = Array.Empty<object>(), ["end"] = new { }, ["error"] = message }));
        Console.Error.WriteLine($"iperf3: error - {message}");
        return ExitCodes.NoReply;
    }

    /// <summary>iperf3 labels streams by their socket's file descriptor; ours are not files, so we number them as iperf3's usually are (5, 7, 9, ...).</summary>
    internal static int Socket(int index) => 5 + 2 * index;

    /// <summary>unit_snprintf (units.c): bytes in powers of 1024 ('A'), rates in bits in powers of 1000 ('a'), always four places.</summary>
    internal static string Unit(double value, bool bits)
    {
        string[] labels = bits ? ["bit", "Kbit", "Mbit", "Gbit", "Tbit"] : ["Byte", "KByte", "MByte", "GByte", "TByte"];
        double step = bits ? 1000 : 1024;
        if (bits) value *= 8;
        int i = 0;
        while (value >= step && i < labels.Length - 1) { value /= step; i++; }
        var format = value < 9.995 ? "{0,4:F2} {1}" : value < 99.95 ? "{0,4:F1} {1}" : "{0,4:F0} {1}";
        return string.Format(CultureInfo.InvariantCulture, format, value, labels[i]);
    }

    /// <summary>The text iperf 3.12 prints (iperf_locale.c's report_* formats).</summary>
    private sealed class TextReport(int streams, bool reverse)
    {
        private const string Separator = "- - - - - - - - - - - - - - - - - - - - - - - - -";
        private const string Header = "[ ID] Interval           Transfer     Bitrate";
        private int _intervals;

        public void Connected(Iperf3Stream s) =>
            Console.WriteLine($"[{Socket(StreamIndex(s.Id)),3}] local {s.LocalEndPoint.Address} port {s.LocalEndPoint.Port} connected to {s.RemoteEndPoint.Address} port {s.RemoteEndPoint.Port}");

        public void Interval(Iperf3Interval iv)
        {
            if (_intervals++ == 0) Console.WriteLine(reverse ? Header : Header + "         Retr  Cwnd");
            else if (streams > 1) Console.WriteLine(Separator);
            var sb = new StringBuilder();
            double seconds = iv.End - iv.Start;
            for (int i = 0; i < iv.Bytes.Count; i++)
            {
                sb.Append(Line($"[{Socket(i),3}]", iv.Start, iv.End, iv.Bytes[i], seconds));
                // Retr is the stack's count (per stack, so on the first stream); Cwnd is our congestion controller's window.
                sb.Append(reverse ? "                  " : Invariant($"  {iv.Retransmits[i],3}   {Unit(iv.CongestionWindows[i], false)}s       "));
                sb.Append('\n');
            }
            if (streams > 1)
            {
                sb.Append(Line("[SUM]", iv.Start, iv.End, iv.Bytes.Sum(), seconds));
                sb.Append(reverse ? "                  " : Invariant($"  {iv.Retransmits.Sum(),3}             "));
                sb.Append('\n');
            }
            Console.Write(sb.ToString());
        }

        public void Summary(Iperf3Report r)
        {
            Console.WriteLine(Separator);
            Console.WriteLine(r.SenderHasRetransmits ? Header + "         Retr" : Header);
            string SenderTail(long retransmits) => r.SenderHasRetransmits ? Invariant($"  {Math.Max(retransmits, 0),3}             sender") : "                  sender";
            for (int i = 0; i < r.Streams.Count; i++)
            {
                var s = r.Streams[i];
                Console.WriteLine(Line($"[{Socket(i),3}]", 0, s.SenderSeconds, s.BytesSent, s.SenderSeconds) + SenderTail(s.Retransmits));
                Console.WriteLine(Line($"[{Socket(i),3}]", 0, s.ReceiverSeconds, s.BytesReceived, s.ReceiverSeconds) + "                  receiver");
            }
            if (r.Streams.Count > 1)
            {
                double sent = r.Streams.Max(s => s.SenderSeconds), received = r.Streams.Max(s => s.ReceiverSeconds);
                Console.WriteLine(Line("[SUM]", 0, sent, r.Streams.Sum(s => s.BytesSent), sent) + SenderTail(r.Streams.Sum(s => Math.Max(s.Retransmits, 0))));
                Console.WriteLine(Line("[SUM]", 0, received, r.Streams.Sum(s => s.BytesReceived), received) + "                  receiver");
            }
            Console.WriteLine();
            Console.WriteLine("iperf Done.");
        }

        private static string Line(string id, double start, double end, long bytes, double seconds) =>
            Invariant($"{id} {start,6:F2}-{end,-6:F2} sec  {Unit(bytes, false)}s  {Unit(seconds > 0 ? bytes / seconds : 0, true)}s/sec");
    }

    internal static int StreamIndex(int id) => id == 1 ? 0 : id - 2;

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>The JSON iperf 3.12 prints with -J (the fields a reader of it uses; tcp_info's rtt fields we do not have are left out).</summary>
    private static class JsonReport
    {
        public static string Write(Iperf3Report r, string host, int port, int duration, int blockSize, DateTimeOffset started, Tcp.TcpSettings tcp)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                bool sender = !r.Reverse;
                w.WriteStartObject();
                w.WriteStartObject("start");
                w.WriteStartArray("connected");
                for (int i = 0; i < r.Streams.Count; i++)
                {
                    var s = r.Streams[i];
                    w.WriteStartObject();
                    w.WriteNumber("socket", Socket(i));
                    w.WriteString("local_host", s.LocalEndPoint.Address.ToString());
                    w.WriteNumber("local_port", s.LocalEndPoint.Port);
                    w.WriteString("remote_host", s.RemoteEndPoint.Address.ToString());
                    w.WriteNumber("remote_port", s.RemoteEndPoint.Port);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteString("version", "usernet iperf3 (the iperf 3.12 protocol)");
                w.WriteString("system_info", System.Runtime.InteropServices.RuntimeInformation.OSDescription);
                w.WriteStartObject("timestamp");
                w.WriteString("time", started.ToString("r", CultureInfo.InvariantCulture));
                w.WriteNumber("timesecs", started.ToUnixTimeSeconds());
                w.WriteEndObject();
                w.WriteStartObject("connecting_to");
                w.WriteString("host", host);
                w.WriteNumber("port", port);
                w.WriteEndObject();
                w.WriteString("cookie", r.Cookie);
                w.WriteNumber("target_bitrate", 0);
                w.WriteNumber("sock_bufsize", 0);
                w.WriteNumber("sndbuf_actual", tcp.SendBufferSize);
                w.WriteNumber("rcvbuf_actual", tcp.ReceiveBufferSize);
                w.WriteStartObject("test_start");
                w.WriteString("protocol", "TCP");
                w.WriteNumber("num_streams", r.Streams.Count);
                w.WriteNumber("blksize", blockSize);
                w.WriteNumber("omit", 0);
                w.WriteNumber("duration", duration);
                w.WriteNumber("bytes", 0);
                w.WriteNumber("blocks", 0);
                w.WriteNumber("reverse", r.Reverse ? 1 : 0);
                w.WriteNumber("tos", 0);
                w.WriteNumber("target_bitrate", 0);
                w.WriteEndObject();
                w.WriteEndObject();

                w.WriteStartArray("intervals");
                foreach (var iv in r.Intervals)
                {
                    double seconds = iv.End - iv.Start;
                    w.WriteStartObject();
                    w.WriteStartArray("streams");
                    for (int i = 0; i < iv.Bytes.Count; i++)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("socket", Socket(i));
                        Span(w, iv.Start, iv.End, seconds, iv.Bytes[i]);
                        if (sender)
                        {
                            w.WriteNumber("retransmits", iv.Retransmits[i]);
                            w.WriteNumber("snd_cwnd", iv.CongestionWindows[i]);
                        }
                        w.WriteBoolean("omitted", false);
                        w.WriteBoolean("sender", sender);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteStartObject("sum");
                    Span(w, iv.Start, iv.End, seconds, iv.Bytes.Sum());
                    if (sender) w.WriteNumber("retransmits", iv.Retransmits.Sum());
                    w.WriteBoolean("omitted", false);
                    w.WriteBoolean("sender", sender);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                w.WriteEndArray();

                w.WriteStartObject("end");
                w.WriteStartArray("streams");
                for (int i = 0; i < r.Streams.Count; i++)
                {
                    var s = r.Streams[i];
                    w.WriteStartObject();
                    w.WriteStartObject("sender");
                    w.WriteNumber("socket", Socket(i));
                    Span(w, 0, s.SenderSeconds, s.SenderSeconds, s.BytesSent);
                    w.WriteNumber("retransmits", Math.Max(s.Retransmits, 0));
                    w.WriteNumber("max_snd_cwnd", s.MaxCongestionWindow);
                    w.WriteBoolean("sender", sender);
                    w.WriteEndObject();
                    w.WriteStartObject("receiver");
                    w.WriteNumber("socket", Socket(i));
                    Span(w, 0, s.ReceiverSeconds, s.ReceiverSeconds, s.BytesReceived);
                    w.WriteBoolean("sender", sender);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                double sent = r.Streams.Max(s => s.SenderSeconds), received = r.Streams.Max(s => s.ReceiverSeconds);
                w.WriteStartObject("sum_sent");
                Span(w, 0, sent, sent, r.Streams.Sum(s => s.BytesSent));
                w.WriteNumber("retransmits", r.Streams.Sum(s => Math.Max(s.Retransmits, 0)));
                w.WriteBoolean("sender", sender);
                w.WriteEndObject();
                w.WriteStartObject("sum_received");
                Span(w, 0, received, received, r.Streams.Sum(s => s.BytesReceived));
                w.WriteBoolean("sender", sender);
                w.WriteEndObject();
                w.WriteStartObject("cpu_utilization_percent");
                w.WriteNumber("host_total", r.LocalCpu.Total);
                w.WriteNumber("host_user", r.LocalCpu.User);
                w.WriteNumber("host_system", r.LocalCpu.System);
                w.WriteNumber("remote_total", r.RemoteCpu.Total);
                w.WriteNumber("remote_user", r.RemoteCpu.User);
                w.WriteNumber("remote_system", r.RemoteCpu.System);
                w.WriteEndObject();
                var (ours, theirs) = (r.LocalCongestion, r.RemoteCongestion ?? "");
                w.WriteString("sender_tcp_congestion", r.Reverse ? theirs : ours);
                w.WriteString("receiver_tcp_congestion", r.Reverse ? ours : theirs);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray());
        }

        private static void Span(Utf8JsonWriter w, double start, double end, double seconds, long bytes)
        {
            w.WriteNumber("start", start);
            w.WriteNumber("end", end);
            w.WriteNumber("seconds", seconds);
            w.WriteNumber("bytes", bytes);
            w.WriteNumber("bits_per_second", seconds > 0 ? bytes * 8 / seconds : 0);
        }
    }
}
