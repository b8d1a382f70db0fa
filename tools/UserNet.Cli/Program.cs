using System.CommandLine;
using System.CommandLine.Help;
using UserNet.Cli;

// A Command named "usernet", not a RootCommand: a RootCommand takes the executable's name ("UserNet.Cli") for its
// usage line and errors, and the name is fixed once it is made. The help and version options a RootCommand brings are
// added by hand (help is recursive: every subcommand has it too).
var root = new Command("usernet", "usernet: a userspace TCP/IP stack on a Linux TAP device")
{
    new HelpOption(),
    new VersionOption(),
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
