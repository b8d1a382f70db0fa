using System.Collections.Concurrent;
using UserNet.Wire;

namespace UserNet.Simulation;

/// <summary>
/// An Ethernet switch and the hosts plugged into it. It learns which port each source MAC address came from; a frame
/// to a learned address goes to that port only, a broadcast, multicast or unknown destination floods every other port.
/// Each (sender, receiver) pair then meets its own directed link (<see cref="SimulatedNetwork.SetProfile"/>), whose
/// profile is this segment's <see cref="Profile"/> unless the pair was given one.
/// </summary>
public sealed class SimulatedSegment
{
    private LinkProfile _profile;
    private SimulatedHost[] _hosts = [];
    private readonly ConcurrentDictionary<MacAddress, SimulatedHost> _learned = new();
    private long _runts;

    internal SimulatedSegment(SimulatedNetwork network, string name, int index, LinkProfile profile)
    {
        Network = network;
        Name = name;
        Index = index;
        _profile = profile;
    }

    public SimulatedNetwork Network { get; }

    /// <summary>The segment's name: the capture's interface name (<c>if_name</c>) for the frames seen here.</summary>
    public string Name { get; }

    /// <summary>The profile of every link on the segment that has none of its own; may be changed while running.</summary>
    public LinkProfile Profile
    {
        get => Volatile.Read(ref _profile);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate();
            Volatile.Write(ref _profile, value);
        }
    }

    /// <summary>The hosts plugged into this segment.</summary>
    public IReadOnlyList<SimulatedHost> Hosts => Volatile.Read(ref _hosts);

    /// <summary>Frames shorter than an Ethernet header that entered the switch: dropped, counted here.</summary>
    public long RuntFrames => Interlocked.Read(ref _runts);

    internal int Index { get; }

    internal SimulatedHost[] Ports => Volatile.Read(ref _hosts);

    internal void Attach(SimulatedHost host)
    {
        lock (this) _hosts = [.. _hosts, host];
    }

    internal void CountRunt() => Interlocked.Increment(ref _runts);

    internal void Learn(MacAddress source, SimulatedHost port)
    {
        if (source.IsMulticast) return;
        if (!_learned.TryGetValue(source, out var known) || known != port) _learned[source] = port;
    }

    internal SimulatedHost? PortOf(MacAddress destination) => _learned.TryGetValue(destination, out var h) ? h : null;

    public override string ToString() => Name;
}
