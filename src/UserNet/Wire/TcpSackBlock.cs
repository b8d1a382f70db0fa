namespace UserNet.Wire;

/// <summary>
/// One block of a TCP SACK option (RFC 2018 section 3): a contiguous run of sequence space the receiver holds.
/// <see cref="Left"/> is the first sequence number of the block, <see cref="Right"/> the sequence number just after
/// its last byte, so the block is [Left, Right) modulo 2^32.
/// </summary>
public readonly record struct TcpSackBlock(uint Left, uint Right)
{
    public override string ToString() => $"{Left}-{Right}";
}
