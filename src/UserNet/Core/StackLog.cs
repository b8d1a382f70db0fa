using Microsoft.Extensions.Logging;
using UserNet.Wire;

namespace UserNet.Core;

/// <summary>Source-generated log messages for events worth a line; nothing here is per packet.</summary>
internal static partial class StackLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "ARP: {Mac} claims our address; defending it with a gratuitous ARP")]
    public static partial void AddressConflict(ILogger logger, MacAddress mac);

    [LoggerMessage(Level = LogLevel.Information, Message = "ARP: {Address} did not answer {Requests} requests; dropping what waited for it")]
    public static partial void ArpUnresolved(ILogger logger, Ipv4Address address, int requests);

    [LoggerMessage(Level = LogLevel.Debug, Message = "TCP :{LocalPort} <-> {Remote}:{RemotePort}: {From} -> {To}")]
    public static partial void TcpState(ILogger logger, ushort localPort, Ipv4Address remote, ushort remotePort, UserNet.Tcp.TcpState from, UserNet.Tcp.TcpState to);

    [LoggerMessage(Level = LogLevel.Error, Message = "A received frame made the stack fail; it was dropped and counted")]
    public static partial void StackFault(ILogger logger, Exception exception);
}
