using Xunit;
using System.Text.RegularExpressions;
using UserNet.TestSupport;

namespace UserNet.IntegrationTests;

/// <summary>The README's code does what it says: its C# sample builds and runs as written, against the library.</summary>
public sealed class ReadmeTests
{
    [Fact]
    public void The_library_sample_in_the_README_builds_and_runs_as_written()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        int section = readme.IndexOf("### As a library", StringComparison.Ordinal);
        Assert.True(section >= 0, "README has no 'As a library' section");
        var block = Regex.Match(readme[section..], "```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "no csharp block under 'As a library'");

        var dir = Directory.CreateTempSubdirectory("usernet-readme-");
        try
        {
            var library = Path.Combine(Repository.Root, "src", "UserNet", "UserNet.csproj");
            File.WriteAllText(Path.Combine(dir.FullName, "Sample.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup><ProjectReference Include="{library}" /></ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(dir.FullName, "Program.cs"), block.Groups[1].Value);
            var run = Shell.Run("dotnet", ["run", "--project", dir.FullName, "-c", "Release"], TimeSpan.FromMinutes(4),
                new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
            Assert.True(run.ExitCode == 0, $"the sample failed ({run.ExitCode}):\n{run.Stdout}\n{run.Stderr}");
            var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Contains("ping: reply from 10.0.0.2", lines);
            Assert.Contains(lines, l => Regex.IsMatch(l, @"^udp: hello from 10\.0\.0\.1:\d+$"));
            Assert.Contains(lines, l => Regex.IsMatch(l, @"^tcp: 100000 bytes from 10\.0\.0\.1:\d+$"));
        }
        finally { dir.Delete(recursive: true); }
    }
}
