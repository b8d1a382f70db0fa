using UserNet.Core;

namespace UserNet.TestSupport;

/// <summary>Keeps a copy of every frame the stack sends, in order.</summary>
public sealed class CapturingTransmitter : IFrameTransmitter
{
    public List<byte[]> Frames { get; } = new();

    public void Transmit(ReadOnlySpan<byte> frame) => Frames.Add(frame.ToArray());

    public void Clear() => Frames.Clear();
}
