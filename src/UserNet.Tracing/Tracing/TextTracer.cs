using System.Text;
using UserNet.Core;

namespace UserNet.Tracing;

/// <summary>
/// Writes one line per frame in and out: time, direction, what the frame is, and which layer decided what.
/// <code>14:02:11.483920 in  IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 7, seq 1, length 64  [icmp: icmp echo request -> reply]</code>
/// The frame is described by <see cref="TcpdumpFormatter"/>, so a trace reads like <c>usernet trace</c> and tcpdump.
/// Formatting allocates, so it is only installed when tracing is asked for.
/// </summary>
public sealed class TextTracer : IFrameObserver
{
    private readonly TextWriter _out;
    private readonly DateTime _wallAtZero;
    private readonly string _prefix;
    private readonly StringBuilder _sb = new(160);
    private readonly TcpdumpFormatter _describe = new(new TcpdumpOptions { Timestamps = TimestampStyle.None });

    /// <param name="output">Where lines go.</param>
    /// <param name="wallClockAtStackZero">Wall time that corresponds to stack time zero, for printing times of day.</param>
    /// <param name="prefix">Put before every line (for example a stack name).</param>
    public TextTracer(TextWriter output, DateTime wallClockAtStackZero, string prefix = "")
    {
        _out = output;
        _wallAtZero = wallClockAtStackZero;
        _prefix = prefix;
    }

    public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time)
    {
        _sb.Clear();
        _sb.Append(_prefix).Append((_wallAtZero + time).ToString("HH:mm:ss.ffffff"))
           .Append(direction == FrameDirection.Received ? " in  " : " out ");
        _describe.Format(0, frame, frame.Length, Capture.LinkTypes.Ethernet, _sb);
        _sb.Append("  [").Append(StackCounters.LayerName(layer)).Append(": ").Append(decision).Append(']');
        lock (_out) _out.WriteLine(_sb.ToString());
    }
}
