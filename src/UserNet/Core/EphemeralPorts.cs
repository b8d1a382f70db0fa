namespace UserNet.Core;

/// <summary>
/// Picks local ports for sockets bound to port 0, from IANA's dynamic range (RFC 6335 section 6), going round from a
/// random (or seeded) start as Linux does, skipping ports the caller says are taken. One per transport protocol.
/// </summary>
internal sealed class EphemeralPorts
{
    public const int First = 49152, Last = 65535;
    private int _next;

    public EphemeralPorts(Random random) => _next = random.Next(First, Last + 1);

    /// <summary>
    /// The next port for which <paramref name="take"/> returns true (it may claim the port as it answers); false when
    /// every port in the range is taken. A static lambda and a state argument keep this free of allocation.
    /// </summary>
    public bool TryTake<TState>(TState state, Func<TState, ushort, bool> take, out ushort port)
    {
        for (int tries = 0; tries <= Last - First; tries++)
        {
            port = (ushort)_next;
            _next = _next == Last ? First : _next + 1;
            if (take(state, port)) return true;
        }
        port = 0;
        return false;
    }
}
