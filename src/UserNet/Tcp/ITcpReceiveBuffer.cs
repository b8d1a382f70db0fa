namespace UserNet.Tcp;

/// <summary>
/// The receive side of a connection as the protocol core sees it: room for the receive window, written at any offset
/// past RCV.NXT (in order or not), and made readable to the application a contiguous prefix at a time. Called from the
/// stack's loop only; the implementation deals with the application's thread.
/// </summary>
internal interface ITcpReceiveBuffer
{
    /// <summary>The buffer size: the most we ever advertise as the window.</summary>
    int Capacity { get; }
    /// <summary>Bytes that may be written past RCV.NXT now: <see cref="Capacity"/> less what is committed and not yet consumed.</summary>
    int Free { get; }
    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> bytes past RCV.NXT (what was committed last). Requires offset + length &lt;= <see cref="Free"/>. Nothing becomes readable until committed.</summary>
    void Write(int offset, ReadOnlySpan<byte> data);
    /// <summary>RCV.NXT moves on by <paramref name="count"/>: that many bytes, already written, become readable, in order.</summary>
    void Commit(int count);
    /// <summary>End of stream (the peer's FIN), or an error the reader will see (a reset). Idempotent.</summary>
    void Complete(Exception? error = null);
    /// <summary>True once the application stopped reading: what arrives is acknowledged and thrown away.</summary>
    bool ReaderCompleted { get; }
}
