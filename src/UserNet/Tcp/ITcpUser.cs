using System.Net.Sockets;

namespace UserNet.Tcp;

/// <summary>
/// The send side of a connection as the protocol core sees it: the bytes from SND.UNA on (sent and unacknowledged,
/// then not yet sent), which stay until the peer acknowledges them, so that a retransmission copies them again.
/// Called from the stack's loop only.
/// </summary>
internal interface ITcpSendBuffer
{
    /// <summary>
    /// Bytes held from SND.UNA on, and (<paramref name="completed"/>) whether the application has finished writing, so
    /// that a FIN follows the last byte. One look at the buffer for both.
    /// </summary>
    long Peek(out bool completed);
    /// <summary>Copies destination.Length bytes starting <paramref name="offset"/> bytes after SND.UNA.</summary>
    void CopyTo(long offset, Span<byte> destination);
    /// <summary>The peer acknowledged the oldest <paramref name="count"/> bytes: they are gone.</summary>
    void Acknowledge(long count);
    /// <summary>The connection is over: nothing more is sent; a writer sees <paramref name="error"/> or completion.</summary>
    void Close(Exception? error = null);
}

/// <summary>
/// The application's side of one connection (RFC 9293 calls it the user): its two buffers, and what the connection
/// tells it. The socket layer implements it; the protocol core calls it on the loop only.
/// </summary>
internal interface ITcpUser
{
    ITcpSendBuffer Send { get; }
    ITcpReceiveBuffer Receive { get; }
    /// <summary>The connection's control block exists (its addresses and ports are known); the first call.</summary>
    void OnAttached(TcpControlBlock connection);
    /// <summary>The handshake completed.</summary>
    void OnEstablished();
    /// <summary>The connection moved to <paramref name="state"/>; CLOSED is the last call.</summary>
    void OnStateChanged(TcpState state);
    /// <summary>The connection failed (refused, reset, timed out, aborted) before <see cref="OnStateChanged"/> says CLOSED.</summary>
    void OnFailed(SocketError error);
}

/// <summary>The application's side of a listener: makes the user of each new connection and takes it once established.</summary>
internal interface ITcpListenerUser
{
    /// <summary>A SYN arrived: the user (buffers and all) of the half-open connection it starts.</summary>
    ITcpUser CreateUser(TcpSettings settings);
    /// <summary>Connections established and not yet accepted by the application (they count against the backlog).</summary>
    int Waiting { get; }
    /// <summary>A connection completed its handshake; false when the listener is closed (the connection is then aborted).</summary>
    bool Accept(TcpControlBlock connection, ITcpUser user);
    /// <summary>The listener stopped: connections not yet accepted are to be aborted.</summary>
    void OnClosed();
}
