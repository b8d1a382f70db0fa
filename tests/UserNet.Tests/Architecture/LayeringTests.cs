using System.Reflection;
using System.Runtime.CompilerServices;
using ArchUnitNET.Domain;
using ArchUnitNET.Fluent.Slices;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnit;
using static ArchUnitNET.Fluent.ArchRuleDefinition;
using ArchArchitecture = ArchUnitNET.Domain.Architecture;

namespace UserNet.Tests.Architecture;

/// <summary>
/// The library's namespaces are its layers: each may use only those beneath it (the README's Architecture section
/// draws the same picture). Read from the compiled assemblies (base types, fields, signatures and every member a
/// method body names), not from using directives, so a call through a fully qualified name counts too.
/// </summary>
public sealed class LayeringTests
{
    private static readonly ArchArchitecture Library = new ArchLoader()
        .LoadAssemblies(typeof(UserNet.Stack.NetStack).Assembly, typeof(UserNet.Replay.PacketReplay).Assembly, typeof(UserNet.Simulation.SimulatedNetwork).Assembly)
        .Build();

    /// <summary>What each namespace may use, besides itself and what lies outside the library (System, logging, libc).</summary>
    public static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Wire"] = [],
        ["Core"] = ["Wire"],
        ["Ethernet"] = ["Core", "Wire"],
        ["Arp"] = ["Ethernet", "Core", "Wire"],
        ["Ip"] = ["Ethernet", "Core", "Wire"],
        ["Icmp"] = ["Ip", "Core", "Wire"],
        ["Udp"] = ["Ip", "Core", "Wire"],
        ["Tcp"] = ["Ip", "Core", "Wire"],
        ["Stack"] = ["Arp", "Ethernet", "Ip", "Icmp", "Udp", "Tcp", "Core", "Wire"],
        ["Sockets"] = ["Stack", "Icmp", "Udp", "Tcp", "Ip", "Core", "Wire"],
        ["Services"] = ["Sockets", "Stack", "Tcp", "Core", "Wire"],
        ["Devices"] = ["Wire"],
        ["Hosting"] = ["Stack", "Sockets", "Devices", "Core", "Wire"],
        // The tracing assembly, a client of the library's public surface.
        ["Capture"] = ["Core", "Wire"],
        ["Tracing"] = ["Capture", "Core", "Wire"],
        ["Replay"] = ["Tracing", "Capture", "Services", "Sockets", "Stack", "Tcp", "Icmp", "Core", "Wire"],
        ["Pictures"] = ["Replay", "Tracing", "Capture", "Core", "Wire"],
        // The simulation assembly: hosts stacks (a friend of the library) and captures them.
        ["Simulation"] = ["Hosting", "Sockets", "Stack", "Devices", "Capture", "Tcp", "Core", "Wire"],
    };

    public static TheoryData<string> Namespaces() => new(Allowed.Keys);

    [Fact]
    public void Every_namespace_of_the_library_has_a_place_in_the_layering()
    {
        var found = typeof(UserNet.Stack.NetStack).Assembly.GetTypes().Concat(typeof(UserNet.Replay.PacketReplay).Assembly.GetTypes())
            .Concat(typeof(UserNet.Simulation.SimulatedNetwork).Assembly.GetTypes())
            .Select(t => t.Namespace).Where(n => n is not null && n.StartsWith("UserNet.", StringComparison.Ordinal))
            .Select(n => n!["UserNet.".Length..].Split('.')[0]).Distinct().Order().ToArray();
        Assert.Equal(Allowed.Keys.Order().ToArray(), found);
    }

    [Theory]
    [MemberData(nameof(Namespaces))]
    public void A_namespace_uses_only_the_layers_beneath_it(string ns)
    {
        var forbidden = Allowed.Keys.Where(k => k != ns && !Allowed[ns].Contains(k)).ToArray();
        if (forbidden.Length == 0) return;
        var others = Types().That().ResideInNamespace($"UserNet.{forbidden[0]}");
        foreach (var f in forbidden[1..]) others = others.Or().ResideInNamespace($"UserNet.{f}");
        Types().That().ResideInNamespace($"UserNet.{ns}").Should().NotDependOnAny(others)
            .Because($"UserNet.{ns} may use only {string.Join(", ", Allowed[ns].DefaultIfEmpty("nothing of the library"))}")
            .Check(Library);
    }

    [Fact]
    public void The_namespaces_form_no_cycle()
    {
        SliceRuleDefinition.Slices().Matching("UserNet.(*)").Should().BeFreeOfCycles().Check(Library);
    }

    [Fact]
    public void Only_tests_benchmarks_and_fuzz_targets_see_the_library_internals_the_command_line_tool_uses_the_public_surface()
    {
        var friends = typeof(UserNet.Stack.NetStack).Assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).Order();
        Assert.Equal(["UserNet.Bench", "UserNet.Fuzz", "UserNet.Simulation", "UserNet.Tests"], friends);
        var tracingFriends = typeof(UserNet.Replay.PacketReplay).Assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName);
        Assert.Equal(["UserNet.Trace.Tests"], tracingFriends);
        var simulationFriends = typeof(UserNet.Simulation.SimulatedNetwork).Assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName);
        Assert.Equal(["UserNet.Simulation.Tests"], simulationFriends);
    }
}
