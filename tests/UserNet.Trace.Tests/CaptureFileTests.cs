using UserNet.TestSupport;
using System.Buffers.Binary;
using UserNet.Capture;
using Xunit;

namespace UserNet.Trace.Tests;

/// <summary>pcap and pcapng: round trips, what other tools write, and damage reported with its offset.</summary>
public sealed class CaptureFileTests
{
    private static readonly CaptureRecord[] Sample =
    [
        new(1_700_000_000_123_456_789, 60, Enumerable.Range(0, 60).Select(i => (byte)i).ToArray(), LinkTypes.Ethernet, "rx: arp request for us -> reply"),
        new(1_700_000_001_000_000_000, 1514, new byte[1514], LinkTypes.Ethernet, null),
        new(1_700_000_001_000_001_000, 200, new byte[64], LinkTypes.Ethernet, "tx: ünïcode, and a comment of odd length"),
    ];

    private static List<CaptureRecord> RoundTrip(Func<Stream, ICaptureWriter> create, IEnumerable<CaptureRecord> records)
    {
        var ms = new MemoryStream();
        var w = create(ms);
        foreach (var r in records) w.Write(r);
        w.Flush();
        var bytes = ms.ToArray();
        using var reader = CaptureFile.Open(new MemoryStream(bytes));
        var list = new List<CaptureRecord>();
        while (reader.Read() is { } r) list.Add(r);
        return list;
    }

    private static void AssertSame(CaptureRecord expected, CaptureRecord actual, long timestampUnit, bool comments)
    {
        Assert.Equal(expected.Timestamp / timestampUnit * timestampUnit, actual.Timestamp);
        Assert.Equal(expected.OriginalLength, actual.OriginalLength);
        Assert.Equal(expected.Data, actual.Data);
        Assert.Equal(expected.LinkType, actual.LinkType);
        Assert.Equal(comments ? expected.Comment : null, actual.Comment);
    }

    [Fact]
    public void Pcapng_round_trips_with_nanoseconds_and_comments()
    {
        var back = RoundTrip(s => new PcapNgWriter(s), Sample);
        Assert.Equal(Sample.Length, back.Count);
        for (int i = 0; i < Sample.Length; i++) AssertSame(Sample[i], back[i], 1, comments: true);
    }

    [Theory]
    [InlineData(false, 1000)]
    [InlineData(true, 1)]
    public void Pcap_round_trips_in_microseconds_and_nanoseconds(bool nanosecond, long unit)
    {
        var back = RoundTrip(s => new PcapWriter(s, nanosecond: nanosecond), Sample);
        Assert.Equal(Sample.Length, back.Count);
        for (int i = 0; i < Sample.Length; i++) AssertSame(Sample[i], back[i], unit, comments: false);
    }

