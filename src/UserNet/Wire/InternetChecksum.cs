using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace UserNet.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of the data
/// taken as big-endian 16-bit words. Sums are kept unfolded in a <see cref="ulong"/> so a pseudo-header,
/// a header and a payload can be added up separately and folded once.
/// </summary>
public static class InternetChecksum
{
    /// <summary>Adds <paramref name="data"/> to a running sum of big-endian 16-bit words.</summary>
    /// <remarks>
    /// RFC 1071 section 2(B): the sum is byte-order independent, so we add native-order 32-bit words
    /// (wide and vectorised), fold to 16 bits and swap once at the end.
    /// </remarks>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> data)
    {
        ulong native = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && data.Length >= 2 * Vector<byte>.Count)
        {
            var acc0 = Vector<ulong>.Zero;
            var acc1 = Vector<ulong>.Zero;
            int vecBytes = data.Length - data.Length % Vector<byte>.Count;
            var words = MemoryMarshal.Cast<byte, Vector<uint>>(data[..vecBytes]);
            foreach (ref readonly var v in words)
            {
                Vector.Widen(v, out var lo, out var hi);
                acc0 += lo;
                acc1 += hi;
            }
            native = Vector.Sum(acc0 + acc1);
            i = vecBytes;
        }
        for (; i + 4 <= data.Length; i += 4)
            native += MemoryMarshal.Read<uint>(data[i..]);
        if (i + 2 <= data.Length)
        {
            native += MemoryMarshal.Read<ushort>(data[i..]);
            i += 2;
        }
        ushort folded = FoldTo16(native);
        if (BitConverter.IsLittleEndian) folded = BinaryPrimitives.ReverseEndianness(folded);
        sum += folded;
        if (i < data.Length) sum += (uint)data[i] << 8; // an odd last byte is the high byte of a zero-padded word
        return sum;
    }

    /// <summary>Adds one big-endian 16-bit word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Add(ulong sum, ushort word) => sum + word;

    /// <summary>Adds an IPv4 address (two words).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Add(ulong sum, Ipv4Address a) => sum + (a.Value >> 16) + (a.Value & 0xFFFF);

    /// <summary>Folds the carries back in (end-around carry) to a 16-bit one's complement sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FoldTo16(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>The checksum field value for a running sum: the complement of the folded sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Finish(ulong sum) => (ushort)~FoldTo16(sum);

    /// <summary>The checksum of <paramref name="data"/> alone.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(0, data));

    /// <summary>True when data that includes its own checksum field sums to all ones (RFC 1071 section 1).</summary>
    public static bool IsValid(ReadOnlySpan<byte> data) => FoldTo16(Add(0, data)) == 0xFFFF;

    /// <summary>
    /// Incremental update when one 16-bit word changes from <paramref name="oldWord"/> to <paramref name="newWord"/>:
    /// HC' = ~(~HC + ~m + m') (RFC 1624 section 3, equation 3; it corrects RFC 1141's result for a sum of zero).
    /// </summary>
    public static ushort Update(ushort checksum, ushort oldWord, ushort newWord)
    {
        ulong sum = (ushort)~checksum;
        sum += (ushort)~oldWord;
        sum += newWord;
        // When everything else sums to zero only 0xFFFF verifies, and 0xFFFF verifies whenever 0x0000 would, so never
        // produce 0x0000 (the "-0" case RFC 1624 section 3 discusses; an all-zero echo request hits it).
        var c = (ushort)~FoldTo16(sum);
        return c == 0 ? (ushort)0xFFFF : c;
    }

    /// <summary>Incremental update for a changed 32-bit field (for example an address), RFC 1624.</summary>
    public static ushort Update(ushort checksum, uint oldValue, uint newValue) =>
        Update(Update(checksum, (ushort)(oldValue >> 16), (ushort)(newValue >> 16)), (ushort)oldValue, (ushort)newValue);
}
