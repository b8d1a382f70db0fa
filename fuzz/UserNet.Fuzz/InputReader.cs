using System.Buffers.Binary;

namespace UserNet.Fuzz;

/// <summary>
/// Reads a fuzz input front to back. Past the end every read gives zeros (or an empty span), so a target never has
/// to check lengths: a short input is simply a shorter run.
/// </summary>
internal ref struct InputReader(ReadOnlySpan<byte> input)
{
    private ReadOnlySpan<byte> _rest = input;

    public readonly bool AtEnd => _rest.IsEmpty;
    public readonly int Remaining => _rest.Length;

    public byte U8()
    {
        if (_rest.IsEmpty) return 0;
        byte b = _rest[0];
        _rest = _rest[1..];
        return b;
    }

    public ushort U16()
    {
        if (_rest.Length < 2) { _rest = default; return 0; }
        ushort v = BinaryPrimitives.ReadUInt16BigEndian(_rest);
        _rest = _rest[2..];
        return v;
    }

    public uint U32()
    {
        if (_rest.Length < 4) { _rest = default; return 0; }
        uint v = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return v;
    }

    /// <summary>The next <paramref name="count"/> bytes, or all that is left when fewer are.</summary>
    public ReadOnlySpan<byte> Bytes(int count)
    {
        var b = _rest[..Math.Min(count, _rest.Length)];
        _rest = _rest[b.Length..];
        return b;
    }

    /// <summary>Everything that is left.</summary>
    public ReadOnlySpan<byte> Rest()
    {
        var b = _rest;
        _rest = default;
        return b;
    }
}
