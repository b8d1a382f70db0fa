namespace UserNet.TestSupport;

/// <summary>Where the repository is, from wherever the tests run.</summary>
public static class Repository
{
    /// <summary>The directory holding UserNet.sln.</summary>
    public static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UserNet.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (UserNet.sln) above " + AppContext.BaseDirectory);
    }
}