    [Fact]
    public void Reads_big_endian_pcap()
    {
        var ms = new MemoryStream();
        void U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); ms.Write(b); }
        void U16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); ms.Write(b); }
        U32(0xA1B2C3D4); U16(2); U16(4); U32(0); U32(0); U32(65535); U32(1);
        U32(100); U32(250); U32(3); U32(5); ms.Write([1, 2, 3]);
        var r = Assert.Single(RoundTripRaw(ms.ToArray()));
        Assert.Equal(100_000_250_000L, r.Timestamp);
        Assert.Equal(5, r.OriginalLength);
        Assert.Equal(new byte[] { 1, 2, 3 }, r.Data);
    }

    private static List<CaptureRecord> RoundTripRaw(byte[] bytes)
    {
        using var reader = CaptureFile.Open(new MemoryStream(bytes));
        var list = new List<CaptureRecord>();
        while (reader.Read() is { } r) list.Add(r);
        return list;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Pcapng_skips_unknown_blocks_and_reads_simple_packets_in_either_byte_order(bool bigEndian)
    {
        var ms = new MemoryStream();
        byte[] U32(uint v) { var b = new byte[4]; if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
        byte[] U16(ushort v) { var b = new byte[2]; if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, v); else BinaryPrimitives.WriteUInt16LittleEndian(b, v); return b; }
        byte[] Words(params uint[] words) => words.SelectMany(U32).ToArray();
        void Block(uint type, byte[] body)
        {
            uint length = (uint)(12 + body.Length);
            ms.Write(U32(type)); ms.Write(U32(length)); ms.Write(body); ms.Write(U32(length));
        }
        Block(0x0A0D0D0A, [.. U32(0x1A2B3C4D), .. U16(1), .. U16(0), .. Words(0xFFFFFFFF, 0xFFFFFFFF)]);
        Block(1, [.. U16(1), .. U16(0), .. U32(0)]);                // Ethernet, no options: microseconds
        Block(0x0BAD, Words(1, 2, 3));                              // a custom or unknown block
        Block(4, Words(0));                                         // name resolution: skipped
        Block(6, [.. Words(0, 0, 1_500_000, 4, 4), 9, 9, 9, 9]);    // 1.5 s after the epoch
        Block(3, [.. U32(4), 7, 7, 7, 7]);                          // a simple packet block
        var records = RoundTripRaw(ms.ToArray());
        Assert.Equal(2, records.Count);
        Assert.Equal(1_500_000_000L, records[0].Timestamp);
        Assert.Equal(new byte[] { 9, 9, 9, 9 }, records[0].Data);
        Assert.Equal(new byte[] { 7, 7, 7, 7 }, records[1].Data);
    }

    [Fact]
    public void Reads_pcapng_that_wireshark_writes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcapng");
        try
        {
            var r = Shell.Tool("tshark", "-r", Repo.Fixture("live.pcap"), "-F", "pcapng", "-w", path);
            Assert.True(r.ExitCode == 0, r.Stderr);
            var fromPcap = Repo.ReadAll(Repo.Fixture("live.pcap"));
            var fromPcapNg = Repo.ReadAll(path);
            Assert.Equal(fromPcap.Count, fromPcapNg.Count);
            for (int i = 0; i < fromPcap.Count; i++) AssertSame(fromPcap[i], fromPcapNg[i], 1, comments: false);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Reads_nanosecond_pcap_that_tcpdump_writes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcap");
        try
        {
            var r = Shell.Tool("tcpdump", "-r", Repo.Fixture("live.pcap"), "--time-stamp-precision", "nano", "-w", path);
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Equal(0xA1B23C4Du, BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(path)));
            var micro = Repo.ReadAll(Repo.Fixture("live.pcap"));
            var nano = Repo.ReadAll(path);
            Assert.Equal(micro.Count, nano.Count);
            for (int i = 0; i < micro.Count; i++) AssertSame(micro[i], nano[i], 1, comments: false);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Tshark_reads_what_we_write_comments_included()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcapng");
        try
        {
            using (var w = new PcapNgWriter(File.Create(path)))
                foreach (var r in Repo.ReadAll(Repo.Fixture("live.pcap")).Take(3).Select((r, i) => r with { Comment = $"rx: frame {i} -> reply" }))
                    w.Write(r);
            var t = Shell.Tool("tshark", "-r", path, "-T", "fields", "-e", "frame.comment", "-e", "frame.len", "-e", "frame.time_epoch");
            Assert.True(t.ExitCode == 0, t.Stderr);
            var lines = Repo.Lines(t.Stdout);
            Assert.Equal(3, lines.Length);
            Assert.StartsWith("rx: frame 0 -> reply\t42\t", lines[0]);
            Assert.StartsWith("rx: frame 2 -> reply\t98\t", lines[2]);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(".pcap")]
    [InlineData(".pcapng")]
    public void Tcpdump_reads_what_we_write_as_it_reads_the_original(string extension)
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}{extension}");
        try
        {
            using (var w = CaptureFile.Create(path))
                foreach (var r in Repo.ReadAll(Repo.Fixture("live.pcap"))) w.Write(r);
            var ours = Shell.Tool("tcpdump", "-n", "-v", "-r", path);
            var original = Shell.Tool("tcpdump", "-n", "-v", "-r", Repo.Fixture("live.pcap"));
            Assert.Equal(0, ours.ExitCode);
            Assert.Equal(original.Stdout, ours.Stdout);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Reads until the damage; returns the good records and the exception.</summary>
    private static (List<CaptureRecord> Good, CaptureFormatException Error) ReadDamaged(byte[] bytes)
    {
        var good = new List<CaptureRecord>();
        var e = Assert.Throws<CaptureFormatException>(() =>
        {
            using var reader = CaptureFile.Open(new MemoryStream(bytes));
            while (reader.Read() is { } r) good.Add(r);
        });
        return (good, e);
    }

    [Fact]
    public void A_truncated_pcap_gives_every_good_packet_then_the_offset()
    {
        var bytes = File.ReadAllBytes(Repo.Fixture("live.pcap"));
        // Header 24 bytes, then records: the third record starts after two (16 + 42 bytes each, ARP).
        int third = 24 + 2 * (16 + 42);
        var (good, e) = ReadDamaged(bytes[..(third + 20)]);
        Assert.Equal(2, good.Count);
        Assert.Equal(third, e.Offset);
        Assert.Contains($"byte offset {third}", e.Message);
    }

    [Fact]
    public void A_pcap_with_an_absurd_record_length_names_its_offset()
    {
        var bytes = File.ReadAllBytes(Repo.Fixture("live.pcap"));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(24 + 16 + 42 + 8), 0x7FFFFFFF);
        var (good, e) = ReadDamaged(bytes);
        Assert.Single(good);
        Assert.Equal(24 + 16 + 42, e.Offset);
    }

    [Fact]
    public void A_damaged_pcapng_gives_every_good_packet_then_the_offset()
    {
        var ms2 = new MemoryStream();
        var w2 = new PcapNgWriter(ms2);
        foreach (var r in Sample) w2.Write(r);
        var bytes = ms2.ToArray();
        // Find the second enhanced packet block and break its trailing length.
        var offsets = BlockOffsets(bytes);
        int second = offsets.Where(o => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(o)) == 6).ElementAt(1);
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(second + 4));
        var broken = (byte[])bytes.Clone();
        broken[second + length - 4] ^= 0xFF;
        var (good, e) = ReadDamaged(broken);
        Assert.Single(good);
        Assert.Equal(second + length - 4, e.Offset);
        // And cut short in the middle of that block.
        (good, e) = ReadDamaged(bytes[..(second + 30)]);
        Assert.Single(good);
        Assert.Equal(second, e.Offset);
    }

    private static List<int> BlockOffsets(byte[] bytes)
    {
        var list = new List<int>();
        for (int o = 0; o + 8 <= bytes.Length; o += (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(o + 4))) list.Add(o);
        return list;
    }

    [Theory]
    [InlineData(new byte[0], "empty file")]
    [InlineData(new byte[] { 1, 2 }, "too short")]
    [InlineData(new byte[] { 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0 }, "not a pcap or pcapng file")]
    [InlineData(new byte[] { 0xD4, 0xC3, 0xB2, 0xA1, 2, 0 }, "pcap file header truncated")]
    [InlineData(new byte[] { 0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 0x11, 0x22, 0x33, 0x44 }, "byte-order magic")]
    public void Files_that_are_not_captures_are_named_as_such(byte[] bytes, string expected)
    {
        var e = Assert.Throws<CaptureFormatException>(() =>
        {
            using var r = CaptureFile.Open(new MemoryStream(bytes));
            while (r.Read() is not null) { }
        });
        Assert.Contains(expected, e.Message);
        Assert.Contains("byte offset", e.Message);
    }
}
