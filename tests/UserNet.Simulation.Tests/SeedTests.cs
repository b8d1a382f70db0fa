namespace UserNet.Simulation.Tests;

public sealed class SeedTests
{
    private static async Task<int[]> LostSequencesAsync(int seed, bool extraHost, bool viaSegment)
    {
        await using var net = new SimulatedNetwork(seed, SimulationMode.Deterministic);
        var a = net.AddHost("a", "10.0.0.1/24");
        if (extraHost) net.AddHost("bystander", "10.0.0.9/24");
        var b = net.AddHost("b", "10.0.0.2/24");
        int[] lost = [];
        await net.RunAsync(async () =>
        {
            await Udp.WarmUpAsync(a, b);
            var profile = new LinkProfile { Loss = 0.1 };
            if (viaSegment) net.DefaultSegment.Profile = profile; // changed while running: links without their own follow
            else net.SetProfile(a, b, profile);
            var got = await Udp.ProbeAsync(net, a, b, 2000, interval: TimeSpan.FromMilliseconds(1));
            var seen = got.Select(x => x.Sequence).ToHashSet();
            lost = Enumerable.Range(0, 2000).Where(i => !seen.Contains(i)).ToArray();
        });
        return lost;
    }

    [Fact]
    public async Task An_unrelated_host_does_not_change_another_links_fault_decisions()
    {
        var alone = await LostSequencesAsync(5, extraHost: false, viaSegment: false);
        var withBystander = await LostSequencesAsync(5, extraHost: true, viaSegment: false);
        Assert.InRange(alone.Length, 100, 300);
        Assert.Equal(alone, withBystander);
        Assert.NotEqual(alone, await LostSequencesAsync(6, extraHost: false, viaSegment: false));
    }

    [Fact]
    public async Task A_segment_profile_changed_while_running_applies_to_its_links()
    {
        var lost = await LostSequencesAsync(5, extraHost: false, viaSegment: true);
        Assert.InRange(lost.Length, 100, 300);
    }

    [Fact]
    public async Task Macs_come_from_the_seed_and_the_name()
    {
        await using var one = new SimulatedNetwork(3, SimulationMode.Deterministic);
        await using var two = new SimulatedNetwork(3, SimulationMode.Deterministic);
        await using var other = new SimulatedNetwork(4, SimulationMode.Deterministic);
        var m1 = one.AddHost("x", "10.0.0.1/24").Mac;
        two.AddHost("first", "10.0.0.2/24");
        Assert.Equal(m1, two.AddHost("x", "10.0.0.1/24").Mac);
        Assert.NotEqual(m1, other.AddHost("x", "10.0.0.1/24").Mac);
        Assert.False(m1.IsMulticast);
        Assert.Equal(0x02UL, (m1.Value >> 40) & 0x03); // locally administered, unicast
    }
}
