using UserNet.Capture;
using UserNet.Tracing;

namespace UserNet.Fuzz;

/// <summary>
/// <c>capture</c>: the input is a capture file (classic pcap or pcapng, told apart by its magic as
/// <see cref="CaptureFile.Open(Stream, bool)"/> does), read to its end or to the damage. A damaged file may only be
/// refused with <see cref="CaptureFormatException"/>, after every good packet before the damage. Every packet read is
/// then printed as <c>usernet trace -r</c> prints it (<see cref="TcpdumpTarget.CheckText"/>), and written back as
/// pcapng and read again: the same packets must come back.
/// </summary>
public static class CaptureTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var records = new List<CaptureRecord>();
        try
        {
            using var reader = CaptureFile.Open(new MemoryStream(input.ToArray(), writable: false));
            while (reader.Read() is { } r) records.Add(r);
        }
        catch (CaptureFormatException e)
        {
            if (e.Offset < 0 || e.Offset > input.Length)
                throw new FuzzFailure($"the reader names byte offset {e.Offset} of a {input.Length}-byte file: {e.Message}");
        }

        foreach (var r in records)
        {
            if (r.Data.Length > input.Length) throw new FuzzFailure($"a packet of {r.Data.Length} bytes came out of a {input.Length}-byte file");
            if (r.OriginalLength < 0) throw new FuzzFailure($"a packet's original length is {r.OriginalLength}");
        }

        foreach (var options in TcpdumpTarget.TraceOptions)
        {
            var formatter = new TcpdumpFormatter(options);
            foreach (var r in records) TcpdumpTarget.CheckText(formatter.Format(r), r.Data);
        }

        CheckRoundTrip(records);
    }

    /// <summary>What was read, written as pcapng (one file per link type, in order) and read back, is what was read.</summary>
    private static void CheckRoundTrip(List<CaptureRecord> records)
    {
        foreach (var group in records.GroupBy(r => r.LinkType))
        {
            var file = new MemoryStream();
            using (var writer = new PcapNgWriter(file, group.Key))
                foreach (var r in group) writer.Write(r);
            var again = new List<CaptureRecord>();
            using (var reader = CaptureFile.Open(new MemoryStream(file.ToArray(), writable: false)))
                while (reader.Read() is { } r) again.Add(r);
            var written = group.ToList();
            if (again.Count != written.Count) throw new FuzzFailure($"{written.Count} packets written as pcapng, {again.Count} read back");
            for (int i = 0; i < written.Count; i++)
            {
                var (w, a) = (written[i], again[i]);
                if (a.Timestamp != w.Timestamp || a.LinkType != w.LinkType || a.OriginalLength != Math.Max(w.OriginalLength, w.Data.Length)
                    || !a.Data.AsSpan().SequenceEqual(w.Data) || a.Comment != w.Comment)
                    throw new FuzzFailure($"packet {i} (link type {w.LinkType}) does not read back as it was written: "
                        + $"timestamp {w.Timestamp} -> {a.Timestamp}, length {w.OriginalLength} -> {a.OriginalLength}, "
                        + $"{w.Data.Length} -> {a.Data.Length} bytes, comment {w.Comment is not null} -> {a.Comment is not null}");
            }
        }
    }
}
