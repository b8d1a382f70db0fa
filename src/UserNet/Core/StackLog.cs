using Microsoft.Extensions.Logging;

namespace UserNet.Core;

/// <summary>Source-generated log messages for events worth a line; nothing here is per packet.</summary>
internal static partial class StackLog
{
    [LoggerMessage(Level = LogLevel.Error, Message = "A received frame made the stack fail; it was dropped and counted")]
    public static partial void StackFault(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Work posted to the stack's loop failed; it was counted as a stack fault")]
    public static partial void WorkFault(ILogger logger, Exception exception);
}
