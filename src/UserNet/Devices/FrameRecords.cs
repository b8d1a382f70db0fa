using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.InteropServices;

namespace UserNet.Devices;

/// <summary>
/// How frames travel through a pipe: a 4-byte little-endian length, then the frame. A writer asks the pipe for
/// the whole record at once, so a record never straddles two segments and the reader can hand out a span in place.
/// </summary>
public static class FrameRecords
{
    public const int PrefixLength = 4;

    /// <summary>Writes one frame record (does not flush).</summary>
    public static void Write(PipeWriter writer, ReadOnlySpan<byte> frame)
    {
        var span = writer.GetSpan(PrefixLength + frame.Length);
        BinaryPrimitives.WriteInt32LittleEndian(span, frame.Length);
        frame.CopyTo(span[PrefixLength..]);
        writer.Advance(PrefixLength + frame.Length);
    }

    /// <summary>Returns a span to receive up to <paramref name="maxFrame"/> bytes into, directly in the pipe's memory.</summary>
    public static Span<byte> Begin(PipeWriter writer, int maxFrame) => writer.GetSpan(PrefixLength + maxFrame)[PrefixLength..];

    /// <summary>Commits a frame of <paramref name="length"/> bytes received into the span from <see cref="Begin"/>.</summary>
    public static void Commit(PipeWriter writer, int length)
    {
        var span = writer.GetSpan(PrefixLength + length);
        BinaryPrimitives.WriteInt32LittleEndian(span, length);
        writer.Advance(PrefixLength + length);
    }

    /// <summary>
    /// Takes the next whole record from <paramref name="buffer"/>. The frame is a span over the pipe's memory when the
    /// record lies in one segment, else a copy in <paramref name="scratch"/>.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, ref byte[] scratch, out Span<byte> frame)
    {
        frame = default;
        if (buffer.Length < PrefixLength) return false;
        int length;
        var first = buffer.FirstSpan;
        if (first.Length >= PrefixLength) length = BinaryPrimitives.ReadInt32LittleEndian(first);
        else
        {
            Span<byte> p = stackalloc byte[PrefixLength];
            buffer.Slice(0, PrefixLength).CopyTo(p);
            length = BinaryPrimitives.ReadInt32LittleEndian(p);
        }
        if (buffer.Length < PrefixLength + length) return false;
        if (first.Length >= PrefixLength + length)
        {
            frame = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(first.Slice(PrefixLength)), length);
        }
        else
        {
            if (scratch.Length < length) scratch = new byte[Math.Max(length, scratch.Length * 2)];
            buffer.Slice(PrefixLength, length).CopyTo(scratch);
            frame = scratch.AsSpan(0, length);
        }
        buffer = buffer.Slice(PrefixLength + length);
        return true;
    }
}
