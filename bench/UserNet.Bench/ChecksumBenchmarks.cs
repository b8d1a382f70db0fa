using BenchmarkDotNet.Attributes;
using UserNet.Wire;

namespace UserNet.Bench;

/// <summary>
/// <see cref="InternetChecksum.Compute"/> (wide, vectorised) against a textbook word-at-a-time loop,
/// at a minimum-size frame, a full Ethernet MTU and the largest IPv4 datagram.
/// </summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    private byte[] _data = [];

    [Params(64, 1500, 64 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(1071).NextBytes(_data); // fixed seed: every run sums the same bytes
        ushort fast = InternetChecksum.Compute(_data), naive = NaiveChecksum(_data);
        if (fast != naive)
            throw new InvalidOperationException($"checksums disagree over {Size} bytes: Compute 0x{fast:x4}, naive 0x{naive:x4}");
    }

    [Benchmark(Baseline = true)]
    public ushort Naive() => NaiveChecksum(_data);

    [Benchmark]
    public ushort Compute() => InternetChecksum.Compute(_data);

    /// <summary>RFC 1071 read literally: add big-endian 16-bit words one at a time, fold the carries, complement.</summary>
    private static ushort NaiveChecksum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
            sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length)
            sum += (uint)data[i] << 8; // odd trailing byte, padded with a zero
        while (sum > 0xFFFF)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
