using System.CommandLine;
using UserNet.Cli;

var root = new RootCommand("usernet: a userspace TCP/IP stack on a Linux TAP device")
{
    UpCommand.Create(),
    PingCommand.Create(),
    DemoCommand.Create(),
    NcCommand.Create(),
    Iperf3Command.Create(),
    TraceCommand.Create(),
    ReplayCommand.Create(),
};

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One clear line, not a usage dump (the user asked for --help if they want it).
    var cmd = parse.CommandResult.Command;
    var name = cmd == root ? "usernet" : $"usernet {cmd.Name}";
    // An unknown word says more than "required command was not provided", which System.CommandLine lists first.
    var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
    Console.Error.WriteLine($"{name}: {error.Message} (see '{name} --help')");
    return ExitCodes.Error;
}
try
{
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (CliException e)
{
    Console.Error.WriteLine($"usernet: {e.Message}");
    return ExitCodes.Error;
}
catch (UserNet.Devices.NetDeviceException e)
{
    Console.Error.WriteLine($"usernet: {e.Message}");
    return ExitCodes.Error;
}
